/**
 * Reductions with NumPy's `axis` (number, list, negative, or all) and `keepdims`: sum, prod,
 * mean, max, min, argmax, argmin, all, any, var, std, cumulative scans and logsumexp.
 * @module
 */

import { computeDType, DEFAULT_FLOAT, type DType, isFloat, sumDType } from "../dtype.ts";
import * as R from "../prims/reduce.ts";
import { sqrt as sqrtPrim } from "../prims/elementwise.ts";
import { reshape as reshapePrim } from "../prims/structure.ts";
import type { Primitive } from "../primitive.ts";
import { fmtShape, normalizeAxes, normalizeAxis, sizeOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { type ArrayLike, asTensor, astype, broadcastTo } from "./convert.ts";
import {
  add,
  divide,
  exp,
  isfinite,
  log,
  maximum,
  minimum,
  multiply,
  notEqual,
  square,
  subtract,
  where,
} from "./elementwise.ts";

/** An `axis` argument: one axis, several, or null/undefined for all. */
export type Axis = number | readonly number[] | null | undefined;

/** Options of the reductions. */
export interface ReduceOptions {
  /** Keep reduced axes with size 1 (default false). */
  keepdims?: boolean;
  /** Accumulation/result dtype. */
  dtype?: DType;
  /** A starting value folded into every result (sum, prod, max, min); makes empty max valid. */
  initial?: number;
  /** Only elements where this (broadcast) mask is true take part (sum, prod, mean, max, min). */
  where?: ArrayLike;
}

// masked-out elements become the reduction's identity, so they do not count
function masked(op: string, t: Tensor, where_: ArrayLike | undefined, identity: number): Tensor {
  if (where_ === undefined) return t;
  const mask = broadcastTo(asTensor(where_), t.shape, op);
  return where(mask, t, identity);
}

function withInitial(
  y: Tensor,
  initial: number | undefined,
  combine: (a: Tensor, b: number) => Tensor,
): Tensor {
  return initial === undefined ? y : astype(combine(y, initial), y.dtype);
}

function keepDims(
  y: Tensor,
  inShape: readonly number[],
  axes: number[],
  keepdims: boolean | undefined,
): Tensor {
  if (!keepdims) return y;
  const shape = inShape.map((d, i) => (axes.includes(i) ? 1 : d));
  return bind1(reshapePrim, [y], { shape });
}

function reduceWith(
  prim: Primitive<R.ReduceParams>,
  op: string,
  x: Tensor,
  axis: Axis,
  options: ReduceOptions,
): Tensor {
  const axes = normalizeAxes(axis, x.ndim, op);
  const y = axes.length === 0 ? x : bind1(prim, [x], { axes });
  return keepDims(y, x.shape, axes, options.keepdims);
}

/** Sum over `axis` (all axes by default). Bools and int32 sum as int32. */
export function sum(x: ArrayLike, axis?: Axis, options: ReduceOptions = {}): Tensor {
  const t = asTensor(x);
  const dt = options.dtype ?? sumDType(t.dtype);
  const m = masked("np.sum", astype(t, dt), options.where, 0);
  const y = reduceWith(R.reduceSum, "np.sum", m, axis, options);
  return withInitial(y, options.initial, add);
}

/** Product over `axis`. */
export function prod(x: ArrayLike, axis?: Axis, options: ReduceOptions = {}): Tensor {
  const t = asTensor(x);
  const dt = options.dtype ?? sumDType(t.dtype);
  const m = masked("np.prod", astype(t, dt), options.where, 1);
  const y = reduceWith(R.reduceProd, "np.prod", m, axis, options);
  return withInitial(y, options.initial, multiply);
}

/** Arithmetic mean over `axis` (float result). */
export function mean(x: ArrayLike, axis?: Axis, options: ReduceOptions = {}): Tensor {
  const t = asTensor(x);
  const dt = options.dtype ?? (isFloat(t.dtype) ? t.dtype : DEFAULT_FLOAT);
  const ct = computeDType(dt); // as JAX, float16/bfloat16 means are computed in float32
  const axes = normalizeAxes(axis, t.ndim, "np.mean");
  const keepdims = options.keepdims;
  if (options.where !== undefined) {
    const mask = broadcastTo(asTensor(options.where), t.shape, "np.mean");
    const total = sum(astype(t, ct), axes, { keepdims, where: mask });
    return astype(divide(total, sum(mask, axes, { keepdims })), dt);
  }
  const count = sizeOf(axes.map((a) => t.shape[a]));
  const total = sum(astype(t, ct), axes, { keepdims });
  return astype(divide(total, count), dt); // count 0 gives NaN, as NumPy
}

function extremum(prim: Primitive<R.ReduceParams>, op: string, isMax: boolean) {
  return (x: ArrayLike, axis?: Axis, options: ReduceOptions = {}): Tensor => {
    const t = asTensor(x);
    const axes = normalizeAxes(axis, t.ndim, op);
    const { initial } = options;
    if (options.where !== undefined && initial === undefined) {
      throw new TypeError(`${op}: reduction with where needs an initial value, as NumPy/JAX`);
    }
    for (const a of axes) {
      if (t.shape[a] === 0 && initial === undefined) {
        throw new RangeError(
          `${op}: zero-size reduction over axis ${a} of shape ${fmtShape(t.shape)} has no identity`,
        );
      }
    }
    const m = masked(op, t, options.where, initial ?? 0);
    const y = reduceWith(prim, op, m, axes, options);
    return withInitial(y, initial, isMax ? maximum : minimum);
  };
}
/** Maximum over `axis` (NaN propagates). */
export const max: (x: ArrayLike, axis?: Axis, options?: ReduceOptions) => Tensor = extremum(
  R.reduceMax,
  "np.max",
  true,
);
/** Minimum over `axis`. */
export const min: (x: ArrayLike, axis?: Axis, options?: ReduceOptions) => Tensor = extremum(
  R.reduceMin,
  "np.min",
  false,
);
/** Alias of {@link max}. */
export const amax = max;
/** Alias of {@link min}. */
export const amin = min;

function toBool(t: Tensor): Tensor {
  return t.dtype === "bool" ? t : notEqual(t, 0);
}
/** True where all elements along `axis` are nonzero. */
export function all(x: ArrayLike, axis?: Axis, options: ReduceOptions = {}): Tensor {
  return reduceWith(R.reduceMin, "np.all", toBool(asTensor(x)), axis, options);
}
/** True where any element along `axis` is nonzero. */
export function any(x: ArrayLike, axis?: Axis, options: ReduceOptions = {}): Tensor {
  return reduceWith(R.reduceMax, "np.any", toBool(asTensor(x)), axis, options);
}

function argReduce(prim: Primitive<R.AxisParams>, op: string) {
  return (x: ArrayLike, axis?: number | null, options: { keepdims?: boolean } = {}): Tensor => {
    let t = asTensor(x);
    let ax: number;
    if (axis === undefined || axis === null) {
      t = bind1(reshapePrim, [t], { shape: [t.size] });
      ax = 0;
    } else ax = normalizeAxis(axis, t.ndim, op);
    if (t.shape[ax] === 0) {
      throw new RangeError(`${op}: attempt to get ${op.slice(3)} of an empty sequence`);
    }
    const y = bind1(prim, [t], { axis: ax });
    if (!options.keepdims) return y;
    const shape = axis === undefined || axis === null
      ? asTensor(x).shape.map(() => 1)
      : t.shape.map((d, i) => (i === ax ? 1 : d));
    return bind1(reshapePrim, [y], { shape });
  };
}
/** Index of the maximum (first one; flattened when axis is omitted). */
export const argmax: (
  x: ArrayLike,
  axis?: number | null,
  options?: { keepdims?: boolean },
) => Tensor = argReduce(R.argmax, "np.argmax");
/** Index of the minimum. */
export const argmin: (
  x: ArrayLike,
  axis?: number | null,
  options?: { keepdims?: boolean },
) => Tensor = argReduce(R.argmin, "np.argmin");

/** Options of {@link variance} and {@link std}. */
export interface VarOptions extends ReduceOptions {
  /** Delta degrees of freedom: divide by N - ddof (default 0). */
  ddof?: number;
}

/** Variance over `axis`. */
export function variance(x: ArrayLike, axis?: Axis, options: VarOptions = {}): Tensor {
  const t = asTensor(x);
  const dt = options.dtype ?? (isFloat(t.dtype) ? t.dtype : DEFAULT_FLOAT);
  const xf = astype(t, computeDType(dt)); // float16/bfloat16 computed in float32, as JAX
  const axes = normalizeAxes(axis, t.ndim, "np.var");
  const n = sizeOf(axes.map((a) => t.shape[a]));
  const centered = subtract(xf, mean(xf, axes, { keepdims: true }));
  const ss = sum(square(centered), axes, { keepdims: options.keepdims });
  const dof = n - (options.ddof ?? 0);
  if (dof <= 0) return astype(where(true, NaN, ss), dt); // as JAX: NaN, not ss / 0
  return astype(divide(ss, dof), dt);
}
/** NumPy's name for {@link variance} (`var` is reserved in JS). */
export { variance as var };

/** Standard deviation over `axis`. */
export function std(x: ArrayLike, axis?: Axis, options: VarOptions = {}): Tensor {
  const v = variance(x, axis, options);
  return bind1(sqrtPrim, [v], {});
}

function cumulative(prim: Primitive<R.CumulativeParams>, op: string) {
  return (
    x: ArrayLike,
    axis?: number | null,
    options: { reverse?: boolean; dtype?: DType } = {},
  ): Tensor => {
    let t = asTensor(x);
    t = astype(t, options.dtype ?? sumDType(t.dtype));
    let ax: number;
    if (axis === undefined || axis === null) {
      t = bind1(reshapePrim, [t], { shape: [t.size] });
      ax = 0;
    } else ax = normalizeAxis(axis, t.ndim, op);
    return bind1(prim, [t], { axis: ax, reverse: options.reverse ?? false });
  };
}
/** Cumulative sum along `axis` (flattened when omitted). */
export const cumsum: (
  x: ArrayLike,
  axis?: number | null,
  options?: { reverse?: boolean; dtype?: DType },
) => Tensor = cumulative(R.cumsum, "np.cumsum");
/** Cumulative product along `axis`. */
export const cumprod: (
  x: ArrayLike,
  axis?: number | null,
  options?: { reverse?: boolean; dtype?: DType },
) => Tensor = cumulative(R.cumprod, "np.cumprod");

/** log(sum(exp(x))) over `axis`, computed stably. */
export function logsumexp(x: ArrayLike, axis?: Axis, options: { keepdims?: boolean } = {}): Tensor {
  let t = asTensor(x);
  if (!isFloat(t.dtype)) t = astype(t, DEFAULT_FLOAT);
  const axes = normalizeAxes(axis, t.ndim, "np.logsumexp");
  // an empty reduction's max is -inf (the identity), so logsumexp of nothing is -inf
  const m = reduceWith(R.reduceMax, "np.logsumexp", t, axes, { keepdims: true });
  const safeM = where(isfinite(m), m, 0); // all -inf rows stay -inf, +inf stays +inf
  const shifted = exp(subtract(t, broadcastTo(safeM, t.shape)));
  const result = add(log(sum(shifted, axes, { keepdims: true })), safeM);
  return keepDims(
    bind1(reshapePrim, [result], { shape: t.shape.filter((_, i) => !axes.includes(i)) }),
    t.shape,
    axes,
    options.keepdims,
  );
}
