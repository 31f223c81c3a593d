/**
 * More of NumPy's array assembly, built from the shape and indexing functions: `arraySplit`,
 * `dstack`, `columnStack`, `atleast1d/2d/3d`, `tri`, `diag`, `diagonal`, `trace` and
 * `searchsorted`.
 * @module
 */

import { checkDType, DEFAULT_FLOAT, type DType } from "../dtype.ts";
import { fmtShape, normalizeAxis } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { type ArrayLike, asTensor, astype, broadcastTo } from "./convert.ts";
import { arange, zeros } from "./creation.ts";
import { add, less, lessEqual, where } from "./elementwise.ts";
import { take } from "./indexing.ts";
import { sum } from "./reductions.ts";
import { concatenate, expandDims, moveaxis, reshape, split } from "./shape.ts";

/**
 * Splits into `sections` parts that may differ in length by one (the first ones longer), or
 * at the given indices (as {@link split}).
 */
export function arraySplit(
  x: ArrayLike,
  sections: number | readonly number[],
  axis = 0,
): Tensor[] {
  const t = asTensor(x);
  if (typeof sections !== "number") return split(t, sections, axis);
  if (!Number.isInteger(sections) || sections <= 0) {
    throw new RangeError(`np.arraySplit: sections must be a positive integer, got ${sections}`);
  }
  const len = t.shape[normalizeAxis(axis, t.ndim, "np.arraySplit")];
  const base = Math.floor(len / sections), extra = len % sections;
  const bounds: number[] = [];
  let at = 0;
  for (let i = 0; i < sections - 1; i++) bounds.push(at += base + (i < extra ? 1 : 0));
  return split(t, bounds, axis);
}

/** `x` with at least one axis (a scalar becomes shape [1]). */
export function atleast1d(x: ArrayLike): Tensor {
  const t = asTensor(x);
  return t.ndim >= 1 ? t : reshape(t, [1]);
}
/** `x` with at least two axes (a 1-D array becomes a row). */
export function atleast2d(x: ArrayLike): Tensor {
  const t = atleast1d(x);
  return t.ndim >= 2 ? t : reshape(t, [1, t.size]);
}
/** `x` with at least three axes ((n,) → (1, n, 1); (m, n) → (m, n, 1)). */
export function atleast3d(x: ArrayLike): Tensor {
  const t = asTensor(x);
  if (t.ndim >= 3) return t;
  if (t.ndim === 2) return reshape(t, [...t.shape, 1]);
  return reshape(t, [1, t.size, 1]);
}

/** Stacks along a third axis (arrays made at least 3-D first). */
export function dstack(xs: readonly ArrayLike[]): Tensor {
  return concatenate(xs.map(atleast3d), 2);
}
/** Stacks 1-D arrays as columns of a 2-D array (2-D arrays as they are). */
export function columnStack(xs: readonly ArrayLike[]): Tensor {
  return concatenate(
    xs.map((x) => {
      const t = asTensor(x);
      return t.ndim < 2 ? reshape(t, [t.size, 1]) : t;
    }),
    1,
  );
}

/** An n×m array with ones at and below diagonal `k` (float32 unless `dtype` is given). */
export function tri(n: number, m?: number, k = 0, dtype: DType = DEFAULT_FLOAT): Tensor {
  checkDType(dtype, "np.tri");
  const rows = reshape(arange(n), [n, 1]), cols = reshape(arange(m ?? n), [1, m ?? n]);
  return astype(lessEqual(cols, add(rows, k)), dtype);
}

/**
 * The diagonal at `offset` of the 2-D slices over `axis1` and `axis2`, as a new last axis
 * (NumPy's `diagonal`).
 */
export function diagonal(x: ArrayLike, offset = 0, axis1 = 0, axis2 = 1): Tensor {
  const op = "np.diagonal";
  let t = asTensor(x);
  if (t.ndim < 2) throw new RangeError(`${op}: needs at least 2 axes, got ${fmtShape(t.shape)}`);
  const a1 = normalizeAxis(axis1, t.ndim, op), a2 = normalizeAxis(axis2, t.ndim, op);
  if (a1 === a2) throw new RangeError(`${op}: axis1 and axis2 must differ, got ${a1}`);
  t = moveaxis(t, [a1, a2], [-2, -1]);
  const n = t.shape[t.ndim - 2], m = t.shape[t.ndim - 1];
  const flatIdx: number[] = [];
  for (let i = Math.max(0, -offset); i < n && i + offset < m; i++) flatIdx.push(i * m + i + offset);
  const flat = reshape(t, [...t.shape.slice(0, -2), n * m]);
  return take(flat, asTensor(flatIdx, "int32"), flat.ndim - 1);
}

/** A 1-D array's values on diagonal `k` of a square matrix, or a 2-D array's diagonal `k`. */
export function diag(v: ArrayLike, k = 0): Tensor {
  const t = asTensor(v);
  if (t.ndim === 2) return diagonal(t, k);
  if (t.ndim !== 1) {
    throw new RangeError(`np.diag: expects a 1-D or 2-D array, got ${fmtShape(t.shape)}`);
  }
  const n = t.size + Math.abs(k);
  const padded = concatenate([t, zeros([Math.abs(k)], { dtype: t.dtype })]);
  // row i holds v[i] at column i + k (k >= 0); column j holds v[j] at row j - k (k < 0)
  const spread = k >= 0 ? reshape(padded, [n, 1]) : reshape(padded, [1, n]);
  const onDiagonal = where(tri(n, n, k - 1, "bool"), false, tri(n, n, k, "bool"));
  return where(onDiagonal, broadcastTo(spread, [n, n]), asTensor(0, t.dtype));
}

/** Sum of the diagonal at `offset` over `axis1`, `axis2`. */
export function trace(x: ArrayLike, offset = 0, axis1 = 0, axis2 = 1): Tensor {
  return sum(diagonal(x, offset, axis1, axis2), -1);
}

/** Options of {@link searchsorted}. */
export interface SearchsortedOptions {
  /** "left" (first position, default) or "right" (past equal elements). */
  side?: "left" | "right";
}

/**
 * Insertion positions of `v` in the sorted 1-D `a` that keep it sorted, as int32 (a count of
 * the elements below `v`, or not above it with side "right").
 */
export function searchsorted(
  a: ArrayLike,
  v: ArrayLike,
  options: SearchsortedOptions = {},
): Tensor {
  const sorted = asTensor(a), values = asTensor(v);
  if (sorted.ndim !== 1) {
    throw new RangeError(`np.searchsorted: a must be 1-D, got ${fmtShape(sorted.shape)}`);
  }
  const side = options.side ?? "left";
  if (side !== "left" && side !== "right") {
    throw new RangeError(`np.searchsorted: side must be "left" or "right", got ${side}`);
  }
  const vv = expandDims(values, -1);
  const below = side === "left" ? less(sorted, vv) : lessEqual(sorted, vv);
  return sum(below, -1);
}
