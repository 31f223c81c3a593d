/**
 * Gather/scatter along one axis (`take`, `scatter_add`, `scatter`) and dynamic slices
 * (`dynamic_slice`, `dynamic_update_slice`). Indices are int32 tensors; `take` and the
 * scatters trust that they are in range (the NumPy layer validates concrete indices and
 * clamps traced ones), while the dynamic slices clamp their start indices as XLA does.
 * @module
 */

import { allocate } from "../dtype.ts";
import { add, clip, equal, multiply, where } from "../numpy/elementwise.ts";
import { full } from "../numpy/creation.ts";
import { type Aval, Primitive, type PrimitiveRules, UndefinedPrimal } from "../primitive.ts";
import { fmtShape, type Shape, shapeEqual, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1, scalarTensor } from "../trace.ts";
import { matchBatch, moveAxis } from "../vmap.ts";
import {
  broadcastInDim,
  insertAt,
  iota,
  linearJvp,
  reshape,
  stridedCopy,
  zerosOf,
} from "./structure.ts";
import { type ByDType, numeric } from "./scalar.ts";

/** Parameters of {@link take}, {@link scatterAdd} and {@link scatter}: the indexed axis. */
export interface AxisIndexParams {
  axis: number;
}

/** `(outer, len, inner)` of `shape` around `axis`. */
function split(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

/** Output shape of `take`: `x.shape[:axis] + idx.shape + x.shape[axis+1:]`. */
export function takeShape(xShape: Shape, idxShape: Shape, axis: number): number[] {
  return [...xShape.slice(0, axis), ...idxShape, ...xShape.slice(axis + 1)];
}

function checkAxis(op: string, x: Aval, axis: number): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.shape.length) {
    throw new RangeError(`${op}: axis ${axis} is out of range for shape ${fmtShape(x.shape)}`);
  }
}

function checkIndices(op: string, x: Aval, idx: Aval, axis: number): void {
  if (idx.dtype !== "int32") {
    throw new TypeError(`${op}: indices must be int32, got ${idx.dtype}${fmtShape(idx.shape)}`);
  }
  if (x.shape[axis] === 0 && sizeOf(idx.shape) > 0) {
    throw new RangeError(
      `${op}: cannot index axis ${axis} of size 0 of shape ${fmtShape(x.shape)} with ${
        sizeOf(idx.shape)
      } indices`,
    );
  }
}

/** Gathers along `axis`: `out[a, j..., b] = x[a, idx[j...], b]`. */
export const take: Primitive<AxisIndexParams> = new Primitive("take", {
  abstractEval([x, idx], { axis }) {
    if (x === undefined || idx === undefined) {
      throw new TypeError("take: expects two operands (x, indices)");
    }
    checkAxis("take", x, axis);
    checkIndices("take", x, idx, axis);
    return [{ shape: takeShape(x.shape, idx.shape, axis), dtype: x.dtype, weak: x.weak }];
  },
  impl([x, idx], [xa], { axis }, [out]) {
    const [outer, len, inner] = split(xa.shape, axis);
    const n = idx.length;
    const y = allocate(out.dtype, sizeOf(out.shape));
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < n; j++) {
        const src = (o * len + idx[j]) * inner, dst = (o * n + j) * inner;
        for (let i = 0; i < inner; i++) y[dst + i] = x[src + i];
      }
    }
    return [y];
  },
  // linear in x: the cotangent is scattered back, duplicates accumulating
  jvp: (primals, tangents, p) => linearJvp(take, primals, tangents, p),
  transpose([ct], [x, idx], p) {
    if (!(x instanceof UndefinedPrimal)) return [null, null];
    return [bind1(scatterAdd, [zerosOf(x.aval), idx as Tensor, ct], p), null];
  },
  batch([x, idx], [xDim, idxDim], { axis }) {
    if (idxDim === null) {
      // x alone batched: the batch axis is one more axis beside the indexed one
      const bd = xDim!;
      const out = bind1(take, [x, idx], { axis: bd <= axis ? axis + 1 : axis });
      return [[out], [bd <= axis ? bd : bd + idx.ndim - 1]];
    }
    // batched indices: the output's batch axis is where idx has it, among idx's axes
    if (xDim === null) return [[bind1(take, [x, idx], { axis })], [axis + idxDim]];
    const offsets = withOffsets(idx, idxDim, axisLength(x, xDim, axis));
    return [[bind1(take, [foldBatch(x, xDim, axis), offsets], { axis })], [axis + idxDim]];
  },
});

