// Indexing, gather/scatter, dynamic slices and sorting: the reference implementations and the
// NumPy layer against independent naive JS computations, errors, and the CPU kernel glue.

import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix no-unversioned-import
import fc from "npm:fast-check";
import { registerDevice, setDefaultDevice } from "../core/device.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import { createJsDevice } from "../core/js_device.ts";
import * as lax from "../core/lax/indexing.ts";
import { array } from "../core/numpy/convert.ts";
import { getIndex, type IndexItem, s, take, takeAlongAxis } from "../core/numpy/indexing.ts";
import { argsort, sort } from "../core/numpy/sorting.ts";
import { type Aval, aval, type Primitive } from "../core/primitive.ts";
import * as IP from "../core/prims/indexing.ts";
import { sort as sortPrim } from "../core/prims/sort.ts";
import { sizeOf, stridesOf } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { fromHostData, getCurrentTrace, Trace, Tracer, withTrace } from "../core/trace.ts";
import type { CpuSymbols } from "../ffi/cpu_ops/types.ts";

registerDevice("js", createJsDevice);

/** A test on the js device (other test files may change the default device). */
function test(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void {
  Deno.test(name, async (t) => {
    setDefaultDevice("js");
    await fn(t);
  });
}

// ---- naive helpers ------------------------------------------------------------------------

interface Arr {
  data: number[];
  shape: number[];
}

function iotaArr(shape: number[]): Arr {
  return { data: [...Array(sizeOf(shape)).keys()], shape };
}

function tensorOf(a: Arr, dtype: DType = "float32"): Tensor {
  const data = dtype === "float64"
    ? Float64Array.from(a.data)
    : dtype === "int32"
    ? Int32Array.from(a.data)
    : Float32Array.from(a.data);
  return fromHostData(data, a.shape, dtype);
}

function check(t: Tensor, expected: Arr, msg = ""): void {
  assert.deepEqual(t.shape, expected.shape, `${msg} shape`);
  const got = Array.from(t.dataSync());
  assert.equal(got.length, expected.data.length, msg);
  for (let i = 0; i < got.length; i++) {
    if (Number.isNaN(expected.data[i])) assert.ok(Number.isNaN(got[i]), `${msg} [${i}] NaN`);
    else assert.equal(got[i], expected.data[i], `${msg} [${i}]`);
  }
}

/** Maps any integer into [-n, n). */
function wrapIn(v: number, n: number): number {
  return ((v % (2 * n)) + 2 * n) % (2 * n) - n;
}

function unravel(i: number, shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    out[k] = i % shape[k];
    i = Math.floor(i / shape[k]);
  }
  return out;
}

function ravel(idx: number[], shape: number[]): number {
  let f = 0;
  for (let k = 0; k < shape.length; k++) f = f * shape[k] + idx[k];
  return f;
}

/** Python's range for a slice, enumerated element by element. */
function sliceRange(
  n: number,
  start: number | null,
  stop: number | null,
  step: number | null,
): number[] {
  const st = step ?? 1;
  const out: number[] = [];
  if (st > 0) {
    let a = start ?? 0, b = stop ?? n;
    if (a < 0) a = Math.max(0, a + n);
    if (b < 0) b = Math.max(0, b + n);
    a = Math.min(a, n);
    b = Math.min(b, n);
    for (let i = a; i < b; i += st) out.push(i);
  } else {
    let a = start ?? n - 1, b = stop ?? -n - 1;
    if (a < 0) a = a + n;
    if (b < 0) b = b + n;
    a = Math.min(a, n - 1);
    for (let i = a; i > b && i >= 0; i += st) out.push(i);
  }
  return out;
}

type BasicItem =
  | { k: "int"; v: number }
  | { k: "slice"; a: number | null; b: number | null; c: number | null }
  | { k: "new" }
  | { k: "ell" };

