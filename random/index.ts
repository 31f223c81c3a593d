/**
 * `random`: JAX's explicit-key pseudo-random numbers on the Threefry-2x32 generator. A key is a
 * uint32 tensor of shape `[2]` (JAX's raw `PRNGKey`); every sampler is a pure function of its
 * key, so it works unchanged under `jit`, `vmap` and `grad`. Bits follow JAX's current default
 * scheme (`jax_threefry_partitionable = True`): element `i` of a draw is
 * `threefry2x32(key, (0, i))`, its two words XOR-ed for 32-bit bits, kept apart for 64-bit.
 *
 * ```ts
 * import { random } from "./mod.ts";
 * const [k1, k2] = [0, 1].map((i) => random.split(random.key(0)).slice(i));
 * const x = random.normal(k1, [3, 4]);
 * ```
 * @module
 */

import { lax, np, type Tensor } from "../core/index.ts";
import type { DType } from "../core/index.ts";
import { castScalar } from "../core/dtype.ts";
import { bf16BitsToNumber, numberToBf16Bits } from "../core/float16.ts";
import { z } from "npm:zod@4";
import { erfinv32, erfinv64, threefry2x32 } from "./threefry.ts";

export { threefry2x32 } from "./threefry.ts";

/** A shape argument: a list of dimensions or a single dimension. */
export type Shape = number | readonly number[];
/** A number, or a tensor (possibly traced). */
export type Scalarish = number | Tensor;

const FLOAT = z.enum(["float16", "bfloat16", "float32", "float64"]);
/** The floating dtypes the samplers draw. */
export type FloatDType = "float16" | "bfloat16" | "float32" | "float64";

// mantissa bits of the 16-bit floats, and the random bits JAX's `_uniform` draws for them
// (bfloat16 has fewer than 8 mantissa bits, so JAX draws 8 bits, not 16)
const HALF_BITS = { float16: { nmant: 10, bits: 16 }, bfloat16: { nmant: 7, bits: 8 } } as const;

