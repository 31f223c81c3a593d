// NumPy-style indexing: basic and advanced indexing, functional updates (x.at(...)) and traced
// operands, against independent naive JS computations, and their errors.

import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix no-unversioned-import
import fc from "npm:fast-check";
import * as lax from "../core/lax/indexing.ts";
import { array } from "../core/numpy/convert.ts";
import { getIndex, s, take, takeAlongAxis } from "../core/numpy/indexing.ts";
import { aval, type Primitive } from "../core/primitive.ts";
import type { Tensor } from "../core/tensor.ts";
import { getCurrentTrace, Trace, Tracer, withTrace } from "../core/trace.ts";
import {
  type BasicItem,
  check,
  iotaArr,
  naiveBasic,
  ravel,
  tensorOf,
  test,
  toIndexItem,
  wrapIn,
} from "./indexing_helpers.ts";

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
