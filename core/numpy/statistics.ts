/**
 * NumPy's statistics built from the reductions and `sort`: the NaN-ignoring reductions
 * (`nansum`, `nanmean`, `nanmax`, …), `median`, `quantile`, `percentile` (linear
 * interpolation, as JAX's default), `ptp`, `average`, `countNonzero` and `allclose`.
 * @module
 */

import { DEFAULT_FLOAT, isFloat } from "../dtype.ts";
import { fmtShape, normalizeAxes, sizeOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { type ArrayLike, asTensor, astype, broadcastTo } from "./convert.ts";
import {
  add,
  divide,
  isclose,
  type IsCloseOptions,
  isnan,
  logicalNot,
  multiply,
  notEqual,
  subtract,
  where,
} from "./elementwise.ts";
import { all, any, type Axis, max, min, prod, type ReduceOptions, sum } from "./reductions.ts";
import { moveaxis, reshape, stack } from "./shape.ts";
import { sort } from "./sorting.ts";
import { take } from "./indexing.ts";

/** Options of the NaN-ignoring reductions and {@link median}/{@link quantile}. */
export interface StatOptions {
  /** Keep reduced axes with size 1 (default false). */
  keepdims?: boolean;
}

function nanMasked(x: ArrayLike, fill: number): [Tensor, Tensor] {
  const t = asTensor(x);
  if (!isFloat(t.dtype)) return [t, broadcastTo(asTensor(false), t.shape)];
  const nan = isnan(t);
  return [where(nan, fill, t), nan];
}

/** Sum over `axis`, treating NaN as 0. */
export function nansum(x: ArrayLike, axis?: Axis, options: ReduceOptions = {}): Tensor {
  return sum(nanMasked(x, 0)[0], axis, options);
}
/** Product over `axis`, treating NaN as 1. */
export function nanprod(x: ArrayLike, axis?: Axis, options: ReduceOptions = {}): Tensor {
  return prod(nanMasked(x, 1)[0], axis, options);
}
/** Mean over `axis` of the non-NaN elements (NaN where there are none). */
export function nanmean(x: ArrayLike, axis?: Axis, options: StatOptions = {}): Tensor {
  const t = asTensor(x);
  const f = isFloat(t.dtype) ? t : astype(t, DEFAULT_FLOAT);
  const [filled, nan] = nanMasked(f, 0);
  const count = sum(logicalNot(nan), axis, options);
  return astype(divide(sum(filled, axis, options), count), f.dtype);
}
function nanExtremum(isMax: boolean) {
  return (x: ArrayLike, axis?: Axis, options: StatOptions = {}): Tensor => {
    const t = asTensor(x);
    if (!isFloat(t.dtype)) return isMax ? max(t, axis, options) : min(t, axis, options);
    const [filled, nan] = nanMasked(t, isMax ? -Infinity : Infinity);
    const y = isMax ? max(filled, axis, options) : min(filled, axis, options);
    const allNan = logicalNot(any(logicalNot(nan), axis, options));
    return where(allNan, NaN, y); // as NumPy/JAX: an all-NaN slice gives NaN
  };
}
/** Maximum over `axis` ignoring NaN (NaN only where every element is NaN). */
export const nanmax: (x: ArrayLike, axis?: Axis, options?: StatOptions) => Tensor = nanExtremum(
  true,
);
/** Minimum over `axis` ignoring NaN. */
export const nanmin: (x: ArrayLike, axis?: Axis, options?: StatOptions) => Tensor = nanExtremum(
  false,
);

/** Peak to peak: max - min over `axis`. */
export function ptp(x: ArrayLike, axis?: Axis, options: StatOptions = {}): Tensor {
  return subtract(max(x, axis, options), min(x, axis, options));
}

/** The number of nonzero elements over `axis`, as int32. */
export function countNonzero(x: ArrayLike, axis?: Axis, options: StatOptions = {}): Tensor {
  return sum(notEqual(asTensor(x), 0), axis, options);
}

/**
 * Weighted mean over `axis`: `sum(x * w) / sum(w)`; `weights` has the shape of `x`, or is
 * 1-D along a single `axis`. Without weights, the mean.
 */
export function average(
  x: ArrayLike,
  axis?: Axis,
  weights?: ArrayLike,
  options: StatOptions = {},
): Tensor {
  let t = asTensor(x);
  if (!isFloat(t.dtype)) t = astype(t, DEFAULT_FLOAT);
  const axes = normalizeAxes(axis, t.ndim, "np.average");
  if (weights === undefined) {
    return divide(sum(t, axes, options), sizeOf(axes.map((a) => t.shape[a])));
  }
  let w = asTensor(weights);
  if (w.ndim === 1 && t.ndim > 1 && axes.length === 1) {
    const shape = t.shape.map((_, i) => (i === axes[0] ? w.size : 1));
    w = reshape(w, shape);
  }
  if (w.ndim !== t.ndim) {
    throw new RangeError(
      `np.average: weights of shape ${fmtShape(w.shape)} do not fit x of shape ${
        fmtShape(t.shape)
      }`,
    );
  }
  w = broadcastTo(w, t.shape, "np.average");
  return divide(sum(multiply(t, w), axes, options), sum(w, axes, options));
}

/**
 * The `q`-th quantiles (0 ≤ q ≤ 1; a number or a list, giving a leading axis) over `axis`
 * (all axes by default), by linear interpolation between the sorted neighbours (JAX's and
 * NumPy's default method). A slice holding NaN gives NaN.
 */
export function quantile(
  x: ArrayLike,
  q: number | readonly number[],
  axis?: number | null,
  options: StatOptions = {},
): Tensor {
  const op = "np.quantile";
  let t = asTensor(x);
  if (!isFloat(t.dtype)) t = astype(t, DEFAULT_FLOAT);
  const qs = typeof q === "number" ? [q] : [...q];
  for (const v of qs) {
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
      throw new RangeError(`${op}: q must be in [0, 1], got ${JSON.stringify(q)}`);
    }
  }
  const shapeIn = t.shape;
  let ax: number;
  if (axis === undefined || axis === null) {
    t = reshape(t, [t.size]);
    ax = 0;
  } else ax = normalizeAxes(axis, t.ndim, op)[0];
  const n = t.shape[ax];
  if (n === 0) throw new RangeError(`${op}: cannot take a quantile of an empty axis`);
  const sorted = moveaxis(sort(t, ax), ax, 0); // NaN sorts last
  const hasNan = any(isnan(sorted), 0);
  const parts = qs.map((v) => {
    const pos = v * (n - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, n - 1);
    const frac = pos - lo;
    const low = take(sorted, lo, 0), high = take(sorted, hi, 0);
    const y = add(multiply(low, 1 - frac), multiply(high, frac));
    return where(hasNan, NaN, y);
  });
  let out = typeof q === "number" ? parts[0] : stack(parts, 0);
  if (options.keepdims) {
    const kept = axis === undefined || axis === null
      ? shapeIn.map(() => 1)
      : shapeIn.map((d, i) => (i === ax ? 1 : d));
    out = reshape(out, typeof q === "number" ? kept : [qs.length, ...kept]);
  }
  return out;
}

/** The `p`-th percentiles (0 ≤ p ≤ 100): {@link quantile} of `p / 100`. */
export function percentile(
  x: ArrayLike,
  p: number | readonly number[],
  axis?: number | null,
  options: StatOptions = {},
): Tensor {
  const q = typeof p === "number" ? p / 100 : p.map((v) => v / 100);
  return quantile(x, q, axis, options);
}

/** The median over `axis` (all axes by default); NaN where a slice holds NaN. */
export function median(x: ArrayLike, axis?: number | null, options: StatOptions = {}): Tensor {
  return quantile(x, 0.5, axis, options);
}

/** A bool scalar tensor: true when every element pair is `np.isclose` (shapes broadcast). */
export function allclose(a: ArrayLike, b: ArrayLike, options: IsCloseOptions = {}): Tensor {
  return all(isclose(a, b, options));
}
