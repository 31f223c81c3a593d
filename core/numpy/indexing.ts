/**
 * NumPy indexing: `np.take`, `np.takeAlongAxis`, basic and advanced indexing
 * (`getIndex(x, ...index)`, installed as `x.slice(...)`), and JAX's functional updates
 * (`x.at(...index).set(v)`, `.add(v)`, …). Basic indexing binds `slice`, `rev` and `reshape`;
 * advanced indexing is a `take` on a reshaped view with flat indices; updates scatter into the
 * flattened tensor at the flat positions that the same index selects.
 *
 * Concrete indices are validated (an out-of-range index throws, naming the axis and its size)
 * and negative ones wrap; traced indices wrap and are then clamped into range.
 * @module
 */

import { type DType, isFloat, type TypedArray } from "../dtype.ts";
import * as IP from "../prims/indexing.ts";
import {
  iota,
  reshape as reshapePrim,
  rev,
  slice as slicePrim,
  transpose,
} from "../prims/structure.ts";
import {
  broadcastShapes,
  describe,
  fmtShape,
  normalizeAxis,
  shapeEqual,
  sizeOf,
  stridesOf,
} from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { bind1, fromHostData } from "../trace.ts";
import {
  type ArrayLike,
  asTensor,
  astype,
  broadcastTo,
  flattenNested,
  type NestedInput,
} from "./convert.ts";
import {
  add,
  clip,
  divide,
  less,
  maximum,
  minimum,
  multiply,
  negative,
  power,
  remainder,
  where,
} from "./elementwise.ts";

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
function indexArray(v: Tensor | NestedInput | TypedArray, op: string, allowBool: boolean): Tensor {
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
function normalizeIndexTensor(
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

// ---- small helpers on prims -----------------------------------------------------------------

function reshapeTo(x: Tensor, shape: readonly number[]): Tensor {
  if (shapeEqual(x.shape, shape)) return x;
  return bind1(reshapePrim, [x], { shape: [...shape] });
}

function iotaInt(shape: readonly number[], dimension: number): Tensor {
  return bind1(iota, [], { shape: [...shape], dimension, dtype: "int32" as DType });
}

function takePrim(x: Tensor, idx: Tensor, axis: number): Tensor {
  return bind1(IP.take, [x, idx], { axis });
}

// ---- np.take / np.takeAlongAxis ---------------------------------------------------------------

/** Options of {@link take}. */
export interface TakeOptions {
  /**
   * Out-of-range indices: "raise" (default; concrete indices throw, traced ones are clamped),
   * "wrap" (modulo the axis size) or "clip" (clamped; negative indices clamp to 0).
   */
  mode?: IndexMode;
}

/**
 * Elements of `x` at `indices` along `axis` (NumPy's `take`): the result has shape
 * `x.shape[:axis] + indices.shape + x.shape[axis+1:]`. With `axis` undefined or null, `x` is
 * flattened first. Negative indices count from the end; indices must be integers.
 */
export function take(
  x: ArrayLike,
  indices: number | Tensor | NestedInput | TypedArray,
  axis?: number | null,
  options: TakeOptions = {},
): Tensor {
  const op = "np.take";
  let t = asTensor(x);
  let a: number;
  if (axis === undefined || axis === null) {
    t = reshapeTo(t, [t.size]);
    a = 0;
  } else a = normalizeAxis(axis, t.ndim, op);
  const idx = typeof indices === "number"
    ? scalarIndex(indices, op)
    : indexArray(indices, op, false);
  const norm = normalizeIndexTensor(idx, t.shape[a], a, op, options.mode ?? "raise");
  return takePrim(t, norm, a);
}

function scalarIndex(i: number, op: string): Tensor {
  if (!Number.isInteger(i)) throw new TypeError(`${op}: indices must be integers, got ${i}`);
  return fromHostData(Int32Array.of(i), [], "int32");
}

/**
 * NumPy's `takeAlongAxis`: picks, along `axis`, the elements at `indices`, which has the
 * same number of dimensions as `x`; the other axes broadcast against each other. With `axis`
 * null, both are flattened (indices must be 1-d). Built as a `take` with flat indices from
 * iota arithmetic, so it stays traceable.
 */
export function takeAlongAxis(
  x: ArrayLike,
  indices: Tensor | NestedInput | TypedArray,
  axis: number | null,
): Tensor {
  const op = "np.takeAlongAxis";
  let t = asTensor(x);
  let idx = indexArray(indices, op, false);
  if (axis === null) {
    if (idx.ndim !== 1) {
      throw new RangeError(
        `${op}: with axis null, indices must be 1-d, got shape ${fmtShape(idx.shape)}`,
      );
    }
    t = reshapeTo(t, [t.size]);
    return takePrim(t, normalizeIndexTensor(idx, t.size, 0, op), 0);
  }
  const a = normalizeAxis(axis, t.ndim, op);
  if (idx.ndim !== t.ndim) {
    throw new RangeError(
      `${op}: indices and the array must have the same number of dimensions, got ${
        fmtShape(idx.shape)
      } and ${fmtShape(t.shape)}`,
    );
  }
  const xShape: number[] = [], iShape: number[] = [];
  for (let k = 0; k < t.ndim; k++) {
    if (k === a) {
      xShape.push(t.shape[k]);
      iShape.push(idx.shape[k]);
      continue;
    }
    const dx = t.shape[k], di = idx.shape[k];
    if (dx !== di && dx !== 1 && di !== 1) {
      throw new RangeError(
        `${op}: shapes ${fmtShape(t.shape)} and indices ${
          fmtShape(idx.shape)
        } cannot be broadcast together outside axis ${a}`,
      );
    }
    const d = dx === 1 ? di : dx;
    xShape.push(d);
    iShape.push(d);
  }
  t = broadcastTo(t, xShape, op);
  idx = broadcastTo(idx, iShape, op);
  let flat = normalizeIndexTensor(idx, t.shape[a], a, op);
  const strides = stridesOf(xShape);
  if (strides[a] !== 1) flat = multiply(flat, strides[a]);
  for (let k = 0; k < t.ndim; k++) {
    if (k === a || iShape[k] === 1) continue;
    const i = iotaInt(iShape, k);
    flat = add(flat, strides[k] === 1 ? i : multiply(i, strides[k]));
  }
  return takePrim(reshapeTo(t, [t.size]), flat, 0);
}

// ---- getIndex: basic and advanced indexing ------------------------------------------------

type Parsed =
  | { kind: "int"; value: number }
  | { kind: "slice"; slice: Slice }
  | { kind: "newaxis" }
  | { kind: "ellipsis" }
  | { kind: "array"; t: Tensor };

const FULL = new Slice();

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
function expandIndex(x: Tensor, index: readonly IndexItem[], op: string): Parsed[] {
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

function checkInt(i: number, n: number, axis: number, op: string): number {
  if (i < -n || i >= n) {
    throw new RangeError(`${op}: index ${i} is out of bounds for axis ${axis} with size ${n}`);
  }
  return i < 0 ? i + n : i;
}

/**
 * NumPy indexing, `x[...index]`: integers (negative wrap; out of range throws), `null` (new
 * axis), slices ({@link s} or strings like `":"`, `"1:3"`, `"::-1"`), an ellipsis `"..."`,
 * and advanced indices: integer arrays (JS arrays or int tensors, broadcast together) and
 * concrete bool masks. With advanced indices, integers count as advanced too; the advanced
 * result axes replace the indexed ones when the advanced indices are adjacent, and go first
 * when a slice, ellipsis or new axis separates them (NumPy's rule).
 */
export function getIndex(x: ArrayLike, ...index: IndexItem[]): Tensor {
  return indexImpl(asTensor(x), index, "getIndex");
}

function indexImpl(x: Tensor, index: readonly IndexItem[], op: string): Tensor {
  const items = expandIndex(x, index, op);
  const advanced = items.some((p) => p.kind === "array");
  const nd = x.ndim;
  const start = new Array<number>(nd).fill(0), limit = [...x.shape];
  const strides = new Array<number>(nd).fill(1);
  const revAxes: number[] = [];
  const counts: number[] = []; // per item (slice: its length)
  const adv: { dim: number; item: number; t: Tensor }[] = [];
  let dim = 0;
  items.forEach((p, k) => {
    if (p.kind === "newaxis") return;
    const n = x.shape[dim];
    if (p.kind === "slice") {
      const { start: s0, count, step } = p.slice.indices(n);
      counts[k] = count;
      if (count === 0) {
        start[dim] = 0;
        limit[dim] = 0;
      } else if (step > 0) {
        start[dim] = s0;
        limit[dim] = s0 + (count - 1) * step + 1;
        strides[dim] = step;
      } else {
        start[dim] = s0 + (count - 1) * step;
        limit[dim] = s0 + 1;
        strides[dim] = -step;
        if (count > 1) revAxes.push(dim);
      }
    } else if (p.kind === "int" && !advanced) {
      const i = checkInt(p.value, n, dim, op);
      start[dim] = i;
      limit[dim] = i + 1;
    } else {
      const t = p.kind === "int" ? scalarIndex(p.value, op) : (p as { t: Tensor }).t;
      adv.push({ dim, item: k, t: normalizeIndexTensor(t, n, dim, op) });
    }
    dim++;
  });
  let y = x;
  const identity = start.every((v, i) => v === 0 && limit[i] === x.shape[i] && strides[i] === 1);
  if (!identity) y = bind1(slicePrim, [y], { start, limit, strides });
  if (revAxes.length > 0) y = bind1(rev, [y], { axes: revAxes });

  if (!advanced) {
    const shape: number[] = [];
    items.forEach((p, k) => {
      if (p.kind === "newaxis") shape.push(1);
      else if (p.kind === "slice") shape.push(counts[k]);
    });
    return reshapeTo(y, shape);
  }

  // advanced: broadcast the index arrays, combine them into flat indices over their axes
  const B = broadcastShapes(op, ...adv.map((a) => a.t.shape));
  const advSizes = adv.map((a) => y.shape[a.dim]);
  let flat: Tensor | null = null;
  let stride = 1;
  for (let k = adv.length - 1; k >= 0; k--) {
    let term = broadcastTo(adv[k].t, B, op);
    if (stride !== 1) term = multiply(term, stride);
    flat = flat === null ? term : add(term, flat);
    stride *= advSizes[k];
  }
  const merged = sizeOf(advSizes);
  const contiguous = adv.every((a, i) => i === 0 || a.item === adv[i - 1].item + 1);
  let taken: Tensor;
  if (contiguous) {
    const d0 = adv[0].dim;
    const shape = [...y.shape.slice(0, d0), merged, ...y.shape.slice(d0 + adv.length)];
    taken = takePrim(reshapeTo(y, shape), flat!, d0);
  } else {
    const advDims = adv.map((a) => a.dim);
    const rest = y.shape.map((_, i) => i).filter((i) => !advDims.includes(i));
    const perm = [...advDims, ...rest];
    const moved = bind1(transpose, [y], { perm });
    taken = takePrim(reshapeTo(moved, [merged, ...rest.map((i) => y.shape[i])]), flat!, 0);
  }
  const shape: number[] = contiguous ? [] : [...B];
  items.forEach((p, k) => {
    if (p.kind === "newaxis") shape.push(1);
    else if (p.kind === "slice") shape.push(counts[k]);
    else if (contiguous && k === adv[0].item) shape.push(...B);
  });
  return reshapeTo(taken, shape);
}

// ---- functional updates: x.at(index).set(v) ---------------------------------------------------

/**
 * JAX's functional updates, from `x.at(...index)`: each method returns a new tensor equal to
 * `x` except at the indexed positions. The value is broadcast to the indexed shape and cast
 * to `x`'s dtype.
 */
export class AtIndexer {
  readonly #x: Tensor;
  readonly #index: IndexItem[];

  /** @internal Use `x.at(...index)`. */
  constructor(x: Tensor, index: IndexItem[]) {
    this.#x = x;
    this.#index = index;
  }

  /** `x[index]`, as {@link getIndex}. */
  get(): Tensor {
    return indexImpl(this.#x, this.#index, "at.get");
  }

  /** `x` with `x[index] = v`; with repeated indices the last write wins. */
  set(v: ArrayLike): Tensor {
    return this.#scatter(IP.scatter, v, "at.set");
  }

  /** `x` with `x[index] += v`; repeated indices accumulate (unlike NumPy's `x[i] += v`). */
  add(v: ArrayLike): Tensor {
    return this.#scatter(IP.scatterAdd, v, "at.add");
  }

  /** `x` with `x[index] -= v`; repeated indices accumulate. */
  subtract(v: ArrayLike): Tensor {
    return this.#scatter(IP.scatterAdd, negative(this.#cast(v)), "at.subtract");
  }

  /** `x` with `x[index] *= v` (repeated indices: the last one wins). */
  multiply(v: ArrayLike): Tensor {
    return this.#apply((old) => multiply(old, v), "at.multiply");
  }

  /** `x` with `x[index] /= v` (cast back to `x`'s dtype; repeated indices: the last wins). */
  divide(v: ArrayLike): Tensor {
    return this.#apply((old) => divide(old, v), "at.divide");
  }

  /** `x` with `x[index] **= v` (repeated indices: the last one wins). */
  power(v: ArrayLike): Tensor {
    return this.#apply((old) => power(old, v), "at.power");
  }

  /** `x` with `x[index] = minimum(x[index], v)` (repeated indices: the last one wins). */
  min(v: ArrayLike): Tensor {
    return this.#apply((old) => minimum(old, v), "at.min");
  }

  /** `x` with `x[index] = maximum(x[index], v)` (repeated indices: the last one wins). */
  max(v: ArrayLike): Tensor {
    return this.#apply((old) => maximum(old, v), "at.max");
  }

  #cast(v: ArrayLike): Tensor {
    const t = v instanceof Tensor ? v : asTensor(v, this.#x.dtype);
    return astype(t, this.#x.dtype);
  }

  #apply(f: (old: Tensor) => Tensor, op: string): Tensor {
    return this.#scatter(IP.scatter, f(indexImpl(this.#x, this.#index, op)), op);
  }

  #scatter(prim: typeof IP.scatter, v: ArrayLike, op: string): Tensor {
    const x = this.#x;
    // the flat positions that the index selects: the same index applied to an iota
    const positions = indexImpl(reshapeTo(iotaInt([x.size], 0), x.shape), this.#index, op);
    const m = positions.size;
    let u = this.#cast(v);
    // NumPy lets the value carry extra leading axes of size 1
    let lead = 0;
    while (u.ndim - lead > positions.ndim && u.shape[lead] === 1) lead++;
    if (lead > 0) u = reshapeTo(u, u.shape.slice(lead));
    u = broadcastTo(u, positions.shape, op); // checks the value's shape even when m is 0
    if (m === 0) return x;
    const out = bind1(
      prim,
      [reshapeTo(x, [x.size]), reshapeTo(positions, [m]), reshapeTo(u, [m])],
      {
        axis: 0,
      },
    );
    return reshapeTo(out, x.shape);
  }
}

/** `x.at(...index)`: the functional-update helper (see {@link AtIndexer}). */
export function at(x: ArrayLike, ...index: IndexItem[]): AtIndexer {
  return new AtIndexer(asTensor(x), index);
}

// ---- Tensor methods -------------------------------------------------------------------------

declare module "../tensor.ts" {
  interface Tensor {
    /** NumPy indexing `x[...index]` (see {@link getIndex}). */
    slice(...index: IndexItem[]): Tensor;
    /** Functional updates: `x.at(0, ":").set(1)` (see {@link AtIndexer}). */
    at(...index: IndexItem[]): AtIndexer;
    /** `np.take(x, indices, axis)`. */
    take(
      indices: number | Tensor | NestedInput | TypedArray,
      axis?: number | null,
      options?: TakeOptions,
    ): Tensor;
  }
}

Tensor.prototype.slice = function (this: Tensor, ...index: IndexItem[]): Tensor {
  return indexImpl(this, index, "Tensor.slice");
};
Tensor.prototype.at = function (this: Tensor, ...index: IndexItem[]): AtIndexer {
  return new AtIndexer(this, index);
};
Tensor.prototype.take = function (
  this: Tensor,
  indices: number | Tensor | NestedInput | TypedArray,
  axis?: number | null,
  options?: TakeOptions,
): Tensor {
  return take(this, indices, axis, options);
};

/** NumPy's `np.newaxis`: `null`, for readability in `x.slice(newaxis, ":")`. */
export const newaxis = null;