/** The per-example length of axis `axis` of a (possibly batched at `xDim`) operand. */
function axisLength(x: Tensor, xDim: number | null, axis: number): number {
  return x.shape[xDim !== null && xDim <= axis ? axis + 1 : axis];
}

/**
 * Folds the batch axis of x (at `xDim`) into axis `axis` of the per-example shape: batch b's
 * row j lands at `b * len + j` (the flattening that lets one take/scatter serve the batch).
 */
function foldBatch(x: Tensor, xDim: number, axis: number): Tensor {
  const moved = moveAxis(x, xDim, axis);
  const shape = moved.shape.filter((_, i) => i !== axis + 1);
  shape[axis] = moved.shape[axis] * moved.shape[axis + 1];
  return bind1(reshape, [moved], { shape });
}

/** Inverse of {@link foldBatch}, the batch axis coming out at `axis`. */
function unfoldBatch(y: Tensor, axis: number, size: number, len: number): Tensor {
  const shape = y.shape.slice();
  shape.splice(axis, 1, size, len);
  return bind1(reshape, [y], { shape });
}

/** `idx + b * len` for batch b along `idxDim` (the indices into a folded operand). */
function withOffsets(idx: Tensor, idxDim: number, len: number): Tensor {
  const b = bind1(iota, [], { shape: [...idx.shape], dimension: idxDim, dtype: "int32" });
  return add(idx, multiply(b, len));
}

/**
 * Batching rule of the scatters. With unbatched indices the batch axis is one more axis of
 * the operand and the updates; with batched ones, the batch is folded into the scattered
 * axis (offsets `b * len`), so that one scatter serves it: examples write to disjoint rows
 * and keep their order, so last-write-wins and accumulation are unchanged.
 */
function scatterBatch(
  prim: () => Primitive<AxisIndexParams>,
): NonNullable<PrimitiveRules<AxisIndexParams>["batch"]> {
  return ([x, idx, upd], [xDim, idxDim, updDim], { axis }, size) => {
    if (idxDim === null) {
      const bd = xDim ?? 0;
      const operand = matchBatch(x, xDim, bd, size);
      // the updates' per-example axes are x's before `axis`, idx's, then x's after `axis`
      const updAt = bd <= axis ? bd : bd + idx.ndim - 1;
      const updates = matchBatch(upd, updDim, updAt, size);
      const out = bind1(prim(), [operand, idx, updates], { axis: bd <= axis ? axis + 1 : axis });
      return [[out], [bd]];
    }
    const len = axisLength(x, xDim, axis);
    const operand = foldBatch(matchBatch(x, xDim, axis, size), axis, axis);
    const updates = matchBatch(upd, updDim, axis + idxDim, size);
    const out = bind1(prim(), [operand, withOffsets(idx, idxDim, len), updates], { axis });
    return [[unfoldBatch(out, axis, size, len)], [axis]];
  };
}

/** How an accumulating scatter combines the value at a target with an update, by dtype. */
export type ScatterCombine = ByDType<(old: number, update: number) => number>;

/** The rules a scatter defines itself; the jvp defaults to the linear one. */
export type ScatterRules = Pick<PrimitiveRules<AxisIndexParams>, "jvp" | "transpose">;

/**
 * A scatter along one axis: `combine` folds each update into its target in index order (null:
 * the update replaces it, the last write winning). Shape rule, reference implementation and
 * batching are shared; `rules` gives differentiation (default jvp: linear in both inputs).
 */
