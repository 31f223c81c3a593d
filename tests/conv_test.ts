// Convolution and window reductions: the reference implementations against independent naive
// computations, JAX's padding formulas, dimension numbers, the CPU kernel glue, and errors.

import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix no-unversioned-import
import fc from "npm:fast-check";
import { registerDevice, setDefaultDevice } from "../core/device.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import { createJsDevice } from "../core/js_device.ts";
import {
  conv,
  convGeneralDilated,
  convTranspose,
  paddingToPairs,
  reduceWindow,
} from "../core/lax/conv.ts";
import { conv as convPrim, convOutputShape, type ConvParams } from "../core/prims/conv.ts";
import {
  reduceWindowMax,
  type ReduceWindowParams,
  reduceWindowShape,
  reduceWindowSum,
} from "../core/prims/window.ts";
import { sizeOf, stridesOf } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { fromHostData } from "../core/trace.ts";
import { convKernels } from "../ffi/cpu_ops/conv.ts";
import type { CArg, CpuSymbols } from "../ffi/cpu_ops/types.ts";

registerDevice("js", createJsDevice);
setDefaultDevice("js");

// ---- helpers ------------------------------------------------------------------------------

function tensor(data: TypedArray, shape: number[], dtype: DType = "float64"): Tensor {
  return fromHostData(data, shape, dtype);
}

function random(
  n: number,
  seed: number,
  Ctor: Float32ArrayConstructor | Float64ArrayConstructor = Float64Array,
) {
  const a = new Ctor(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 2 - 1;
  }
  return a;
}

function unravel(e: number, shape: readonly number[]): number[] {
  const strides = stridesOf(shape);
  return shape.map((d, k) => Math.floor(e / strides[k]) % d);
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  const strides = stridesOf(shape);
  return idx.reduce((acc, v, k) => acc + v * strides[k], 0);
}

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  what = "",
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const ok = Number.isNaN(e)
      ? Number.isNaN(a)
      : a === e || Math.abs(a - e) <= rtol * (1 + Math.abs(e));
    if (!ok) assert.fail(`${what}: element ${i}: got ${a}, expected ${e}`);
  }
}

// Naive N-d convolution written independently of the library: materialize the lhs-dilated,
// padded input and the rhs-dilated kernel, then correlate with strides.
function naiveConv(
  x: ArrayLike<number>,
  xShape: number[],
  w: ArrayLike<number>,
  wShape: number[],
  strides: number[],
  pads: [number, number][],
  ld: number[],
  rd: number[],
  groups: number,
): { out: Float64Array; shape: number[] } {
  const nd = xShape.length - 2;
  const [n, c] = xShape, [o, cg] = wShape;
  const sp = xShape.slice(2), ks = wShape.slice(2);
  const dil = (d: number, f: number) => (d === 0 ? 0 : (d - 1) * f + 1);
  const pShape = sp.map((d, i) => dil(d, ld[i]) + pads[i][0] + pads[i][1]);
  const xp = new Float64Array(n * c * sizeOf(pShape));
  const full = [n, c, ...pShape];
  for (let e = 0; e < x.length; e++) {
    const idx = unravel(e, xShape);
    const pos = idx.map((v, k) => (k < 2 ? v : pads[k - 2][0] + v * ld[k - 2]));
    if (pos.every((p, k) => p >= 0 && p < full[k])) xp[ravel(pos, full)] = x[e];
  }
  const kdShape = ks.map((d, i) => dil(d, rd[i]));
  const wdFull = [o, cg, ...kdShape];
  const wd = new Float64Array(sizeOf(wdFull));
  for (let e = 0; e < w.length; e++) {
    const idx = unravel(e, wShape);
    wd[ravel(idx.map((v, k) => (k < 2 ? v : v * rd[k - 2])), wdFull)] = w[e];
  }
  const outSp = pShape.map((p, i) =>
    p < kdShape[i] ? 0 : Math.floor((p - kdShape[i]) / strides[i]) + 1
  );
  const shape = [n, o, ...outSp];
  const out = new Float64Array(sizeOf(shape));
  const og = o / groups;
  for (let e = 0; e < out.length; e++) {
    const [b, oc, ...opos] = unravel(e, shape);
    const g = Math.floor(oc / og);
    let acc = 0;
    for (let t = 0; t < sizeOf(kdShape); t++) {
      const k = unravel(t, kdShape);
      const ipos = opos.map((v, i) => v * strides[i] + k[i]);
      for (let ci = 0; ci < cg; ci++) {
        acc += xp[ravel([b, g * cg + ci, ...ipos], full)] * wd[ravel([oc, ci, ...k], wdFull)];
      }
    }
    out[e] = acc;
  }
  void nd;
  return { out, shape };
}

