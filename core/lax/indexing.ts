/**
 * `lax` indexing: dynamic slices (start indices may be traced values, clamped so the slice
 * fits, as XLA), sorting several operands together, and single-axis gather/scatter (a
 * simplified form of XLA's gather/scatter: one indexed axis).
 * @module
 */

import { isInteger } from "../dtype.ts";
import type { Primitive } from "../primitive.ts";
import * as IP from "../prims/indexing.ts";
import { sort as sortPrim } from "../prims/sort.ts";
import { pad as padPrim, reshape as reshapePrim, slice as slicePrim } from "../prims/structure.ts";
import { describe, fmtShape, normalizeAxis } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { bind, bind1, scalarTensor } from "../trace.ts";
import { type ArrayLike, asTensor, astype } from "../numpy/convert.ts";
import { add, clip, greaterEqual, less, logicalOr, where } from "../numpy/elementwise.ts";

/** A start index: a JS integer or an integer scalar tensor (possibly traced). */
export type StartIndex = number | Tensor;

function reshapeTo(x: Tensor, shape: number[]): Tensor {
  if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  return bind1(reshapePrim, [x], { shape });
}

/**
 * Converts one start index to an int32 scalar tensor. A negative start counts from the end
 * of its axis (`dim`) before the clamping, as JAX's `lax.dynamic_slice`.
 */
function startScalar(op: string, v: StartIndex, dim: number): Tensor {
  if (typeof v === "number") {
    if (!Number.isInteger(v)) {
      throw new TypeError(`${op}: start indices must be integers, got ${v}`);
    }
    return scalarTensor(v < 0 ? v + dim : v, "int32", false);
  }
  if (!(v instanceof Tensor)) {
    throw new TypeError(`${op}: start indices must be integers or tensors, got ${describe(v)}`);
  }
  if (!isInteger(v.dtype)) {
    throw new TypeError(`${op}: start indices must be integers, got a ${v.dtype} tensor`);
  }
  if (v.size !== 1 || v.ndim > 1) {
    throw new RangeError(
      `${op}: each start index must be a scalar, got shape ${fmtShape(v.shape)}`,
    );
  }
  const i = astype(reshapeTo(v, []), "int32");
  return v.dtype === "uint32" ? i : where(less(i, 0), add(i, dim), i);
}

/** Start indices as int32 scalars: from a list, or from the entries of a 1-d tensor. */
function startScalars(
  op: string,
  starts: readonly StartIndex[] | Tensor,
  shape: readonly number[],
): Tensor[] {
  const ndim = shape.length;
  let list: StartIndex[];
  if (starts instanceof Tensor) {
    if (starts.ndim !== 1) {
      throw new RangeError(
        `${op}: start indices must be a 1-d tensor, got shape ${fmtShape(starts.shape)}`,
      );
    }
    list = [];
    for (let i = 0; i < starts.shape[0]; i++) {
      list.push(bind1(slicePrim, [starts], { start: [i], limit: [i + 1], strides: [1] }));
    }
  } else if (Array.isArray(starts)) list = [...starts];
  else throw new TypeError(`${op}: start indices must be a list, got ${describe(starts)}`);
  if (list.length !== ndim) {
    throw new RangeError(
      `${op}: needs ${ndim} start indices for an array of dimension ${ndim}, got ${list.length}`,
    );
  }
  return list.map((s, k) => startScalar(op, s, shape[k]));
}

/**
 * `operand[start_0 : start_0 + size_0, …]` with static `sliceSizes` and start indices that may
 * be traced; each start is clamped into `[0, dim - size]` so the slice always fits (XLA).
 */
export function dynamicSlice(
  operand: ArrayLike,
  startIndices: readonly StartIndex[] | Tensor,
  sliceSizes: readonly number[],
): Tensor {
  const op = "lax.dynamicSlice";
  const x = asTensor(operand);
  const starts = startScalars(op, startIndices, x.shape);
  if (!Array.isArray(sliceSizes)) {
    throw new TypeError(
      `${op}: sliceSizes must be a list of integers, got ${describe(sliceSizes)}`,
    );
  }
  return bind1(IP.dynamicSlice, [x, ...starts], { sizes: [...sliceSizes] });
}

