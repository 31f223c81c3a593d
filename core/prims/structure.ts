/**
 * Data-movement primitives: reshape, transpose, broadcastInDim, slice, rev (flip), pad,
 * concatenate, and iota. The first five describe themselves as strided views of their input
 * (`view`), so devices run them with one strided-copy kernel.
 * @module
 */

import { allocate, castScalar, type DType, isFloat, type TypedArray } from "../dtype.ts";
import { ones, zeros } from "../numpy/creation.ts";
import { subtract, where } from "../numpy/elementwise.ts";
import { type Aval, Primitive, UndefinedPrimal, type View } from "../primitive.ts";
import { fmtShape, type Shape, shapeEqual, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind, bind1, scalarTensor } from "../trace.ts";
import { matchBatch, moveAxis } from "../vmap.ts";
import { reduceSum } from "./reduce.ts";

/**
 * JVP rule of a primitive that is linear in its floating-point operands, its integer
 * operands being indices (take, scatters, dynamic slices) or absent: the tangent output is
 * the primitive applied to the tangents, integer operands kept. (Data movement, gathers and
 * scatters all have this form.) Integer outputs get null tangents.
 */
export function linearJvp<P>(
  prim: Primitive<P>,
  primals: Tensor[],
  tangents: (Tensor | null)[],
  params: P,
): [Tensor[], (Tensor | null)[]] {
  const out = bind(prim, primals, params);
  if (!out.some((o) => isFloat(o.dtype))) return [out, out.map(() => null)];
  const args = primals.map((x, i) => {
    if (!isFloat(x.dtype)) return x;
    return tangents[i] ?? zerosOf(x.aval);
  });
  return [out, bind(prim, args, params)];
}

/** Zeros with an abstract value's shape and dtype (a concrete constant). */
export function zerosOf(a: Aval): Tensor {
  return zeros(a.shape, { dtype: a.dtype });
}

/** The abstract value of a transpose rule's input, defined or not. */
export function avalOf(x: Tensor | UndefinedPrimal): Aval {
  return x.aval;
}

/** A 0-d zero of `dtype` (pad's padding value in transpose rules). */
function scalarZero(dtype: DType): Tensor {
  return scalarTensor(0, dtype, false);
}

/** Sum of all elements (a 0-d tensor of the same dtype). */
function sumAll(x: Tensor): Tensor {
  return bind1(reduceSum, [x], { axes: [...x.shape.keys()] });
}

/** `list` with `value` inserted at position `at` (a copy). */
export function insertAt<T>(list: readonly T[], at: number, value: T): T[] {
  const out = list.slice();
  out.splice(at, 0, value);
  return out;
}

/** Renumbers per-example axes for a batched operand whose batch axis is at `bd`. */
export function shiftAxes(axes: readonly number[], bd: number): number[] {
  return axes.map((a) => (a >= bd ? a + 1 : a));
}

/** The batch axis of the only operand of a unary rule (which is batched). */
function dimOf(dims: (number | null)[]): number {
  return dims[0]!;
}

/**
 * Reference strided copy: for every index i of `shape`,
 * `dst[dstOffset + Σ i_k dstStrides_k] = src[srcOffset + Σ i_k srcStrides_k]`.
 */
export function stridedCopy(
  shape: Shape,
  src: TypedArray,
  srcOffset: number,
  srcStrides: readonly number[],
  dst: TypedArray,
  dstOffset: number,
  dstStrides: readonly number[],
): void {
  const ndim = shape.length;
  if (sizeOf(shape) === 0) return;
  if (ndim === 0) {
    dst[dstOffset] = src[srcOffset];
    return;
  }
  const idx = new Array<number>(ndim).fill(0);
  let s = srcOffset, d = dstOffset;
  const last = ndim - 1;
  const n = shape[last], ss = srcStrides[last], ds = dstStrides[last];
  for (;;) {
    for (let j = 0; j < n; j++) dst[d + j * ds] = src[s + j * ss];
    // advance the outer index like an odometer
    let k = last - 1;
    while (k >= 0) {
      idx[k]++;
      s += srcStrides[k];
      d += dstStrides[k];
      if (idx[k] < shape[k]) break;
      s -= srcStrides[k] * shape[k];
      d -= dstStrides[k] * shape[k];
      idx[k] = 0;
      k--;
    }
    if (k < 0) return;
  }
}

