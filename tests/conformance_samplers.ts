/**
 * Conformance samplers for the convolution, window, indexing and sorting primitives (the
 * elementwise, structural and reduction ones live in conformance_test.ts).
 */

import { type DType, isFloat, storageFromNumbers } from "../core/dtype.ts";
import { getDevice } from "../core/device.ts";
import type { Tensor } from "../core/tensor.ts";
import { fromHostData } from "../core/trace.ts";
import { binaryDefs, unaryDefs } from "../core/prims/elementwise.ts";
import { sizeOf } from "../core/shape.ts";
import { type ReduceWindowParams, reduceWindowShape } from "../core/prims/window.ts";

/** One input of a sampled call. */
export interface SampledInput {
  data: number[];
  shape: number[];
  dtype: DType;
}

/** A sampled call (see conformance_test.ts). */
export interface SampledCase {
  inputs: SampledInput[];
  params: Record<string, unknown>;
  dtype: DType;
}

function randomInput(r: Rand, shape: number[], dtype: DType): SampledInput {
  const data = Array.from(
    { length: sizeOf(shape) },
    () =>
      dtype === "int32"
        ? int(r, -20, 20)
        : dtype === "uint32"
        ? int(r, 0, 40)
        : dtype === "bool"
        ? int(r, 0, 1)
        : 4 * r() - 2,
  );
  return { data, shape, dtype };
}

function convCase(r: Rand): SampledCase {
  const dtype = pick(r, ["float32", "float64"] as DType[]);
  const spatial = int(r, 1, 2);
  const groups = int(r, 1, 2);
  const n = int(r, 0, 2), cPer = int(r, 1, 3), oPer = int(r, 1, 3);
  const size = Array.from({ length: spatial }, () => int(r, 1, 7));
  const window = Array.from({ length: spatial }, () => int(r, 1, 3));
  const params = {
    windowStrides: size.map(() => int(r, 1, 2)),
    padding: size.map(() => [int(r, -1, 2), int(r, 0, 2)] as [number, number]),
    lhsDilation: size.map(() => int(r, 1, 2)),
    rhsDilation: size.map(() => int(r, 1, 2)),
    featureGroupCount: groups,
  };
  // keep every padded, dilated input at least as large as the dilated window
  size.forEach((s, i) => {
    const padded = (s - 1) * params.lhsDilation[i] + 1 + params.padding[i][0] +
      params.padding[i][1];
    const span = (window[i] - 1) * params.rhsDilation[i] + 1;
    if (padded < span) params.padding[i] = [0, span];
  });
  const lhs = randomInput(r, [n, cPer * groups, ...size], dtype);
  const rhs = randomInput(r, [oPer * groups, cPer, ...window], dtype);
  return { inputs: [lhs, rhs], params, dtype };
}

// The gradients of a sampled convolution: conv_grad_lhs(ct, rhs) and conv_grad_rhs(lhs, ct),
// ct of the convolution's output shape (size-0 axes included, as convCase draws them).
function convGradCase(r: Rand, which: "lhs" | "rhs"): SampledCase {
  const c = convCase(r);
  const [lhs, rhs] = c.inputs;
  const p = c.params as {
    windowStrides: number[];
    padding: [number, number][];
    lhsDilation: number[];
    rhsDilation: number[];
  };
  // the convolution's output shape (conv_general_dilated's rule, written out again here)
  const out = [lhs.shape[0], rhs.shape[0]];
  lhs.shape.slice(2).forEach((d, i) => {
    const padded = (d - 1) * p.lhsDilation[i] + 1 + p.padding[i][0] + p.padding[i][1];
    const span = (rhs.shape[i + 2] - 1) * p.rhsDilation[i] + 1;
    out.push(padded < span ? 0 : Math.floor((padded - span) / p.windowStrides[i]) + 1);
  });
  const ct = randomInput(r, out, c.dtype);
  return which === "lhs"
    ? { inputs: [ct, rhs], params: { ...c.params, lhsShape: lhs.shape }, dtype: c.dtype }
    : { inputs: [lhs, ct], params: { ...c.params, rhsShape: rhs.shape }, dtype: c.dtype };
}

