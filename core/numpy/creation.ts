/**
 * Creation functions: zeros, ones, full, arange, linspace, eye and the `*Like` family.
 * @module
 */

import {
  allocateFor,
  castScalar,
  checkDType,
  DEFAULT_FLOAT,
  type DType,
  STORAGE,
  storageFromNumbers,
  storeNumber,
} from "../dtype.ts";
import { getDevice } from "../device.ts";
import { checkShape, describe, sizeOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1, EvalTrace, fromHostData, getCurrentTrace, scalarTensor } from "../trace.ts";
import { broadcastInDim } from "../prims/structure.ts";
import type { ArrayOptions } from "./convert.ts";

function make(
  op: string,
  shape: unknown,
  dtype: DType,
  options: ArrayOptions,
  fill: (storage: InstanceType<(typeof STORAGE)[DType]>) => void,
  weak = false,
): Tensor {
  const dims = checkShape(shape, op);
  const storage = allocateFor(op, dtype, sizeOf(dims));
  fill(storage as InstanceType<(typeof STORAGE)[DType]>);
  const device = options.device === undefined ? undefined : getDevice(options.device);
  return fromHostData(storage, dims, dtype, weak, device);
}

// Inside a transform that stages (jit), a constant fill is a broadcast of a scalar in the
// graph rather than a large literal baked into it.
function stagedFill(
  op: string,
  shape: unknown,
  value: number,
  dtype: DType,
  weak = false,
): Tensor | null {
  if (getCurrentTrace() instanceof EvalTrace) return null;
  const dims = checkShape(shape, op);
  return bind1(broadcastInDim, [scalarTensor(value, dtype, weak)], {
    shape: dims,
    broadcastDimensions: [],
  });
}

function dtypeOr(options: ArrayOptions, fallback: DType, op: string): DType {
  return options.dtype === undefined ? fallback : checkDType(options.dtype, op);
}

/** A tensor of zeros (float32 unless `dtype` says otherwise). */
export function zeros(shape: number | readonly number[], options: ArrayOptions = {}): Tensor {
  const dtype = dtypeOr(options, DEFAULT_FLOAT, "np.zeros");
  if (options.device === undefined) {
    const staged = stagedFill("np.zeros", shape, 0, dtype);
    if (staged) return staged;
  }
  return make("np.zeros", shape, dtype, options, () => {});
}

/** A tensor of ones. */
export function ones(shape: number | readonly number[], options: ArrayOptions = {}): Tensor {
  return full(shape, 1, { dtype: DEFAULT_FLOAT, ...options });
}

/**
 * A tensor filled with `value`. Without `dtype`, as JAX's: bool for a boolean, a weakly typed
 * int32 for an integer, a weakly typed float32 otherwise.
 */
export function full(
  shape: number | readonly number[],
  value: number | boolean,
  options: ArrayOptions = {},
): Tensor {
  if (typeof value !== "number" && typeof value !== "boolean") {
    throw new TypeError(`np.full: fill value must be a number or boolean, got ${describe(value)}`);
  }
  const fallback = typeof value === "boolean"
    ? "bool"
    : Number.isInteger(value)
    ? "int32"
    : DEFAULT_FLOAT;
  const dtype = dtypeOr(options, fallback, "np.full");
  const weak = options.dtype === undefined && typeof value === "number";
  const v = castScalar(Number(value), dtype);
  if (options.device === undefined) {
    const staged = stagedFill("np.full", shape, v, dtype, weak);
    if (staged) return staged;
  }
  const stored = storageFromNumbers(dtype, [v])[0]; // bfloat16: its bit pattern
  return make("np.full", shape, dtype, options, (s) => s.fill(stored), weak);
}

/** Zeros with the shape (and dtype, unless given) of `x`. */
export function zerosLike(x: Tensor, options: ArrayOptions = {}): Tensor {
  return zeros(x.shape, { dtype: x.dtype, ...options });
}
/** Ones with the shape and dtype of `x`. */
export function onesLike(x: Tensor, options: ArrayOptions = {}): Tensor {
  return ones(x.shape, { dtype: x.dtype, ...options });
}
/** `value` with the shape and dtype of `x`. */
export function fullLike(x: Tensor, value: number | boolean, options: ArrayOptions = {}): Tensor {
  return full(x.shape, value, { dtype: x.dtype, ...options });
}
/** Uninitialized in NumPy; zeros here. */
export const empty = zeros;
/** Like {@link zerosLike}. */
export const emptyLike = zerosLike;