/** {@link dynamicSlice} along one axis: `size` elements from `start` on `axis`, all of the rest. */
export function dynamicSliceInDim(
  operand: ArrayLike,
  startIndex: StartIndex,
  sliceSize: number,
  axis = 0,
): Tensor {
  const x = asTensor(operand);
  const a = normalizeAxis(axis, x.ndim, "lax.dynamicSliceInDim");
  const starts: StartIndex[] = x.shape.map((_, i) => (i === a ? startIndex : 0));
  const sizes = x.shape.map((d, i) => (i === a ? sliceSize : d));
  return dynamicSlice(x, starts, sizes);
}

/** Element `index` along `axis` (clamped); `keepdims` keeps the axis with size 1. */
export function dynamicIndexInDim(
  operand: ArrayLike,
  index: StartIndex,
  axis = 0,
  keepdims = true,
): Tensor {
  const x = asTensor(operand);
  const a = normalizeAxis(axis, x.ndim, "lax.dynamicIndexInDim");
  const y = dynamicSliceInDim(x, index, 1, a);
  return keepdims ? y : reshapeTo(y, x.shape.filter((_, i) => i !== a));
}

/**
 * A copy of `operand` with `update` written at the start indices (traced starts allowed),
 * clamped so that the update fits. `update` must have the operand's dtype (JS numbers and
 * arrays are converted to it).
 */
export function dynamicUpdateSlice(
  operand: ArrayLike,
  update: ArrayLike,
  startIndices: readonly StartIndex[] | Tensor,
): Tensor {
  const op = "lax.dynamicUpdateSlice";
  const x = asTensor(operand);
  const u = update instanceof Tensor ? update : asTensor(update, x.dtype);
  const starts = startScalars(op, startIndices, x.shape);
  return bind1(IP.dynamicUpdateSlice, [x, u, ...starts], {} as IP.NoIndexParams);
}

/** {@link dynamicUpdateSlice} along one axis (the other starts are 0). */
export function dynamicUpdateSliceInDim(
  operand: ArrayLike,
  update: ArrayLike,
  startIndex: StartIndex,
  axis = 0,
): Tensor {
  const x = asTensor(operand);
  const a = normalizeAxis(axis, x.ndim, "lax.dynamicUpdateSliceInDim");
  return dynamicUpdateSlice(x, update, x.shape.map((_, i) => (i === a ? startIndex : 0)));
}

/**
 * Writes `update` at `index` along `axis`; an update lacking that axis (one dimension fewer
 * than the operand) gets it inserted with size 1.
 */
export function dynamicUpdateIndexInDim(
  operand: ArrayLike,
  update: ArrayLike,
  index: StartIndex,
  axis = 0,
): Tensor {
  const x = asTensor(operand);
  const a = normalizeAxis(axis, x.ndim, "lax.dynamicUpdateIndexInDim");
  let u = update instanceof Tensor ? update : asTensor(update, x.dtype);
  if (u.ndim === x.ndim - 1) {
    const shape = [...u.shape];
    shape.splice(a, 0, 1);
    u = reshapeTo(u, shape);
  }
  return dynamicUpdateSliceInDim(x, u, index, a);
}

/** Options of {@link sort}. */
export interface SortOptions {
  /** The axis to sort along (default -1, the last). */
  dimension?: number;
  /** Kept for JAX compatibility: Kiln's sort is always stable. */
  isStable?: boolean;
  /** How many leading operands are keys, compared lexicographically (default 1). */
  numKeys?: number;
}

/**
 * Sorts along `dimension`, ascending, stable, NaN last. Given several operands of one shape,
 * sorts them together by the first `numKeys` (the rest follow) and returns them all.
 */
