/**
 * Parsing NumPy indices for `getIndex` / `x.at(...)` (see `indexing.ts`): Python-style slices
 * (`s(...)`, `"1:3"`), index arrays (JS arrays, typed arrays, tensors) and their normalization
 * into range, and the expansion of an index (ellipsis, new axes, concrete boolean masks) into
 * one entry per indexed axis.
 * @module
 */

import { isFloat, type TypedArray } from "../dtype.ts";
import { describe, fmtShape, stridesOf } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { fromHostData } from "../trace.ts";
import { asTensor, astype, flattenNested, type NestedInput } from "./convert.ts";
import { add, clip, less, remainder, where } from "./elementwise.ts";

// ---- slices -------------------------------------------------------------------------------

/** A Python-style slice `start:stop:step`; omitted parts are null. Make one with {@link s}. */
export class Slice {
  /** First index (null: from the start, or from the end for a negative step). */
  readonly start: number | null;
  /** One past the last index (null: to the end, or to the start for a negative step). */
  readonly stop: number | null;
  /** Step (null: 1); must not be 0. */
  readonly step: number | null;

  constructor(start: number | null = null, stop: number | null = null, step: number | null = null) {
    for (const [name, v] of [["start", start], ["stop", stop], ["step", step]] as const) {
      if (v !== null && !Number.isInteger(v)) {
        throw new TypeError(`np.s: slice ${name} must be an integer or null, got ${describe(v)}`);
      }
    }
    if (step === 0) throw new RangeError("np.s: slice step cannot be zero");
    this.start = start;
    this.stop = stop;
    this.step = step;
  }

  /** Python's `slice.indices(n)`: concrete start, element count and step for an axis of size n. */
  indices(n: number): { start: number; count: number; step: number } {
    const step = this.step ?? 1;
    let start: number, stop: number;
    if (step > 0) {
      start = this.start === null ? 0 : clampIdx(this.start, n, 0, n);
      stop = this.stop === null ? n : clampIdx(this.stop, n, 0, n);
    } else {
      start = this.start === null ? n - 1 : clampIdx(this.start, n, -1, n - 1);
      stop = this.stop === null ? -1 : clampIdx(this.stop, n, -1, n - 1);
    }
    const count = step > 0
      ? Math.max(0, Math.ceil((stop - start) / step))
      : Math.max(0, Math.ceil((start - stop) / -step));
    return { start, count, step };
  }

  /** `start:stop:step`, as written in Python. */
  toString(): string {
    const f = (v: number | null) => (v === null ? "" : String(v));
    return `${f(this.start)}:${f(this.stop)}${this.step === null ? "" : ":" + this.step}`;
  }
}

function clampIdx(i: number, n: number, lo: number, hi: number): number {
  const j = i < 0 ? i + n : i;
  return j < lo ? lo : j > hi ? hi : j;
}

/**
 * A slice for indexing, like Python's `start:stop:step` (NumPy's `np.s_`):
 * `x.slice(np.s(1, null, 2))` is `x[1::2]`. Omitted or null parts take their defaults.
 */
export function s(
  start: number | null = null,
  stop: number | null = null,
  step: number | null = null,
): Slice {
  return new Slice(start, stop, step);
}

const SLICE_RE = /^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?$/;

function parseSliceString(text: string, op: string): Slice | "..." {
  if (text.trim() === "...") return "...";
  const m = SLICE_RE.exec(text);
  if (!m) {
    throw new TypeError(
      `${op}: cannot parse index ${JSON.stringify(text)}; expected a slice such as ":", "1:3", ` +
        `"::-1" or an ellipsis "..."`,
    );
  }
  const num = (g: string | undefined) => (g === undefined ? null : Number(g));
  return new Slice(num(m[1]), num(m[2]), num(m[3]));
}

// ---- index arrays ---------------------------------------------------------------------------

/**
 * One item of an index: an integer (negative counts from the end), `null` (a new axis of
 * size 1, NumPy's `np.newaxis`), a {@link Slice} or its string form (`":"`, `"1:3"`,
 * `"::-1"`), an ellipsis `"..."`, or an integer array / int tensor / bool mask (advanced
 * indexing).
 */