/**
 * Evenly spaced values in [start, stop): `arange(stop)`, `arange(start, stop, step?)`.
 * Integer arguments give int32 (as JAX), any fractional one gives float32.
 */
export function arange(
  start: number,
  stop?: number,
  step = 1,
  options: ArrayOptions = {},
): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  for (const [name, v] of [["start", start], ["stop", stop], ["step", step]] as const) {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new TypeError(`np.arange: ${name} must be a finite number, got ${describe(v)}`);
    }
  }
  if (step === 0) throw new RangeError("np.arange: step must not be zero");
  const allInt = Number.isInteger(start) && Number.isInteger(stop) && Number.isInteger(step);
  const dtype = dtypeOr(options, allInt ? "int32" : DEFAULT_FLOAT, "np.arange");
  const n = Math.max(0, Math.ceil((stop - start) / step));
  return make("np.arange", [n], dtype, options, (s) => {
    // float32/float64 storage rounds on store exactly as castScalar does, and so does integer
    // storage (truncating) while every value is in range: a plain loop is ~4x faster than
    // storeNumber per element
    const last = start + (n - 1) * step;
    const inRange = (lo: number, hi: number) =>
      Math.min(start, last) >= lo && Math.max(start, last) <= hi;
    if (
      dtype === "float32" || dtype === "float64" ||
      (dtype === "int32" && inRange(-2147483648, 2147483647)) ||
      (dtype === "uint32" && inRange(0, 4294967295))
    ) {
      const first = start, delta = step, count = n; // locals: the loop reads no context slots
      for (let i = 0; i < count; i++) s[i] = first + i * delta;
    } else for (let i = 0; i < n; i++) storeNumber(s, i, start + i * step, dtype);
  });
}

/** Options of {@link linspace}. */
export interface LinspaceOptions extends ArrayOptions {
  /** Include `stop` (default true). */
  endpoint?: boolean;
}

/** `num` evenly spaced values from start to stop. */
export function linspace(
  start: number,
  stop: number,
  num = 50,
  options: LinspaceOptions = {},
): Tensor {
  if (!Number.isInteger(num) || num < 0) {
    throw new RangeError(`np.linspace: num must be a non-negative integer, got ${num}`);
  }
  const endpoint = options.endpoint ?? true;
  const dtype = dtypeOr(options, DEFAULT_FLOAT, "np.linspace");
  const div = endpoint ? num - 1 : num;
  const step = div > 0 ? (stop - start) / div : 0;
  return make("np.linspace", [num], dtype, options, (s) => {
    for (let i = 0; i < num; i++) storeNumber(s, i, start + i * step, dtype);
    if (endpoint && num > 1) storeNumber(s, num - 1, stop, dtype);
  });
}

/** Options of {@link eye}. */
export interface EyeOptions extends ArrayOptions {
  /** Diagonal offset: > 0 above the main diagonal. */
  k?: number;
}

/** An n×m matrix with ones on diagonal `k`. */
export function eye(n: number, m?: number, options: EyeOptions = {}): Tensor {
  const cols = m ?? n;
  const k = options.k ?? 0;
  if (!Number.isInteger(k)) throw new TypeError(`np.eye: k must be an integer, got ${k}`);
  const dtype = dtypeOr(options, DEFAULT_FLOAT, "np.eye");
  return make("np.eye", [n, cols], dtype, options, (s) => {
    for (let i = 0; i < n; i++) {
      const j = i + k;
      if (j >= 0 && j < cols) storeNumber(s, i * cols + j, 1, dtype);
    }
  });
}

/** The n×n identity matrix. */
export function identity(n: number, options: ArrayOptions = {}): Tensor {
  return eye(n, n, options);
}
