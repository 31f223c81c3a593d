/**
 * Parameter initializers, as `jax.nn.initializers`: {@link varianceScaling} and the
 * Glorot/He/LeCun families built on it, plus {@link zeros}/{@link ones}/{@link constant},
 * and whole-layer param initializers ({@link linear}, {@link conv2d}, {@link layerNorm},
 * {@link batchNorm}, {@link embedding}). Every initializer is `(key, shape, dtype?) => Tensor`.
 * @module
 */

import { np, type Tensor } from "../core/index.ts";
import * as random from "../random/index.ts";
import { parseOptions, z } from "./_util.ts";

/** A PRNG key (a uint32 tensor of shape [2]) from `random.key` / `random.split`. */
export type Key = Tensor;

/** The dtypes of params: float32 or float64. */
export type FloatDType = "float32" | "float64";

/** An initializer: a tensor of `shape` and `dtype` (default float32) drawn with `key`. */
export type Initializer = (key: Key, shape: readonly number[], dtype?: FloatDType) => Tensor;

/** How {@link varianceScaling} picks its denominator. */
export type FanMode = "fan_in" | "fan_out" | "fan_avg";

/** The distribution {@link varianceScaling} samples. */
export type Distribution = "truncated_normal" | "normal" | "uniform";

/** Options of {@link varianceScaling}. */
export interface VarianceScalingOptions {
  /** Axis (or axes) of the input features; default -2 (JAX's, for (..., in, out) kernels). */
  inAxis?: number | readonly number[];
  /** Axis (or axes) of the output features; default -1. */
  outAxis?: number | readonly number[];
  /** Default dtype when the initializer is called without one; float32. */
  dtype?: FloatDType;
}

const axesSchema = z.union([z.number().int(), z.array(z.number().int())]);
const floatDtype = z.enum(["float32", "float64"]);
const vsSchema = z.object({
  inAxis: axesSchema.optional(),
  outAxis: axesSchema.optional(),
  dtype: floatDtype.optional(),
}).strict();
const modeSchema = z.enum(["fan_in", "fan_out", "fan_avg"]);
const distSchema = z.enum(["truncated_normal", "normal", "uniform"]);

/**
 * JAX's `_compute_fans`: the receptive field is the product of the axes that are neither in
 * nor out; fan_in = in features × receptive field, fan_out = out features × receptive field.
 */
export function computeFans(
  shape: readonly number[],
  inAxis: number | readonly number[] = -2,
  outAxis: number | readonly number[] = -1,
): [number, number] {
  const op = "nn.init.computeFans";
  const norm = (a: number | readonly number[]) =>
    (typeof a === "number" ? [a] : [...a]).map((ax) => {
      const n = ax < 0 ? ax + shape.length : ax;
      if (n < 0 || n >= shape.length) {
        throw new RangeError(
          `${op}: axis ${ax} is out of range for a kernel of shape (${shape.join(", ")}); ` +
            `fan-in/fan-out need at least 2 axes unless inAxis/outAxis are given`,
        );
      }
      return n;
    });
  const ins = norm(inAxis), outs = norm(outAxis);
  const prod = (axes: number[]) => axes.reduce((p, a) => p * shape[a], 1);
  const total = shape.reduce((p, d) => p * d, 1);
  const inSize = prod(ins), outSize = prod(outs);
  const receptive = inSize * outSize === 0 ? 0 : total / inSize / outSize;
  return [inSize * receptive, outSize * receptive];
}

/**
 * JAX's `variance_scaling`: samples with variance `scale / n`, where n is fan_in, fan_out or
 * their average. `"truncated_normal"` truncates at ±2 standard deviations and rescales so the
 * variance is still `scale / n`; `"uniform"` uses the range `±sqrt(3 scale / n)`.
 */
