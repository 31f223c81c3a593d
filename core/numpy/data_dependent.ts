/**
 * NumPy functions whose result shape depends on the input's values: `nonzero` (and the
 * one-argument `where`), `argwhere`, `flatnonzero`, `unique`, `bincount` and `repeat` with an
 * array of repeats. As in JAX, a concrete input gives the exact result, while under a
 * transform a static `size` (with a `fillValue` for the padding) fixes the shape; without it
 * they throw, naming the op. Both paths run the same composition of sort, cumsum and scatter,
 * the eager one with the size read from the data.
 * @module
 */

import { type DType, isFloat } from "../dtype.ts";
import * as IP from "../prims/indexing.ts";
import { iota, slice as slicePrim } from "../prims/structure.ts";
import { fmtShape, normalizeAxis, stridesOf } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { searchsorted } from "./assembly.ts";
import { type ArrayLike, asTensor, astype, broadcastTo } from "./convert.ts";
import { full, zeros } from "./creation.ts";
import {
  floorDivide,
  isnan,
  less,
  logicalAnd,
  logicalNot,
  maximum,
  minimum,
  notEqual,
  remainder,
  subtract,
  where,
} from "./elementwise.ts";
import { cumsum, max, sum } from "./reductions.ts";
import { concatenate, ravel, reshape, stack } from "./shape.ts";
import { argsort } from "./sorting.ts";

/** The size option of the data-dependent functions (as JAX's `size` / `fill_value`). */
export interface SizeOptions {
  /** A static length of the result, padded or truncated to it; required under jit. */
  size?: number;
  /** What pads the result when it is shorter than `size` (default 0, as JAX). */
  fillValue?: number;
}

/**
 * The static result length: `size` when given, else `count()` read from the concrete input
 * (a traced input without `size` throws, naming the op).
 */
function resultSize(op: string, x: Tensor, size: number | undefined, count: () => number): number {
  if (size !== undefined) {
    if (!Number.isInteger(size) || size < 0) {
      throw new RangeError(`${op}: size must be a non-negative integer, got ${size}`);
    }
    return size;
  }
  if (!x.isConcrete) {
    throw new TypeError(
      `${op}: the result's shape depends on the values of a traced ${x.dtype}${
        fmtShape(x.shape)
      }; pass a static \`size\` (and \`fillValue\`) as JAX does`,
    );
  }
  return count();
}

/** The concrete value of a 0-d integer tensor. */
const scalarValue = (t: Tensor): number => Number(t.dataSync()[0]);

const iotaInt = (n: number): Tensor =>
  bind1(iota, [], { shape: [n], dimension: 0, dtype: "int32" as DType });

/** The first `n` elements of a 1-D tensor. */
const head = (x: Tensor, n: number): Tensor =>
  bind1(slicePrim, [x], { start: [0], limit: [n], strides: [1] });

/**
 * Scatters `values` (1-D) into a length-`size` tensor at `slots` (int32, in [0, size]; slot
 * `size` drops the value), over `init`; `combine` picks set (last wins) or add.
 */
function scatterToSlots(
  init: Tensor,
  slots: Tensor,
  values: Tensor,
  combine: "set" | "add" = "set",
): Tensor {
  const size = init.shape[0];
  if (slots.size === 0) return init;
  const padded = concatenate([init, zeros([1], { dtype: init.dtype })]);
  const prim = combine === "set" ? IP.scatter : IP.scatterAdd;
  return head(bind1(prim, [padded, slots, values], { axis: 0 }), size);
}

/**
 * Flat positions (int32, length `size`) of the first `size` true elements of a 1-D bool
 * mask, -1 where there are fewer.
 */
function truePositions(mask: Tensor, size: number): Tensor {
  const init = full([size], -1, { dtype: "int32" });
  if (mask.size === 0 || size === 0) return init;
  const slot = subtract(cumsum(astype(mask, "int32")), 1);
  const slots = where(logicalAnd(mask, less(slot, size)), slot, size);
  return scatterToSlots(init, slots, iotaInt(mask.size));
}

