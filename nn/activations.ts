/**
 * Activation functions with `jax.nn`'s exact definitions: {@link relu}, {@link gelu},
 * {@link silu}, {@link sigmoid}, {@link softplus}, {@link softmax}, {@link logSoftmax},
 * {@link logsumexp}, {@link oneHot} and a few relatives. Integer inputs are promoted to float32.
 * @module
 */

import { type DType, np, stopGradient, type Tensor } from "../core/index.ts";
import {
  type ArrayLike,
  desc,
  floatTensor,
  isFloat,
  normalizeAxis,
  parseOptions,
  tensor,
  z,
} from "./_util.ts";

/** An axis or several axes (negative counts from the end). */
export type Axes = number | readonly number[];

/** `max(x, 0)` (NaN stays NaN); its gradient at 0 is 0, as JAX's. */
export function relu(x: ArrayLike): Tensor {
  const t = tensor(x);
  return np.where(np.lessEqual(t, 0), 0, t);
}

/** `min(max(x, 0), 6)` (NaN stays NaN); its gradient is 0 at 0 and at 6, as JAX's. */
export function relu6(x: ArrayLike): Tensor {
  const t = tensor(x);
  return np.where(np.lessEqual(t, 0), 0, np.where(np.greaterEqual(t, 6), 6, t));
}

/** `x` where positive, `negativeSlope * x` elsewhere (default slope 0.01, as JAX). */
export function leakyRelu(x: ArrayLike, negativeSlope = 0.01): Tensor {
  const t = floatTensor(x);
  return np.where(np.greaterEqual(t, 0), t, t.mul(negativeSlope));
}

/** `x` where positive, `alpha * (exp(x) - 1)` elsewhere (JAX's `elu`, alpha 1). */
export function elu(x: ArrayLike, alpha = 1): Tensor {
  const t = floatTensor(x);
  const safe = np.where(np.greater(t, 0), 0, t);
  return np.where(np.greater(t, 0), t, np.expm1(safe).mul(alpha));
}

/** The logistic function `1 / (1 + exp(-x))`. */
export function sigmoid(x: ArrayLike): Tensor {
  return np.sigmoid(floatTensor(x));
}

/** `log(sigmoid(x)) = -softplus(-x)`, stable for large |x|. */
export function logSigmoid(x: ArrayLike): Tensor {
  return softplus(floatTensor(x).neg()).neg();
}

/** `log(1 + exp(x))`, as JAX's `logaddexp(x, 0)`: stable for large |x|. */
export function softplus(x: ArrayLike): Tensor {
  return np.logaddexp(floatTensor(x), 0);
}

/** `x * sigmoid(x)` (also called swish). */
export function silu(x: ArrayLike): Tensor {
  const t = floatTensor(x);
  return t.mul(np.sigmoid(t));
}

/** Alias of {@link silu}. */
export const swish: (x: ArrayLike) => Tensor = silu;

/** Options of {@link gelu}. */
export interface GeluOptions {
  /** Use the tanh approximation (JAX's default, `true`) or the exact erf form (`false`). */
  approximate?: boolean;
}

const geluSchema = z.object({ approximate: z.boolean().optional() }).strict();

/**
 * Gaussian error linear unit, as `jax.nn.gelu`: with `approximate` (the default)
 * `0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))`, otherwise `x Φ(x) = x (1 + erf(x/√2)) / 2`.
 */
export function gelu(x: ArrayLike, options?: GeluOptions): Tensor {
  const o = parseOptions("nn.gelu", geluSchema, options);
  const t = floatTensor(x);
  if (o.approximate ?? true) {
    const c = Math.sqrt(2 / Math.PI);
    const inner = t.add(t.mul(t).mul(t).mul(0.044715)).mul(c);
    return t.mul(0.5).mul(np.tanh(inner).add(1));
  }
  return t.mul(np.erf(t.mul(Math.SQRT1_2)).add(1)).mul(0.5);
}

/** Options of {@link softmax}, {@link logSoftmax} and {@link logsumexp}. */
export interface AxisOptions {
  /** The axis or axes to normalize over; default -1. */
  axis?: Axes;
}

const axesSchema = z.union([z.number().int(), z.array(z.number().int())]);
const axisSchema = z.object({ axis: axesSchema.optional() }).strict();

function axesOf(op: string, t: Tensor, axis: Axes | undefined): number[] {
  const list = axis === undefined ? [-1] : typeof axis === "number" ? [axis] : [...axis];
  if (t.ndim === 0) {
    throw new RangeError(`${op}: expects at least one axis, got a scalar ${desc(t)}`);
  }
  return list.map((a) => normalizeAxis(a, t.ndim, op));
}

/**
 * `exp(x) / sum(exp(x))` over `axis` (default -1), computed as JAX's: the max is subtracted
 * first (outside the gradient), so `softmax([1000, 1000])` is `[0.5, 0.5]`.
 */
export function softmax(x: ArrayLike, options?: AxisOptions): Tensor {
  const op = "nn.softmax";
  const o = parseOptions(op, axisSchema, options);
  const t = floatTensor(x);
  const axes = axesOf(op, t, o.axis);
  const m = stopGradient(np.max(t, axes, { keepdims: true }));
  const safeM = np.where(np.isfinite(m), m, 0);
  const e = np.exp(t.sub(safeM));
  return e.div(np.sum(e, axes, { keepdims: true }));
}