export function scatterPrim(
  name: string,
  combine: ScatterCombine | null,
  rules: ScatterRules,
): Primitive<AxisIndexParams> {
  const prim: Primitive<AxisIndexParams> = new Primitive<AxisIndexParams>(name, {
    abstractEval([x, idx, upd], { axis }) {
      if (x === undefined || idx === undefined || upd === undefined) {
        throw new TypeError(`${name}: expects three operands (operand, indices, updates)`);
      }
      checkAxis(name, x, axis);
      checkIndices(name, x, idx, axis);
      const want = takeShape(x.shape, idx.shape, axis);
      if (!shapeEqual(upd.shape, want)) {
        throw new RangeError(
          `${name}: updates of shape ${fmtShape(upd.shape)} do not match ${
            fmtShape(want)
          } (operand ${fmtShape(x.shape)}, indices ${fmtShape(idx.shape)}, axis ${axis})`,
        );
      }
      if (upd.dtype !== x.dtype) {
        throw new TypeError(
          `${name}: updates must have the operand's dtype ${x.dtype}, got ${upd.dtype}`,
        );
      }
      if (combine !== null && !(x.dtype in combine)) {
        throw new TypeError(`${name}: dtype ${x.dtype} is not supported`);
      }
      return [{ shape: x.shape, dtype: x.dtype, weak: x.weak && upd.weak }];
    },
    impl([x, idx, upd], [xa], { axis }) {
      const [outer, len, inner] = split(xa.shape, axis);
      const n = idx.length;
      const y = x.slice();
      const f = combine === null ? null : combine[xa.dtype]!;
      // combine in JS numbers and store once per update, as the kernels round per element
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < n; j++) {
          const dst = (o * len + idx[j]) * inner, src = (o * n + j) * inner;
          if (f !== null) {
            for (let i = 0; i < inner; i++) y[dst + i] = f(y[dst + i], upd[src + i]);
          } else for (let i = 0; i < inner; i++) y[dst + i] = upd[src + i];
        }
      }
      return [y];
    },
    // scatter_add is linear in the operand and the updates; so is scatter (the winning
    // writes are the same positions for the tangents)
    jvp: rules.jvp ?? ((primals, tangents, p) => linearJvp(prim, primals, tangents, p)),
    ...(rules.transpose ? { transpose: rules.transpose } : {}),
    batch: scatterBatch(() => prim),
  });
  return prim;
}

/** Adds updates into a copy of the operand at `idx` along `axis`; duplicates accumulate. */
export const scatterAdd: Primitive<AxisIndexParams> = scatterPrim(
  "scatter_add",
  numeric((a, b) => a + b, (a, b) => (a + b) | 0, (a, b) => (a + b) >>> 0),
  {
    transpose: ([ct], [x, idx, upd], p) => [
      x instanceof UndefinedPrimal ? ct : null,
      null,
      upd instanceof UndefinedPrimal ? bind1(take, [ct, idx as Tensor], p) : null,
    ],
  },
);

/** Writes updates into a copy of the operand at `idx` along `axis`; the last write wins. */
export const scatter: Primitive<AxisIndexParams> = scatterPrim("scatter", null, {
  transpose([ct], [x, idxIn, upd], p) {
    const idx = idxIn as Tensor;
    // the operand keeps its cotangent where it was not overwritten
    const ctX = x instanceof UndefinedPrimal
      ? bind1(scatter, [ct, idx, zerosOf(upd.aval)], p)
      : null;
    if (!(upd instanceof UndefinedPrimal)) return [ctX, null, null];
    // each update gets the cotangent of its target only if it won that target (the last
    // write among duplicate indices): scatter the update ids and see which ones survived
    const len = x.aval.shape[p.axis];
    const ids = bind1(reshape, [
      bind1(iota, [], { shape: [idx.size], dimension: 0, dtype: "int32" }),
    ], {
      shape: [...idx.shape],
    });
    const written = bind1(scatter, [full([len], -1, { dtype: "int32" }), idx, ids], { axis: 0 });
    const won = equal(bind1(take, [written, idx], { axis: 0 }), ids);
    const mask = bind1(broadcastInDim, [won], {
      shape: [...upd.aval.shape],
      broadcastDimensions: idx.shape.map((_, i) => p.axis + i),
    });
    return [ctX, null, where(mask, bind1(take, [ct, idx], p), 0)];
  },
});

/** Parameters of {@link dynamicSlice}: the extent of the slice on each axis. */
export interface DynamicSliceParams {
  sizes: number[];
}

function checkStarts(op: string, x: Aval, starts: Aval[]): void {
  if (starts.length !== x.shape.length) {
    throw new RangeError(
      `${op}: needs ${x.shape.length} start indices for shape ${
        fmtShape(x.shape)
      }, got ${starts.length}`,
    );
  }
  for (const s of starts) {
    if (s.dtype !== "int32" || s.shape.length !== 0) {
      throw new TypeError(
        `${op}: start indices must be int32 scalars, got ${s.dtype}${fmtShape(s.shape)}`,
      );
    }
  }
}