function windowCase(r: Rand): SampledCase {
  const dtype = pick(r, ["float32", "float64", "int32", "uint32"] as DType[]);
  const shape = Array.from({ length: int(r, 1, 3) }, () => int(r, 0, 6));
  const windowDimensions = shape.map(() => int(r, 1, 3));
  const params = {
    windowDimensions,
    windowStrides: shape.map(() => int(r, 1, 2)),
    padding: shape.map(() => [int(r, 0, 2), int(r, 0, 2)] as [number, number]),
    windowDilation: shape.map(() => int(r, 1, 2)),
  };
  shape.forEach((s, i) => {
    const span = (windowDimensions[i] - 1) * params.windowDilation[i] + 1;
    if (s + params.padding[i][0] + params.padding[i][1] < span) params.padding[i] = [0, span];
  });
  return { inputs: [randomInput(r, shape, dtype)], params, dtype };
}

// The operand of a max-pool derivative: ties (values on a coarse grid) and, for floats, NaNs.
function tiedInput(r: Rand, shape: number[], dtype: DType): SampledInput {
  const x = randomInput(r, shape, dtype);
  if (dtype === "float32" || dtype === "float64") {
    x.data = x.data.map((v) => (r() < 0.05 ? NaN : r() < 0.5 ? Math.round(v) : v));
  }
  return x;
}
// select_and_gather_add(tangent, x) / select_and_scatter_add(cotangent, x): any rank (the
// window case), or NCHW pooling windows on the last two axes (the kernels' 2-D paths).
function selectCase(r: Rand, scatter: boolean): SampledCase {
  let c: SampledCase;
  if (r() < 0.5) c = windowCase(r);
  else {
    const dtype = pick(r, ["float32", "float64", "int32", "uint32"] as DType[]);
    const k = [int(r, 1, 3), int(r, 1, 3)], st = [int(r, 1, 3), int(r, 1, 3)];
    const shape = [int(r, 0, 2), int(r, 1, 3), int(r, k[0], 9), int(r, k[1], 9)];
    const params = {
      windowDimensions: [1, 1, ...k],
      windowStrides: [1, 1, ...st],
      padding: [[0, 0], [0, 0], [0, 0], [0, 0]] as [number, number][],
      windowDilation: [1, 1, 1, 1],
    };
    c = { inputs: [randomInput(r, shape, dtype)], params, dtype };
  }
  const x = tiedInput(r, c.inputs[0].shape, c.dtype);
  const shape = scatter
    ? reduceWindowShape("sampler", x.shape, c.params as unknown as ReduceWindowParams)
    : x.shape;
  return { inputs: [randomInput(r, shape, c.dtype), x], params: c.params, dtype: c.dtype };
}

const rShape = (r: Rand) => Array.from({ length: int(r, 1, 3) }, () => int(r, 0, 4));
function indexInput(r: Rand, shape: number[], len: number): SampledInput {
  const data = Array.from({ length: sizeOf(shape) }, () => int(r, 0, len - 1)); // duplicates likely
  return { data, shape, dtype: "int32" };
}
function gatherCase(r: Rand, kind: "take" | "scatter" | "scatter_add"): SampledCase {
  const dtype = pickDType(r, kind === "take" || kind === "scatter" ? ALL : NUMERIC);
  const shape = rShape(r);
  const axis = int(r, 0, shape.length - 1);
  const idxShape = shape[axis] === 0
    ? [0]
    : Array.from({ length: int(r, 0, 2) }, () => int(r, 0, 4));
  const x = randomInput(r, shape, dtype), idx = indexInput(r, idxShape, shape[axis]);
  if (kind === "take") return { inputs: [x, idx], params: { axis }, dtype };
  const ushape = [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)];
  return { inputs: [x, idx, randomInput(r, ushape, dtype)], params: { axis }, dtype };
}
function dynamicSliceCase(r: Rand, update: boolean): SampledCase {
  const dtype = pickDType(r, ALL);
  const shape = rShape(r);
  const sizes = shape.map((d) => int(r, 0, d));
  const starts = shape.map(() => ({ data: [int(r, -5, 5)], shape: [], dtype: "int32" as DType }));
  const x = randomInput(r, shape, dtype);
  return update
    ? { inputs: [x, randomInput(r, sizes, dtype), ...starts], params: {}, dtype }
    : { inputs: [x, ...starts], params: { sizes }, dtype };
}
function sortCase(r: Rand): SampledCase {
  const dtype = pickDType(r, ALL);
  const shape = rShape(r);
  const key = randomInput(r, shape, dtype);
  // ties and NaNs exercise stability and NaN-last ordering
  key.data = key.data.map((
    v,
  ) => (dtype.startsWith("float") && r() < 0.2
    ? NaN
    : dtype.startsWith("float")
    ? Math.round(v * 2) / 2
    : v)
  );
  const extra = Array.from(
    { length: int(r, 0, 2) },
    () => randomInput(r, shape, pickDType(r, ALL)),
  );
  return {
    inputs: [key, ...extra],
    params: { axis: int(r, 0, shape.length - 1), numKeys: 1 },
    dtype,
  };
}
const indexingSamplers: Record<string, (r: Rand) => SampledCase> = {
  take: (r) => gatherCase(r, "take"),
  scatter: (r) => gatherCase(r, "scatter"),
  scatter_add: (r) => gatherCase(r, "scatter_add"),
  // the accumulating scatters share scatter_add's operands (numeric dtypes, duplicates likely)
  scatter_mul: (r) => gatherCase(r, "scatter_add"),
  scatter_min: (r) => gatherCase(r, "scatter_add"),
  scatter_max: (r) => gatherCase(r, "scatter_add"),
  dynamic_slice: (r) => dynamicSliceCase(r, false),
  dynamic_update_slice: (r) => dynamicSliceCase(r, true),
  sort: sortCase,
};

