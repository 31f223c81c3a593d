/**
 * Layers as pure functions of explicit params: {@link linear}, {@link conv2d},
 * {@link maxPool2d}, {@link avgPool2d}, {@link layerNorm}, {@link batchNorm} (with explicit
 * running state), {@link dropout} (with a PRNG key) and {@link embedding}. Params come from
 * `nn.init.*` or anywhere else; shape mismatches throw errors naming the layer and the shapes.
 * @module
 */

import { lax, np, stopGradient, type Tensor } from "../core/index.ts";
import * as random from "../random/index.ts";
import {
  type ArrayLike,
  desc,
  fmtShape,
  isFloat,
  normalizeAxis,
  parseOptions,
  tensor,
  z,
} from "./_util.ts";

/** A 2-d padding: `"VALID"`, `"SAME"`, `"SAME_LOWER"`, one int for all sides, `[ph, pw]`
 * (symmetric per axis, as PyTorch) or explicit `[[top, bottom], [left, right]]`. */
export type Padding2d =
  | "VALID"
  | "SAME"
  | "SAME_LOWER"
  | number
  | readonly [number, number]
  | readonly [readonly [number, number], readonly [number, number]];

const pairSchema = z.union([
  z.number().int().min(1),
  z.tuple([
    z.number().int().min(1),
    z.number().int().min(1),
  ]),
]);
const paddingSchema = z.union([
  z.enum(["VALID", "SAME", "SAME_LOWER"]),
  z.number().int().min(0),
  z.tuple([z.number().int(), z.number().int()]),
  z.tuple([
    z.tuple([z.number().int(), z.number().int()]),
    z.tuple([
      z.number().int(),
      z.number().int(),
    ]),
  ]),
]);

function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

function padPairs(
  p: Padding2d,
): "VALID" | "SAME" | "SAME_LOWER" | [[number, number], [number, number]] {
  if (typeof p === "string") return p;
  if (typeof p === "number") return [[p, p], [p, p]];
  if (typeof p[0] === "number") {
    const [ph, pw] = p as readonly [number, number];
    return [[ph, ph], [pw, pw]];
  }
  const q = p as readonly (readonly [number, number])[];
  return [[q[0][0], q[0][1]], [q[1][0], q[1][1]]];
}

// ---- linear -----------------------------------------------------------------------------------

/** Params of {@link linear}: `w` (in, out) and optional `b` (out). */
export interface LinearParams {
  /** Kernel, (inFeatures, outFeatures). */
  w: Tensor;
  /** Bias, (outFeatures). */
  b?: Tensor;
}

/** A dense layer: `x @ w + b` over the last axis of `x` (…, in) → (…, out). */
export function linear(params: LinearParams, x: ArrayLike): Tensor {
  const op = "nn.linear";
  const { w, b } = params ?? {};
  if (!w || w.ndim !== 2) {
    throw new TypeError(`${op}: params.w must be a 2-d (in, out) tensor, got ${w ? desc(w) : w}`);
  }
  const t = tensor(x);
  if (t.ndim < 1 || t.shape[t.ndim - 1] !== w.shape[0]) {
    throw new RangeError(
      `${op}: x ${desc(t)} does not match w ${desc(w)}: the last axis of x must be the ` +
        `in-features ${w.shape[0]}`,
    );
  }
  const y = np.matmul(t, w);
  if (b === undefined) return y;
  if (b.ndim !== 1 || b.shape[0] !== w.shape[1]) {
    throw new RangeError(
      `${op}: b ${desc(b)} must have shape (${w.shape[1]},) to match w ${desc(w)}`,
    );
  }
  return y.add(b);
}

// ---- conv2d -----------------------------------------------------------------------------------

/** Params of {@link conv2d}: `w` (O, I/groups, kH, kW) and optional `b` (O). */
export interface Conv2dParams {
  /** Kernel, (outChannels, inChannels / groups, kH, kW). */
  w: Tensor;
  /** Bias, (outChannels). */
  b?: Tensor;
}

/** Options of {@link conv2d}. */
export interface Conv2dOptions {
  /** Stride per spatial axis (or one for both); default 1. */
  strides?: number | readonly [number, number];
  /** Padding; default `"VALID"` (PyTorch's 0). */
  padding?: Padding2d;
  /** Kernel dilation per spatial axis (or one for both); default 1. */
  dilation?: number | readonly [number, number];
  /** Feature groups (depthwise: groups = in channels); default 1. */
  groups?: number;
}

