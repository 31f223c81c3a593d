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

import { type DType, type TypedArray } from "../dtype.ts";
import * as IP from "../prims/indexing.ts";
import * as SC from "../prims/scatter_combine.ts";
import {
  iota,
  reshape as reshapePrim,
  rev,
  slice as slicePrim,
  transpose,
} from "../prims/structure.ts";
import {
  broadcastShapes,
  fmtShape,
  normalizeAxis,
  shapeEqual,
  sizeOf,
  stridesOf,
} from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { bind1, fromHostData } from "../trace.ts";
import { type ArrayLike, asTensor, astype, broadcastTo, type NestedInput } from "./convert.ts";
import {
  checkInt,
  expandIndex,
  indexArray,
  type IndexItem,
  type IndexMode,
  normalizeIndexTensor,
  s,
  Slice,
} from "./index_parse.ts";
import { onesLike } from "./creation.ts";
import { add, divide, multiply, negative, power } from "./elementwise.ts";

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

  /** `x` with `x[index] *= v`; repeated indices multiply every update in (JAX's scatter_mul). */
  multiply(v: ArrayLike): Tensor {
    return this.#scatter(SC.scatterMul, v, "at.multiply");
  }

  /**
   * `x / p` where p is 1 except at the indexed positions, the product of their updates (as
   * JAX: `x.at[i].divide(v)` is true division, so integer `x` gives a float result).
   */
  divide(v: ArrayLike): Tensor {
    return divide(this.#x, this.#productOfUpdates(v, "at.divide"));
  }

  /** `x ** p` where p is 1 except at the indexed positions, the product of their updates. */
  power(v: ArrayLike): Tensor {
    return power(this.#x, this.#productOfUpdates(v, "at.power"));
  }

  /** `x` with `x[index] = minimum(x[index], v)`; repeated indices take every update in. */
  min(v: ArrayLike): Tensor {
    return this.#scatter(SC.scatterMin, v, "at.min");
  }

  /** `x` with `x[index] = maximum(x[index], v)`; repeated indices take every update in. */
  max(v: ArrayLike): Tensor {
    return this.#scatter(SC.scatterMax, v, "at.max");
  }

  #productOfUpdates(v: ArrayLike, op: string): Tensor {
    return new AtIndexer(onesLike(this.#x), this.#index).#scatter(SC.scatterMul, v, op);
  }

  #cast(v: ArrayLike): Tensor {
    const t = v instanceof Tensor ? v : asTensor(v, this.#x.dtype);
    return astype(t, this.#x.dtype);
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

export { type IndexItem, type IndexMode, s, Slice };