export type IndexItem = number | null | string | Slice | Tensor | NestedInput | TypedArray;

// Flattens a nested index list; integers or booleans only, not mixed.
function walkNested(
  data: NestedInput,
  op: string,
): { values: number[]; shape: number[]; kind: "int" | "bool" } {
  const { values, shape, numbers, booleans } = flattenNested(data, op);
  for (const v of numbers > 0 ? values : []) {
    if (!Number.isInteger(v)) {
      throw new TypeError(
        `${op}: indices must be integers (or booleans), got ${v}; float indices are not allowed`,
      );
    }
  }
  if (numbers > 0 && booleans > 0) {
    throw new TypeError(`${op}: an index array mixes integers and booleans`);
  }
  return { values, shape, kind: booleans > 0 ? "bool" : "int" };
}

/**
 * Converts an index array (JS array, TypedArray, tensor) to an int32 or bool tensor; floats
 * are rejected with a TypeError naming `op`.
 */
export function indexArray(
  v: Tensor | NestedInput | TypedArray,
  op: string,
  allowBool: boolean,
): Tensor {
  let t: Tensor;
  if (v instanceof Tensor) t = v;
  else if (ArrayBuffer.isView(v)) {
    if (v instanceof Float32Array || v instanceof Float64Array) {
      throw new TypeError(`${op}: indices must be integers, got a ${v.constructor.name}`);
    }
    t = asTensor(v as TypedArray);
  } else if (Array.isArray(v)) {
    const { values, shape, kind } = walkNested(v as NestedInput, op);
    const data = kind === "bool" ? Uint8Array.from(values) : Int32Array.from(values);
    t = fromHostData(data, shape, kind === "bool" ? "bool" : "int32");
  } else throw new TypeError(`${op}: invalid index ${describe(v)}`);
  if (isFloat(t.dtype)) {
    throw new TypeError(
      `${op}: indices must be integers, got a ${t.dtype}${fmtShape(t.shape)} tensor; ` +
        `cast it with astype(x, "int32")`,
    );
  }
  if (t.dtype === "bool") {
    if (!allowBool) throw new TypeError(`${op}: indices must be integers, got a bool tensor`);
    return t;
  }
  return t.dtype === "int32" ? t : astype(t, "int32");
}

/** How indices outside `[-n, n)` are treated. */
export type IndexMode = "raise" | "wrap" | "clip";

/**
 * Maps int32 indices into `[0, n)`. Concrete ones are checked ("raise": out of range throws a
 * RangeError naming `op`, the index, the axis and its size; negative ones wrap); traced ones
 * (whose values are unknown) wrap negatives and are clamped.
 */
export function normalizeIndexTensor(
  idx: Tensor,
  n: number,
  axis: number,
  op: string,
  mode: IndexMode = "raise",
): Tensor {
  if (mode === "wrap") {
    if (n === 0 && idx.size > 0) {
      throw new RangeError(`${op}: cannot wrap indices into axis ${axis} of size 0`);
    }
    return idx.size === 0 ? idx : remainder(idx, n);
  }
  if (mode === "clip") return n > 0 ? clip(idx, 0, n - 1) : idx;
  if (!idx.isConcrete) {
    if (n === 0) return idx;
    return clip(where(less(idx, 0), add(idx, n), idx), 0, n - 1);
  }
  const data = idx.dataSync();
  let negative = false;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < -n || v >= n) {
      throw new RangeError(`${op}: index ${v} is out of bounds for axis ${axis} with size ${n}`);
    }
    if (v < 0) negative = true;
  }
  if (!negative) return idx;
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] < 0 ? data[i] + n : data[i];
  return fromHostData(out, idx.shape, "int32");
}

// ---- parsing an index ------------------------------------------------------------------------

export type Parsed =
  | { kind: "int"; value: number }
  | { kind: "slice"; slice: Slice }
  | { kind: "newaxis" }
  | { kind: "ellipsis" }
  | { kind: "array"; t: Tensor };

export const FULL = new Slice();