/** The bool "is nonzero" of x (NaN counts as nonzero). */
const nonzeroMask = (t: Tensor): Tensor => (t.dtype === "bool" ? t : notEqual(t, 0));

/**
 * The indices of the nonzero elements of `x`, one int32 array per axis (row-major order).
 * Under a transform pass `size`; missing entries are `fillValue` (default 0).
 */
export function nonzero(x: ArrayLike, options: SizeOptions = {}): Tensor[] {
  const t = asTensor(x);
  if (t.ndim === 0) {
    throw new TypeError("np.nonzero: not allowed on a 0-d array; use np.nonzero(np.atleast1d(x))");
  }
  const mask = ravel(nonzeroMask(t));
  const size = resultSize("np.nonzero", t, options.size, () => scalarValue(sum(mask)));
  const flat = truePositions(mask, size);
  const missing = less(flat, 0), strides = stridesOf(t.shape);
  return t.shape.map((dim, k) => {
    const coord = remainder(floorDivide(flat, strides[k]), dim);
    return where(missing, options.fillValue ?? 0, coord);
  });
}

/** `np.argwhere`: the nonzero elements' indices as rows of an int32 `(count, ndim)` array. */
export function argwhere(x: ArrayLike, options: SizeOptions = {}): Tensor {
  const t = asTensor(x);
  const t1 = t.ndim === 0 ? reshape(t, [1]) : t;
  const out = stack(nonzero(t1, options), 1);
  return t.ndim === 0 ? reshape(out, [out.shape[0], 0]) : out;
}

/** `np.flatnonzero`: the int32 indices of the nonzero elements of the flattened `x`. */
export function flatnonzero(x: ArrayLike, options: SizeOptions = {}): Tensor {
  return nonzero(ravel(asTensor(x)), options)[0];
}

/** Options of {@link unique}. */
export interface UniqueOptions extends SizeOptions {
  /** Also return the index of each unique value's first occurrence. */
  returnIndex?: boolean;
  /** Also return, for each input element, the index of its value among the unique ones. */
  returnInverse?: boolean;
  /** Also return how often each unique value occurs. */
  returnCounts?: boolean;
  /** NaNs count as one value (default true, as JAX). */
  equalNan?: boolean;
}

/**
 * The sorted unique values of the flattened `x`. With any `return*` option, an array:
 * `[values, index?, inverse?, counts?]` in that order (inverse has `x`'s shape). Under a
 * transform pass `size`: values are padded with `fillValue` (default: the smallest value),
 * indices with the smallest value's index, counts with 0.
 */
export function unique(x: ArrayLike, options: UniqueOptions = {}): Tensor | Tensor[] {
  const t = asTensor(x);
  const flat = ravel(t), n = flat.size;
  const perm = n > 0 ? argsort(flat, 0) : zeros([0], { dtype: "int32" });
  const sorted = bind1(IP.take, [flat, perm], { axis: 0 });
  let isNew = full([Math.min(n, 1)], true, { dtype: "bool" });
  if (n > 1) {
    const a = head(sorted, n - 1);
    const b = bind1(slicePrim, [sorted], { start: [1], limit: [n], strides: [1] });
    let differs = notEqual(b, a);
    if (isFloat(t.dtype) && options.equalNan !== false) {
      differs = logicalAnd(differs, logicalNot(logicalAnd(isnan(a), isnan(b))));
    }
    isNew = concatenate([isNew, differs]);
  }
  const groups = astype(isNew, "int32");
  const size = resultSize("np.unique", t, options.size, () => scalarValue(sum(groups)));
  const group = subtract(cumsum(groups), 1);
  const slots = where(less(group, size), group, size);
  const valid = less(iotaInt(size), sum(groups));
  const smallest = n > 0 ? head(sorted, 1) : zeros([1], { dtype: t.dtype });
  const fill = options.fillValue ?? smallest;
  // each group's first element (JAX's choice between equal values such as -0 and +0)
  const firstSlots = where(isNew, slots, size);
  let values = scatterToSlots(zeros([size], { dtype: t.dtype }), firstSlots, sorted);
  values = astype(where(valid, values, fill), t.dtype);
  const wanted = [options.returnIndex, options.returnInverse, options.returnCounts];
  if (!wanted.some(Boolean)) return values;
  const out = [values];
  if (options.returnIndex) {
    // a stable sort puts each value's first occurrence first among its equals
    const index = scatterToSlots(zeros([size], { dtype: "int32" }), firstSlots, perm);
    out.push(where(valid, index, n > 0 ? head(perm, 1) : 0));
  }
  if (options.returnInverse) {
    const inverse = scatterToSlots(zeros([n], { dtype: "int32" }), perm, group);
    out.push(reshape(inverse, t.shape));
  }
  if (options.returnCounts) {
    const ones = full([n], 1, { dtype: "int32" });
    out.push(scatterToSlots(zeros([size], { dtype: "int32" }), slots, ones, "add"));
  }
  return out;
}