const conv2dSchema = z.object({
  strides: pairSchema.optional(),
  padding: paddingSchema.optional(),
  dilation: pairSchema.optional(),
  groups: z.number().int().min(1).optional(),
}).strict();

/**
 * 2-d convolution in PyTorch's layout: x (N, C, H, W), w (O, C/groups, kH, kW) → (N, O, H', W'),
 * through `lax.convGeneralDilated`, plus `b` broadcast over channels.
 */
export function conv2d(params: Conv2dParams, x: ArrayLike, options?: Conv2dOptions): Tensor {
  const op = "nn.conv2d";
  const o = parseOptions(op, conv2dSchema, options);
  const { w, b } = params ?? {};
  const t = tensor(x);
  const groups = o.groups ?? 1;
  if (!w || w.ndim !== 4) {
    throw new TypeError(
      `${op}: params.w must be a 4-d (O, I, kH, kW) tensor, got ${w ? desc(w) : w}`,
    );
  }
  if (t.ndim !== 4) {
    throw new RangeError(`${op}: x must be 4-d (N, C, H, W), got ${desc(t)}`);
  }
  if (t.shape[1] !== w.shape[1] * groups || w.shape[0] % groups !== 0) {
    throw new RangeError(
      `${op}: x ${desc(t)} has ${t.shape[1]} channels but w ${desc(w)} with groups ${groups} ` +
        `expects ${w.shape[1] * groups} (and out channels ${w.shape[0]} divisible by groups)`,
    );
  }
  const y = lax.convGeneralDilated(t, w, pair(o.strides ?? 1), padPairs(o.padding ?? "VALID"), {
    rhsDilation: pair(o.dilation ?? 1),
    featureGroupCount: groups,
  });
  if (b === undefined) return y;
  if (b.ndim !== 1 || b.shape[0] !== w.shape[0]) {
    throw new RangeError(
      `${op}: b ${desc(b)} must have shape (${w.shape[0]},) to match w ${desc(w)}`,
    );
  }
  return y.add(b.reshape([1, w.shape[0], 1, 1]));
}

// ---- pooling ----------------------------------------------------------------------------------

/** Options of {@link maxPool2d} and {@link avgPool2d}. */
export interface Pool2dOptions {
  /** Stride per spatial axis; default the window (PyTorch's default). */
  strides?: number | readonly [number, number];
  /** Padding; default `"VALID"`. */
  padding?: Padding2d;
  /** avgPool2d only: count padded cells in the divisor (default true, as Flax and PyTorch). */
  countIncludePad?: boolean;
}

const poolSchema = z.object({
  strides: pairSchema.optional(),
  padding: paddingSchema.optional(),
  countIncludePad: z.boolean().optional(),
}).strict();

function pool(
  op: string,
  x: ArrayLike,
  window: number | readonly [number, number],
  options: Pool2dOptions | undefined,
  kind: "max" | "sum",
  ones = false,
): Tensor {
  const o = parseOptions(op, poolSchema, options);
  if (!pairSchema.safeParse(window).success) {
    throw new RangeError(
      `${op}: window must be a positive int or [kH, kW], got ${JSON.stringify(window)}`,
    );
  }
  let t = tensor(x);
  if (t.ndim < 2) {
    throw new RangeError(`${op}: x must have at least 2 axes (…, H, W), got ${desc(t)}`);
  }
  if (ones) t = np.onesLike(t);
  const [kh, kw] = pair(window);
  const [sh, sw] = pair(o.strides ?? window);
  const lead = Array<number>(t.ndim - 2).fill(1);
  const pad = padPairs(o.padding ?? "VALID");
  const padding = typeof pad === "string"
    ? pad
    : [...lead.map(() => [0, 0] as [number, number]), ...pad];
  const init = kind === "sum"
    ? 0
    : isFloat(t.dtype)
    ? -Infinity
    : t.dtype === "int32"
    ? -2147483648
    : 0;
  return lax.reduceWindow(t, init, kind, [...lead, kh, kw], [...lead, sh, sw], padding);
}

/**
 * Max over each kH×kW window of the last two axes of x (…, H, W), e.g. (N, C, H, W), through
 * `lax.reduceWindow`. Padded cells never win.
 */
export function maxPool2d(
  x: ArrayLike,
  window: number | readonly [number, number],
  options?: Pool2dOptions,
): Tensor {
  return pool("nn.maxPool2d", x, window, options, "max");
}

