// Gather/scatter, dynamic slices and sorting: the indexing primitives' reference
// implementations, np.take/takeAlongAxis, lax dynamic slices/gather/scatter and sorting against
// independent naive JS computations, errors, and the CPU kernel glue.

import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix no-unversioned-import
import fc from "npm:fast-check";
import type { DType, TypedArray } from "../core/dtype.ts";
import * as lax from "../core/lax/indexing.ts";
import { array } from "../core/numpy/convert.ts";
import { take, takeAlongAxis } from "../core/numpy/indexing.ts";
import { argsort, sort } from "../core/numpy/sorting.ts";
import { type Aval, type Primitive } from "../core/primitive.ts";
import * as IP from "../core/prims/indexing.ts";
import { sort as sortPrim } from "../core/prims/sort.ts";
import { sizeOf, stridesOf } from "../core/shape.ts";
import { fromHostData } from "../core/trace.ts";
import {
  type Arr,
  check,
  cpuSymbols,
  iotaArr,
  naiveArgsort,
  ravel,
  tensorOf,
  test,
  unravel,
  wrapIn,
} from "./indexing_helpers.ts";

test("indexing primitives (reference implementations)", async (t) => {
  await t.step("take along an axis", () => {
    const x = iotaArr([2, 3, 2]);
    const idx = fromHostData(Int32Array.of(2, 0, 2, 1), [2, 2], "int32");
    const y = IP.take.rules.impl(
      [Float32Array.from(x.data), idx.dataSync()],
      [{ shape: x.shape, dtype: "float32", weak: false }, idx.aval],
      { axis: 1 },
      [{ shape: [2, 2, 2, 2], dtype: "float32", weak: false }],
    )[0];
    const exp: number[] = [];
    for (let a = 0; a < 2; a++) {
      for (const j of [2, 0, 2, 1]) {
        for (let b = 0; b < 2; b++) exp.push(x.data[ravel([a, j, b], x.shape)]);
      }
    }
    assert.deepEqual(Array.from(y), exp);
  });

  await t.step("abstractEval errors name the op and shapes", () => {
    const f: Aval = { shape: [3, 4], dtype: "float32", weak: false };
    const i: Aval = { shape: [2], dtype: "int32", weak: false };
    assert.throws(
      () => IP.take.rules.abstractEval([f, { ...i, dtype: "float32" }], { axis: 0 }),
      /take: indices must be int32/,
    );
    assert.throws(() => IP.take.rules.abstractEval([f, i], { axis: 2 }), /take: axis 2.*\(3, 4\)/);
    assert.throws(
      () => IP.scatterAdd.rules.abstractEval([f, i, { ...f, shape: [3, 4] }], { axis: 0 }),
      /scatter_add: updates of shape \(3, 4\) do not match \(2, 4\)/,
    );
    assert.throws(
      () =>
        IP.dynamicSlice.rules.abstractEval([f, { ...i, shape: [] }, { ...i, shape: [] }], {
          sizes: [4, 1],
        }),
      /dynamic_slice: slice sizes \[4,1\] do not fit shape \(3, 4\)/,
    );
    assert.throws(
      () => IP.dynamicSlice.rules.abstractEval([f, { ...i, shape: [] }], { sizes: [1, 1] }),
      /dynamic_slice: needs 2 start indices/,
    );
    assert.throws(
      () => sortPrim.rules.abstractEval([f, { ...f, shape: [4, 3] }], { axis: 0, numKeys: 1 }),
      /sort: operands must have equal shapes/,
    );
  });
});