export function varianceScaling(
  scale: number,
  mode: FanMode,
  distribution: Distribution,
  options?: VarianceScalingOptions,
): Initializer {
  const op = "nn.init.varianceScaling";
  if (typeof scale !== "number" || !(scale > 0)) {
    throw new RangeError(`${op}: scale must be a positive number, got ${scale}`);
  }
  const m = modeSchema.safeParse(mode);
  if (!m.success) {
    throw new TypeError(`${op}: mode must be fan_in, fan_out or fan_avg, got ${mode}`);
  }
  const d = distSchema.safeParse(distribution);
  if (!d.success) {
    throw new TypeError(
      `${op}: distribution must be truncated_normal, normal or uniform, got ${distribution}`,
    );
  }
  const o = parseOptions(op, vsSchema, options);
  return (key, shape, dtype) => {
    const dt = dtype ?? o.dtype ?? "float32";
    const [fanIn, fanOut] = computeFans(shape, o.inAxis ?? -2, o.outAxis ?? -1);
    const denom = mode === "fan_in" ? fanIn : mode === "fan_out" ? fanOut : (fanIn + fanOut) / 2;
    const variance = scale / Math.max(1, denom);
    if (distribution === "uniform") {
      const lim = Math.sqrt(3 * variance);
      return random.uniform(key, shape, { dtype: dt, minval: -lim, maxval: lim });
    }
    if (distribution === "normal") {
      return random.normal(key, shape, { dtype: dt }).mul(Math.sqrt(variance));
    }
    // std of a standard normal truncated to (-2, 2)
    const std = Math.sqrt(variance) / 0.87962566103423978;
    return random.truncatedNormal(key, -2, 2, shape, { dtype: dt }).mul(std);
  };
}

/** Options of the named initializers: axes of the fans and the default dtype. */
export type FanOptions = VarianceScalingOptions;

/** Glorot/Xavier uniform: variance 1 / fan_avg, uniform. */
export const glorotUniform = (o?: FanOptions): Initializer =>
  varianceScaling(1, "fan_avg", "uniform", o);
/** Glorot/Xavier normal: variance 1 / fan_avg, truncated normal (as JAX). */
export const glorotNormal = (o?: FanOptions): Initializer =>
  varianceScaling(1, "fan_avg", "truncated_normal", o);
/** He/Kaiming uniform: variance 2 / fan_in, uniform. */
export const heUniform = (o?: FanOptions): Initializer =>
  varianceScaling(2, "fan_in", "uniform", o);
/** He/Kaiming normal: variance 2 / fan_in, truncated normal (as JAX). */
export const heNormal = (o?: FanOptions): Initializer =>
  varianceScaling(2, "fan_in", "truncated_normal", o);
/** LeCun uniform: variance 1 / fan_in, uniform. */
export const lecunUniform = (o?: FanOptions): Initializer =>
  varianceScaling(1, "fan_in", "uniform", o);
/** LeCun normal: variance 1 / fan_in, truncated normal (as JAX; Flax's default kernel init). */
export const lecunNormal = (o?: FanOptions): Initializer =>
  varianceScaling(1, "fan_in", "truncated_normal", o);

/** Aliases with PyTorch's names. */
export const xavierUniform = glorotUniform;
/** Alias of {@link glorotNormal}. */
export const xavierNormal = glorotNormal;
/** Alias of {@link heUniform}. */
export const kaimingUniform = heUniform;
/** Alias of {@link heNormal}. */
export const kaimingNormal = heNormal;

/** All zeros (the key is ignored). */
export const zeros: Initializer = (_key, shape, dtype) =>
  np.zeros(shape, { dtype: dtype ?? "float32" });
/** All ones (the key is ignored). */
export const ones: Initializer = (_key, shape, dtype) =>
  np.ones(shape, { dtype: dtype ?? "float32" });
/** A constant initializer. */
export const constant = (value: number): Initializer => (_key, shape, dtype) =>
  np.full(shape, value, { dtype: dtype ?? "float32" });
/** Normal with standard deviation `stddev` (default 0.01, as JAX). */
export const normal = (stddev = 0.01): Initializer => (key, shape, dtype) =>
  random.normal(key, shape, { dtype: dtype ?? "float32" }).mul(stddev);
/** Uniform on [0, scale) (default 0.01, as JAX). */
export const uniform = (scale = 0.01): Initializer => (key, shape, dtype) =>
  random.uniform(key, shape, { dtype: dtype ?? "float32", minval: 0, maxval: scale });

// ---- whole-layer params ---------------------------------------------------------------------

/** Options of the layer param initializers. */
export interface LayerInitOptions {
  /** Include a bias; default true. */
  bias?: boolean;
  /** Kernel initializer; see each layer for its default. */
  kernelInit?: Initializer;
  /** Bias initializer; default zeros. */
  biasInit?: Initializer;
  /** dtype of the params; default float32. */
  dtype?: FloatDType;
}

const fnSchema = z.custom<Initializer>((v) => typeof v === "function", "expected a function");
const layerInitSchema = z.object({
  bias: z.boolean().optional(),
  kernelInit: fnSchema.optional(),
  biasInit: fnSchema.optional(),
  dtype: floatDtype.optional(),
}).strict();

function checkSizes(op: string, sizes: Record<string, number>): void {
  for (const [name, v] of Object.entries(sizes)) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new RangeError(`${op}: ${name} must be a positive integer, got ${v}`);
    }
  }
}