// Naive window reduction: pad explicitly with the identity, then reduce each window.
function naiveReduceWindow(
  op: "max" | "sum",
  x: ArrayLike<number>,
  shape: number[],
  win: number[],
  strides: number[],
  pads: [number, number][],
  dil: number[],
): { out: Float64Array; shape: number[] } {
  const identity = op === "max" ? -Infinity : 0;
  const pShape = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  const xp = new Float64Array(sizeOf(pShape)).fill(identity);
  for (let e = 0; e < x.length; e++) {
    const pos = unravel(e, shape).map((v, k) => v + pads[k][0]);
    if (pos.every((p, k) => p >= 0 && p < pShape[k])) xp[ravel(pos, pShape)] = x[e];
  }
  const wd = win.map((w, i) => (w - 1) * dil[i] + 1);
  const outShape = pShape.map((p, i) => (p < wd[i] ? 0 : Math.floor((p - wd[i]) / strides[i]) + 1));
  const out = new Float64Array(sizeOf(outShape));
  for (let e = 0; e < out.length; e++) {
    const o = unravel(e, outShape);
    let acc = identity;
    for (let t = 0; t < sizeOf(win); t++) {
      const k = unravel(t, win);
      const v = xp[ravel(o.map((oi, i) => oi * strides[i] + k[i] * dil[i]), pShape)];
      acc = op === "max" ? Math.max(acc, v) : acc + v;
    }
    out[e] = acc;
  }
  return { out, shape: outShape };
}

function permuteData(x: Tensor, perm: number[]): { data: Float64Array; shape: number[] } {
  const data = x.dataSync(), shape = x.shape;
  const outShape = perm.map((p) => shape[p]);
  const out = new Float64Array(data.length);
  for (let e = 0; e < out.length; e++) {
    const oi = unravel(e, outShape);
    const src = new Array<number>(shape.length);
    perm.forEach((p, i) => (src[p] = oi[i]));
    out[e] = data[ravel(src, shape)];
  }
  return { data: out, shape: outShape };
}

// A random convolution configuration whose padded input is non-negative.
const convConfig = fc
  .record({
    nd: fc.integer({ min: 1, max: 3 }),
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cg: fc.integer({ min: 1, max: 2 }),
    og: fc.integer({ min: 1, max: 2 }),
    sizes: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 3, maxLength: 3 }),
    ksizes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
    strides: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
    ld: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 3, maxLength: 3 }),
    rd: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 3, maxLength: 3 }),
    pads: fc.array(fc.tuple(fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 })), {
      minLength: 3,
      maxLength: 3,
    }),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((r) => {
    const nd = r.nd;
    const sp = r.sizes.slice(0, nd), ks = r.ksizes.slice(0, nd);
    const ld = r.ld.slice(0, nd), rd = r.rd.slice(0, nd);
    const pads = r.pads.slice(0, nd).map(([lo, hi]) => [lo, hi] as [number, number]);
    return {
      xShape: [r.n, r.groups * r.cg, ...sp],
      wShape: [r.groups * r.og, r.cg, ...ks],
      strides: r.strides.slice(0, nd),
      pads,
      ld,
      rd,
      groups: r.groups,
      seed: r.seed,
    };
  })
  .filter((c) =>
    c.xShape.slice(2).every((d, i) => (d - 1) * c.ld[i] + 1 + c.pads[i][0] + c.pads[i][1] >= 0)
  );

// ---- tests --------------------------------------------------------------------------------

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

// A random window-reduction configuration.
const windowConfig = fc
  .record({
    shape: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 3 }),
    win: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
    strides: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
    dil: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 3, maxLength: 3 }),
    pads: fc.array(fc.tuple(fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 })), {
      minLength: 3,
      maxLength: 3,
    }),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((r) => {
    const nd = r.shape.length;
    return {
      shape: r.shape,
      win: r.win.slice(0, nd),
      strides: r.strides.slice(0, nd),
      dil: r.dil.slice(0, nd),
      pads: r.pads.slice(0, nd).map(([lo, hi]) => [lo, hi] as [number, number]),
      seed: r.seed,
    };
  })
  .filter((c) => c.shape.every((d, i) => d + c.pads[i][0] + c.pads[i][1] >= 0));

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

// ---- CPU kernel glue ----------------------------------------------------------------------