/** Runs a view primitive on host data (the reference implementation). */
function viewImpl<P>(
  viewOf: (inAval: Aval, params: P, outAval: Aval) => View,
): (inputs: TypedArray[], avals: Aval[], params: P, outs: Aval[]) => TypedArray[] {
  return ([x], [xa], params, [out]) => {
    const v = viewOf(xa, params, out);
    const y = allocate(out.dtype, sizeOf(out.shape));
    stridedCopy(out.shape, x, v.offset, v.strides, y, 0, stridesOf(out.shape));
    return [y];
  };
}

/** Parameters of {@link reshape}. */
export interface ReshapeParams {
  shape: number[];
}

/** Reinterprets the row-major data under a new shape of the same size. */
export const reshape: Primitive<ReshapeParams> = new Primitive("reshape", {
  abstractEval([x], { shape }) {
    if (sizeOf(shape) !== sizeOf(x.shape)) {
      throw new RangeError(
        `reshape: cannot reshape an array of shape ${fmtShape(x.shape)} (size ${
          sizeOf(x.shape)
        }) into shape ${fmtShape(shape)}`,
      );
    }
    return [{ shape, dtype: x.dtype, weak: x.weak }];
  },
  view: (_x, _p, out) => ({ offset: 0, strides: stridesOf(out.shape) }),
  impl: ([x]) => [x.slice()],
  jvp: (primals, tangents, p) => linearJvp(reshape, primals, tangents, p),
  transpose: ([ct], [x]) => [bind1(reshape, [ct], { shape: [...avalOf(x).shape] })],
  // row-major: only a leading batch axis keeps each example contiguous
  batch([x], dims, { shape }, size) {
    const moved = moveAxis(x, dimOf(dims), 0);
    return [[bind1(reshape, [moved], { shape: [size, ...shape] })], [0]];
  },
});

/** Parameters of {@link transpose}. */
export interface TransposeParams {
  perm: number[];
}

/** Permutes axes: output axis i is input axis perm[i]. */
export const transpose: Primitive<TransposeParams> = new Primitive("transpose", {
  abstractEval([x], { perm }) {
    return [{ shape: perm.map((p) => x.shape[p]), dtype: x.dtype, weak: x.weak }];
  },
  view(x, { perm }) {
    const strides = stridesOf(x.shape);
    return { offset: 0, strides: perm.map((p) => strides[p]) };
  },
  impl: viewImpl((x, { perm }: TransposeParams) => {
    const strides = stridesOf(x.shape);
    return { offset: 0, strides: perm.map((p) => strides[p]) };
  }),
  jvp: (primals, tangents, p) => linearJvp(transpose, primals, tangents, p),
  transpose([ct], _inputs, { perm }) {
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [bind1(transpose, [ct], { perm: inverse })];
  },
  // one transpose: the batch axis stays where it is
  batch([x], dims, { perm }) {
    const bd = dimOf(dims);
    return [[bind1(transpose, [x], { perm: insertAt(shiftAxes(perm, bd), bd, bd) })], [bd]];
  },
});

/** Parameters of {@link broadcastInDim}. */
export interface BroadcastInDimParams {
  shape: number[];
  /** Output axis of each input axis (increasing). */
  broadcastDimensions: number[];
}