/** Mean over each kH×kW window of the last two axes of x (…, H, W). */
export function avgPool2d(
  x: ArrayLike,
  window: number | readonly [number, number],
  options?: Pool2dOptions,
): Tensor {
  const op = "nn.avgPool2d";
  const t = tensor(x);
  const f = isFloat(t.dtype) ? t : t.astype("float32");
  const sums = pool(op, f, window, options, "sum");
  if (options?.countIncludePad === false) {
    return sums.div(pool(op, f, window, options, "sum", true));
  }
  const [kh, kw] = pair(window);
  return sums.div(kh * kw);
}

// ---- normalization ----------------------------------------------------------------------------

/** Params of {@link layerNorm}: optional `scale` and `bias` of the normalized axes' shape. */
export interface NormParams {
  /** Multiplier, shaped like the normalized (layerNorm) or feature (batchNorm) axes. */
  scale?: Tensor;
  /** Offset, shaped like `scale`. */
  bias?: Tensor;
}

/** Options of {@link layerNorm}. */
export interface LayerNormOptions {
  /** Axis or axes to normalize over; default -1. */
  axis?: number | readonly number[];
  /** Added to the variance; default 1e-5 (PyTorch's; Flax uses 1e-6). */
  eps?: number;
}

const layerNormSchema = z.object({
  axis: z.union([z.number().int(), z.array(z.number().int())]).optional(),
  eps: z.number().min(0).optional(),
}).strict();

function affine(op: string, y: Tensor, p: NormParams, axes: number[], name: string): Tensor {
  const want = axes.map((a) => y.shape[a]);
  const bshape = y.shape.map((d, i) => (axes.includes(i) ? d : 1));
  for (const [k, v] of [["scale", p.scale], ["bias", p.bias]] as const) {
    if (v === undefined) continue;
    if (
      v.size !== want.reduce((a, b) => a * b, 1) || v.ndim !== want.length ||
      v.shape.some((d, i) => d !== want[i])
    ) {
      throw new RangeError(
        `${op}: params.${k} ${desc(v)} must have the ${name} shape ${fmtShape(want)} of x ${
          desc(y)
        }`,
      );
    }
  }
  if (p.scale !== undefined) y = y.mul(p.scale.reshape(bshape));
  if (p.bias !== undefined) y = y.add(p.bias.reshape(bshape));
  return y;
}

/**
 * Layer normalization: `(x - mean) / sqrt(var + eps) * scale + bias`, with mean and (biased)
 * variance over `axis` (default -1); `scale`/`bias` have the shape of those axes.
 */
export function layerNorm(params: NormParams, x: ArrayLike, options?: LayerNormOptions): Tensor {
  const op = "nn.layerNorm";
  const o = parseOptions(op, layerNormSchema, options);
  const t = tensor(x);
  const f = isFloat(t.dtype) ? t : t.astype("float32");
  const list = o.axis === undefined ? [-1] : typeof o.axis === "number" ? [o.axis] : o.axis;
  if (f.ndim === 0) throw new RangeError(`${op}: x must have at least one axis, got ${desc(f)}`);
  const axes = [...new Set(list.map((a) => normalizeAxis(a, f.ndim, op)))].sort((a, b) => a - b);
  const mean = np.mean(f, axes, { keepdims: true });
  const centered = f.sub(mean);
  const variance = np.mean(centered.square(), axes, { keepdims: true });
  const y = centered.mul(np.rsqrt(variance.add(o.eps ?? 1e-5)));
  return affine(op, y, params ?? {}, axes, "normalized-axes");
}

/** Running statistics of {@link batchNorm}, one value per feature. */
export interface BatchNormState {
  /** Running mean. */
  mean: Tensor;
  /** Running (biased) variance. */
  var: Tensor;
}

/** Options of {@link batchNorm}. */
export interface BatchNormOptions {
  /** Use and fold in the batch statistics (true) or use the running ones (false, default). */
  training?: boolean;
  /** `new = momentum * old + (1 - momentum) * batch` (Flax's convention); default 0.9. */
  momentum?: number;
  /** Added to the variance; default 1e-5. */
  eps?: number;
  /** The feature axis; default 1 (channels of NCHW, features of (N, F)). */
  axis?: number;
}

const batchNormSchema = z.object({
  training: z.boolean().optional(),
  momentum: z.number().min(0).max(1).optional(),
  eps: z.number().min(0).optional(),
  axis: z.number().int().optional(),
}).strict();

