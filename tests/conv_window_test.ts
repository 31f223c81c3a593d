// Window reductions (reduce_window sum/max): the reference implementations against naive
// loops, JAX's padding formulas, and errors.

// first: it loads the core in a working order (see conv_helpers.ts)
import { assertClose, naiveReduceWindow, random, tensor, windowConfig } from "./conv_helpers.ts";
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix no-unversioned-import
import fc from "npm:fast-check";
import { reduceWindow } from "../core/lax/conv.ts";
import {
  reduceWindowMax,
  type ReduceWindowParams,
  reduceWindowShape,
  reduceWindowSum,
} from "../core/prims/window.ts";
import { sizeOf } from "../core/shape.ts";
import { fromHostData } from "../core/trace.ts";

Deno.test("reduce_window", async (t) => {
  await t.step("max and sum match a naive reduction (fast-check)", () => {
    fc.assert(
      fc.property(windowConfig, fc.constantFrom("max" as const, "sum" as const), (c, op) => {
        const x = random(sizeOf(c.shape), c.seed);
        const expected = naiveReduceWindow(op, x, c.shape, c.win, c.strides, c.pads, c.dil);
        const init = op === "max" ? -Infinity : 0;
        const y = reduceWindow(tensor(x, c.shape), init, op, c.win, c.strides, c.pads, {
          windowDilation: c.dil,
        });
        assert.deepEqual(y.shape, expected.shape);
        assertClose(y.dataSync(), expected.out, 1e-12, `reduce_window_${op}`);
      }),
      { numRuns: 200 },
    );
  });

  await t.step("a hand-computed 2x2 max pool and SAME sum", () => {
    const x = tensor(new Float64Array([1, 5, 2, 0, 3, 4, 8, 1, 0, 1, 2, 9, 7, 6, 3, 3]), [4, 4]);
    const y = reduceWindow(x, -Infinity, "max", [2, 2], [2, 2], "VALID");
    assert.deepEqual(y.shape, [2, 2]);
    assert.deepEqual([...y.dataSync()], [5, 8, 7, 9]);
    // SAME, 3-wide, stride 2 over length 5: pads (1, 1), windows [0..1], [1..3], [3..4]
    const s = reduceWindow(
      tensor(new Float64Array([1, 2, 3, 4, 5]), [5]),
      0,
      "sum",
      [3],
      [2],
      "SAME",
    );
    assert.deepEqual([...s.dataSync()], [3, 9, 9]);
  });

  await t.step("integer dtypes, and a non-identity init is folded in once", () => {
    const x = fromHostData(new Int32Array([-5, -3, -7, -1]), [4], "int32");
    const m = reduceWindow(x, -Infinity, "max", [2], [2], "VALID");
    assert.equal(m.dtype, "int32");
    assert.deepEqual([...m.dataSync()], [-3, -1]);
    const r = reduceWindow(x, -2, "max", [2], [2], "VALID"); // relu-like floor
    assert.deepEqual([...r.dataSync()], [-2, -1]);
    const s = reduceWindow(x, 10, "sum", [2], [1], [[1, 0]]);
    assert.deepEqual([...s.dataSync()], [5, 2, 0, 2]);
    const u = fromHostData(new Uint32Array([4, 9, 1]), [3], "uint32");
    assert.deepEqual([...reduceWindow(u, 0, "max", [2], [1], "SAME").dataSync()], [9, 9, 1]);
  });

  await t.step("NaN propagates through max", () => {
    const y = reduceWindow(tensor(new Float64Array([1, NaN, 3, 4]), [4]), -Infinity, "max", [2], [
      2,
    ], "VALID");
    const d = y.dataSync();
    assert.ok(Number.isNaN(d[0]));
    assert.equal(d[1], 4);
  });

  await t.step("errors name the op and the shapes", () => {
    const x = tensor(random(12, 1), [3, 4]);
    assert.throws(
      () => reduceWindow(x, 0, "sum", [2], [1, 1], "VALID"),
      /lax\.reduceWindow: windowDimensions must be 2 integer/,
    );
    assert.throws(
      () => reduceWindow(x, 0, "sum", [2, 2], [1, 1], "BOTH" as "SAME"),
      /lax\.reduceWindow: padding must be "SAME".*"BOTH"/,
    );
    assert.throws(
      () => reduceWindow(x, 0, "min" as "max", [2, 2], [1, 1], "VALID"),
      /lax\.reduceWindow: op must be/,
    );
    assert.throws(
      () => reduceWindow(x, 0, "sum", [2, 2], [1, 1], "VALID", { windowDilation: [0, 1] }),
      /lax\.reduceWindow: invalid options: windowDilation/,
    );
    assert.throws(
      () => reduceWindow(x, 0, "sum", [2, 2], [1, 1], [[-5, 0], [0, 0]]),
      /reduce_window_sum: negative padding .*operand \(3, 4\)/,
    );
    const p: ReduceWindowParams = {
      windowDimensions: [2],
      windowStrides: [1],
      padding: [[0, 0]],
      windowDilation: [1],
    };
    assert.throws(
      () =>
        reduceWindowMax.rules.abstractEval([{ shape: [3, 4], dtype: "float32", weak: false }], p),
      /reduce_window_max: windowDimensions must have 2 entries.*operand \(3, 4\)/,
    );
    assert.throws(
      () => reduceWindowSum.rules.abstractEval([{ shape: [3], dtype: "bool", weak: false }], p),
      /reduce_window_sum: the operand must be numeric/,
    );
    assert.deepEqual(reduceWindowShape("t", [5], { ...p, windowStrides: [2] }), [2]);
  });
});
