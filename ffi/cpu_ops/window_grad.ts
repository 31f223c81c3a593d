/**
 * CPU kernels of the derivatives of `reduce_window_max`: `select_and_gather_add` and
 * `select_and_scatter_add` (any rank, through `kiln_select_and_<gather|scatter>_add_<t>` in
 * kernels/cpu/window_grad.c, with the packed window parameters of `kiln_reduce_window_*`).
 * Shapes, dtypes and parameters were validated by the primitives' abstractEval; the C code
 * trusts them.
 * @module
 */

import { allocate, type DType, TYPE_CODE } from "../../core/dtype.ts";
import type { Primitive } from "../../core/primitive.ts";
import {
  type ReduceWindowParams,
  selectAndGatherAdd,
  selectAndScatterAdd,
} from "../../core/prims/window.ts";
import { sizeOf } from "../../core/shape.ts";
import { reduceWindowPackedParams } from "./conv.ts";
import { type CpuKernel, type CpuKernelTable, i64, symbol } from "./types.ts";

/** The dtypes with a C kernel; others run the reference implementation. */
const NATIVE: ReadonlySet<DType> = new Set(["float32", "float64", "int32", "uint32"]);

/**
 * The kernel of one select primitive. Inputs are (values, operand); the window geometry is
 * the operand's shape and the reduced shape (the gather's output, the scatter's values).
 */
function selectKernel(prim: Primitive<ReduceWindowParams>, gather: boolean): CpuKernel {
  return (sym, inputs, inAvals, params, outAvals) => {
    const [values, x] = inputs, [va, xa] = inAvals, [out] = outAvals;
    if (!NATIVE.has(xa.dtype)) {
      return prim.rules.impl(inputs, inAvals, params as unknown as ReduceWindowParams, outAvals);
    }
    const reduced = gather ? out.shape : va.shape;
    const y = allocate(out.dtype, sizeOf(out.shape));
    // nothing to compute, or every window in the padding / no window at all: all zeros
    if (y.length === 0 || sizeOf(xa.shape) === 0 || sizeOf(reduced) === 0) return [y];
    const p = params as unknown as ReduceWindowParams;
    symbol(sym, `kiln_${prim.name}_${TYPE_CODE[xa.dtype]}`)(
      i64(xa.shape.length),
      reduceWindowPackedParams(xa.shape, reduced, p),
      values,
      x,
      y,
    );
    return [y];
  };
}

/** CPU kernels of the max-pooling derivatives, by primitive name. */
export const windowGradKernels: CpuKernelTable = {
  select_and_gather_add: selectKernel(selectAndGatherAdd, true),
  select_and_scatter_add: selectKernel(selectAndScatterAdd, false),
};
