/**
 * Shared helpers of the convolution and window-reduction tests (`conv_*_test.ts`): js-device
 * tensors, seeded random data, naive convolution and window reduction in float64 to check
 * against, and the random convolution configurations for property tests.
 * @module
 */

// the core through its entry point first: starting at core/prims/*.ts hits an import cycle
import "../core/index.ts";
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix no-unversioned-import
import fc from "npm:fast-check";
import { registerDevice, setDefaultDevice } from "../core/device.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import { createJsDevice } from "../core/js_device.ts";
import { sizeOf, stridesOf } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { fromHostData } from "../core/trace.ts";

registerDevice("js", createJsDevice);
setDefaultDevice("js");

// ---- helpers ------------------------------------------------------------------------------

/** A js-device tensor of host data (float64 by default). */
export function tensor(data: TypedArray, shape: number[], dtype: DType = "float64"): Tensor {
  return fromHostData(data, shape, dtype);
}

/** `n` seeded pseudo-random values in [-1, 1) (an LCG), float64 by default. */
export function random(
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

/** The multi-index of flat row-major position `e` in `shape`. */
export function unravel(e: number, shape: readonly number[]): number[] {
  const strides = stridesOf(shape);
  return shape.map((d, k) => Math.floor(e / strides[k]) % d);
}

/** The flat row-major position of multi-index `idx` in `shape`. */
export function ravel(idx: readonly number[], shape: readonly number[]): number {
  const strides = stridesOf(shape);
  return idx.reduce((acc, v, k) => acc + v * strides[k], 0);
}

/** Asserts elementwise closeness with a relative + absolute tolerance. */
export function assertClose(
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

/**
 * Naive N-d convolution written independently of the library: materialize the lhs-dilated,
 * padded input and the rhs-dilated kernel, then correlate with strides.
 */
export function naiveConv(
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

/** Naive window reduction: pad explicitly with the identity, then reduce each window. */
export function naiveReduceWindow(
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

/** A tensor's data with its axes permuted by `perm` (row-major), and the permuted shape. */
export function permuteData(x: Tensor, perm: number[]): { data: Float64Array; shape: number[] } {
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

/** A random convolution configuration whose padded input is non-negative. */
export const convConfig = fc
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

/** A random window-reduction configuration. */
export const windowConfig = fc
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