function parseItem(item: IndexItem, op: string): Parsed {
  if (item === null) return { kind: "newaxis" };
  if (typeof item === "number") {
    if (!Number.isInteger(item)) {
      throw new TypeError(
        `${op}: only integers, slices, null (new axis), "..." and integer or boolean arrays are ` +
          `valid indices, got ${item}`,
      );
    }
    return { kind: "int", value: item };
  }
  if (typeof item === "string") {
    const p = parseSliceString(item, op);
    return p === "..." ? { kind: "ellipsis" } : { kind: "slice", slice: p };
  }
  if (item instanceof Slice) return { kind: "slice", slice: item };
  if (item instanceof Tensor || ArrayBuffer.isView(item) || Array.isArray(item)) {
    return { kind: "array", t: indexArray(item as Tensor, op, true) };
  }
  throw new TypeError(
    `${op}: only integers, slices, null (new axis), "..." and integer or boolean arrays are ` +
      `valid indices, got ${describe(item)}`,
  );
}

/** Parses the index, expands the ellipsis and concrete bool masks; one entry per used axis. */
export function expandIndex(x: Tensor, index: readonly IndexItem[], op: string): Parsed[] {
  const parsed = index.map((item) => parseItem(item, op));
  let consumed = 0, ellipses = 0;
  for (const p of parsed) {
    if (p.kind === "ellipsis") ellipses++;
    else if (p.kind === "array" && p.t.dtype === "bool") consumed += p.t.ndim;
    else if (p.kind !== "newaxis") consumed++;
  }
  if (ellipses > 1) throw new RangeError(`${op}: an index can only have a single ellipsis ("...")`);
  if (consumed > x.ndim) {
    throw new RangeError(
      `${op}: too many indices for array: array of shape ${
        fmtShape(x.shape)
      } is ${x.ndim}-dimensional, ` +
        `but ${consumed} were indexed`,
    );
  }
  const out: Parsed[] = [];
  let dim = 0;
  const fill = () => {
    for (let i = 0; i < x.ndim - consumed; i++) out.push({ kind: "slice", slice: FULL });
  };
  for (const p of parsed) {
    if (p.kind === "ellipsis") {
      fill();
      dim += x.ndim - consumed;
    } else if (p.kind === "array" && p.t.dtype === "bool") {
      for (const t of maskToIndices(p.t, x.shape.slice(dim, dim + p.t.ndim), dim, op)) {
        out.push({ kind: "array", t });
      }
      dim += p.t.ndim;
    } else {
      out.push(p);
      if (p.kind !== "newaxis") dim++;
    }
  }
  if (ellipses === 0) fill();
  return out;
}

/** The integer index arrays of a concrete boolean mask (NumPy's `nonzero`). */
function maskToIndices(mask: Tensor, dims: number[], firstDim: number, op: string): Tensor[] {
  if (!mask.isConcrete) {
    throw new TypeError(
      `${op}: a boolean mask index must be concrete (the result's shape depends on its values); ` +
        `inside a transform use np.where instead`,
    );
  }
  if (mask.ndim === 0) {
    throw new TypeError(`${op}: a 0-d boolean index is not supported`);
  }
  for (let k = 0; k < mask.ndim; k++) {
    if (mask.shape[k] !== dims[k]) {
      throw new RangeError(
        `${op}: boolean index did not match indexed array along axis ${firstDim + k}; ` +
          `axis is ${dims[k]} but corresponding boolean axis is ${mask.shape[k]}`,
      );
    }
  }
  const data = mask.dataSync();
  const strides = stridesOf(mask.shape);
  const hits: number[] = [];
  for (let i = 0; i < data.length; i++) if (data[i]) hits.push(i);
  return mask.shape.map((_, k) => {
    const out = new Int32Array(hits.length);
    for (let j = 0; j < hits.length; j++) out[j] = Math.floor(hits[j] / strides[k]) % mask.shape[k];
    return fromHostData(out, [hits.length], "int32");
  });
}

export function checkInt(i: number, n: number, axis: number, op: string): number {
  if (i < -n || i >= n) {
    throw new RangeError(`${op}: index ${i} is out of bounds for axis ${axis} with size ${n}`);
  }
  return i < 0 ? i + n : i;
}