test("np.take and np.takeAlongAxis", async (t) => {
  await t.step("negative indices and axes, against a naive gather", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.array(fc.integer({ min: -100, max: 100 }), { minLength: 0, maxLength: 5 }),
        (shape, axisSeed, raw) => {
          const axis = (axisSeed % shape.length) - (axisSeed % 2 ? shape.length : 0);
          const a = axis < 0 ? axis + shape.length : axis;
          const n = shape[a];
          const idx = raw.map((v) => wrapIn(v, n));
          const x = iotaArr(shape);
          const outShape = [...shape.slice(0, a), idx.length, ...shape.slice(a + 1)];
          const data: number[] = [];
          for (let o = 0; o < sizeOf(outShape); o++) {
            const oi = unravel(o, outShape);
            const j = idx[oi[a]];
            oi[a] = j < 0 ? j + n : j;
            data.push(x.data[ravel(oi, shape)]);
          }
          check(take(tensorOf(x), idx, axis), { data, shape: outShape });
        },
      ),
    );
  });

  await t.step("flattened (axis undefined), 2-d indices, int tensors and scalars", () => {
    const x = tensorOf(iotaArr([3, 4]));
    check(take(x, [[0, -1], [5, 11]]), { data: [0, 11, 5, 11], shape: [2, 2] });
    check(take(x, array([2, 0], { dtype: "int32" }), 0), {
      data: [8, 9, 10, 11, 0, 1, 2, 3],
      shape: [2, 4],
    });
    check(take(x, -1, 1), { data: [3, 7, 11], shape: [3] });
    check(x.take([1], 0), { data: [4, 5, 6, 7], shape: [1, 4] });
    check(take(x, [], 1), { data: [], shape: [3, 0] });
    check(take(x, [5, -1], 1, { mode: "wrap" }), { data: [1, 3, 5, 7, 9, 11], shape: [3, 2] });
    check(take(x, [5, -1], 1, { mode: "clip" }), { data: [3, 0, 7, 4, 11, 8], shape: [3, 2] });
  });

  await t.step("errors: out of range, float indices, bad axis", () => {
    const x = tensorOf(iotaArr([3, 4]));
    assert.throws(
      () => take(x, [4], 1),
      /np\.take: index 4 is out of bounds for axis 1 with size 4/,
    );
    assert.throws(
      () => take(x, [-13]),
      /np\.take: index -13 is out of bounds for axis 0 with size 12/,
    );
    assert.throws(() => take(x, [1.5], 0), /np\.take: indices must be integers/);
    assert.throws(
      () => take(x, array([1, 2]), 0),
      /np\.take: indices must be integers, got a float32/,
    );
    assert.throws(() => take(x, new Float64Array([1])), /np\.take: indices must be integers/);
    assert.throws(() => take(x, [0], 2), /np\.take: axis 2 is out of bounds/);
    assert.throws(
      () => take(tensorOf(iotaArr([0, 2])), [0], 0),
      /np\.take: index 0 is out of bounds for axis 0 with size 0/,
    );
  });

  await t.step("takeAlongAxis with broadcasting of the other axes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 12, maxLength: 12 }),
        (rows, n, k, xBroad, iBroad, raw) => {
          // x: (xr, n), idx: (ir, k) along axis 1, rows broadcast
          const xr = xBroad ? 1 : rows, ir = iBroad ? 1 : rows;
          const x = iotaArr([xr, n]);
          const idx: number[] = [];
          for (let i = 0; i < ir * k; i++) idx.push(wrapIn(raw[i], n));
          const it = fromHostData(Int32Array.from(idx), [ir, k], "int32");
          const R = Math.max(xr, ir);
          const data: number[] = [];
          for (let r = 0; r < R; r++) {
            for (let j = 0; j < k; j++) {
              const v = idx[(ir === 1 ? 0 : r) * k + j];
              data.push(x.data[(xr === 1 ? 0 : r) * n + (v < 0 ? v + n : v)]);
            }
          }
          check(takeAlongAxis(tensorOf(x), it, 1), { data, shape: [R, k] });
          check(takeAlongAxis(tensorOf(x), it, -1), { data, shape: [R, k] });
        },
      ),
    );
  });

  await t.step("takeAlongAxis on axis 0, with argsort, and errors", () => {
    const x = tensorOf({ data: [3, 1, 2, 9, 7, 8], shape: [2, 3] });
    check(takeAlongAxis(x, argsort(x, 1), 1), { data: [1, 2, 3, 7, 8, 9], shape: [2, 3] });
    check(takeAlongAxis(x, [[1, 0, 1]], 0), { data: [9, 1, 8], shape: [1, 3] });
    check(takeAlongAxis(x, [5, 0], null), { data: [8, 3], shape: [2] });
    assert.throws(
      () => takeAlongAxis(x, [0], 1),
      /np\.takeAlongAxis: indices and the array must have the same number/,
    );
    assert.throws(
      () => takeAlongAxis(x, [[3]], 1),
      /np\.takeAlongAxis: index 3 is out of bounds for axis 1 with size 3/,
    );
    assert.throws(
      () => takeAlongAxis(x, [[0], [0], [0]], 1),
      /np\.takeAlongAxis: .*cannot be broadcast/,
    );
  });
});