/** Samplers by primitive name. */
export const extraSamplers: Record<string, (r: Rand) => SampledCase> = {
  conv_general_dilated: convCase,
  conv_grad_lhs: (r) => convGradCase(r, "lhs"),
  conv_grad_rhs: (r) => convGradCase(r, "rhs"),
  reduce_window_max: windowCase,
  reduce_window_sum: windowCase,
  select_and_gather_add: (r) => selectCase(r, false),
  select_and_scatter_add: (r) => selectCase(r, true),
  stop_gradient: (r) => {
    const dtype = pick(r, ["float32", "float64", "int32"] as DType[]);
    const shape = Array.from({ length: int(r, 0, 3) }, () => int(r, 0, 3));
    return { inputs: [randomInput(r, shape, dtype)], params: {}, dtype };
  },
  ...indexingSamplers,
};

type Rand = () => number;

/** One input: data as numbers, shape and dtype. */
export interface Input {
  data: number[];
  shape: number[];
  dtype: DType;
}
/** A sampled call of a primitive. */
export interface Case {
  inputs: Input[];
  params: Record<string, unknown>;
  dtype: DType;
}
/** Draws a call of a primitive from a random source. */
export type Sampler = (r: Rand) => Case;

const NUMERIC: DType[] = ["float32", "float64", "int32", "uint32"];
const ALL: DType[] = [...NUMERIC, "bool"];

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const HALF: DType[] = ["float16", "bfloat16"];
/**
 * A dtype from `xs` for a primitive that accepts every float: the 16-bit floats replace float32
 * in about a quarter of its draws (they run float32 code between two casts, so a subset of
 * cases covers them without slowing the suite).
 */
const pickDType = (r: Rand, xs: readonly DType[]): DType => {
  const dtype = pick(r, xs.filter((d) => !HALF.includes(d)));
  return dtype === "float32" && r() < 0.25 ? pick(r, HALF) : dtype;
};
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const randShape = (r: Rand, maxRank = 3, maxDim = 4) =>
  Array.from({ length: int(r, 0, maxRank) }, () => int(r, 0, maxDim));
const nonEmptyShape = (r: Rand, minRank = 1, maxRank = 3, maxDim = 4) =>
  Array.from({ length: int(r, minRank, maxRank) }, () => int(r, 1, maxDim));

function values(
  r: Rand,
  n: number,
  dtype: DType,
  domain: "any" | "positive" | "unit" = "any",
): number[] {
  return Array.from({ length: n }, () => {
    switch (dtype) {
      case "bool":
        return r() < 0.5 ? 0 : 1;
      case "int32":
        return int(r, -20, 20);
      case "uint32":
        return int(r, 0, 40);
      default:
        if (domain === "positive") return 0.05 + 4 * r();
        if (domain === "unit") return 1.8 * r() - 0.9;
        return 8 * r() - 4;
    }
  });
}

const input = (
  r: Rand,
  shape: number[],
  dtype: DType,
  domain?: "any" | "positive" | "unit",
): Input => ({
  data: values(r, sizeOf(shape), dtype, domain),
  shape,
  dtype,
});