/** Naive NumPy basic indexing: per-axis index lists, cartesian product. */
function naiveBasic(x: Arr, items: BasicItem[]): Arr {
  const used = items.filter((it) => it.k === "int" || it.k === "slice").length;
  const expanded: BasicItem[] = [];
  let sawEll = false;
  for (const it of items) {
    if (it.k === "ell") {
      sawEll = true;
      for (let i = 0; i < x.shape.length - used; i++) {
        expanded.push({ k: "slice", a: null, b: null, c: null });
      }
    } else expanded.push(it);
  }
  if (!sawEll) {
    for (let i = 0; i < x.shape.length - used; i++) {
      expanded.push({ k: "slice", a: null, b: null, c: null });
    }
  }
  const lists: number[][] = [];
  const outShape: number[] = [];
  // axis plan: for each out axis, which x axis (or -1 for new axis)
  const plan: number[] = [];
  let d = 0;
  for (const it of expanded) {
    if (it.k === "new") {
      outShape.push(1);
      plan.push(-1);
    } else if (it.k === "int") {
      const n = x.shape[d];
      lists[d] = [it.v < 0 ? it.v + n : it.v];
      d++;
    } else if (it.k === "slice") {
      lists[d] = sliceRange(x.shape[d], it.a, it.b, it.c);
      outShape.push(lists[d].length);
      plan.push(d);
      d++;
    }
  }
  const data: number[] = [];
  for (let o = 0; o < sizeOf(outShape); o++) {
    const oi = unravel(o, outShape);
    const xi = lists.map((l) => l[0]);
    plan.forEach((axis, k) => {
      if (axis >= 0) xi[axis] = lists[axis][oi[k]];
    });
    data.push(x.data[ravel(xi, x.shape)]);
  }
  return { data, shape: outShape };
}

function toIndexItem(it: BasicItem): IndexItem {
  switch (it.k) {
    case "int":
      return it.v;
    case "new":
      return null;
    case "ell":
      return "...";
    case "slice":
      // alternate between the helper and the string form
      return (it.a ?? 0) % 2 === 0
        ? s(it.a, it.b, it.c)
        : `${it.a ?? ""}:${it.b ?? ""}${it.c === null ? "" : ":" + it.c}`;
  }
}

/** Naive stable sort of one row: NaN last. */
function naiveArgsort(row: number[]): number[] {
  const order = row.map((_, i) => i);
  return order.sort((p, q) => {
    const a = row[p], b = row[q];
    const an = Number.isNaN(a), bn = Number.isNaN(b);
    if (an || bn) return an === bn ? p - q : an ? 1 : -1;
    return a < b ? -1 : a > b ? 1 : p - q;
  });
}

// ---- CPU library, when present ----------------------------------------------------------------

async function loadCpuSymbols(): Promise<CpuSymbols | null> {
  try {
    const spec = "../ffi/cpu_library.ts";
    const mod = await import(spec);
    const sym = mod.loadCpuLibrary().symbols as CpuSymbols;
    for (
      const name of ["kiln_take_4", "kiln_scatter_add_f32", "kiln_scatter_set_4", "kiln_sort_f32"]
    ) {
      if (!(name in sym) || sym[name] === undefined) return null;
    }
    return sym;
  } catch {
    return null;
  }
}
const cpuSymbols = await loadCpuSymbols();

// ---- tests ------------------------------------------------------------------------------------

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