function toShape(shape: Shape, op: string): number[] {
  const dims = typeof shape === "number" ? [shape] : [...shape];
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${op}: shape must be non-negative integers, got [${dims}]`);
    }
  }
  return dims;
}

function checkKey(key: Tensor, op: string): [Tensor, Tensor] {
  if (key.dtype !== "uint32" || key.ndim !== 1 || key.shape[0] !== 2) {
    throw new TypeError(
      `${op}: key must be a uint32 tensor of shape [2] (from random.key or random.split), got ` +
        `${key.dtype}[${key.shape}]; map over batches of keys with vmap`,
    );
  }
  return [key.slice(0), key.slice(1)];
}

function parse<T>(schema: z.ZodType<T>, value: unknown, op: string): T {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw new TypeError(`${op}: bad options: ${r.error.message}`);
  return r.data;
}

/** The two Threefry words for each element of `shape` (counters `(0, i)`, i < 2^32). */
function rawBits(key: Tensor, shape: number[], op: string): [Tensor, Tensor] {
  const [k0, k1] = checkKey(key, op);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n >= 2 ** 32) throw new RangeError(`${op}: at most 2^32 - 1 values per draw, got ${n}`);
  const lo = lax.iota("uint32", n).reshape(shape);
  const hi = np.zeros(shape, { dtype: "uint32" });
  return threefry2x32(k0, k1, hi, lo);
}

/**
 * A PRNG key from an integer seed, as `jax.random.PRNGKey(seed)`: `[0, seed]` for
 * 0 ≤ seed < 2^32; for -2^31 ≤ seed < 0 `[0, seed mod 2^32]` (JAX's 32-bit default); for
 * larger magnitudes the 64-bit split `[floor(seed / 2^32) mod 2^32, seed mod 2^32]`. A tensor
 * seed (int32 or uint32, scalar; possibly traced) gives `[0, seed]`.
 */
export function key(seed: Scalarish): Tensor {
  const op = "random.key";
  if (typeof seed === "number") {
    if (!Number.isSafeInteger(seed)) {
      throw new TypeError(`${op}: seed must be a safe integer, got ${seed}`);
    }
    const lo = ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32;
    const hi = seed >= -(2 ** 31) && seed < 2 ** 32
      ? 0
      : ((Math.floor(seed / 2 ** 32) % 2 ** 32) + 2 ** 32) % 2 ** 32;
    return np.array([hi, lo], { dtype: "uint32" });
  }
  if (seed.ndim !== 0 || (seed.dtype !== "int32" && seed.dtype !== "uint32")) {
    throw new TypeError(`${op}: seed must be a scalar integer, got ${seed.dtype}[${seed.shape}]`);
  }
  return np.stack([np.zeros([], { dtype: "uint32" }), seed.astype("uint32")]);
}

/**
 * Splits a key into `num` new keys (or a `[...num]` grid of keys): a uint32 tensor of shape
 * `[num, 2]`. Take one with `keys.slice(i)`.
 */
export function split(key: Tensor, num: Shape = 2): Tensor {
  const shape = toShape(num, "random.split");
  const [a, b] = rawBits(key, shape, "random.split");
  return np.stack([a, b], -1);
}

/** A new key from `key` and an integer `data` (taken mod 2^32), as `jax.random.fold_in`. */
export function foldIn(key: Tensor, data: Scalarish): Tensor {
  const op = "random.foldIn";
  const [k0, k1] = checkKey(key, op);
  let d: Tensor;
  if (typeof data === "number") {
    if (!Number.isInteger(data)) throw new TypeError(`${op}: data must be an integer, got ${data}`);
    d = np.array(((data % 2 ** 32) + 2 ** 32) % 2 ** 32, { dtype: "uint32" });
  } else {
    if (data.ndim !== 0 || (data.dtype !== "int32" && data.dtype !== "uint32")) {
      throw new TypeError(`${op}: data must be a scalar integer, got ${data.dtype}[${data.shape}]`);
    }
    d = data.astype("uint32");
  }
  const [a, b] = threefry2x32(k0, k1, np.zeros([], { dtype: "uint32" }), d);
  return np.stack([a, b]);
}

/** Uniform random uint32 bits of `shape` (JAX's `random.bits`). */
export function bits(key: Tensor, shape: Shape = []): Tensor {
  const [a, b] = rawBits(key, toShape(shape, "random.bits"), "random.bits");
  return np.bitwiseXor(a, b);
}

/** Floats uniform on [0, 1) from the mantissa bits, exactly as JAX builds them. */
function unitFloats(key: Tensor, shape: number[], dtype: DType, op: string): Tensor {
  if (dtype === "float16" || dtype === "bfloat16") {
    // JAX: the low `bits` of the XOR-ed words, shifted down to the mantissa's width
    const { nmant, bits } = HALF_BITS[dtype];
    const [a, b] = rawBits(key, shape, op);
    const low = np.bitwiseAnd(np.bitwiseXor(a, b), 2 ** bits - 1);
    return np.multiply(np.floorDivide(low, 2 ** (bits - nmant)).astype(dtype), 2 ** -nmant);
  }
  if (dtype === "float64") {
    const [hi, lo] = rawBits(key, shape, op);
    const m = np.add(
      np.multiply(hi.astype("float64"), 2 ** 20),
      np.floorDivide(lo, 4096).astype("float64"),
    );
    return np.multiply(m, 2 ** -52);
  }
  const [a, b] = rawBits(key, shape, op);
  return np.multiply(np.floorDivide(np.bitwiseXor(a, b), 512).astype("float32"), 2 ** -23);
}

function scalarOf(v: Scalarish, dtype: DType): Scalarish {
  if (typeof v === "number") return castScalar(v, dtype);
  return v.astype(dtype);
}

function uniformImpl(
  key: Tensor,
  shape: number[],
  dtype: DType,
  minval: Scalarish,
  maxval: Scalarish,
  op: string,
): Tensor {
  const lo = scalarOf(minval, dtype), hi = scalarOf(maxval, dtype);
  const f = unitFloats(key, shape, dtype, op);
  if (lo === 0 && hi === 1) return f;
  let span: Scalarish;
  if (typeof lo === "number" && typeof hi === "number") {
    span = castScalar(hi - lo, dtype);
  } else span = np.subtract(hi, lo).astype(dtype);
  const out = np.maximum(lo, np.add(np.multiply(f, span), lo)).astype(dtype);
  return out;
}

const UniformOptions = z.object({
  dtype: FLOAT.default("float32"),
  minval: z.union([z.number(), z.any()]).default(0),
  maxval: z.union([z.number(), z.any()]).default(1),
}).strict();
/** Options of {@link uniform}. */
export interface UniformOptions {
  /** float32 (default), float64, float16 or bfloat16. */
  dtype?: FloatDType;
  /** Lower bound (inclusive), broadcast to `shape`; default 0. */
  minval?: Scalarish;
  /** Upper bound (exclusive), broadcast to `shape`; default 1. */
  maxval?: Scalarish;
}

/** Uniform floats on `[minval, maxval)`, bit-identical to `jax.random.uniform`. */
export function uniform(key: Tensor, shape: Shape = [], options: UniformOptions = {}): Tensor {
  const op = "random.uniform";
  const o = parse(UniformOptions, options, op);
  return uniformImpl(key, toShape(shape, op), o.dtype, o.minval, o.maxval, op);
}

const DtypeOptions = z.object({ dtype: FLOAT.default("float32") }).strict();
/** A floating dtype option. */
export interface FloatOptions {
  /** float32 (default), float64, float16 or bfloat16. */
  dtype?: FloatDType;
}

/**
 * erfinv as XLA computes it for each float dtype: the 16-bit floats run the float32
 * approximation and round its result (XLA's float normalization of `erf_inv`).
 */
function erfinvOf(u: Tensor, dtype: DType): Tensor {
  if (dtype === "float64") return erfinv64(u);
  if (dtype === "float32") return erfinv32(u);
  return erfinv32(u.astype("float32")).astype(dtype);
}

/** The next representable `dtype` value after `x` toward `dir` (numpy's nextafter). */
function nextAfter(x: number, dir: number, dtype: DType): number {
  if (dtype === "float64") return x;
  if (dtype === "float32") return nextAfter32(x, dir);
  const v = castScalar(x, dtype);
  if (Number.isNaN(v) || v === dir) return v;
  if (v === 0) return dir > 0 ? HALF_TINIEST[dtype] : -HALF_TINIEST[dtype];
  // one step of the bit pattern: up in magnitude when moving away from zero
  const bits = dtype === "float16" ? f16Bits(v) : numberToBf16Bits(v);
  const next = bits + ((v < dir) === (v > 0) ? 1 : -1);
  return dtype === "float16" ? f16Value(next) : bf16BitsToNumber(next);
}
const HALF_TINIEST: Record<string, number> = { float16: 2 ** -24, bfloat16: 2 ** -133 };
const F16 = new Float16Array(1), F16_BITS = new Uint16Array(F16.buffer);
const f16Bits = (v: number) => (F16[0] = v, F16_BITS[0]);
const f16Value = (bits: number) => (F16_BITS[0] = bits, F16[0]);

/**
 * Standard normal samples, as JAX draws them: `sqrt(2) * erfinv(u)` with `u` uniform on
 * `[nextafter(-1, 0), 1)`. The uniforms are bit-identical to JAX's; float32 `erfinv` is XLA's
 * Giles polynomial (equal to JAX's up to last-bit differences in `log1p`/FMA).
 */
export function normal(key: Tensor, shape: Shape = [], options: FloatOptions = {}): Tensor {
  const op = "random.normal";
  const { dtype } = parse(DtypeOptions, options, op);
  const lo = nextAfter(-1, 0, dtype);
  const u = uniformImpl(key, toShape(shape, op), dtype, lo, 1, op);
  return np.multiply(erfinvOf(u, dtype), castScalar(Math.SQRT2, dtype));
}

function nextAfter32(x: number, dir: number): number {
  const f = new Float32Array([x]), i = new Int32Array(f.buffer);
  if (Number.isNaN(x) || f[0] === dir) return f[0];
  if (f[0] === 0) {
    i[0] = 1;
    return dir > 0 ? f[0] : -f[0];
  }
  i[0] += (f[0] < dir) === (f[0] > 0) ? 1 : -1;
  return f[0];
}

/**
 * Normal samples truncated to `(lower, upper)` (`jax.random.truncated_normal`): inverse-CDF
 * sampling between `erf(lower/√2)` and `erf(upper/√2)`. With number bounds the result is
 * clipped to the open interval as JAX does; tensor bounds clip to the closed one.
 */
export function truncatedNormal(
  key: Tensor,
  lower: Scalarish,
  upper: Scalarish,
  shape?: Shape,
  options: FloatOptions = {},
): Tensor {
  const op = "random.truncatedNormal";
  const { dtype } = parse(DtypeOptions, options, op);
  const dims = shape === undefined
    ? np.broadcastArrays(np.asarray(lower), np.asarray(upper))[0].shape
    : toShape(shape, op);
  const sqrt2 = castScalar(Math.SQRT2, dtype);
  const lo = scalarOf(lower, dtype), hi = scalarOf(upper, dtype);
  const a = np.erf(np.divide(np.array(lo, { dtype }), sqrt2));
  const b = np.erf(np.divide(np.array(hi, { dtype }), sqrt2));
  const u = uniformImpl(key, dims, dtype, a, b, op);
  const out = np.multiply(erfinvOf(u, dtype), sqrt2);
  const wide = dtype === "float64";
  const clipLo = typeof lo === "number" && !wide ? nextAfter(lo, Infinity, dtype) : lo;
  const clipHi = typeof hi === "number" && !wide ? nextAfter(hi, -Infinity, dtype) : hi;
  return np.minimum(np.maximum(out, clipLo), clipHi).astype(dtype);
}

/**
 * Booleans that are true with probability `p` (broadcast to `shape`, which defaults to `p`'s
 * shape): `uniform(key, shape) < p`, as `jax.random.bernoulli`.
 */
export function bernoulli(key: Tensor, p: Scalarish = 0.5, shape?: Shape): Tensor {
  const op = "random.bernoulli";
  const dtype: DType = typeof p === "number" || p.dtype !== "float64" ? "float32" : "float64";
  const dims = shape === undefined ? (typeof p === "number" ? [] : p.shape) : toShape(shape, op);
  return np.less(uniformImpl(key, dims, dtype, 0, 1, op), scalarOf(p, dtype));
}

/** Standard Gumbel samples, `-log(-log(u))` with `u` uniform on `[tiny, 1)` (as JAX). */
export function gumbel(key: Tensor, shape: Shape = [], options: FloatOptions = {}): Tensor {
  const op = "random.gumbel";
  const { dtype } = parse(DtypeOptions, options, op);
  const tiny = { float16: 2 ** -14, bfloat16: 2 ** -126, float32: 2 ** -126 }[
    dtype as string
  ] ?? 2 ** -1022;
  const u = uniformImpl(key, toShape(shape, op), dtype, tiny, 1, op);
  return np.negative(np.log(np.negative(np.log(u))));
}

const CategoricalOptions = z.object({
  axis: z.number().int().default(-1),
  shape: z.array(z.number().int().nonnegative()).optional(),
}).strict();
/** Options of {@link categorical}. */
export interface CategoricalOptions {
  /** The axis of `logits` holding the categories (default -1). */
  axis?: number;
  /** Output shape: a batch prefix followed by `logits.shape` without `axis` (the default). */
  shape?: number[];
}

/**
 * Category indices (int32) drawn with probabilities `softmax(logits, axis)` by the Gumbel-max
 * trick, as `jax.random.categorical` (with replacement).
 */
export function categorical(key: Tensor, logits: Tensor, options: CategoricalOptions = {}): Tensor {
  const op = "random.categorical";
  const o = parse(CategoricalOptions, options, op);
  const nd = logits.ndim;
  if (nd === 0) throw new RangeError(`${op}: logits must have at least one axis`);
  if (o.axis < -nd || o.axis >= nd) {
    throw new RangeError(
      `${op}: axis ${o.axis} out of range for logits of shape [${logits.shape}]`,
    );
  }
  const axis = o.axis < 0 ? o.axis + nd : o.axis;
  const batch = logits.shape.filter((_, i) => i !== axis);
  const shape = o.shape ?? batch;
  const tail = shape.slice(shape.length - batch.length);
  if (shape.length < batch.length || tail.some((d, i) => d !== batch[i] && batch[i] !== 1)) {
    throw new RangeError(
      `${op}: shape [${shape}] must end with the batch shape [${batch}] (logits [${logits.shape}])`,
    );
  }
  const prefix = shape.slice(0, shape.length - batch.length);
  const full = [...tail];
  full.splice(axis, 0, logits.shape[axis]);
  const dtype: DType = logits.dtype === "float64" ? "float64" : "float32";
  const g = gumbel(key, [...prefix, ...full], { dtype });
  return np.argmax(np.add(g, logits.astype(dtype)), axis - nd).astype("int32");
}

const RandintOptions = z.object({ dtype: z.enum(["int32", "uint32"]).default("int32") }).strict();
/** Options of {@link randint}. */
export interface RandintOptions {
  /** int32 (default) or uint32. */
  dtype?: "int32" | "uint32";
}

/**
 * Integers uniform on `[minval, maxval)` (broadcast to `shape`), bit-identical to
 * `jax.random.randint`: two 32-bit draws combined mod the span to keep the bias small;
 * `maxval <= minval` gives `minval`.
 */
export function randint(
  key: Tensor,
  shape: Shape,
  minval: Scalarish,
  maxval: Scalarish,
  options: RandintOptions = {},
): Tensor {
  const op = "random.randint";
  const { dtype } = parse(RandintOptions, options, op);
  const dims = toShape(shape, op);
  const [imin, imax] = dtype === "int32" ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
  let outOfRange = false;
  const prep = (v: Scalarish, name: string): Tensor => {
    if (typeof v === "number") {
      if (!Number.isInteger(v)) throw new TypeError(`${op}: ${name} must be an integer, got ${v}`);
      if (name === "maxval" && v > imax) outOfRange = true;
      return np.array(Math.min(Math.max(v, imin), imax), { dtype });
    }
    if (v.dtype !== "int32" && v.dtype !== "uint32") {
      throw new TypeError(`${op}: ${name} must be an integer tensor, got ${v.dtype}`);
    }
    return v.astype(dtype);
  };
  const lo = prep(minval, "minval"), hi = prep(maxval, "maxval");
  const keys = split(key, 2);
  const higher = bits(keys.slice(0), dims), lower = bits(keys.slice(1), dims);
  const empty = np.lessEqual(hi, lo);
  let span = np.where(empty, 1, np.subtract(hi.astype("uint32"), lo.astype("uint32")))
    .astype("uint32");
  if (outOfRange) span = np.where(empty, span, np.add(span, 1)).astype("uint32");
  const safe = np.where(np.equal(span, 0), 1, span).astype("uint32");
  const rem = (a: Tensor, b: Tensor) =>
    np.where(np.equal(span, 0), a, np.remainder(a, b)).astype("uint32");
  let mult = rem(np.full([], 2 ** 16, { dtype: "uint32" }), safe);
  mult = rem(np.multiply(mult, mult), safe);
  const offset = rem(np.add(np.multiply(rem(higher, safe), mult), rem(lower, safe)), safe);
  return np.add(lo.astype("uint32"), offset).astype(dtype);
}

/** `x` shuffled along `axis` by JAX's sort-based shuffle (rounds of stable sorts by bits). */
function shuffle(key: Tensor, x: Tensor, axis: number): Tensor {
  const rounds = Math.ceil(3 * Math.log(Math.max(1, x.size)) / Math.log(2 ** 32 - 1));
  let k = key;
  for (let r = 0; r < rounds; r++) {
    const ks = split(k, 2);
    k = ks.slice(0);
    const sortKeys = bits(ks.slice(1), x.shape);
    x = lax.sortKeyVal(sortKeys, x, axis)[1];
  }
  return x;
}

/**
 * A random permutation of `arange(n)` (int32), or of `x` along `axis`, as
 * `jax.random.permutation`.
 */
export function permutation(key: Tensor, x: number | Tensor, axis = 0): Tensor {
  const op = "random.permutation";
  if (typeof x === "number") {
    if (!Number.isInteger(x) || x < 0) {
      throw new RangeError(`${op}: n must be a non-negative integer, got ${x}`);
    }
    return shuffle(key, np.arange(x, undefined, undefined, { dtype: "int32" }), 0);
  }
  if (x.ndim === 0) throw new RangeError(`${op}: x must have at least one axis (or be a number)`);
  if (axis < -x.ndim || axis >= x.ndim) {
    throw new RangeError(`${op}: axis ${axis} out of range for shape [${x.shape}]`);
  }
  const ax = axis < 0 ? axis + x.ndim : axis;
  if (x.ndim === 1) return shuffle(key, x, 0);
  const ind = shuffle(key, np.arange(x.shape[ax], undefined, undefined, { dtype: "int32" }), 0);
  return np.take(x, ind, ax);
}

const ChoiceOptions = z.object({
  replace: z.boolean().default(true),
  p: z.any().optional(),
  axis: z.number().int().default(0),
}).strict();
/** Options of {@link choice}. */
export interface ChoiceOptions {
  /** Sample with replacement (default true). */
  replace?: boolean;
  /** Probabilities of the entries of `a` (a 1-D tensor of length n). */
  p?: Tensor;
  /** The axis of `a` to choose along (default 0). */
  axis?: number;
}

/**
 * Random entries of `a` along `axis` (or of `arange(a)` for a number), as `jax.random.choice`:
 * uniform with replacement by `randint`, without by a permutation prefix; with `p`, by inverse
 * CDF (replacement) or Gumbel top-k (without).
 */
export function choice(
  key: Tensor,
  a: number | Tensor,
  shape: Shape = [],
  options: ChoiceOptions = {},
): Tensor {
  const op = "random.choice";
  const o = parse(ChoiceOptions, options, op);
  const dims = toShape(shape, op);
  const arr = typeof a === "number" ? null : a;
  if (arr && arr.ndim === 0) throw new RangeError(`${op}: a must be a number or have an axis`);
  if (arr && (o.axis < -arr.ndim || o.axis >= arr.ndim)) {
    throw new RangeError(`${op}: axis ${o.axis} out of range for shape [${arr.shape}]`);
  }
  const axis = arr ? (o.axis < 0 ? o.axis + arr.ndim : o.axis) : 0;
  const n = arr ? arr.shape[axis] : (a as number);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${op}: a must be a count ≥ 0, got ${n}`);
  const draws = dims.reduce((x, y) => x * y, 1);
  const outShape = arr
    ? [...arr.shape.slice(0, axis), ...dims, ...arr.shape.slice(axis + 1)]
    : dims;
  if (draws === 0) return np.zeros(outShape, { dtype: arr ? arr.dtype : "int32" });
  if (n <= 0) throw new RangeError(`${op}: a must be greater than 0 unless no samples are taken`);
  if (!o.replace && draws > n) {
    throw new RangeError(`${op}: cannot take ${draws} samples without replacement from ${n}`);
  }
  let ind: Tensor;
  if (o.p === undefined) {
    if (o.replace) ind = randint(key, dims, 0, n);
    else {
      ind = permutation(key, n).slice(np.s(0, draws)).reshape(dims);
    }
  } else {
    const p = o.p as Tensor;
    if (p.ndim !== 1 || p.shape[0] !== n) {
      throw new RangeError(`${op}: p must have shape [${n}], got [${p.shape}]`);
    }
    const pf = p.dtype === "float64" ? p : p.astype("float32");
    if (o.replace) {
      const cum = np.cumsum(pf);
      const total = cum.slice(n - 1);
      const r = np.multiply(
        total,
        np.subtract(1, uniformImpl(key, dims, pf.dtype, 0, 1, op)),
      );
      ind = np.sum(np.less(cum, np.expandDims(r, -1)).astype("int32"), -1).astype("int32");
    } else {
      const g = np.add(gumbel(key, [n], { dtype: pf.dtype as "float32" }), np.log(pf));
      ind = np.argsort(np.negative(g)).slice(np.s(0, draws)).reshape(dims);
    }
  }
  return arr ? np.take(arr, ind, axis) : ind;
}