/** Params of a dense layer: `w` of shape (in, out), optional `b` of shape (out). */
export interface LinearParams {
  /** Kernel, (inFeatures, outFeatures). */
  w: Tensor;
  /** Bias, (outFeatures). */
  b?: Tensor;
}

/**
 * Params for `nn.linear`: `w` (inFeatures, outFeatures) with Flax's default LeCun normal
 * (truncated), `b` zeros. Override with `kernelInit` / `biasInit`.
 */
export function linear(
  key: Key,
  inFeatures: number,
  outFeatures: number,
  options?: LayerInitOptions,
): LinearParams {
  const op = "nn.init.linear";
  const o = parseOptions(op, layerInitSchema, options);
  checkSizes(op, { inFeatures, outFeatures });
  const dtype = o.dtype ?? "float32";
  const keys = random.split(key, 2);
  const [kw, kb] = [keys.slice(0), keys.slice(1)];
  const w = (o.kernelInit ?? lecunNormal())(kw, [inFeatures, outFeatures], dtype);
  if (o.bias === false) return { w };
  return { w, b: (o.biasInit ?? zeros)(kb, [outFeatures], dtype) };
}

/** Params of a 2-d convolution: `w` (O, I/groups, kH, kW) and optional `b` (O). */
export interface Conv2dParams {
  /** Kernel, (outChannels, inChannels / groups, kH, kW). */
  w: Tensor;
  /** Bias, (outChannels). */
  b?: Tensor;
}

/** Options of {@link conv2d}'s initializer. */
export interface Conv2dInitOptions extends LayerInitOptions {
  /** Feature groups; inChannels and outChannels must divide by it. Default 1. */
  groups?: number;
}

/**
 * Params for `nn.conv2d` in PyTorch's OIHW layout: `w` (out, in/groups, kH, kW) with LeCun
 * normal over fan_in = in/groups × kH × kW (Flax's default), `b` zeros.
 */
export function conv2d(
  key: Key,
  inChannels: number,
  outChannels: number,
  kernelSize: number | readonly [number, number],
  options?: Conv2dInitOptions,
): Conv2dParams {
  const op = "nn.init.conv2d";
  const { groups = 1, ...rest } = options ?? {};
  const o = parseOptions(op, layerInitSchema, rest);
  const [kh, kw] = typeof kernelSize === "number" ? [kernelSize, kernelSize] : kernelSize;
  checkSizes(op, { inChannels, outChannels, kH: kh, kW: kw, groups });
  if (inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw new RangeError(
      `${op}: inChannels ${inChannels} and outChannels ${outChannels} must divide by groups ${groups}`,
    );
  }
  const dtype = o.dtype ?? "float32";
  const keys = random.split(key, 2);
  const init = o.kernelInit ?? lecunNormal({ inAxis: 1, outAxis: 0 });
  const w = init(keys.slice(0), [outChannels, inChannels / groups, kh, kw], dtype);
  if (o.bias === false) return { w };
  return { w, b: (o.biasInit ?? zeros)(keys.slice(1), [outChannels], dtype) };
}

/** Params of a normalization layer: `scale` (ones) and `bias` (zeros) of `shape`. */
export function layerNorm(
  shape: number | readonly number[],
  dtype: FloatDType = "float32",
): { scale: Tensor; bias: Tensor } {
  return { scale: np.ones(shape, { dtype }), bias: np.zeros(shape, { dtype }) };
}

/**
 * Params and state of `nn.batchNorm` with `features` channels: `params` {scale: ones,
 * bias: zeros} and `state` {mean: zeros, var: ones}.
 */
export function batchNorm(
  features: number,
  dtype: FloatDType = "float32",
): { params: { scale: Tensor; bias: Tensor }; state: { mean: Tensor; var: Tensor } } {
  checkSizes("nn.init.batchNorm", { features });
  return {
    params: { scale: np.ones([features], { dtype }), bias: np.zeros([features], { dtype }) },
    state: { mean: np.zeros([features], { dtype }), var: np.ones([features], { dtype }) },
  };
}

/**
 * Params of `nn.embedding`: a `table` (numEmbeddings, features), standard normal (PyTorch's
 * default).
 */
export function embedding(
  key: Key,
  numEmbeddings: number,
  features: number,
  dtype: FloatDType = "float32",
): { table: Tensor } {
  checkSizes("nn.init.embedding", { numEmbeddings, features });
  return { table: random.normal(key, [numEmbeddings, features], { dtype }) };
}