const POSITIVE = new Set(["log", "log2", "log10", "sqrt", "rsqrt", "acosh"]);
const UNIT = new Set(["asin", "acos", "atanh", "log1p"]);

function unarySampler(name: string): Sampler {
  return (r) => {
    const dtype = pickDType(r, Object.keys(unaryDefs[name].fns) as DType[]);
    const domain = POSITIVE.has(name) ? "positive" : UNIT.has(name) ? "unit" : "any";
    const x = input(r, randShape(r), dtype, domain);
    if (name === "acosh") x.data = x.data.map((v) => v + 1);
    return { inputs: [x], params: {}, dtype };
  };
}

function binarySampler(name: string): Sampler {
  return (r) => {
    const dtype = pickDType(r, Object.keys(binaryDefs[name].fns) as DType[]);
    const shape = randShape(r);
    const a = input(r, shape, dtype, name === "pow" ? "positive" : "any");
    const b = input(r, shape, dtype);
    if (name === "pow" && !isFloat(dtype)) {
      b.data = b.data.map((v) => v % 6);
    }
    return { inputs: [a, b], params: {}, dtype };
  };
}

// all input axes sorted, a random subset
const randAxes = (r: Rand, ndim: number) => [...Array(ndim).keys()].filter(() => r() < 0.5);

/** Samplers by primitive name: every primitive in the registry must have one. */
export const samplers: Record<string, Sampler> = {
  select: (r) => {
    const dtype = pickDType(r, ALL), shape = randShape(r);
    return {
      inputs: [input(r, shape, "bool"), input(r, shape, dtype), input(r, shape, dtype)],
      params: {},
      dtype,
    };
  },
  convert_element_type: (r) => {
    const from = pickDType(r, ALL), to = pickDType(r, ALL);
    const x = input(r, randShape(r), from);
    if (from === "float32" || from === "float64") x.data = x.data.map((v) => v * 3);
    return { inputs: [x], params: { dtype: to, weak: false }, dtype: to };
  },
  reshape: (r) => {
    const dtype = pickDType(r, ALL), shape = randShape(r);
    const n = sizeOf(shape);
    const out = n === 0 ? [0, int(r, 1, 3)] : [n];
    return { inputs: [input(r, shape, dtype)], params: { shape: out }, dtype };
  },
  transpose: (r) => {
    const dtype = pickDType(r, ALL), shape = randShape(r, 4);
    const perm = [...shape.keys()].sort(() => r() - 0.5);
    return { inputs: [input(r, shape, dtype)], params: { perm }, dtype };
  },
  broadcast_in_dim: (r) => {
    const dtype = pickDType(r, ALL), shape = randShape(r, 2);
    const extra = int(r, 0, 2);
    const out = [...Array(extra).keys()].map(() => int(r, 0, 3));
    const dims: number[] = [];
    shape.forEach((d) => {
      dims.push(out.length);
      out.push(d === 1 ? int(r, 0, 3) : d);
    });
    return {
      inputs: [input(r, shape, dtype)],
      params: { shape: out, broadcastDimensions: dims },
      dtype,
    };
  },
  slice: (r) => {
    const dtype = pickDType(r, ALL), shape = randShape(r);
    const start = shape.map((d) => int(r, 0, d));
    const limit = shape.map((d, i) => int(r, start[i], d));
    return {
      inputs: [input(r, shape, dtype)],
      params: { start, limit, strides: shape.map(() => int(r, 1, 3)) },
      dtype,
    };
  },
  rev: (r) => {
    const dtype = pickDType(r, ALL), shape = randShape(r);
    return { inputs: [input(r, shape, dtype)], params: { axes: randAxes(r, shape.length) }, dtype };
  },
  pad: (r) => {
    const dtype = pickDType(r, ALL), shape = randShape(r);
    const lo = shape.map(() => int(r, -1, 2)), hi = shape.map(() => int(r, -1, 2));
    const interior = shape.map(() => int(r, 0, 2));
    // keep the output non-negative
    shape.forEach((d, i) => {
      const size = lo[i] + hi[i] + d + Math.max(0, d - 1) * interior[i];
      if (size < 0) lo[i] = hi[i] = 0;
    });
    return {
      inputs: [input(r, shape, dtype), input(r, [], dtype)],
      params: { lo, hi, interior },
      dtype,
    };
  },
  concatenate: (r) => {
    const dtype = pickDType(r, ALL), shape = nonEmptyShape(r);
    const axis = int(r, 0, shape.length - 1);
    const inputs = Array.from({ length: int(r, 1, 3) }, () => {
      const s = [...shape];
      s[axis] = int(r, 0, 3);
      return input(r, s, dtype);
    });
    return { inputs, params: { axis }, dtype };
  },
  iota: (r) => {
    const dtype = pickDType(r, NUMERIC), shape = nonEmptyShape(r);
    return { inputs: [], params: { shape, dimension: int(r, 0, shape.length - 1), dtype }, dtype };
  },
  argmax: (r) => argSample(r),
  argmin: (r) => argSample(r),
  dot_general: (r) => {
    const dtype = pickDType(r, NUMERIC);
    const [b, m, n, k] = [int(r, 1, 3), int(r, 0, 5), int(r, 0, 5), int(r, 0, 6)];
    // random layouts: lhs (b, m, k) permuted, rhs (b, k, n) permuted
    const lhsPerm = [0, 1, 2].sort(() => r() - 0.5), rhsPerm = [0, 1, 2].sort(() => r() - 0.5);
    const lhsShape = lhsPerm.map((p) => [b, m, k][p]), rhsShape = rhsPerm.map((p) => [b, k, n][p]);
    const batch = r() < 0.5;
    const params = {
      lhsContracting: [lhsPerm.indexOf(2)],
      rhsContracting: [rhsPerm.indexOf(1)],
      lhsBatch: batch ? [lhsPerm.indexOf(0)] : [],
      rhsBatch: batch ? [rhsPerm.indexOf(0)] : [],
    };
    return { inputs: [input(r, lhsShape, dtype), input(r, rhsShape, dtype)], params, dtype };
  },
};