/** Clamps XLA-style: each start moves into `[0, dim - size]`. */
export function clampStarts(starts: readonly number[], shape: Shape, sizes: Shape): number[] {
  return starts.map((s, i) => Math.min(Math.max(s, 0), shape[i] - sizes[i]));
}

/** A slice of static `sizes` at dynamic starts (int32 scalars), clamped so it fits. */
export const dynamicSlice: Primitive<DynamicSliceParams> = new Primitive("dynamic_slice", {
  abstractEval([x, ...starts], { sizes }) {
    if (x === undefined) throw new TypeError("dynamic_slice: expects an operand");
    checkStarts("dynamic_slice", x, starts);
    const ok = sizes.length === x.shape.length &&
      sizes.every((s, i) => Number.isInteger(s) && s >= 0 && s <= x.shape[i]);
    if (!ok) {
      throw new RangeError(
        `dynamic_slice: slice sizes ${JSON.stringify(sizes)} do not fit shape ${fmtShape(x.shape)}`,
      );
    }
    return [{ shape: sizes.slice(), dtype: x.dtype, weak: x.weak }];
  },
  impl([x, ...starts], [xa], { sizes }, [out]) {
    const s = clampStarts(starts.map((t) => t[0]), xa.shape, sizes);
    const inStrides = stridesOf(xa.shape);
    let offset = 0;
    for (let i = 0; i < s.length; i++) offset += s[i] * inStrides[i];
    const y = allocate(out.dtype, sizeOf(sizes));
    stridedCopy(sizes, x, offset, inStrides, y, 0, stridesOf(sizes));
    return [y];
  },
  jvp: (primals, tangents, p) => linearJvp(dynamicSlice, primals, tangents, p),
  // the cotangent goes back where the slice came from (the same clamped starts), zeros elsewhere
  transpose([ct], [x, ...starts]) {
    if (!(x instanceof UndefinedPrimal)) return [null, ...starts.map(() => null)];
    const back = bind1(dynamicUpdateSlice, [zerosOf(x.aval), ct, ...(starts as Tensor[])], {});
    return [back, ...starts.map(() => null)];
  },
  // unbatched starts: the batch axis is sliced whole from 0; batched starts (JAX makes a
  // gather): one take of the flattened operand at each example's flat box indices
  batch([x, ...starts], [xDim, ...startDims], { sizes }, size) {
    if (startDims.every((d) => d === null)) {
      const bd = xDim!;
      const args = [x, ...insertAt(starts, bd, scalarTensor(0, "int32", false))];
      return [[bind1(dynamicSlice, args, { sizes: insertAt(sizes, bd, size) })], [bd]];
    }
    const shape = perExampleShape(x, xDim);
    const flat = xDim === null
      ? bind1(reshape, [x], { shape: [sizeOf(shape)] })
      : bind1(reshape, [moveAxis(x, xDim, 0)], { shape: [size * sizeOf(shape)] });
    const idx = boxIndices(starts, startDims, shape, sizes, size, xDim !== null);
    return [[bind1(take, [flat, idx], { axis: 0 })], [0]];
  },
});

/** The shape of one example of x (batched at `dim`, or not). */
function perExampleShape(x: Tensor, dim: number | null): number[] {
  return x.shape.filter((_, i) => i !== dim);
}

/**
 * Row-major flat indices (int32, shape `[size, ...sizes]`) of each example's box of `sizes`
 * at its starts (clamped as XLA does) inside an operand of per-example `shape`, offset by
 * `b * size(shape)` for example b when the flattened operand holds the whole batch. Each
 * start is an int32 scalar or, batched, a `(size,)` vector.
 */