test("basic indexing", async (t) => {
  await t.step("random ints, slices, new axes and ellipses against naive NumPy", () => {
    const itemArb = (n: number) =>
      fc.oneof(
        fc.integer({ min: -n, max: n - 1 }).map((v): BasicItem => ({ k: "int", v })),
        fc.record({
          a: fc.option(fc.integer({ min: -6, max: 6 })),
          b: fc.option(fc.integer({ min: -6, max: 6 })),
          c: fc.option(fc.integer({ min: -3, max: 3 }).filter((c) => c !== 0)),
        }).map(({ a, b, c }): BasicItem => ({ k: "slice", a, b, c })),
      );
    const caseArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 }).chain((
      shape,
    ) =>
      fc.tuple(
        fc.constant(shape),
        fc.tuple(
          ...shape.map((n) => (n === 0 ? itemArb(1).filter((i) => i.k === "slice") : itemArb(n))),
        ),
        fc.nat({ max: 3 }),
        fc.nat({ max: 3 }),
        fc.boolean(),
        fc.nat({ max: 4 }),
      )
    );
    fc.assert(
      fc.property(caseArb, ([shape, items, pre, post, ell, newPos]) => {
        const nd = shape.length;
        const p = Math.min(pre, nd), q = Math.min(post, nd - p);
        let list: BasicItem[] = ell
          ? [...items.slice(0, p), { k: "ell" }, ...items.slice(nd - q)]
          : items.slice(0, p);
        if (newPos % 2 === 0) {
          const at = newPos % (list.length + 1);
          list = [...list.slice(0, at), { k: "new" }, ...list.slice(at)];
        }
        const x = iotaArr(shape);
        const expected = naiveBasic(x, list);
        const got = tensorOf(x).slice(...list.map(toIndexItem));
        check(got, expected, JSON.stringify({ shape, list }));
      }),
      { numRuns: 300 },
    );
  });

  await t.step("hand-picked cases", () => {
    const x = tensorOf(iotaArr([3, 4]));
    check(x.slice(1), { data: [4, 5, 6, 7], shape: [4] });
    check(x.slice(-1, -2), { data: [10], shape: [] });
    check(x.slice(":", "::-1"), { data: [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8], shape: [3, 4] });
    check(x.slice("::-2", 1), { data: [9, 1], shape: [2] });
    check(x.slice(null, "...", null), { data: iotaArr([3, 4]).data, shape: [1, 3, 4, 1] });
    check(x.slice("...", 2), { data: [2, 6, 10], shape: [3] });
    check(x.slice("2:1"), { data: [], shape: [0, 4] });
    check(x.slice(s(5, 9)), { data: [], shape: [0, 4] });
    check(getIndex(x), { data: iotaArr([3, 4]).data, shape: [3, 4] });
    check(getIndex(x, s(null, null, -1), s(-1, 0, -2)), {
      data: [11, 9, 7, 5, 3, 1],
      shape: [3, 2],
    });
    const z = tensorOf(iotaArr([0, 1]));
    check(z.slice(":", 0), { data: [], shape: [0] });
    check(z.slice("::-1", "..."), { data: [], shape: [0, 1] });
  });

  await t.step("errors", () => {
    const x = tensorOf(iotaArr([3, 4]));
    assert.throws(
      () => x.slice(3),
      /Tensor\.slice: index 3 is out of bounds for axis 0 with size 3/,
    );
    assert.throws(
      () => x.slice(0, -5),
      /Tensor\.slice: index -5 is out of bounds for axis 1 with size 4/,
    );
    assert.throws(
      () => x.slice(0, 0, 0),
      /Tensor\.slice: too many indices for array.*2-dimensional, but 3/,
    );
    assert.throws(
      () => getIndex(x, "...", "..."),
      /getIndex: an index can only have a single ellipsis/,
    );
    assert.throws(() => x.slice(1.5), /Tensor\.slice: only integers, slices/);
    assert.throws(() => x.slice("a:b"), /Tensor\.slice: cannot parse index "a:b"/);
    assert.throws(() => s(0, 1, 0), /np\.s: slice step cannot be zero/);
    assert.throws(
      () => x.slice(array([0.5])),
      /Tensor\.slice: indices must be integers, got a float32/,
    );
  });
});

