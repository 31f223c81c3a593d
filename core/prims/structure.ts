/**
 * Data-movement primitives that view their input: reshape, transpose, broadcastInDim, slice
 * and rev (flip). They describe themselves as strided views of their input (`view`), so
 * devices run them with one strided-copy kernel. Also the rule helpers shared by data-movement
 * primitives. pad, concatenate and iota are in `structure_build.ts`, re-exported here.
 * @module
 */

import { allocate, castScalar, type DType, isFloat, type TypedArray } from "../dtype.ts";
import { zeros } from "../numpy/creation.ts";
import { type Aval, Primitive, type UndefinedPrimal, type View } from "../primitive.ts";
import { fmtShape, type Shape, shapeEqual, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind, bind1, scalarTensor } from "../trace.ts";
import { moveAxis } from "../vmap.ts";
import { reduceSum } from "./reduce.ts";
import { pad, type PadParams } from "./structure_build.ts";

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
export function scalarZero(dtype: DType): Tensor {
  return scalarTensor(0, dtype, false);
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

export {
  concatenate,
  type ConcatenateParams,
  iota,
  type IotaParams,
  pad,
  paddedShape,
  type PadParams,
  padPlacement,
} from "./structure_build.ts";

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

/** True when two avals agree in shape and dtype. */
export function sameAval(a: Aval, b: Aval): boolean {
  return a.dtype === b.dtype && shapeEqual(a.shape, b.shape);
}

/** Converts a JS number to a fill value for `dtype` (used by creation functions). */
export function fillValue(value: number, dtype: DType): number {
  return isFloat(dtype) ? value : castScalar(value, dtype);
}