function broadcastView(x: Aval, { shape, broadcastDimensions }: BroadcastInDimParams): View {
  const inStrides = stridesOf(x.shape);
  const strides = new Array<number>(shape.length).fill(0);
  broadcastDimensions.forEach((d, i) => {
    if (x.shape[i] !== 1) strides[d] = inStrides[i];
  });
  return { offset: 0, strides };
}

/** Broadcasts to `shape`, input axis i landing on output axis broadcastDimensions[i]. */
export const broadcastInDim: Primitive<BroadcastInDimParams> = new Primitive("broadcast_in_dim", {
  abstractEval([x], { shape, broadcastDimensions }) {
    const ok = broadcastDimensions.length === x.shape.length &&
      broadcastDimensions.every((d, i) =>
        d >= 0 && d < shape.length && (i === 0 || d > broadcastDimensions[i - 1]) &&
        (x.shape[i] === 1 || x.shape[i] === shape[d])
      );
    if (!ok) {
      throw new RangeError(
        `broadcast_in_dim: cannot broadcast ${fmtShape(x.shape)} to ${
          fmtShape(shape)
        } with broadcast dimensions ${JSON.stringify(broadcastDimensions)}`,
      );
    }
    return [{ shape, dtype: x.dtype, weak: x.weak }];
  },
  view: broadcastView,
  impl: viewImpl(broadcastView),
  jvp: (primals, tangents, p) => linearJvp(broadcastInDim, primals, tangents, p),
  // sum over the new axes and the stretched size-1 axes, then restore the size-1 axes
  transpose([ct], [x], { shape, broadcastDimensions }) {
    const xShape = avalOf(x).shape;
    const axes: number[] = [];
    for (let d = 0; d < shape.length; d++) {
      const i = broadcastDimensions.indexOf(d);
      if (i < 0 || (xShape[i] === 1 && shape[d] !== 1)) axes.push(d);
    }
    const summed = axes.length === 0 ? ct : bind1(reduceSum, [ct], { axes });
    return [
      shapeEqual(summed.shape, xShape) ? summed : bind1(reshape, [summed], { shape: [...xShape] }),
    ];
  },
  // the batch axis lands right after the output axis of the input axis before it, which
  // keeps broadcastDimensions increasing (no transpose)
  batch([x], dims, { shape, broadcastDimensions }, size) {
    const bd = dimOf(dims);
    const at = bd === 0 ? 0 : broadcastDimensions[bd - 1] + 1;
    const params: BroadcastInDimParams = {
      shape: insertAt(shape, at, size),
      broadcastDimensions: insertAt(shiftAxes(broadcastDimensions, at), bd, at),
    };
    return [[bind1(broadcastInDim, [x], params)], [at]];
  },
});

/** Parameters of {@link slice}. */
export interface SliceParams {
  start: number[];
  limit: number[];
  strides: number[];
}

function sliceView(x: Aval, { start, strides }: SliceParams): View {
  const inStrides = stridesOf(x.shape);
  let offset = 0;
  for (let i = 0; i < start.length; i++) offset += start[i] * inStrides[i];
  return { offset, strides: inStrides.map((s, i) => s * strides[i]) };
}