test("advanced indexing", async (t) => {
  const x3 = iotaArr([3, 4, 5]);
  const t3 = tensorOf(x3);

  await t.step("two index arrays broadcast together", () => {
    // x[i[:, None], j] with i (2,), j (3,) -> (2, 3, 5)
    const i = [2, -3], j = [0, 3, -1];
    const got = t3.slice([[2], [-3]], j);
    const data: number[] = [];
    for (const a of i) {
      for (const b of j) {
        for (let c = 0; c < 5; c++) {
          data.push(x3.data[ravel([(a + 3) % 3, (b + 4) % 4, c], [3, 4, 5])]);
        }
      }
    }
    check(got, { data, shape: [2, 3, 5] });
  });

  await t.step("adjacent arrays after a slice keep their place; separated ones go first", () => {
    // x[:, [1, 2], [0, 4]] -> (3, 2)
    const adj: number[] = [];
    for (let a = 0; a < 3; a++) {
      for (const [b, c] of [[1, 0], [2, 4]]) adj.push(x3.data[ravel([a, b, c], [3, 4, 5])]);
    }
    check(t3.slice(":", [1, 2], [0, 4]), { data: adj, shape: [3, 2] });
    // x[[0, 2], :, [1, 3]] -> (2, 4)
    const sep: number[] = [];
    for (const [a, c] of [[0, 1], [2, 3]]) {
      for (let b = 0; b < 4; b++) sep.push(x3.data[ravel([a, b, c], [3, 4, 5])]);
    }
    check(t3.slice([0, 2], ":", [1, 3]), { data: sep, shape: [2, 4] });
    // an integer counts as advanced: x[0, :, [1, 3]] -> (2, 4)
    const intSep: number[] = [];
    for (const c of [1, 3]) {
      for (let b = 0; b < 4; b++) intSep.push(x3.data[ravel([0, b, c], [3, 4, 5])]);
    }
    check(t3.slice(0, ":", [1, 3]), { data: intSep, shape: [2, 4] });
    // x[1:, [3, 0], ::2] with a slice step and a new axis
    const mixed: number[] = [];
    for (let a = 1; a < 3; a++) {
      for (const b of [3, 0]) {
        for (const c of [0, 2, 4]) mixed.push(x3.data[ravel([a, b, c], [3, 4, 5])]);
      }
    }
    check(t3.slice("1:", [3, 0], "::2", null), { data: mixed, shape: [2, 2, 3, 1] });
  });

  await t.step("int tensors, 2-d index arrays, bool masks", () => {
    const x = tensorOf(iotaArr([3, 4]));
    check(x.slice(array([[0, 2], [1, 1]], { dtype: "int32" })), {
      data: [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 4, 5, 6, 7],
      shape: [2, 2, 4],
    });
    check(x.slice([true, false, true]), { data: [0, 1, 2, 3, 8, 9, 10, 11], shape: [2, 4] });
    const mask = array([[true, false, false, true], [false, false, false, false], [
      false,
      true,
      false,
      false,
    ]]);
    check(x.slice(mask), { data: [0, 3, 9], shape: [3] });
    check(x.slice(":", [false, true, true, false]), { data: [1, 2, 5, 6, 9, 10], shape: [3, 2] });
    check(x.slice([]), { data: [], shape: [0, 4] });
    assert.throws(
      () => x.slice([true, false]),
      /Tensor\.slice: boolean index did not match .*axis 0/,
    );
    assert.throws(
      () => x.slice([0, 3]),
      /Tensor\.slice: index 3 is out of bounds for axis 0 with size 3/,
    );
    assert.throws(
      () => x.slice([0, 1], [0, 1, 2]),
      /Tensor\.slice: shapes \(2,\), \(3,\) cannot be broadcast/,
    );
  });
});

