/**
 * Data-movement primitives that build a new array rather than view their input: pad,
 * concatenate and iota, with `padPlacement` (where pad's input lands, shared by every
 * device's pad). The view primitives and the shared rule helpers are in `structure.ts`.
 * @module
 */

import { allocate, type DType } from "../dtype.ts";
import { ones } from "../numpy/creation.ts";
import { subtract, where } from "../numpy/elementwise.ts";
import { Primitive, UndefinedPrimal } from "../primitive.ts";
import { fmtShape, type Shape, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind, bind1, scalarTensor } from "../trace.ts";
import { matchBatch } from "../vmap.ts";
import { reduceSum } from "./reduce.ts";
import {
  avalOf,
  broadcastInDim,
  insertAt,
  linearJvp,
  scalarZero,
  slice,
  stridedCopy,
} from "./structure.ts";

/** Sum of all elements (a 0-d tensor of the same dtype). */
function sumAll(x: Tensor): Tensor {
  return bind1(reduceSum, [x], { axes: [...x.shape.keys()] });
}

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