/** A strided box [start, limit) with positive steps, as XLA's slice. */
export const slice: Primitive<SliceParams> = new Primitive("slice", {
  abstractEval([x], { start, limit, strides }) {
    const nd = x.shape.length;
    const ok = start.length === nd && limit.length === nd && strides.length === nd &&
      start.every((s, i) => s >= 0 && s <= limit[i] && limit[i] <= x.shape[i] && strides[i] >= 1);
    if (!ok) {
      throw new RangeError(
        `slice: start ${JSON.stringify(start)}, limit ${JSON.stringify(limit)}, strides ${
          JSON.stringify(strides)
        } do not fit shape ${fmtShape(x.shape)}`,
      );
    }
    const shape = start.map((s, i) => Math.ceil((limit[i] - s) / strides[i]));
    return [{ shape, dtype: x.dtype, weak: x.weak }];
  },
  view: sliceView,
  impl: viewImpl(sliceView),
  jvp: (primals, tangents, p) => linearJvp(slice, primals, tangents, p),
  // zeros everywhere but the sliced positions: pad with lo = start, interior = stride - 1
  transpose([ct], [x], { start, strides }) {
    const xShape = avalOf(x).shape;
    const hi = xShape.map((d, i) => {
      const n = ct.shape[i];
      const used = n === 0 ? 0 : (n - 1) * strides[i] + 1;
      return d - start[i] - used;
    });
    const params: PadParams = { lo: start.slice(), hi, interior: strides.map((s) => s - 1) };
    return [bind1(pad, [ct, scalarZero(ct.dtype)], params)];
  },
  batch([x], dims, { start, limit, strides }, size) {
    const bd = dimOf(dims);
    const params = {
      start: insertAt(start, bd, 0),
      limit: insertAt(limit, bd, size),
      strides: insertAt(strides, bd, 1),
    };
    return [[bind1(slice, [x], params)], [bd]];
  },
});

/** Parameters of {@link rev}. */
export interface RevParams {
  axes: number[];
}

function revView(x: Aval, { axes }: RevParams): View {
  const strides = stridesOf(x.shape);
  let offset = 0;
  for (const a of axes) {
    if (x.shape[a] > 0) offset += (x.shape[a] - 1) * strides[a];
    strides[a] = -strides[a];
  }
  return { offset, strides };
}

/** Reverses the order of elements along `axes`. */
export const rev: Primitive<RevParams> = new Primitive("rev", {
  abstractEval([x], { axes }) {
    for (const a of axes) {
      if (a < 0 || a >= x.shape.length) {
        throw new RangeError(`rev: axis ${a} is out of range for shape ${fmtShape(x.shape)}`);
      }
    }
    return [x];
  },
  view: revView,
  impl: viewImpl(revView),
  jvp: (primals, tangents, p) => linearJvp(rev, primals, tangents, p),
  transpose: ([ct], _inputs, p) => [bind1(rev, [ct], p)],
  batch([x], dims, { axes }) {
    const bd = dimOf(dims);
    return [[bind1(rev, [x], { axes: shiftAxes(axes, bd) })], [bd]];
  },
});

/** Parameters of {@link pad}: low, high and interior padding per axis (low/high may be < 0). */
export interface PadParams {
  lo: number[];
  hi: number[];
  interior: number[];
}

/** Output shape of `pad`. */
export function paddedShape(shape: Shape, { lo, hi, interior }: PadParams): number[] {
  return shape.map((d, i) => lo[i] + hi[i] + d + Math.max(0, d - 1) * interior[i]);
}