test("functional updates: x.at(...)", async (t) => {
  await t.step("set and add with duplicate indices", () => {
    const x = tensorOf({ data: [1, 2, 3, 4, 5], shape: [5] });
    check(x.at([0, 2, 0]).add(array([10, 20, 30])), { data: [41, 2, 23, 4, 5], shape: [5] });
    check(x.at([0, 2, 0]).set(array([10, 20, 30])), { data: [30, 2, 20, 4, 5], shape: [5] });
    check(x.at(-1).set(0), { data: [1, 2, 3, 4, 0], shape: [5] });
    check(x.at("1:4:2").add(1), { data: [1, 3, 3, 5, 5], shape: [5] });
    check(x.at([]).set(7), { data: [1, 2, 3, 4, 5], shape: [5] });
    check(x.at([1, 1]).subtract(1), { data: [1, 0, 3, 4, 5], shape: [5] });
    check(x.at(2).multiply(10), { data: [1, 2, 30, 4, 5], shape: [5] });
    check(x.at([0, 4]).max(3), { data: [3, 2, 3, 4, 5], shape: [5] });
    check(x.at(":").get(), { data: [1, 2, 3, 4, 5], shape: [5] });
  });

  await t.step("random add/set against a naive loop", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: -20, max: 20 }), { minLength: 0, maxLength: 6 }),
        fc.boolean(),
        (n, m, raw, useAdd) => {
          const x = iotaArr([n, m]);
          const rows = raw.map((v) => wrapIn(v, n));
          const upd = rows.map((_, k) => [...Array(m).keys()].map((c) => 100 * (k + 1) + c));
          const exp = x.data.slice();
          rows.forEach((r, k) => {
            const rr = r < 0 ? r + n : r;
            for (let c = 0; c < m; c++) {
              if (useAdd) exp[rr * m + c] += upd[k][c];
              else exp[rr * m + c] = upd[k][c];
            }
          });
          const u = tensorOf({ data: upd.flat(), shape: [rows.length, m] });
          const at = tensorOf(x).at(rows, ":");
          check(useAdd ? at.add(u) : at.set(u), { data: exp, shape: [n, m] });
        },
      ),
    );
  });

  await t.step("broadcast and cast of the value; 2-d index", () => {
    const x = tensorOf(iotaArr([2, 3]), "int32");
    const y = x.at(":", [0, 2]).set(array([7.9, -1]));
    assert.equal(y.dtype, "int32");
    check(y, { data: [7, 1, -1, 7, 4, -1], shape: [2, 3] });
    check(x.at(1).add(array([[1, 1, 1]])), { data: [0, 1, 2, 4, 5, 6], shape: [2, 3] });
    assert.throws(() => x.at(0).set(array([1, 2])), /at\.set: .*\(2,\).*\(3,\)/);
    assert.throws(() => x.at(2).set(0), /at\.set: index 2 is out of bounds for axis 0 with size 2/);
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

/** A trace that only propagates shapes: its tracers have no values, like jit's. */
class ShapeTrace extends Trace {
  constructor() {
    super(getCurrentTrace(), "shape-test");
  }
  processPrimitive(prim: Primitive, args: Tensor[], params: Record<string, unknown>): Tensor[] {
    return prim.rules.abstractEval(args.map((a) => a.aval), params).map((a) => new Tracer(this, a));
  }
}

test("traced operands and indices bind without concretizing", () => {
  const trace = new ShapeTrace();
  withTrace(trace, () => {
    const x = new Tracer(trace, aval([3, 4], "float32"));
    const idx = new Tracer(trace, aval([2, 5], "int32"));
    assert.deepEqual(take(x, idx, 1).shape, [3, 2, 5]);
    assert.deepEqual(take(tensorOf(iotaArr([3, 4])), idx).shape, [2, 5]);
    assert.deepEqual(x.slice(idx, "::-1").shape, [2, 5, 4]);
    assert.deepEqual(x.slice(":", idx).shape, [3, 2, 5]);
    assert.deepEqual(x.slice([0, 2], ":", null).shape, [2, 4, 1]);
    assert.deepEqual(x.at(idx).set(1).shape, [3, 4]);
    assert.deepEqual(x.at(1, "1:").add(x.slice(0, "1:")).shape, [3, 4]);
    const along = new Tracer(trace, aval([3, 2], "int32"));
    assert.deepEqual(takeAlongAxis(x, along, 1).shape, [3, 2]);
    assert.deepEqual(x.argsort(0).shape, [3, 4]);
    const start = new Tracer(trace, aval([], "int32"));
    assert.deepEqual(lax.dynamicSlice(x, [start, 1], [2, 2]).shape, [2, 2]);
    assert.deepEqual(lax.dynamicUpdateSlice(x, x.slice("1:"), [start, 0]).shape, [3, 4]);
    assert.deepEqual(lax.scatterAdd(x, idx, new Tracer(trace, aval([2, 5, 4], "float32"))).shape, [
      3,
      4,
    ]);
    const mask = new Tracer(trace, aval([3], "bool"));
    assert.throws(() => x.slice(mask), /Tensor\.slice: a boolean mask index must be concrete/);
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