/** Options of {@link bincount}. */
export interface BincountOptions {
  /** The result has at least this many bins (default 0). */
  minlength?: number;
  /** The static number of bins (required under a transform); larger values are dropped. */
  length?: number;
}

/**
 * Counts of each value of the non-negative integers `x` (1-D; negatives count as 0, as
 * JAX), or sums of `weights` per value. int32 counts, or the weights' dtype.
 */
export function bincount(
  x: ArrayLike,
  weights?: ArrayLike | null,
  options: BincountOptions = {},
): Tensor {
  const t = asTensor(x);
  if (t.ndim !== 1 || isFloat(t.dtype)) {
    throw new TypeError(
      `np.bincount: expects a 1-D integer array, got ${t.dtype}${fmtShape(t.shape)}`,
    );
  }
  const minlength = options.minlength ?? 0;
  const length = resultSize(
    "np.bincount",
    t,
    options.length,
    () => Math.max(minlength, t.size > 0 ? scalarValue(max(t)) + 1 : 0),
  );
  const w = weights === undefined || weights === null
    ? full([t.size], 1, { dtype: "int32" })
    : asTensor(weights);
  if (w.ndim !== 1 || w.size !== t.size) {
    throw new RangeError(
      `np.bincount: weights of shape ${fmtShape(w.shape)} do not match x of shape ${
        fmtShape(t.shape)
      }`,
    );
  }
  const v = maximum(astype(t, "int32"), 0);
  const slots = where(less(v, length), v, length);
  return scatterToSlots(zeros([length], { dtype: w.dtype }), slots, w, "add");
}

/**
 * `np.repeat` with one count per element along `axis` (flattened when omitted). The total
 * length is `totalRepeatLength` when given (required under a transform; a longer total
 * repeats the last element, as JAX), else the concrete sum of the counts.
 */
export function repeatEach(
  x: ArrayLike,
  repeats: ArrayLike,
  axis?: number,
  totalRepeatLength?: number,
): Tensor {
  let t = asTensor(x);
  if (axis === undefined) {
    t = ravel(t);
    axis = 0;
  }
  const ax = normalizeAxis(axis, t.ndim, "np.repeat");
  const n = t.shape[ax];
  // JS numbers are counts (int32); a float tensor is an error, as in JAX
  let r = repeats instanceof Tensor ? repeats : asTensor(repeats, "int32");
  if (isFloat(r.dtype) || r.ndim > 1 || (r.size !== 1 && r.size !== n)) {
    throw new TypeError(
      `np.repeat: repeats must be integers of shape (${n},) or one count, got ${r.dtype}${
        fmtShape(r.shape)
      }`,
    );
  }
  r = astype(r.size === 1 ? broadcastTo(reshape(r, []), [n]) : r, "int32");
  const total = resultSize("np.repeat", r, totalRepeatLength, () => scalarValue(sum(r)));
  if (n === 0 || total === 0) {
    const shape = [...t.shape];
    shape[ax] = total;
    if (n === 0 && total > 0) {
      throw new RangeError("np.repeat: cannot repeat elements of an empty axis");
    }
    return zeros(shape, { dtype: t.dtype });
  }
  const ends = cumsum(r);
  const source = minimum(searchsorted(ends, iotaInt(total), { side: "right" }), n - 1);
  return bind1(IP.take, [t, source], { axis: ax });
}
