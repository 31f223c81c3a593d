/**
 * CPU kernels of the data-movement primitives, all on `kiln_strided_copy` (views, pad,
 * concatenate) plus `kiln_fill_*` and `kiln_iota_*`. Reshape shares its input's buffer:
 * buffers are immutable, so a reshape needs no copy.
 * @module
 */

import { allocate, ITEMSIZE, TYPE_CODE, type TypedArray } from "../../core/dtype.ts";
import type { Aval, Primitive } from "../../core/primitive.ts";
import { type PadParams, padPlacement } from "../../core/prims/structure.ts";
import { type Shape, sizeOf, stridesOf } from "../../core/shape.ts";
import {
  type CArg,
  type CpuKernelTable,
  type CpuSymbols,
  i64,
  int64Array,
  symbol,
} from "./types.ts";

/** A strided copy through the C kernel (offsets and strides in elements). */
export function stridedCopyC(
  sym: CpuSymbols,
  bytes: number,
  shape: Shape,
  src: TypedArray,
  srcOffset: number,
  srcStrides: readonly number[],
  dst: TypedArray,
  dstOffset: number,
  dstStrides: readonly number[],
): void {
  if (sizeOf(shape) === 0) return;
  symbol(sym, "kiln_strided_copy")(
    i64(bytes),
    i64(shape.length),
    int64Array(shape),
    src,
    i64(srcOffset),
    int64Array(srcStrides),
    dst,
    i64(dstOffset),
    int64Array(dstStrides),
  );
}

/** Runs a primitive that has a `view` rule as one strided copy. */
export function runView(
  sym: CpuSymbols,
  prim: Primitive,
  x: TypedArray,
  xa: Aval,
  params: Record<string, unknown>,
  out: Aval,
): TypedArray {
  const view = prim.rules.view!(xa, params, out);
  const y = allocate(out.dtype, sizeOf(out.shape));
  stridedCopyC(
    sym,
    ITEMSIZE[out.dtype],
    out.shape,
    x,
    view.offset,
    view.strides,
    y,
    0,
    stridesOf(out.shape),
  );
  return y;
}

/** Builds the structural kernel table (views are handled generically by the device). */
export function structureKernels(sym: CpuSymbols): CpuKernelTable {
  const fill = (y: TypedArray, value: TypedArray, bytes: number) =>
    symbol(sym, `kiln_fill_${bytes}`)(BigInt(y.length), y, value as CArg);
  return {
    reshape: (_sym, [x]) => [x],
    stop_gradient: (_sym, [x]) => [x],
    pad(_sym, [x, value], [xa], params, [out]) {
      const p = params as unknown as PadParams;
      const bytes = ITEMSIZE[out.dtype];
      const y = allocate(out.dtype, sizeOf(out.shape));
      fill(y, value, bytes);
      const box = padPlacement(xa.shape, p, out.shape);
      if (box) {
        stridedCopyC(
          sym,
          bytes,
          box.shape,
          x,
          box.srcOffset,
          box.srcStrides,
          y,
          box.dstOffset,
          box.dstStrides,
        );
      }
      return [y];
    },
    concatenate(_sym, xs, avals, params, [out]) {
      const axis = params.axis as number;
      const bytes = ITEMSIZE[out.dtype];
      const y = allocate(out.dtype, sizeOf(out.shape));
      const outStrides = stridesOf(out.shape);
      let offset = 0;
      xs.forEach((x, i) => {
        const shape = avals[i].shape;
        stridedCopyC(
          sym,
          bytes,
          shape,
          x,
          0,
          stridesOf(shape),
          y,
          offset * outStrides[axis],
          outStrides,
        );
        offset += shape[axis];
      });
      return [y];
    },
    iota(_sym, _xs, _avals, _params, [out]) {
      const dimension = _params.dimension as number;
      const y = allocate(out.dtype, sizeOf(out.shape));
      const outer = sizeOf(out.shape.slice(0, dimension));
      const inner = sizeOf(out.shape.slice(dimension + 1));
      symbol(sym, `kiln_iota_${TYPE_CODE[out.dtype]}`)(
        i64(outer),
        i64(out.shape[dimension]),
        i64(inner),
        y,
      );
      return [y];
    },
  };
}
