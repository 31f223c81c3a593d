/**
 * CPU kernels of the indexing primitives (`core/prims/indexing.ts`, `core/prims/sort.ts`):
 * take and the scatters on `kiln_take_*` / `kiln_scatter_*`, the dynamic slices on
 * `kiln_strided_copy`, and sort on `kiln_sort_*` (the axis moved last by a strided copy;
 * further operands gathered by the key's permutation with `kiln_take_*`). Inputs are never
 * written: buffers are immutable and may be shared (reshape aliases its input).
 * @module
 */

import { allocate, ITEMSIZE, TYPE_CODE, type TypedArray } from "../../core/dtype.ts";
import type { Aval } from "../../core/primitive.ts";
import { clampStarts } from "../../core/prims/indexing.ts";
import { sort as sortPrim, type SortParams } from "../../core/prims/sort.ts";
import { type Shape, sizeOf, stridesOf } from "../../core/shape.ts";
import { stridedCopyC } from "./structure.ts";
import { type CpuKernelTable, type CpuSymbols, i64, symbol } from "./types.ts";

function split(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

/** A scatter kernel: `set` (last write wins, by item size) or an accumulating one, by dtype. */
function scatterKernel(combine: "set" | "add" | "mul" | "min" | "max") {
  return (
    sym: CpuSymbols,
    [x, idx, upd]: TypedArray[],
    [xa, ia]: Aval[],
    params: Record<string, unknown>,
  ): TypedArray[] => {
    const axis = params.axis as number;
    const [outer, len, inner] = split(xa.shape, axis);
    const nidx = sizeOf(ia.shape);
    const out = x.slice();
    if (outer * nidx * inner === 0) return [out];
    const name = combine === "set"
      ? `kiln_scatter_set_${ITEMSIZE[xa.dtype]}`
      : `kiln_scatter_${combine}_${TYPE_CODE[xa.dtype]}`;
    symbol(sym, name)(i64(outer), i64(len), i64(inner), i64(nidx), idx, upd, out);
    return [out];
  };
}

/** Offset (in elements) of clamped starts in a row-major array of `shape`. */
function startOffset(starts: TypedArray[], shape: Shape, sizes: Shape): number {
  const s = clampStarts(starts.map((t) => t[0]), shape, sizes);
  const strides = stridesOf(shape);
  let offset = 0;
  for (let i = 0; i < s.length; i++) offset += s[i] * strides[i];
  return offset;
}

/** Moves `axis` of `x` (shape `shape`) last with a strided copy, or returns `x` as it is. */
function axisLast(
  sym: CpuSymbols,
  x: TypedArray,
  xa: Aval,
  axis: number,
): { data: TypedArray; shape: number[]; perm: number[] } {
  const nd = xa.shape.length;
  const perm = [...Array(nd).keys()].filter((i) => i !== axis).concat([axis]);
  if (axis === nd - 1) return { data: x, shape: [...xa.shape], perm };
  const inStrides = stridesOf(xa.shape);
  const shape = perm.map((p) => xa.shape[p]);
  const y = allocate(xa.dtype, x.length);
  stridedCopyC(
    sym,
    ITEMSIZE[xa.dtype],
    shape,
    x,
    0,
    perm.map((p) => inStrides[p]),
    y,
    0,
    stridesOf(shape),
  );
  return { data: y, shape, perm };
}

/** Inverse of {@link axisLast}: copies data laid out as `shape` (axis last) back. */
function axisBack(
  sym: CpuSymbols,
  y: TypedArray,
  shape: number[],
  perm: number[],
  out: Aval,
  axis: number,
): TypedArray {
  if (axis === out.shape.length - 1) return y;
  const outStrides = stridesOf(out.shape);
  const z = allocate(out.dtype, y.length);
  stridedCopyC(
    sym,
    ITEMSIZE[out.dtype],
    shape,
    y,
    0,
    stridesOf(shape),
    z,
    0,
    perm.map((p) => outStrides[p]),
  );
  return z;
}

/** Kernels of the indexing and sorting primitives, by primitive name. */
export const indexingKernels: CpuKernelTable = {
  take(sym, [x, idx], [xa, ia], params, [out]) {
    const axis = params.axis as number;
    const [outer, len, inner] = split(xa.shape, axis);
    const nidx = sizeOf(ia.shape);
    const y = allocate(out.dtype, sizeOf(out.shape));
    if (y.length === 0) return [y];
    symbol(sym, `kiln_take_${ITEMSIZE[xa.dtype]}`)(
      i64(outer),
      i64(len),
      i64(inner),
      i64(nidx),
      idx,
      x,
      y,
    );
    return [y];
  },

  scatter_add: scatterKernel("add"),
  scatter_mul: scatterKernel("mul"),
  scatter_min: scatterKernel("min"),
  scatter_max: scatterKernel("max"),
  scatter: scatterKernel("set"),

  dynamic_slice(sym, [x, ...starts], [xa], params, [out]) {
    const sizes = params.sizes as number[];
    const y = allocate(out.dtype, sizeOf(sizes));
    const offset = startOffset(starts, xa.shape, sizes);
    stridedCopyC(
      sym,
      ITEMSIZE[xa.dtype],
      sizes,
      x,
      offset,
      stridesOf(xa.shape),
      y,
      0,
      stridesOf(sizes),
    );
    return [y];
  },

  dynamic_update_slice(sym, [x, upd, ...starts], [xa, ua]) {
    const y = x.slice();
    const offset = startOffset(starts, xa.shape, ua.shape);
    stridedCopyC(
      sym,
      ITEMSIZE[xa.dtype],
      ua.shape,
      upd,
      0,
      stridesOf(ua.shape),
      y,
      offset,
      stridesOf(xa.shape),
    );
    return [y];
  },

  sort(sym, xs, avals, params, outs) {
    const { axis, numKeys } = params as unknown as SortParams;
    if (numKeys !== 1) {
      // lexicographic keys: no C kernel; the reference implementation is exact
      return sortPrim.rules.impl(xs, avals, params as unknown as SortParams, outs);
    }
    const ka = avals[0];
    const n = sizeOf(ka.shape);
    if (n === 0) return outs.map((o) => allocate(o.dtype, 0));
    const len = ka.shape[axis];
    const outer = n / len;
    const key = axisLast(sym, xs[0], ka, axis);
    const values = allocate(ka.dtype, n);
    const indices = xs.length > 1 ? new Int32Array(n) : null;
    symbol(sym, `kiln_sort_${TYPE_CODE[ka.dtype]}`)(
      i64(outer),
      i64(len),
      key.data,
      values,
      indices,
    );
    const results = [axisBack(sym, values, key.shape, key.perm, outs[0], axis)];
    if (indices !== null) {
      // row-local permutation -> flat gather indices over the axis-last layout
      for (let o = 0; o < outer; o++) {
        const base = o * len;
        for (let k = 0; k < len; k++) indices[base + k] += base;
      }
      for (let j = 1; j < xs.length; j++) {
        const src = axisLast(sym, xs[j], avals[j], axis);
        const gathered = allocate(avals[j].dtype, n);
        symbol(sym, `kiln_take_${ITEMSIZE[avals[j].dtype]}`)(
          i64(1),
          i64(n),
          i64(1),
          i64(n),
          indices,
          src.data,
          gathered,
        );
        results.push(axisBack(sym, gathered, src.shape, src.perm, outs[j], axis));
      }
    }
    return results;
  },
};