test("lax dynamic slices, gather, scatter", async (t) => {
  await t.step("dynamicSlice clamps its starts, against a naive slice", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }).chain((shape) =>
          fc.tuple(
            fc.constant(shape),
            fc.tuple(...shape.map((n) => fc.integer({ min: 0, max: n }))),
            fc.tuple(...shape.map(() => fc.integer({ min: -6, max: 6 }))),
          )
        ),
        ([shape, sizes, starts]) => {
          const x = iotaArr(shape);
          // negative starts count from the end, then clamp (JAX's lax.dynamic_slice)
          const clamped = starts.map((st, i) =>
            Math.min(Math.max(st < 0 ? st + shape[i] : st, 0), shape[i] - sizes[i])
          );
          const data: number[] = [];
          for (let o = 0; o < sizeOf(sizes); o++) {
            const oi = unravel(o, sizes).map((v, i) => v + clamped[i]);
            data.push(x.data[ravel(oi, shape)]);
          }
          check(lax.dynamicSlice(tensorOf(x), starts, sizes), { data, shape: sizes });
          // dynamicUpdateSlice writes the same box
          const upd = { data: data.map((v) => -1 - v), shape: sizes };
          const exp = x.data.slice();
          for (let o = 0; o < sizeOf(sizes); o++) {
            const oi = unravel(o, sizes).map((v, i) => v + clamped[i]);
            exp[ravel(oi, shape)] = upd.data[o];
          }
          check(lax.dynamicUpdateSlice(tensorOf(x), tensorOf(upd), starts), { data: exp, shape });
        },
      ),
    );
  });

  await t.step("tensor starts, in-dim helpers, errors", () => {
    const x = tensorOf(iotaArr([4, 3]));
    check(lax.dynamicSlice(x, array([3, 1], { dtype: "int32" }), [2, 2]), {
      data: [7, 8, 10, 11],
      shape: [2, 2],
    });
    // JAX 0.10.2: start -1 of an axis of 3 is 2, clamped to 1
    check(lax.dynamicSliceInDim(x, -1, 2, 1), { data: [1, 2, 4, 5, 7, 8, 10, 11], shape: [4, 2] });
    check(lax.dynamicIndexInDim(x, 2, 0, false), { data: [6, 7, 8], shape: [3] });
    check(lax.dynamicUpdateIndexInDim(x, array([0, 0, 0]), 9, 0), {
      data: [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0],
      shape: [4, 3],
    });
    assert.throws(
      () => lax.dynamicSlice(x, [0], [1, 1]),
      /lax\.dynamicSlice: needs 2 start indices/,
    );
    assert.throws(
      () => lax.dynamicSlice(x, [0.5, 0], [1, 1]),
      /lax\.dynamicSlice: start indices must be integers/,
    );
    assert.throws(
      () => lax.dynamicSlice(x, [0, 0], [5, 1]),
      /dynamic_slice: slice sizes \[5,1\] do not fit shape \(4, 3\)/,
    );
  });

  await t.step("gather clamps, scatter drops out-of-range updates", () => {
    const x = tensorOf({ data: [10, 20, 30], shape: [3] });
    check(lax.gather(x, array([-1, 5, 1], { dtype: "int32" })), { data: [10, 30, 20], shape: [3] });
    const idx = array([0, 3, 0, -1], { dtype: "int32" });
    const u = tensorOf({ data: [1, 2, 3, 4], shape: [4] });
    check(lax.scatterAdd(x, idx, u), { data: [14, 20, 30], shape: [3] });
    check(lax.scatter(x, idx, u), { data: [3, 20, 30], shape: [3] });
  });
});