/** `x - logsumexp(x)` over `axis` (default -1), stable for large magnitudes. */
export function logSoftmax(x: ArrayLike, options?: AxisOptions): Tensor {
  const op = "nn.logSoftmax";
  const o = parseOptions(op, axisSchema, options);
  const t = floatTensor(x);
  const axes = axesOf(op, t, o.axis);
  const m = stopGradient(np.max(t, axes, { keepdims: true }));
  const shifted = t.sub(np.where(np.isfinite(m), m, 0));
  return shifted.sub(np.log(np.sum(np.exp(shifted), axes, { keepdims: true })));
}

/** Options of {@link logsumexp}. */
export interface LogsumexpOptions {
  /** Axis or axes to reduce; default all. */
  axis?: Axes | null;
  /** Keep the reduced axes with size 1. */
  keepdims?: boolean;
  /** Weights of the exponentials (broadcast against `x`): `log(sum(b * exp(x)))`. */
  b?: ArrayLike;
  /** Return `[log(abs(sum)), sign(sum)]` instead of NaN for negative sums. */
  returnSign?: boolean;
}

const lseSchema = z.object({
  axis: axesSchema.nullable().optional(),
  keepdims: z.boolean().optional(),
  b: z.any().optional(),
  returnSign: z.boolean().optional(),
}).strict();

/**
 * `log(sum(b * exp(x)))` over `axis` (default all axes), stable (JAX's `jax.nn.logsumexp`).
 * A negative weighted sum gives NaN, or with `returnSign` the pair `[log|sum|, sign(sum)]`.
 */
export function logsumexp(x: ArrayLike, options: LogsumexpOptions & { returnSign: true }): Tensor[];
export function logsumexp(x: ArrayLike, options?: LogsumexpOptions): Tensor;
export function logsumexp(x: ArrayLike, options?: LogsumexpOptions): Tensor | Tensor[] {
  const o = parseOptions("nn.logsumexp", lseSchema, options);
  const keepdims = o.keepdims ?? false;
  if (o.b === undefined && !o.returnSign) {
    return np.logsumexp(floatTensor(x), o.axis ?? null, { keepdims });
  }
  let a = floatTensor(x);
  let b: Tensor | null = null;
  if (o.b !== undefined) {
    [a, b] = np.broadcastArrays(a, np.asarray(o.b as ArrayLike));
    if (!isFloat(b.dtype)) b = b.astype(a.dtype);
    a = np.where(np.notEqual(b, 0), a, -Infinity); // zero weights drop their terms, even inf
  }
  const axes = o.axis === null || o.axis === undefined
    ? a.shape.map((_, i) => i)
    : (typeof o.axis === "number" ? [o.axis] : [...o.axis]).map((ax) =>
      normalizeAxis(ax, a.ndim, "nn.logsumexp")
    );
  const m = stopGradient(np.max(a, axes, { keepdims: true }));
  const safeM = np.where(np.isfinite(m), m, 0);
  let e = np.exp(a.sub(safeM));
  if (b !== null) e = e.mul(b);
  const total = np.sum(e, axes, { keepdims: true });
  const sign = np.sign(total);
  let out = np.log(np.abs(total)).add(safeM);
  if (!keepdims) {
    const kept = out.shape.filter((_, i) => !axes.includes(i));
    out = out.reshape(kept);
  }
  const signOut = keepdims ? sign : sign.reshape(out.shape);
  if (o.returnSign) return [out, signOut];
  return np.where(np.less(signOut, 0), NaN, out);
}

/** Options of {@link oneHot}. */
export interface OneHotOptions {
  /** Result dtype; default float32. */
  dtype?: DType;
  /** Where the new class axis goes; default -1 (last). */
  axis?: number;
}

const oneHotSchema = z.object({
  dtype: z.enum(["bool", "uint32", "int32", "float32", "float64"]).optional(),
  axis: z.number().int().optional(),
}).strict();

/**
 * One-hot encoding of class ids (integers, or floats compared exactly), as `jax.nn.one_hot`: a new axis of size `numClasses`
 * (last by default) that is 1 at the id and 0 elsewhere. Ids outside `[0, numClasses)` give an
 * all-zero row.
 */
export function oneHot(x: ArrayLike, numClasses: number, options?: OneHotOptions): Tensor {
  const op = "nn.oneHot";
  const o = parseOptions(op, oneHotSchema, options);
  if (!Number.isSafeInteger(numClasses) || numClasses < 0) {
    throw new RangeError(`${op}: numClasses must be a non-negative integer, got ${numClasses}`);
  }
  const ids = tensor(x);
  if (ids.dtype === "bool") {
    throw new TypeError(`${op}: ids must be numbers, got ${desc(ids)}`);
  }
  const axis = normalizeAxis(o.axis ?? -1, ids.ndim + 1, op);
  const classShape = Array<number>(ids.ndim + 1).fill(1);
  classShape[axis] = numClasses;
  // float ids compare as floats, as JAX's (a fractional id matches no class)
  const classes = np.arange(numClasses, undefined, undefined, { dtype: ids.dtype }).reshape(
    classShape,
  );
  const hot = np.equal(np.expandDims(ids, axis), classes);
  return hot.astype(o.dtype ?? "float32");
}