/** Pads operand 0 with the scalar operand 1 (XLA's pad, negative padding crops). */
export const pad: Primitive<PadParams> = new Primitive("pad", {
  abstractEval([x, value], params) {
    const nd = x.shape.length;
    const { lo, hi, interior } = params;
    if (lo.length !== nd || hi.length !== nd || interior.length !== nd) {
      throw new RangeError(`pad: padding must have ${nd} entries for shape ${fmtShape(x.shape)}`);
    }
    if (value.shape.length !== 0 || value.dtype !== x.dtype) {
      throw new TypeError(
        `pad: the padding value must be a ${x.dtype} scalar, got ${value.dtype}${
          fmtShape(value.shape)
        }`,
      );
    }
    const shape = paddedShape(x.shape, params);
    if (interior.some((p) => p < 0) || shape.some((d) => d < 0)) {
      throw new RangeError(
        `pad: padding ${JSON.stringify(params)} is invalid for ${fmtShape(x.shape)}`,
      );
    }
    return [{ shape, dtype: x.dtype, weak: x.weak }];
  },
  impl([x, value], [xa], params, [out]) {
    const y = allocate(out.dtype, sizeOf(out.shape));
    y.fill(value[0] as never);
    const box = padPlacement(xa.shape, params, out.shape);
    if (box) {
      stridedCopy(box.shape, x, box.srcOffset, box.srcStrides, y, box.dstOffset, box.dstStrides);
    }
    return [y];
  },
  // linear in both the operand and the padding value
  jvp: (primals, tangents, p) => linearJvp(pad, primals, tangents, p),
  transpose([ct], [x, value], { lo, hi, interior }) {
    // the operand's part: undo the edge padding (a negative pad crops, a positive one puts
    // back zeros for cropped elements), then step over the interior padding
    const unpadded = bind1(pad, [ct, scalarZero(ct.dtype)], {
      lo: lo.map((v) => -v),
      hi: hi.map((v) => -v),
      interior: lo.map(() => 0),
    });
    const ctX = bind1(slice, [unpadded], {
      start: lo.map(() => 0),
      limit: unpadded.shape,
      strides: interior.map((v) => v + 1),
    });
    // the padding value's part: everything that was not the operand
    const ctValue = value instanceof UndefinedPrimal ? subtract(sumAll(ct), sumAll(ctX)) : null;
    return [x instanceof UndefinedPrimal ? ctX : null, ctValue];
  },
  // a batched padding value (B,) cannot be pad's scalar operand: pad with zeros, then select
  // it where a padded mask of ones says "padding" (JAX's rule)
  batch([x, value], [xDim, valueDim], { lo, hi, interior }, size) {
    const bd = xDim ?? 0;
    const batched = matchBatch(x, xDim, bd, size);
    const params: PadParams = {
      lo: insertAt(lo, bd, 0),
      hi: insertAt(hi, bd, 0),
      interior: insertAt(interior, bd, 0),
    };
    if (valueDim === null) return [[bind1(pad, [batched, value], params)], [bd]];
    const padded = bind1(pad, [batched, scalarZero(x.dtype)], params);
    const inside = bind1(pad, [
      ones(batched.shape, { dtype: "bool" }),
      scalarTensor(0, "bool", false),
    ], params);
    const fill = bind1(broadcastInDim, [value], {
      shape: [...padded.shape],
      broadcastDimensions: [bd],
    });
    return [[where(inside, padded, fill)], [bd]];
  },
});

/**
 * Where the kept part of the input lands inside pad's output: a strided box, or null when
 * nothing of the input is kept. Shared by every device's pad.
 */
export function padPlacement(
  inShape: Shape,
  { lo, hi, interior }: PadParams,
  outShape: Shape,
): {
  shape: number[];
  srcOffset: number;
  srcStrides: number[];
  dstOffset: number;
  dstStrides: number[];
} | null {
  const inStrides = stridesOf(inShape), outStrides = stridesOf(outShape);
  const shape: number[] = [], srcStrides: number[] = [], dstStrides: number[] = [];
  let srcOffset = 0, dstOffset = 0;
  for (let i = 0; i < inShape.length; i++) {
    const step = interior[i] + 1;
    // input index j lands at lo + j*step; keep those with 0 <= lo + j*step < outShape
    const first = lo[i] >= 0 ? 0 : Math.ceil(-lo[i] / step);
    const lastPos = outShape[i] - 1 - lo[i];
    const last = Math.min(inShape[i] - 1, Math.floor(lastPos / step));
    const count = last - first + 1;
    if (count <= 0) return null;
    shape.push(count);
    srcOffset += first * inStrides[i];
    srcStrides.push(inStrides[i]);
    dstOffset += (lo[i] + first * step) * outStrides[i];
    dstStrides.push(outStrides[i] * step);
  }
  void hi;
  return { shape, srcOffset, srcStrides, dstOffset, dstStrides };
}

/** Parameters of {@link concatenate}. */
export interface ConcatenateParams {
  axis: number;
}

