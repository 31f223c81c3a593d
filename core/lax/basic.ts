/**
 * `lax` wrappers over the structural and linear-algebra primitives, with JAX's argument
 * conventions: explicit shapes, no implicit broadcasting, operands of equal dtype.
 * @module
 */

import { checkDType, type DType } from "../dtype.ts";
import {
  dotGeneral as dotGeneralPrim,
  type MatmulPrecision,
  precisionParam,
} from "../prims/dot.ts";
import { select as selectPrim } from "../prims/elementwise.ts";
import * as R from "../prims/reduce.ts";
import * as S from "../prims/structure.ts";
import { checkPermutation, checkShape, fmtShape, normalizeAxes, normalizeAxis } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { type ArrayLike, asTensor, astype } from "../numpy/convert.ts";

/** `[[lhsContracting, rhsContracting], [lhsBatch, rhsBatch]]`, as JAX's dimension_numbers. */
export type DotDimensionNumbers = [[number[], number[]], [number[], number[]]];

function sameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new TypeError(`${op}: operands must have equal dtypes, got ${a.dtype} and ${b.dtype}`);
  }
}

/**
 * General dot product: contract and batch the given axes (batch, lhs free, rhs free).
 * `options.precision` as JAX's `precision` (default: `defaultMatmulPrecision()`).
 */
export function dotGeneral(
  lhs: ArrayLike,
  rhs: ArrayLike,
  dimensionNumbers: DotDimensionNumbers,
  options: { precision?: MatmulPrecision } = {},
): Tensor {
  const a = asTensor(lhs), b = asTensor(rhs);
  sameDType("lax.dotGeneral", a, b);
  const [[lc, rc], [lb, rb]] = dimensionNumbers;
  const norm = (axes: number[], t: Tensor) =>
    axes.map((x) => normalizeAxis(x, t.ndim, "lax.dotGeneral"));
  return bind1(dotGeneralPrim, [a, b], {
    lhsContracting: norm(lc, a),
    rhsContracting: norm(rc, b),
    lhsBatch: norm(lb, a),
    rhsBatch: norm(rb, b),
    ...precisionParam(options.precision, "lax.dotGeneral"),
  });
}

/** Broadcasts `x` to `shape`, input axis i landing on output axis broadcastDimensions[i]. */
export function broadcastInDim(
  x: ArrayLike,
  shape: readonly number[],
  broadcastDimensions: readonly number[],
): Tensor {
  return bind1(S.broadcastInDim, [asTensor(x)], {
    shape: checkShape(shape, "lax.broadcastInDim"),
    broadcastDimensions: [...broadcastDimensions],
  });
}

/** Slices the box [start, limit) with optional positive strides. */
export function slice(
  x: ArrayLike,
  start: readonly number[],
  limit: readonly number[],
  strides?: readonly number[],
): Tensor {
  const t = asTensor(x);
  return bind1(S.slice, [t], {
    start: [...start],
    limit: [...limit],
    strides: strides ? [...strides] : t.shape.map(() => 1),
  });
}

/** Slices [start, limit) along one axis. */
export function sliceInDim(
  x: ArrayLike,
  start: number,
  limit: number,
  stride = 1,
  axis = 0,
): Tensor {
  const t = asTensor(x);
  const ax = normalizeAxis(axis, t.ndim, "lax.sliceInDim");
  const s = t.shape.map(() => 0), l = [...t.shape], st = t.shape.map(() => 1);
  s[ax] = start;
  l[ax] = limit;
  st[ax] = stride;
  return slice(t, s, l, st);
}

/** Reshapes without -1 inference (the size must match exactly). */
export function reshape(x: ArrayLike, shape: readonly number[]): Tensor {
  return bind1(S.reshape, [asTensor(x)], { shape: checkShape(shape, "lax.reshape") });
}

/** Permutes axes. */
export function transpose(x: ArrayLike, permutation: readonly number[]): Tensor {
  const t = asTensor(x);
  return bind1(S.transpose, [t], { perm: checkPermutation(permutation, t.ndim, "lax.transpose") });
}