function argSample(r: Rand): Case {
  const dtype = pickDType(r, ALL), shape = nonEmptyShape(r);
  return { inputs: [input(r, shape, dtype)], params: { axis: int(r, 0, shape.length - 1) }, dtype };
}

for (const name of Object.keys(unaryDefs)) samplers[name] = unarySampler(name);
for (const name of Object.keys(binaryDefs)) samplers[name] = binarySampler(name);
for (const name of ["reduce_sum", "reduce_prod", "reduce_max", "reduce_min"]) {
  samplers[name] = (r) => {
    const dtype = pickDType(r, name === "reduce_max" || name === "reduce_min" ? ALL : NUMERIC);
    const shape = randShape(r, 4);
    const x = input(r, shape, dtype);
    if (name === "reduce_prod" && isFloat(dtype)) {
      x.data = x.data.map((v) => v / 3);
    }
    return { inputs: [x], params: { axes: randAxes(r, shape.length) }, dtype };
  };
}
for (const name of ["cumsum", "cumprod", "cummax", "cummin"]) {
  samplers[name] = (r) => {
    const dtype = pickDType(r, NUMERIC), shape = nonEmptyShape(r);
    const x = input(r, shape, dtype);
    if (name === "cumprod" && isFloat(dtype)) {
      x.data = x.data.map((v) => v / 3);
    }
    return {
      inputs: [x],
      params: { axis: int(r, 0, shape.length - 1), reverse: r() < 0.5 },
      dtype,
    };
  };
}

Object.assign(samplers, extraSamplers);

/** A sampled input as a tensor on the named device. */
export function toTensor(inp: Input, deviceName: string): Tensor {
  const storage = storageFromNumbers(inp.dtype, inp.data);
  return fromHostData(storage, inp.shape, inp.dtype, false, getDevice(deviceName));
}

/** How closely two devices must agree on a primitive's `dtype` results. */
export function tolerance(dtype: DType, name: string) {
  if (dtype === "float64") return { rtol: 1e-9, atol: 1e-9 };
  // both devices compute in float32 and round once: results differ by at most one 16-bit ulp
  if (dtype === "float16") return { rtol: 2e-3, atol: 1e-3 };
  if (dtype === "bfloat16") return { rtol: 1.6e-2, atol: 8e-3 };
  if (dtype === "float32") {
    const loose = [
      "dot_general",
      "conv_general_dilated",
      "conv_grad_lhs",
      "conv_grad_rhs",
      "reduce_sum",
      "reduce_prod",
      "cumsum",
      "cumprod",
      "pow",
    ];
    return loose.includes(name) ? { rtol: 2e-4, atol: 2e-4 } : { rtol: 1e-5, atol: 1e-6 };
  }
  return { rtol: 0, atol: 0 };
}