// Fake C symbols implementing kernels/README.md's ABI in JS (with the naive functions above),
// so that the parameter packing of ffi/cpu_ops/conv.ts is checked without a compiler.
function fakeSymbols(calls: string[]): CpuSymbols {
  const n = (v: bigint) => Number(v);
  const conv2d = (name: string) => (...args: CArg[]) => {
    calls.push(name);
    const [pArr, x, w, out] = args as [BigInt64Array, Float64Array, Float64Array, Float64Array];
    const p = [...pArr].map(n);
    assert.equal(p.length, 18);
    const [N, C, H, W, O, KH, KW, OH, OW, G, sh, sw, pt, pl, ldh, ldw, rdh, rdw] = p;
    // pad_bottom / pad_right are whatever makes the output OH x OW: any value that does not
    // cut the last window works; take the largest needed
    const dil = (d: number, f: number) => (d - 1) * f + 1;
    const pb = Math.max(0, (OH - 1) * sh + dil(KH, rdh) - dil(H, ldh) - pt);
    const pr = Math.max(0, (OW - 1) * sw + dil(KW, rdw) - dil(W, ldw) - pl);
    const r = naiveConv(
      x,
      [N, C, H, W],
      w,
      [O, C / G, KH, KW],
      [sh, sw],
      [[pt, pb], [pl, pr]],
      [
        ldh,
        ldw,
      ],
      [rdh, rdw],
      G,
    );
    assert.deepEqual(r.shape.slice(2, 4).map((d, i) => Math.min(d, [OH, OW][i])), [OH, OW]);
    // copy the OH x OW corner
    for (let e = 0; e < out.length; e++) {
      const [b, o, i, j] = unravel(e, [N, O, OH, OW]);
      out[e] = r.out[ravel([b, o, i, j], r.shape)];
    }
  };
  const rw = (op: "max" | "sum", name: string) => (...args: CArg[]) => {
    calls.push(name);
    const [ndB, pArr, x, out] = args as [bigint, BigInt64Array, Float64Array, Float64Array];
    const nd = n(ndB), p = [...pArr].map(n);
    assert.equal(p.length, 6 * nd);
    const part = (k: number) => p.slice(k * nd, (k + 1) * nd);
    const [inShape, outShape, win, strides, padLo, dil] = [0, 1, 2, 3, 4, 5].map(part);
    const padHi = inShape.map((d, i) =>
      Math.max(0, (outShape[i] - 1) * strides[i] + (win[i] - 1) * dil[i] + 1 - d - padLo[i])
    );
    const r = naiveReduceWindow(
      op,
      x,
      inShape,
      win,
      strides,
      padLo.map((lo, i) => [lo, padHi[i]]),
      dil,
    );
    for (let e = 0; e < out.length; e++) out[e] = r.out[ravel(unravel(e, outShape), r.shape)];
  };
  return {
    kiln_conv2d_f64: conv2d("kiln_conv2d_f64"),
    kiln_conv2d_f32: conv2d("kiln_conv2d_f32"),
    kiln_reduce_window_max_f64: rw("max", "kiln_reduce_window_max_f64"),
    kiln_reduce_window_sum_f64: rw("sum", "kiln_reduce_window_sum_f64"),
  };
}

function convCase(c: {
  xShape: number[];
  wShape: number[];
  strides: number[];
  pads: [number, number][];
  ld: number[];
  rd: number[];
  groups: number;
  seed: number;
}, dtype: "float32" | "float64") {
  const Ctor = dtype === "float32" ? Float32Array : Float64Array;
  const x = random(sizeOf(c.xShape), c.seed, Ctor), w = random(sizeOf(c.wShape), c.seed + 3, Ctor);
  const params: ConvParams = {
    windowStrides: c.strides,
    padding: c.pads,
    lhsDilation: c.ld,
    rhsDilation: c.rd,
    featureGroupCount: c.groups,
  };
  const inAvals = [{ shape: c.xShape, dtype, weak: false }, {
    shape: c.wShape,
    dtype,
    weak: false,
  }];
  const outAvals = convPrim.rules.abstractEval(inAvals, params);
  return { x, w, params, inAvals, outAvals };
}