/** Reverses along `dimensions`. */
export function rev(x: ArrayLike, dimensions: readonly number[]): Tensor {
  const t = asTensor(x);
  return bind1(S.rev, [t], { axes: normalizeAxes(dimensions, t.ndim, "lax.rev") });
}

/** Pads with `paddingValue`: one `[lo, hi, interior]` per axis (lo/hi may be negative). */
export function pad(
  x: ArrayLike,
  paddingValue: ArrayLike,
  paddingConfig: readonly (readonly [number, number, number])[],
): Tensor {
  const t = asTensor(x);
  const v = asTensor(paddingValue, t.dtype);
  if (paddingConfig.length !== t.ndim) {
    throw new RangeError(
      `lax.pad: padding config has ${paddingConfig.length} entries for shape ${fmtShape(t.shape)}`,
    );
  }
  return bind1(S.pad, [t, v], {
    lo: paddingConfig.map((p) => p[0]),
    hi: paddingConfig.map((p) => p[1]),
    interior: paddingConfig.map((p) => p[2]),
  });
}

/** Joins operands of equal dtype along `dimension`. */
export function concatenate(xs: readonly ArrayLike[], dimension: number): Tensor {
  const ts = xs.map((x) => asTensor(x));
  if (ts.length === 0) throw new RangeError("lax.concatenate: needs at least one operand");
  return bind1(S.concatenate, ts, {
    axis: normalizeAxis(dimension, ts[0].ndim, "lax.concatenate"),
  });
}

/** 0, 1, …, size-1 of `dtype`. */
export function iota(dtype: DType, size: number): Tensor {
  return broadcastedIota(dtype, [size], 0);
}

/** iota along `dimension` of `shape`. */
export function broadcastedIota(dtype: DType, shape: readonly number[], dimension: number): Tensor {
  const dims = checkShape(shape, "lax.broadcastedIota");
  return bind1(S.iota, [], {
    shape: dims,
    dimension: normalizeAxis(dimension, dims.length, "lax.broadcastedIota"),
    dtype: checkDType(dtype, "lax.broadcastedIota"),
  });
}

/** Converts to `dtype`. */
export function convertElementType(x: ArrayLike, dtype: DType): Tensor {
  return astype(asTensor(x), checkDType(dtype, "lax.convertElementType"));
}

/** Elementwise select: onTrue where pred, else onFalse (equal shapes, no broadcasting). */
export function select(pred: ArrayLike, onTrue: ArrayLike, onFalse: ArrayLike): Tensor {
  const t = asTensor(onTrue), f = asTensor(onFalse);
  sameDType("lax.select", t, f);
  return bind1(selectPrim, [asTensor(pred), t, f], {});
}

function reducer(prim: typeof R.reduceSum, op: string) {
  return (x: ArrayLike, axes: readonly number[]): Tensor => {
    const t = asTensor(x);
    return bind1(prim, [t], { axes: normalizeAxes(axes, t.ndim, op) });
  };
}
/** Sum over `axes`. */
export const reduceSum: (x: ArrayLike, axes: readonly number[]) => Tensor = reducer(
  R.reduceSum,
  "lax.reduceSum",
);
/** Product over `axes`. */
export const reduceProd: (x: ArrayLike, axes: readonly number[]) => Tensor = reducer(
  R.reduceProd,
  "lax.reduceProd",
);
/** Maximum over `axes`. */
export const reduceMax: (x: ArrayLike, axes: readonly number[]) => Tensor = reducer(
  R.reduceMax,
  "lax.reduceMax",
);
/** Minimum over `axes`. */
export const reduceMin: (x: ArrayLike, axes: readonly number[]) => Tensor = reducer(
  R.reduceMin,
  "lax.reduceMin",
);

/** Stops gradients from flowing through `x` (its value passes unchanged). */
export { stopGradient } from "../autodiff/custom.ts";