test("sorting", async (t) => {
  await t.step("sort and argsort: stable, NaN last, any axis, against a naive sort", () => {
    const valueArb = fc.oneof(
      fc.integer({ min: -3, max: 3 }),
      fc.constant(NaN),
      fc.constant(-Infinity),
    );
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.array(valueArb, { minLength: 64, maxLength: 64 }),
        (shape, axisSeed, pool) => {
          const axis = axisSeed % shape.length;
          const n = sizeOf(shape);
          const x: Arr = { data: pool.slice(0, n), shape };
          const sorted = new Array<number>(n), perm = new Array<number>(n);
          const strides = stridesOf(shape);
          const len = shape[axis];
          for (let e = 0; e < n; e++) {
            const ei = unravel(e, shape);
            if (ei[axis] !== 0) continue;
            const row = [...Array(len).keys()].map((k) => x.data[e + k * strides[axis]]);
            naiveArgsort(row).forEach((src, k) => {
              sorted[e + k * strides[axis]] = row[src];
              perm[e + k * strides[axis]] = src;
            });
          }
          for (const dtype of ["float32", "float64"] as DType[]) {
            check(sort(tensorOf(x, dtype), axis), { data: sorted, shape });
            const p = argsort(tensorOf(x, dtype), axis - shape.length);
            assert.equal(p.dtype, "int32");
            check(p, { data: perm, shape });
          }
        },
      ),
    );
  });

  await t.step("methods, flattened, ints, sizes 0 and 1, lax.sort with several operands", () => {
    const x = tensorOf({ data: [3, 1, 2, 1, NaN, 0], shape: [2, 3] });
    check(x.sort(), { data: [1, 2, 3, 0, 1, NaN], shape: [2, 3] });
    check(x.argsort(0), { data: [1, 0, 1, 0, 1, 0], shape: [2, 3] });
    check(sort(x, null), { data: [0, 1, 1, 2, 3, NaN], shape: [6] });
    check(argsort(x, null), { data: [5, 1, 3, 2, 0, 4], shape: [6] });
    check(sort(array([5, -2, 7], { dtype: "int32" })), { data: [-2, 5, 7], shape: [3] });
    check(sort(tensorOf({ data: [], shape: [0, 3] }), 1), { data: [], shape: [0, 3] });
    check(argsort(tensorOf({ data: [4], shape: [1] })), { data: [0], shape: [1] });
    const [k, v] = lax.sortKeyVal(array([2, 1, 2, 0]), array([10, 20, 30, 40]));
    check(k, { data: [0, 1, 2, 2], shape: [4] });
    check(v, { data: [40, 20, 10, 30], shape: [4] });
    const [a, b] = lax.sort([array([1, 0, 1, 0]), array([3, 2, 1, 0])], { numKeys: 2 });
    check(a, { data: [0, 0, 1, 1], shape: [4] });
    check(b, { data: [0, 2, 1, 3], shape: [4] });
    assert.throws(
      () => sort(array(1)),
      /np\.sort: axis -1 is out of bounds for an array of dimension 0/,
    );
    assert.throws(() => argsort(x, 2), /np\.argsort: axis 2 is out of bounds/);
  });
});

