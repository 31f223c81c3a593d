/**
 * Scalar semantics of the elementwise primitives on JS numbers: the reference definitions the
 * `js` device evaluates and the C kernels mirror (integer wraparound, division by zero giving
 * 0, NaN-propagating max/min, round half to even, erf).
 * @module
 */

import type { DType } from "../dtype.ts";

/** Per-dtype scalar functions; a dtype missing here is rejected by the shape rule. */
export type ByDType<F> = Partial<Record<DType, F>>;

/**
 * The same function for every float dtype. The 16-bit floats are listed so that shape rules
 * accept them; devices evaluate them in float32 (see `core/float16.ts`).
 */
export const floats = <F>(f: F): ByDType<F> => ({
  float16: f,
  bfloat16: f,
  float32: f,
  float64: f,
});
/** A float function and the int32 / uint32 variants. */
export const numeric = <F>(f: F, i32: F, u32: F): ByDType<F> => ({
  float16: f,
  bfloat16: f,
  float32: f,
  float64: f,
  int32: i32,
  uint32: u32,
});
/** The same function for every dtype. */
export const everyDType = <F>(f: F): ByDType<F> => ({
  float16: f,
  bfloat16: f,
  float32: f,
  float64: f,
  int32: f,
  uint32: f,
  bool: f,
});

/** Round half to even, as NumPy's `round`. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The error function: Maclaurin series below 2.5, a continued fraction for erfc above. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: terms peak near e^(x²) ≈ 500, leaving ~1e-13 relative accuracy
    let term = x, sum = x;
    const x2 = x * x;
    for (let n = 1; n < 100 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= -x2 / n;
      sum += term / (2 * n + 1);
    }
    return sum * 1.1283791670955126;
  }
  if (ax > 6) return Math.sign(x);
  return Math.sign(x) * (1 - erfcPositive(ax));
}

// erfc for x >= 2.5 by a continued fraction (Lentz), accurate to ~1e-15.
function erfcPositive(x: number): number {
  const tiny = 1e-300;
  let f = x, c = x, d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = x + an * d;
    d = d === 0 ? tiny : 1 / d;
    c = x + an / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (f * Math.sqrt(Math.PI));
}

/** Wraps to int32. */
export const i32 = (x: number) => x | 0;
/** Wraps to uint32. */
export const u32 = (x: number) => x >>> 0;

/** Integer division truncating toward zero; by 0 gives 0 (no trap, like the C kernels). */
export function intDiv(a: number, b: number): number {
  return b === 0 ? 0 : Math.trunc(a / b);
}
/** Integer remainder with the dividend's sign; by 0 gives 0. */
export function intRem(a: number, b: number): number {
  return b === 0 ? 0 : a % b;
}
/** Integer power with wraparound; negative exponents give 0 except for bases ±1. */
export function intPow(base: number, exp: number, wrap: (x: number) => number): number {
  if (exp < 0) return base === 1 ? 1 : base === -1 ? (exp % 2 === 0 ? 1 : -1) : 0;
  let result = 1, b = base, e = exp;
  while (e > 0) {
    if (e & 1) result = wrap(Math.imul(result, b));
    b = wrap(Math.imul(b, b));
    e = Math.floor(e / 2);
  }
  return wrap(result);
}
// NaN-propagating max/min, as NumPy's maximum/minimum and the C kernels.
/** Maximum propagating NaN. */
export const nanMax = (a: number, b: number) => (a !== a || b !== b ? NaN : a > b ? a : b);
/** Minimum propagating NaN. */
export const nanMin = (a: number, b: number) => (a !== a || b !== b ? NaN : a < b ? a : b);
/** Integer maximum. */
export const intMax = (a: number, b: number) => (a > b ? a : b);
/** Integer minimum. */
export const intMin = (a: number, b: number) => (a < b ? a : b);