export function sort(operand: ArrayLike, options?: SortOptions): Tensor;
/** Sorts several operands together by the first `numKeys` of them. */
export function sort(operand: readonly ArrayLike[], options?: SortOptions): Tensor[];
export function sort(
  operand: ArrayLike | readonly ArrayLike[],
  options: SortOptions = {},
): Tensor | Tensor[] {
  const op = "lax.sort";
  const single = operand instanceof Tensor || !Array.isArray(operand) ||
    !(operand as unknown[]).every((o) => o instanceof Tensor);
  const xs = single ? [asTensor(operand as ArrayLike)] : (operand as Tensor[]);
  if (xs.length === 0) throw new RangeError(`${op}: needs at least one operand`);
  const axis = normalizeAxis(options.dimension ?? -1, xs[0].ndim, op);
  const numKeys = options.numKeys ?? 1;
  const outs = bind(sortPrim as unknown as Primitive, xs, { axis, numKeys });
  return single ? outs[0] : outs;
}

/** Sorts `keys` along `dimension` and permutes `values` (same shape) the same way. */
export function sortKeyVal(keys: ArrayLike, values: ArrayLike, dimension = -1): [Tensor, Tensor] {
  const [k, v] = sort([asTensor(keys), asTensor(values)], { dimension });
  return [k, v];
}

function indicesFor(op: string, indices: ArrayLike): Tensor {
  const t = indices instanceof Tensor ? indices : asTensor(indices, "int32");
  if (!isInteger(t.dtype)) {
    throw new TypeError(`${op}: indices must be integers, got ${t.dtype}`);
  }
  return astype(t, "int32");
}

/**
 * Gathers along one axis: `out[a, j…, b] = operand[a, indices[j…], b]`, with out-of-range
 * indices clamped into range (JAX's default for gathers). A single-axis form of XLA's gather.
 */
export function gather(operand: ArrayLike, indices: ArrayLike, axis = 0): Tensor {
  const op = "lax.gather";
  const x = asTensor(operand);
  const a = normalizeAxis(axis, x.ndim, op);
  const n = x.shape[a];
  const idx = indicesFor(op, indices);
  const clamped = n > 0 ? clip(idx, 0, n - 1) : idx;
  return bind1(IP.take, [x, clamped], { axis: a });
}

function scatterImpl(
  op: string,
  prim: Primitive<IP.AxisIndexParams>,
  operand: ArrayLike,
  indices: ArrayLike,
  updates: ArrayLike,
  axis: number,
): Tensor {
  const x = asTensor(operand);
  const a = normalizeAxis(axis, x.ndim, op);
  const n = x.shape[a];
  const idx = indicesFor(op, indices);
  const u = updates instanceof Tensor ? astype(updates, x.dtype) : asTensor(updates, x.dtype);
  // out-of-range updates are dropped: they go to an extra slot that is sliced away
  const outOfRange = logicalOr(less(idx, 0), greaterEqual(idx, n));
  const target = where(outOfRange, n, idx);
  const lo = x.shape.map(() => 0), hi = x.shape.map((_, i) => (i === a ? 1 : 0));
  const zero = scalarTensor(0, x.dtype, false);
  const padded = bind1(padPrim, [x, zero], { lo, hi, interior: lo });
  const out = bind1(prim, [padded, target, u], { axis: a });
  return bind1(slicePrim, [out], {
    start: lo,
    limit: [...x.shape],
    strides: x.shape.map(() => 1),
  });
}

/**
 * Writes `updates` (shape `operand.shape[:axis] + indices.shape + operand.shape[axis+1:]`)
 * into a copy of `operand` at `indices` along `axis`; the last write wins and out-of-range
 * indices are dropped (JAX's default for scatters).
 */
export function scatter(
  operand: ArrayLike,
  indices: ArrayLike,
  updates: ArrayLike,
  axis = 0,
): Tensor {
  return scatterImpl("lax.scatter", IP.scatter, operand, indices, updates, axis);
}

/** As {@link scatter}, but adds; duplicate indices accumulate. */
export function scatterAdd(
  operand: ArrayLike,
  indices: ArrayLike,
  updates: ArrayLike,
  axis = 0,
): Tensor {
  return scatterImpl("lax.scatterAdd", IP.scatterAdd, operand, indices, updates, axis);
}