function boxIndices(
  starts: Tensor[],
  startDims: (number | null)[],
  shape: Shape,
  sizes: Shape,
  size: number,
  batchedOperand: boolean,
): Tensor {
  const strides = stridesOf(shape);
  const outShape = [size, ...sizes];
  const scaled = (t: Tensor, by: number) => (by === 1 ? t : multiply(t, by));
  // the (size,) offsets of the boxes' first elements
  let base: Tensor | null = batchedOperand
    ? scaled(bind1(iota, [], { shape: [size], dimension: 0, dtype: "int32" }), sizeOf(shape))
    : null;
  starts.forEach((s, k) => {
    const start = clip(
      startDims[k] === null ? s : matchBatch(s, startDims[k], 0, size),
      0,
      shape[k] - sizes[k],
    );
    base = base === null ? scaled(start, strides[k]) : add(base, scaled(start, strides[k]));
  });
  let idx = bind1(broadcastInDim, [base!], { shape: outShape, broadcastDimensions: [0] });
  sizes.forEach((n, k) => {
    if (n === 1) return;
    const along = bind1(iota, [], { shape: outShape, dimension: k + 1, dtype: "int32" });
    idx = add(idx, scaled(along, strides[k]));
  });
  return idx;
}

/** Parameters of {@link dynamicUpdateSlice} (none). */
export type NoIndexParams = Record<string, never>;

/** Writes `update` into a copy of the operand at dynamic starts, clamped so it fits. */
export const dynamicUpdateSlice: Primitive<NoIndexParams> = new Primitive("dynamic_update_slice", {
  abstractEval([x, upd, ...starts]) {
    if (x === undefined || upd === undefined) {
      throw new TypeError("dynamic_update_slice: expects an operand and an update");
    }
    checkStarts("dynamic_update_slice", x, starts);
    const ok = upd.shape.length === x.shape.length &&
      upd.shape.every((d, i) => d <= x.shape[i]);
    if (!ok) {
      throw new RangeError(
        `dynamic_update_slice: update of shape ${fmtShape(upd.shape)} does not fit operand ${
          fmtShape(x.shape)
        }`,
      );
    }
    if (upd.dtype !== x.dtype) {
      throw new TypeError(
        `dynamic_update_slice: update must have the operand's dtype ${x.dtype}, got ${upd.dtype}`,
      );
    }
    return [{ shape: x.shape, dtype: x.dtype, weak: x.weak && upd.weak }];
  },
  impl([x, upd, ...starts], [xa, ua]) {
    const s = clampStarts(starts.map((t) => t[0]), xa.shape, ua.shape);
    const outStrides = stridesOf(xa.shape);
    let offset = 0;
    for (let i = 0; i < s.length; i++) offset += s[i] * outStrides[i];
    const y = x.slice();
    stridedCopy(ua.shape, upd, 0, stridesOf(ua.shape), y, offset, outStrides);
    return [y];
  },
  jvp: (primals, tangents, p) => linearJvp(dynamicUpdateSlice, primals, tangents, p),
  transpose([ct], [x, upd, ...startsIn]) {
    const starts = startsIn as Tensor[];
    // the operand's cotangent: zeros where the update overwrote it
    const ctX = x instanceof UndefinedPrimal
      ? bind1(dynamicUpdateSlice, [ct, zerosOf(upd.aval), ...starts], {})
      : null;
    const ctUpd = upd instanceof UndefinedPrimal
      ? bind1(dynamicSlice, [ct, ...starts], { sizes: [...upd.aval.shape] })
      : null;
    return [ctX, ctUpd, ...starts.map(() => null)];
  },
  // unbatched starts: the batch axis is updated whole from 0; batched starts (JAX makes a
  // scatter): one scatter into the flattened batch at each example's flat box indices
  batch([x, upd, ...starts], [xDim, updDim, ...startDims], _params, size) {
    if (startDims.every((d) => d === null)) {
      const bd = xDim ?? updDim!;
      const args = [
        matchBatch(x, xDim, bd, size),
        matchBatch(upd, updDim, bd, size),
        ...insertAt(starts, bd, scalarTensor(0, "int32", false)),
      ];
      return [[bind1(dynamicUpdateSlice, args, {})], [bd]];
    }
    const shape = perExampleShape(x, xDim), updShape = perExampleShape(upd, updDim);
    const n = size * sizeOf(updShape);
    const flat = bind1(reshape, [matchBatch(x, xDim, 0, size)], { shape: [size * sizeOf(shape)] });
    const updates = bind1(reshape, [matchBatch(upd, updDim, 0, size)], { shape: [n] });
    const idx = bind1(reshape, [boxIndices(starts, startDims, shape, updShape, size, true)], {
      shape: [n],
    });
    const out = bind1(scatter, [flat, idx, updates], { axis: 0 });
    return [[bind1(reshape, [out], { shape: [size, ...shape] })], [0]];
  },
});