/** Joins operands along `axis`; other axes must match. */
export const concatenate: Primitive<ConcatenateParams> = new Primitive("concatenate", {
  abstractEval(xs, { axis }) {
    if (xs.length === 0) throw new RangeError("concatenate: needs at least one array");
    const first = xs[0];
    let total = 0;
    for (const x of xs) {
      const ok = x.shape.length === first.shape.length && x.dtype === first.dtype &&
        x.shape.every((d, i) => i === axis || d === first.shape[i]);
      if (!ok) {
        throw new RangeError(
          `concatenate: along axis ${axis}, all arrays must share dtype and the other axes; got ${
            xs.map((a) => a.dtype + fmtShape(a.shape)).join(", ")
          }`,
        );
      }
      total += x.shape[axis];
    }
    const shape = first.shape.slice();
    shape[axis] = total;
    return [{ shape, dtype: first.dtype, weak: xs.every((x) => x.weak) }];
  },
  impl(xs, avals, { axis }, [out]) {
    const y = allocate(out.dtype, sizeOf(out.shape));
    const outStrides = stridesOf(out.shape);
    let offset = 0;
    xs.forEach((x, i) => {
      const shape = avals[i].shape;
      stridedCopy(shape, x, 0, stridesOf(shape), y, offset * outStrides[axis], outStrides);
      offset += shape[axis];
    });
    return [y];
  },
  jvp: (primals, tangents, p) => linearJvp(concatenate, primals, tangents, p),
  transpose([ct], inputs, { axis }) {
    let offset = 0;
    return inputs.map((x) => {
      const shape = avalOf(x).shape;
      const start = offset;
      offset += shape[axis];
      if (!(x instanceof UndefinedPrimal)) return null;
      const begin = ct.shape.map((_, i) => (i === axis ? start : 0));
      const limit = ct.shape.map((d, i) => (i === axis ? start + shape[axis] : d));
      return bind1(slice, [ct], { start: begin, limit, strides: ct.shape.map(() => 1) });
    });
  },
  // every operand needs the batch axis (unbatched ones are broadcast): put it where the
  // first batched operand has it
  batch(xs, dims, { axis }, size) {
    const bd = dims.find((d) => d !== null)!;
    const args = xs.map((x, i) => matchBatch(x, dims[i], bd, size));
    return [[bind1(concatenate, args, { axis: axis >= bd ? axis + 1 : axis })], [bd]];
  },
});

/** Parameters of {@link iota}. */
export interface IotaParams {
  shape: number[];
  dimension: number;
  dtype: DType;
}

/** 0, 1, 2, … along `dimension`, broadcast over the other axes. */
export const iota: Primitive<IotaParams> = new Primitive("iota", {
  abstractEval(_inputs, { shape, dimension, dtype }) {
    if (dtype === "bool" || dimension < 0 || dimension >= shape.length) {
      throw new RangeError(
        `iota: dimension ${dimension} and dtype ${dtype} are invalid for shape ${fmtShape(shape)}`,
      );
    }
    return [{ shape, dtype, weak: false }];
  },
  impl(_inputs, _avals, { shape, dimension, dtype }) {
    const y = allocate(dtype, sizeOf(shape));
    const inner = sizeOf(shape.slice(dimension + 1)), len = shape[dimension];
    for (let i = 0; i < y.length; i++) y[i] = Math.floor(i / inner) % len;
    return [y];
  },
  // no inputs: a constant
  jvp: (primals, _tangents, p) => [bind(iota, primals, p), [null]],
  // never called (vmap calls a rule only when an operand is batched): a constant
  batch: (_args, _dims, p) => [bind(iota, [], p), [null]],
});

/** True when two avals agree in shape and dtype. */
export function sameAval(a: Aval, b: Aval): boolean {
  return a.dtype === b.dtype && shapeEqual(a.shape, b.shape);
}

/** Converts a JS number to a fill value for `dtype` (used by creation functions). */
export function fillValue(value: number, dtype: DType): number {
  return isFloat(dtype) ? value : castScalar(value, dtype);
}