Deno.test({
  name: "cpu indexing kernels agree with the reference implementations",
  ignore: cpuSymbols === null,
  fn: async (t) => {
    const sym = cpuSymbols!;
    const { indexingKernels } = await import("../ffi/cpu_ops/indexing.ts");
    const run = (
      prim: Primitive<never>,
      name: string,
      inputs: TypedArray[],
      avals: Aval[],
      params: Record<string, unknown>,
    ) => {
      const p = prim as unknown as Primitive;
      const outs = p.rules.abstractEval(avals, params);
      const ref = p.rules.impl(inputs, avals, params, outs);
      const got = indexingKernels[name](sym, inputs, avals, params, outs);
      assert.equal(got.length, ref.length);
      got.forEach((g, i) => {
        assert.equal(g.constructor, ref[i].constructor, `${name} output ${i} type`);
        assert.deepEqual(Array.from(g), Array.from(ref[i]), `${name} output ${i}`);
      });
    };
    const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 });
    const dtypes: DType[] = ["float32", "float64", "int32", "uint32", "bool"];
    const host = (dtype: DType, n: number, seed: number): TypedArray => {
      const out = dtype === "float32"
        ? new Float32Array(n)
        : dtype === "float64"
        ? new Float64Array(n)
        : dtype === "int32"
        ? new Int32Array(n)
        : dtype === "uint32"
        ? new Uint32Array(n)
        : new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = ((seed + i * 7919) % 13) - 6;
        out[i] = dtype === "bool"
          ? (v > 0 ? 1 : 0)
          : dtype === "uint32"
          ? Math.abs(v)
          : (i % 5 === 4 && dtype.startsWith("float") ? NaN : v);
      }
      return out;
    };
    await t.step("take, scatter, scatter_add, dynamic slices, sort", () => {
      fc.assert(
        fc.property(
          shapeArb,
          fc.nat(),
          fc.nat({ max: 4 }),
          fc.nat(),
          (shape, axisSeed, di, seed) => {
            const dtype = dtypes[di];
            const axis = axisSeed % shape.length;
            const n = sizeOf(shape);
            const x = host(dtype, n, seed);
            const xa: Aval = { shape, dtype, weak: false };
            const len = shape[axis];
            const nidx = len === 0 ? 0 : (seed % 5);
            const idx = Int32Array.from(
              { length: nidx },
              (_, i) => (seed + i * 3) % Math.max(len, 1),
            );
            const ia: Aval = { shape: [nidx], dtype: "int32", weak: false };
            run(IP.take as never, "take", [x, idx], [xa, ia], { axis });
            const ushape = [...shape.slice(0, axis), nidx, ...shape.slice(axis + 1)];
            const upd = host(dtype, sizeOf(ushape), seed + 1);
            const ua: Aval = { shape: ushape, dtype, weak: false };
            run(IP.scatter as never, "scatter", [x, idx, upd], [xa, ia, ua], { axis });
            if (dtype !== "bool") {
              run(IP.scatterAdd as never, "scatter_add", [x, idx, upd], [xa, ia, ua], { axis });
            }
            const sizes = shape.map((d, i) => (d + seed + i) % (d + 1));
            const starts = shape.map((_, i) => Int32Array.of(((seed >> i) % 9) - 4));
            const sa = starts.map((): Aval => ({ shape: [], dtype: "int32", weak: false }));
            run(IP.dynamicSlice as never, "dynamic_slice", [x, ...starts], [xa, ...sa], { sizes });
            const u2 = host(dtype, sizeOf(sizes), seed + 2);
            run(IP.dynamicUpdateSlice as never, "dynamic_update_slice", [x, u2, ...starts], [xa, {
              shape: sizes,
              dtype,
              weak: false,
            }, ...sa], {});
            run(sortPrim as never, "sort", [x], [xa], { axis, numKeys: 1 });
            const other = host("int32", n, seed + 3);
            run(
              sortPrim as never,
              "sort",
              [x, other],
              [xa, { shape, dtype: "int32", weak: false }],
              { axis, numKeys: 1 },
            );
          },
        ),
        { numRuns: 200 },
      );
    });
  },
});
