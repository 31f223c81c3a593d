/**
 * More activation functions with `jax.nn`'s exact definitions (so their gradients at the
 * kinks match JAX's): {@link hardTanh}, {@link celu}, {@link selu}, {@link glu},
 * {@link standardize}, {@link softSign}, {@link hardSigmoid}, {@link hardSilu}.
 * @module
 */

import { np, type Tensor } from "../core/index.ts";
import { elu, relu6 } from "./activations.ts";
import { type ArrayLike, desc, floatTensor, normalizeAxis, parseOptions, z } from "./_util.ts";

/** `x` clipped to [-1, 1], as JAX's `where(x > 1, 1, where(x < -1, -1, x))`. */
export function hardTanh(x: ArrayLike): Tensor {
  const t = floatTensor(x);
  return np.where(np.greater(t, 1), 1, np.where(np.less(t, -1), -1, t));
}

/** `max(x, 0) + alpha * expm1(min(x, 0) / alpha)` (default alpha 1, as JAX). */
export function celu(x: ArrayLike, alpha = 1): Tensor {
  const t = floatTensor(x);
  return np.maximum(t, 0).add(np.expm1(np.minimum(t, 0).div(alpha)).mul(alpha));
}

/** SELU's constants (Klambauer et al.), as JAX's. */
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

/** `scale * elu(x, alpha)` with the self-normalizing constants. */
export function selu(x: ArrayLike): Tensor {
  return elu(x, SELU_ALPHA).mul(SELU_SCALE);
}

/** The gated linear unit: `a * sigmoid(b)` for the halves `a`, `b` of `axis` (default -1). */
export function glu(x: ArrayLike, axis = -1): Tensor {
  const t = floatTensor(x);
  const ax = normalizeAxis(axis, t.ndim, "nn.glu");
  const n = t.shape[ax];
  if (n % 2 !== 0) {
    throw new RangeError(`nn.glu: axis ${axis} of ${desc(t)} must have an even size, got ${n}`);
  }
  const [a, b] = np.split(t, 2, ax);
  return a.mul(np.sigmoid(b));
}

/** Options of {@link standardize}. */
export interface StandardizeOptions {
  /** Axis or axes to normalize over (default -1; null: all). */
  axis?: number | readonly number[] | null;
  /** The mean to subtract (default: the mean over `axis`). */
  mean?: ArrayLike;
  /** The variance to divide by (default: `mean(x²) - mean(x)²` clipped at 0, JAX's "fast"). */
  variance?: ArrayLike;
  /** Added to the variance (default 1e-5). */
  epsilon?: number;
}

const standardizeSchema = z.object({
  axis: z.union([z.number().int(), z.array(z.number().int())]).nullable().optional(),
  mean: z.any().optional(),
  variance: z.any().optional(),
  epsilon: z.number().optional(),
}).strict();

/** `(x - mean) * rsqrt(variance + epsilon)` over `axis`, as `jax.nn.standardize`. */
export function standardize(x: ArrayLike, options?: StandardizeOptions): Tensor {
  const o = parseOptions("nn.standardize", standardizeSchema, options);
  const t = floatTensor(x);
  const axis = o.axis === undefined ? -1 : o.axis;
  const mean = o.mean !== undefined
    ? np.asarray(o.mean as ArrayLike)
    : np.mean(t, axis, { keepdims: true });
  const variance = o.variance !== undefined
    ? np.asarray(o.variance as ArrayLike)
    : np.clip(np.mean(np.square(t), axis, { keepdims: true }).sub(np.square(mean)), 0, null);
  return t.sub(mean).mul(np.rsqrt(np.add(variance, o.epsilon ?? 1e-5)));
}

/** `x / (|x| + 1)`. */
export function softSign(x: ArrayLike): Tensor {
  const t = floatTensor(x);
  return t.div(np.abs(t).add(1));
}

/** `relu6(x + 3) / 6`. */
export function hardSigmoid(x: ArrayLike): Tensor {
  return relu6(floatTensor(x).add(3)).div(6);
}

/** `x * hardSigmoid(x)` (also called hard swish). */
export function hardSilu(x: ArrayLike): Tensor {
  const t = floatTensor(x);
  return t.mul(hardSigmoid(t));
}

/** Alias of {@link hardSilu}. */
export const hardSwish: (x: ArrayLike) => Tensor = hardSilu;
