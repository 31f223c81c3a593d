// conv_general_dilated: the reference implementation against an independent naive
// convolution, JAX's padding formulas, dimension numbers, transposed convolution, and errors.

// first: it loads the core in a working order (see conv_helpers.ts)
import { assertClose, convConfig, naiveConv, permuteData, random, tensor } from "./conv_helpers.ts";
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix no-unversioned-import
import fc from "npm:fast-check";
import { conv, convGeneralDilated, convTranspose, paddingToPairs } from "../core/lax/conv.ts";
import { conv as convPrim, convOutputShape, type ConvParams } from "../core/prims/conv.ts";
import { sizeOf } from "../core/shape.ts";
import { fromHostData } from "../core/trace.ts";

Deno.test("conv_general_dilated", async (t) => {
  await t.step("reference impl matches a naive convolution (fast-check)", () => {
    fc.assert(
      fc.property(convConfig, (c) => {
        const x = random(sizeOf(c.xShape), c.seed);
        const w = random(sizeOf(c.wShape), c.seed + 7);
        const expected = naiveConv(
          x,
          c.xShape,
          w,
          c.wShape,
          c.strides,
          c.pads,
          c.ld,
          c.rd,
          c.groups,
        );
        const y = convGeneralDilated(tensor(x, c.xShape), tensor(w, c.wShape), c.strides, c.pads, {
          lhsDilation: c.ld,
          rhsDilation: c.rd,
          featureGroupCount: c.groups,
        });
        assert.deepEqual(y.shape, expected.shape);
        assert.equal(y.dtype, "float64");
        assertClose(y.dataSync(), expected.out, 1e-12, "conv");
      }),
      { numRuns: 150 },
    );
  });

  await t.step("a hand-computed 1-D case", () => {
    // x padded by [1, 0] is [0, 1, 2, 3, 4]; correlating with w = [1, -1] gives x[i] - x[i+1]
    const y = conv(
      tensor(new Float64Array([1, 2, 3, 4]), [1, 1, 4]),
      tensor(new Float64Array([1, -1]), [1, 1, 2]),
      [1],
      [[1, 0]],
    );
    assert.deepEqual(y.shape, [1, 1, 4]);
    assert.deepEqual([...y.dataSync()], [-1, -1, -1, -1]);
  });

  await t.step("SAME and VALID output shapes follow JAX", () => {
    const x = tensor(random(5 * 5, 1), [1, 1, 5, 5]);
    const w = tensor(random(9, 2), [1, 1, 3, 3]);
    assert.deepEqual(conv(x, w, [2, 2], "SAME").shape, [1, 1, 3, 3]);
    assert.deepEqual(conv(x, w, [1, 1], "SAME").shape, [1, 1, 5, 5]);
    assert.deepEqual(conv(x, w, [2, 2], "VALID").shape, [1, 1, 2, 2]);
    assert.deepEqual(conv(x, w, [1, 1], "VALID").shape, [1, 1, 3, 3]);
    assert.deepEqual(conv(x, w, [2, 1], "SAME_LOWER").shape, [1, 1, 3, 5]);
    // padding pairs: total = max((ceil(in/s)-1)*s + k - in, 0), lo = floor(total/2)
    assert.deepEqual(paddingToPairs("t", "SAME", [5], [3], [2]), [[1, 1]]);
    assert.deepEqual(paddingToPairs("t", "SAME", [6], [3], [2]), [[0, 1]]);
    assert.deepEqual(paddingToPairs("t", "SAME_LOWER", [6], [3], [2]), [[1, 0]]);
    assert.deepEqual(paddingToPairs("t", "SAME", [6], [1], [2]), [[0, 0]]);
    assert.deepEqual(paddingToPairs("t", "VALID", [6, 7], [3, 3], [2, 1]), [[0, 0], [0, 0]]);
    assert.deepEqual(paddingToPairs("t", "same", [7], [5], [1]), [[2, 2]]);
    // SAME with a dilated kernel uses the dilated window (3 taps, dilation 2 -> 5)
    const z = convGeneralDilated(
      tensor(random(7, 3), [1, 1, 7]),
      tensor(random(3, 4), [1, 1, 3]),
      [1],
      "SAME",
      {
        rhsDilation: [2],
      },
    );
    assert.deepEqual(z.shape, [1, 1, 7]);
    // SAME equals the explicit padding it stands for
    const same = conv(x, w, [2, 2], "SAME").dataSync();
    const explicit = conv(x, w, [2, 2], [[1, 1], [1, 1]]).dataSync();
    assert.deepEqual([...same], [...explicit]);
  });

  await t.step("NHWC/HWIO dimension numbers equal the NCHW result transposed", () => {
    const xs = [2, 4, 6, 5], ws = [6, 2, 3, 2]; // NCHW, OIHW, groups 2
    const x = tensor(random(sizeOf(xs), 11), xs), w = tensor(random(sizeOf(ws), 12), ws);
    const opts = { featureGroupCount: 2, rhsDilation: [1, 2] };
    const ref = convGeneralDilated(x, w, [2, 1], "SAME", opts);
    const xNhwc = permuteData(x, [0, 2, 3, 1]), wHwio = permuteData(w, [2, 3, 1, 0]);
    const y = convGeneralDilated(
      tensor(xNhwc.data, xNhwc.shape),
      tensor(wHwio.data, wHwio.shape),
      [2, 1],
      "SAME",
      {
        ...opts,
        dimensionNumbers: ["NHWC", "HWIO", "NHWC"],
      },
    );
    const refNhwc = permuteData(ref, [0, 2, 3, 1]);
    assert.deepEqual(y.shape, refNhwc.shape);
    assertClose(y.dataSync(), refNhwc.data, 1e-12, "NHWC");
    // mixed: NHWC input, OIHW kernel, NCHW output
    const y2 = convGeneralDilated(tensor(xNhwc.data, xNhwc.shape), w, [2, 1], "SAME", {
      ...opts,
      dimensionNumbers: ["NHWC", "OIHW", "NCHW"],
    });
    assertClose(y2.dataSync(), ref.dataSync(), 1e-12, "mixed layouts");
    // explicit specs (JAX's ConvDimensionNumbers) give the same as the strings
    const y3 = convGeneralDilated(
      tensor(xNhwc.data, xNhwc.shape),
      tensor(wHwio.data, wHwio.shape),
      [2, 1],
      "SAME",
      {
        ...opts,
        dimensionNumbers: [[0, 3, 1, 2], [3, 2, 0, 1], [0, 3, 1, 2]],
      },
    );
    assertClose(y3.dataSync(), refNhwc.data, 1e-12, "explicit specs");
  });

  await t.step("integer operands are promoted to float32", () => {
    const x = fromHostData(new Int32Array([1, 2, 3, 4]), [1, 1, 4], "int32");
    const w = fromHostData(new Int32Array([1, 1]), [1, 1, 2], "int32");
    const y = conv(x, w, [1], "VALID");
    assert.equal(y.dtype, "float32");
    assert.deepEqual([...y.dataSync()], [3, 5, 7]);
    const z = conv(x, tensor(new Float64Array([1, 1]), [1, 1, 2]), [1], "VALID");
    assert.equal(z.dtype, "float64");
  });

  await t.step("convTranspose matches the lhs-dilated convolution (JAX's definition)", () => {
    const xs = [1, 4, 4, 2], ws = [3, 3, 2, 3]; // NHWC, HWIO
    const x = tensor(random(sizeOf(xs), 21), xs), w = tensor(random(sizeOf(ws), 22), ws);
    const y = convTranspose(x, w, [2, 2], "SAME");
    assert.deepEqual(y.shape, [1, 8, 8, 3]);
    // JAX: SAME with k=3, s=2 pads (2, 1)
    const ref = convGeneralDilated(x, w, [1, 1], [[2, 1], [2, 1]], {
      lhsDilation: [2, 2],
      dimensionNumbers: ["NHWC", "HWIO", "NHWC"],
    });
    assertClose(y.dataSync(), ref.dataSync(), 1e-12, "convTranspose");
    assert.deepEqual(convTranspose(x, w, [2, 2], "VALID").shape, [1, 9, 9, 3]);
  });

  await t.step("output shape helper and empty cases", () => {
    const p: ConvParams = {
      windowStrides: [1],
      padding: [[0, 0]],
      lhsDilation: [1],
      rhsDilation: [1],
      featureGroupCount: 1,
    };
    assert.deepEqual(convOutputShape([2, 3, 5], [4, 3, 2], p), [2, 4, 4]);
    assert.deepEqual(convOutputShape([2, 3, 1], [4, 3, 2], p), [2, 4, 0]);
    assert.deepEqual(convOutputShape([0, 3, 5], [4, 3, 2], p), [0, 4, 4]);
    const y = conv(
      tensor(new Float64Array(0), [0, 3, 5]),
      tensor(random(24, 5), [4, 3, 2]),
      [1],
      "VALID",
    );
    assert.deepEqual(y.shape, [0, 4, 4]);
  });

  await t.step("errors name the op and the shapes", () => {
    const x = tensor(random(2 * 3 * 5 * 5, 1), [2, 3, 5, 5]);
    const w = tensor(random(4 * 3 * 3 * 3, 2), [4, 3, 3, 3]);
    // wrong rank
    assert.throws(
      () => conv(tensor(random(15, 1), [3, 5]), w, [1], "VALID"),
      /lax\.conv: .*rank.*\(3, 5\)/,
    );
    assert.throws(
      () =>
        convPrim.rules.abstractEval([{ shape: [3, 5], dtype: "float32", weak: false }, {
          shape: [4, 3],
          dtype: "float32",
          weak: false,
        }], {
          windowStrides: [],
          padding: [],
          lhsDilation: [],
          rhsDilation: [],
          featureGroupCount: 1,
        }),
      /conv_general_dilated: .*rank/,
    );
    // channel mismatch
    assert.throws(
      () => conv(x, tensor(random(4 * 2 * 9, 2), [4, 2, 3, 3]), [1, 1], "VALID"),
      /conv_general_dilated: .*3 \/ 1 != 2.*lhs \(2, 3, 5, 5\), rhs \(4, 2, 3, 3\)/,
    );
    // groups that do not divide
    assert.throws(
      () => convGeneralDilated(x, w, [1, 1], "VALID", { featureGroupCount: 2 }),
      /conv_general_dilated: featureGroupCount 2 must divide the lhs feature size 3/,
    );
    assert.throws(
      () =>
        convGeneralDilated(
          tensor(random(2 * 4 * 25, 1), [2, 4, 5, 5]),
          tensor(random(3 * 2 * 9, 1), [3, 2, 3, 3]),
          [1, 1],
          "VALID",
          { featureGroupCount: 2 },
        ),
      /conv_general_dilated: the rhs output feature size 3 must be a multiple of featureGroupCount 2/,
    );
    // bad padding
    assert.throws(
      () => conv(x, w, [1, 1], "FULL" as "SAME"),
      /lax\.conv: padding must be "SAME".*"FULL"/,
    );
    assert.throws(() => conv(x, w, [1, 1], [[1, 1]]), /lax\.conv: padding must be/);
    assert.throws(
      () => conv(x, w, [1, 1], [[-9, 0], [0, 0]]),
      /conv_general_dilated: negative padding/,
    );
    // strides
    assert.throws(() => conv(x, w, [1], "VALID"), /lax\.conv: windowStrides must be 2 integer/);
    assert.throws(() => conv(x, w, [0, 1], "VALID"), /lax\.conv: windowStrides/);
    // options
    assert.throws(
      () => convGeneralDilated(x, w, [1, 1], "VALID", { batchGroupCount: 2 }),
      /lax\.convGeneralDilated: batchGroupCount 2 is not supported/,
    );
    assert.throws(
      () => convGeneralDilated(x, w, [1, 1], "VALID", { featureGroupCnt: 2 } as never),
      /lax\.convGeneralDilated: invalid options: .*featureGroupCnt/,
    );
    assert.throws(
      () => convGeneralDilated(x, w, [1, 1], "VALID", { lhsDilation: [0, 1] }),
      /lax\.convGeneralDilated: invalid options: lhsDilation\.0/,
    );
    assert.throws(
      () =>
        convGeneralDilated(x, w, [1, 1], "VALID", { dimensionNumbers: ["NCHW", "OIHW", "NCWX"] }),
      /lax\.convGeneralDilated: invalid dimensionNumbers .*spatial letters/,
    );
    assert.throws(
      () => convGeneralDilated(x, w, [1, 1], "VALID", { dimensionNumbers: ["NCH", "OIH", "NCH"] }),
      /lax\.convGeneralDilated: invalid dimensionNumbers .*expected 4/,
    );
    // dtype mismatch at the primitive
    assert.throws(
      () =>
        convPrim.rules.abstractEval([{ shape: [1, 1, 3], dtype: "int32", weak: false }, {
          shape: [1, 1, 2],
          dtype: "int32",
          weak: false,
        }], {
          windowStrides: [1],
          padding: [[0, 0]],
          lhsDilation: [1],
          rhsDilation: [1],
          featureGroupCount: 1,
        }),
      /conv_general_dilated: operands must share a float dtype/,
    );
  });
});
