/**
 * CPU kernels of the convolution and window-reduction primitives: `conv_general_dilated` and
 * its gradients `conv_grad_lhs` / `conv_grad_rhs` (2-D through `kiln_conv2d_<t>` and
 * `kiln_conv2d_grad_{lhs,rhs}_<t>`, 1-D as 2-D with a size-1 height, other ranks through the
 * reference implementation) and `reduce_window_max` / `reduce_window_sum` (any rank, through
 * `kiln_reduce_window_<op>_<t>`). Shapes and parameters were validated by the primitives'
 * abstractEval; the C code trusts them.
 * @module
 */

import { allocate, TYPE_CODE, type TypedArray } from "../../core/dtype.ts";
import type { Aval } from "../../core/primitive.ts";
import { conv, type ConvParams } from "../../core/prims/conv.ts";
import {
  convGradLhs,
  type ConvGradLhsParams,
  convGradRhs,
  type ConvGradRhsParams,
} from "../../core/prims/conv_grad.ts";
import {
  reduceWindowMax,
  type ReduceWindowParams,
  reduceWindowSum,
} from "../../core/prims/window.ts";
import { sizeOf } from "../../core/shape.ts";
import { type CpuKernel, type CpuKernelTable, i64, int64Array, symbol } from "./types.ts";

/**
 * The 18 int64 parameters of `kiln_conv2d_<t>` for a 1-D or 2-D convolution on canonical
 * layouts, or null for other ranks. 1-D inputs get a size-1 height axis (unit stride,
 * dilation, no padding).
 */
export function conv2dParams(
  lhs: readonly number[],
  rhs: readonly number[],
  out: readonly number[],
  p: ConvParams,
): BigInt64Array | null {
  const nd = lhs.length - 2;
  if (nd !== 1 && nd !== 2) return null;
  // spatial (h, w) values; a 1-D conv is the w axis with h = 1
  const hw = <T>(values: readonly T[], unit: T): [T, T] =>
    nd === 2 ? [values[0], values[1]] : [unit, values[0]];
  const [h, w] = hw(lhs.slice(2), 1);
  const [kh, kw] = hw(rhs.slice(2), 1);
  const [oh, ow] = hw(out.slice(2), 1);
  const [sh, sw] = hw(p.windowStrides, 1);
  const [ph, pw] = hw(p.padding.map((lohi) => lohi[0]), 0);
  const [ldh, ldw] = hw(p.lhsDilation, 1);
  const [rdh, rdw] = hw(p.rhsDilation, 1);
  return int64Array([
    lhs[0],
    lhs[1],
    h,
    w,
    rhs[0],
    kh,
    kw,
    oh,
    ow,
    p.featureGroupCount,
    sh,
    sw,
    ph,
    pw,
    ldh,
    ldw,
    rdh,
    rdw,
  ]);
}

const convKernel: CpuKernel = (sym, [x, w], inAvals, params, [out]) => {
  const p = params as unknown as ConvParams;
  const [la, ra] = inAvals;
  const size = sizeOf(out.shape);
  const packed = conv2dParams(la.shape, ra.shape, out.shape, p);
  const dtype = out.dtype;
  if (packed === null || (dtype !== "float32" && dtype !== "float64")) {
    return conv.rules.impl([x, w], inAvals, p, [out]);
  }
  const y = allocate(dtype, size);
  // nothing to compute, or an empty window/channel axis (the output is all zeros)
  if (size === 0 || sizeOf(la.shape) === 0 || sizeOf(ra.shape) === 0) return [y];
  symbol(sym, `kiln_conv2d_${TYPE_CODE[dtype]}`)(packed, x, w, y);
  return [y];
};

/**
 * The `kiln_conv2d_<t>` parameters of the convolution that a gradient primitive belongs to
 * (the gradient kernels take the forward's parameters), or null where no C kernel applies
 * (ranks other than 1-D and 2-D).
 */
export function convGradParams(
  name: "conv_grad_lhs" | "conv_grad_rhs",
  inShapes: readonly (readonly number[])[],
  outShape: readonly number[],
  params: ConvGradLhsParams | ConvGradRhsParams,
): BigInt64Array | null {
  // conv_grad_lhs(ct, rhs) -> lhs; conv_grad_rhs(lhs, ct) -> rhs
  return name === "conv_grad_lhs"
    ? conv2dParams(outShape, inShapes[1], inShapes[0], params)
    : conv2dParams(inShapes[0], outShape, inShapes[1], params);
}

function convGradKernel(name: "conv_grad_lhs" | "conv_grad_rhs"): CpuKernel {
  const prim = name === "conv_grad_lhs" ? convGradLhs : convGradRhs;
  return (sym, inputs, inAvals, params, [out]) => {
    const p = params as unknown as ConvGradLhsParams & ConvGradRhsParams;
    const dtype = out.dtype;
    const packed = convGradParams(name, inAvals.map((a) => a.shape), out.shape, p);
    if (packed === null || (dtype !== "float32" && dtype !== "float64")) {
      return prim.rules.impl(inputs, inAvals, p, [out]);
    }
    const y = allocate(dtype, sizeOf(out.shape));
    // nothing to compute, or an empty operand (the gradient is all zeros)
    if (y.length === 0 || inAvals.some((a) => sizeOf(a.shape) === 0)) return [y];
    symbol(sym, `kiln_conv2d_${name.slice(5)}_${TYPE_CODE[dtype]}`)(packed, ...inputs, y);
    return [y];
  };
}

/**
 * The ndim-packed parameters of `kiln_reduce_window_<op>_<t>`: in_shape, out_shape, window,
 * strides, pad_lo, window_dilation.
 */
export function reduceWindowPackedParams(
  inShape: readonly number[],
  outShape: readonly number[],
  p: ReduceWindowParams,
): BigInt64Array {
  return int64Array([
    ...inShape,
    ...outShape,
    ...p.windowDimensions,
    ...p.windowStrides,
    ...p.padding.map((lohi) => lohi[0]),
    ...p.windowDilation,
  ]);
}

function reduceWindowKernel(op: "max" | "sum"): CpuKernel {
  const prim = op === "max" ? reduceWindowMax : reduceWindowSum;
  return (sym, [x], inAvals: Aval[], params, [out]): TypedArray[] => {
    const p = params as unknown as ReduceWindowParams;
    const xa = inAvals[0];
    const size = sizeOf(out.shape);
    if (xa.dtype === "bool" || xa.shape.length === 0 || sizeOf(xa.shape) === 0) {
      return prim.rules.impl([x], inAvals, p, [out]);
    }
    const y = allocate(out.dtype, size);
    if (size === 0) return [y];
    const packed = reduceWindowPackedParams(xa.shape, out.shape, p);
    symbol(sym, `kiln_reduce_window_${op}_${TYPE_CODE[xa.dtype]}`)(
      i64(xa.shape.length),
      packed,
      x,
      y,
    );
    return [y];
  };
}

/** CPU kernels of the convolution family, by primitive name. */
export const convKernels: CpuKernelTable = {
  conv_general_dilated: convKernel,
  conv_grad_lhs: convGradKernel("conv_grad_lhs"),
  conv_grad_rhs: convGradKernel("conv_grad_rhs"),
  reduce_window_max: reduceWindowKernel("max"),
  reduce_window_sum: reduceWindowKernel("sum"),
};
