/**
 * Conformance samplers for the convolution, window, indexing and sorting primitives (the
 * elementwise, structural and reduction ones live in conformance_test.ts).
 */

import type { DType } from "../core/dtype.ts";
import { sizeOf } from "../core/shape.ts";

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

type Rand = () => number;
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

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

const ALL: DType[] = ["float32", "float64", "int32", "uint32", "bool"];
const NUMERIC: DType[] = ["float32", "float64", "int32", "uint32"];
const rShape = (r: Rand) => Array.from({ length: int(r, 1, 3) }, () => int(r, 0, 4));
function indexInput(r: Rand, shape: number[], len: number): SampledInput {
  const data = Array.from({ length: sizeOf(shape) }, () => int(r, 0, len - 1)); // duplicates likely
  return { data, shape, dtype: "int32" };
}
function gatherCase(r: Rand, kind: "take" | "scatter" | "scatter_add"): SampledCase {
  const dtype = pick(r, kind === "scatter_add" ? NUMERIC : ALL);
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
  const dtype = pick(r, ALL);
  const shape = rShape(r);
  const sizes = shape.map((d) => int(r, 0, d));
  const starts = shape.map(() => ({ data: [int(r, -5, 5)], shape: [], dtype: "int32" as DType }));
  const x = randomInput(r, shape, dtype);
  return update
    ? { inputs: [x, randomInput(r, sizes, dtype), ...starts], params: {}, dtype }
    : { inputs: [x, ...starts], params: { sizes }, dtype };
}
function sortCase(r: Rand): SampledCase {
  const dtype = pick(r, ALL);
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
  const extra = Array.from({ length: int(r, 0, 2) }, () => randomInput(r, shape, pick(r, ALL)));
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
  dynamic_slice: (r) => dynamicSliceCase(r, false),
  dynamic_update_slice: (r) => dynamicSliceCase(r, true),
  sort: sortCase,
};

/** Samplers by primitive name. */
export const extraSamplers: Record<string, (r: Rand) => SampledCase> = {
  conv_general_dilated: convCase,
  reduce_window_max: windowCase,
  reduce_window_sum: windowCase,
  ...indexingSamplers,
};