/**
 * Batch normalization over every axis but the feature `axis` (default 1). In training the batch
 * mean and (biased) variance normalize `x` and are folded into the running state; otherwise the
 * running state normalizes. Returns `[y, newState]` (the state unchanged outside training); the
 * new state carries no gradient.
 */
export function batchNorm(
  params: NormParams,
  state: BatchNormState,
  x: ArrayLike,
  options?: BatchNormOptions,
): [Tensor, BatchNormState] {
  const op = "nn.batchNorm";
  const o = parseOptions(op, batchNormSchema, options);
  const t = tensor(x);
  const f = isFloat(t.dtype) ? t : t.astype("float32");
  if (f.ndim < 2) {
    throw new RangeError(`${op}: x must have a batch and a feature axis, got ${desc(f)}`);
  }
  const axis = normalizeAxis(o.axis ?? 1, f.ndim, op);
  const c = f.shape[axis];
  if (!state || !state.mean || !state.var) {
    throw new TypeError(`${op}: state must be { mean, var } (see nn.init.batchNorm)`);
  }
  for (const [k, v] of [["mean", state.mean], ["var", state.var]] as const) {
    if (v.ndim !== 1 || v.shape[0] !== c) {
      throw new RangeError(
        `${op}: state.${k} ${desc(v)} must have shape (${c},) for x ${
          desc(f)
        } (feature axis ${axis})`,
      );
    }
  }
  const bshape = f.shape.map((d, i) => (i === axis ? d : 1));
  const reduce = f.shape.map((_, i) => i).filter((i) => i !== axis);
  const eps = o.eps ?? 1e-5;
  let mean: Tensor, variance: Tensor, newState: BatchNormState;
  if (o.training) {
    mean = np.mean(f, reduce, { keepdims: true });
    variance = np.mean(f.sub(mean).square(), reduce, { keepdims: true });
    const m = o.momentum ?? 0.9;
    newState = {
      mean: state.mean.mul(m).add(stopGradient(mean.reshape([c])).mul(1 - m)),
      var: state.var.mul(m).add(stopGradient(variance.reshape([c])).mul(1 - m)),
    };
  } else {
    mean = state.mean.reshape(bshape);
    variance = state.var.reshape(bshape);
    newState = state;
  }
  const y = f.sub(mean).mul(np.rsqrt(variance.add(eps)));
  return [affine(op, y, params ?? {}, [axis], "feature"), newState];
}

// ---- dropout, embedding -----------------------------------------------------------------------

/** Options of {@link dropout}. */
export interface DropoutOptions {
  /** Return `x` unchanged (evaluation); default false. */
  deterministic?: boolean;
}

const dropoutSchema = z.object({ deterministic: z.boolean().optional() }).strict();

/**
 * Inverted dropout: zeroes each element with probability `rate` (drawn with `key`) and scales
 * the survivors by 1 / (1 - rate), so the expectation is unchanged. `rate` 1 gives zeros.
 */
export function dropout(
  key: Tensor,
  x: ArrayLike,
  rate: number,
  options?: DropoutOptions,
): Tensor {
  const op = "nn.dropout";
  const o = parseOptions(op, dropoutSchema, options);
  if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) {
    throw new RangeError(`${op}: rate must be in [0, 1], got ${rate}`);
  }
  const t = tensor(x);
  if (o.deterministic || rate === 0) return t;
  if (rate === 1) return np.zerosLike(t);
  const keep = random.bernoulli(key, 1 - rate, t.shape);
  return np.where(keep, t.div(1 - rate), 0);
}

/** Params of {@link embedding}: a `table` (numEmbeddings, features). */
export interface EmbeddingParams {
  /** The embedding table, (numEmbeddings, features). */
  table: Tensor;
}

/** Rows of `table` at integer `ids`: shape ids.shape + (features,). */
export function embedding(params: EmbeddingParams, ids: ArrayLike): Tensor {
  const op = "nn.embedding";
  const table = params?.table;
  if (!table || table.ndim !== 2) {
    throw new TypeError(
      `${op}: params.table must be 2-d (numEmbeddings, features), got ${
        table ? desc(table) : table
      }`,
    );
  }
  const i = tensor(ids);
  if (i.dtype !== "int32" && i.dtype !== "uint32") {
    throw new TypeError(`${op}: ids must be integers, got ${desc(i)}`);
  }
  try {
    return np.take(table, i, 0);
  } catch (e) {
    throw new RangeError(
      `${op}: ids ${desc(i)} do not index table ${desc(table)}: ${(e as Error).message}`,
    );
  }
}