Deno.test("cpu conv kernels", async (t) => {
  await t.step("parameter packing against a JS model of the C ABI (fast-check)", () => {
    fc.assert(
      fc.property(convConfig, (c) => {
        const calls: string[] = [];
        const sym = fakeSymbols(calls);
        const k = convCase(c, "float64");
        const [got] = convKernels.conv_general_dilated(
          sym,
          [k.x, k.w],
          k.inAvals,
          k.params as never,
          k.outAvals,
        );
        const [want] = convPrim.rules.impl([k.x, k.w], k.inAvals, k.params, k.outAvals);
        assert.ok(got instanceof Float64Array);
        assertClose(got, want, 1e-12, "conv kernel glue");
        const nd = c.xShape.length - 2;
        if (nd <= 2 && sizeOf(k.outAvals[0].shape) > 0) {
          assert.deepEqual(calls, ["kiln_conv2d_f64"]);
        }
        if (nd === 3) assert.deepEqual(calls, []); // 3-D falls back to the reference
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(windowConfig, fc.constantFrom("max" as const, "sum" as const), (c, op) => {
        const sym = fakeSymbols([]);
        const x = random(sizeOf(c.shape), c.seed);
        const params: ReduceWindowParams = {
          windowDimensions: c.win,
          windowStrides: c.strides,
          padding: c.pads,
          windowDilation: c.dil,
        };
        const prim = op === "max" ? reduceWindowMax : reduceWindowSum;
        const inAvals = [{ shape: c.shape, dtype: "float64" as const, weak: false }];
        const outAvals = prim.rules.abstractEval(inAvals, params);
        const [got] = convKernels[prim.name](sym, [x], inAvals, params as never, outAvals);
        const [want] = prim.rules.impl([x], inAvals, params, outAvals);
        assertClose(got, want, 1e-12, "reduce window kernel glue");
      }),
      { numRuns: 100 },
    );
  });

  // The real C kernels, through ffi/cpu_library.ts. That module is written in parallel with
  // this one: it is imported dynamically, and while it does not exist the step is skipped
  // (TODO: make this a static import once ffi/cpu_library.ts has landed).
  const libraryUrl = new URL("../ffi/cpu_library.ts", import.meta.url);
  let haveLibrary = false;
  try {
    haveLibrary = Deno.statSync(libraryUrl).isFile;
  } catch {
    haveLibrary = false;
  }
  await t.step({
    name: "C kernels agree with the reference (f32 within 1e-4 relative)",
    ignore: !haveLibrary,
    fn: async () => {
      const mod = await import(libraryUrl.href);
      const sym = mod.loadCpuLibrary().symbols as CpuSymbols;
      fc.assert(
        fc.property(convConfig, fc.boolean(), (c, f32) => {
          const dtype = f32 ? "float32" : "float64";
          const k = convCase(c, dtype);
          const [got] = convKernels.conv_general_dilated(
            sym,
            [k.x, k.w],
            k.inAvals,
            k.params as never,
            k.outAvals,
          );
          const [want] = convPrim.rules.impl([k.x, k.w], k.inAvals, k.params, k.outAvals);
          assert.equal(got.constructor, want.constructor);
          assertClose(got, want, f32 ? 1e-4 : 1e-10, `kiln_conv2d (${dtype})`);
        }),
        { numRuns: 200 },
      );
      const ctors = {
        float32: Float32Array,
        float64: Float64Array,
        int32: Int32Array,
        uint32: Uint32Array,
      };
      fc.assert(
        fc.property(
          windowConfig,
          fc.constantFrom("max" as const, "sum" as const),
          fc.constantFrom(
            "float32" as const,
            "float64" as const,
            "int32" as const,
            "uint32" as const,
          ),
          (c, op, dtype) => {
            const src = random(sizeOf(c.shape), c.seed);
            const x = new ctors[dtype](src.length);
            for (let i = 0; i < x.length; i++) {
              x[i] = dtype.startsWith("float") ? src[i] : Math.round(src[i] * 1000);
            }
            const params: ReduceWindowParams = {
              windowDimensions: c.win,
              windowStrides: c.strides,
              padding: c.pads,
              windowDilation: c.dil,
            };
            const prim = op === "max" ? reduceWindowMax : reduceWindowSum;
            const inAvals = [{ shape: c.shape, dtype, weak: false }];
            const outAvals = prim.rules.abstractEval(inAvals, params);
            const [got] = convKernels[prim.name](sym, [x], inAvals, params as never, outAvals);
            const [want] = prim.rules.impl([x], inAvals, params, outAvals);
            assert.equal(got.constructor, want.constructor);
            assertClose(
              got,
              want,
              dtype === "float32" ? 1e-5 : 1e-12,
              `kiln_reduce_window_${op} (${dtype})`,
            );
          },
        ),
        { numRuns: 200 },
      );
    },
  });
});
