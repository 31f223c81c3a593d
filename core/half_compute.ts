/**
 * float16 and bfloat16 compute, as XLA on CPU does it: a primitive on 16-bit floats runs its
 * float32 implementation on the operands widened to float32 (exact), and each 16-bit result is
 * rounded back once (to nearest, ties to even). Reductions, dot and conv therefore accumulate
 * in float32 and round at the end. Devices wrap their executor with {@link computeHalfInFloat32}
 * instead of implementing every primitive for the 16-bit types; only casts (which must round
 * once from any source type) and pure data movement run on the 16-bit storage directly.
 * @module
 */

import { type DType, isHalfFloat, type TypedArray } from "./dtype.ts";
import { decodeBf16, encodeBf16 } from "./float16.ts";
import type { Aval, Primitive } from "./primitive.ts";

/** Runs one primitive on host buffers (a device's executor). */
export type HostExecute = (
  prim: Primitive,
  inputs: TypedArray[],
  inAvals: Aval[],
  params: Record<string, unknown>,
  outAvals: Aval[],
) => TypedArray[];

/** How a device converts storage: 16-bit float storage to float32, and float32 back (rounding). */
export interface HalfConversions {
  widen(data: TypedArray, dtype: DType): Float32Array;
  narrow(data: Float32Array, dtype: DType): TypedArray;
}

/** The conversions in JS: `Float16Array` converts by itself, bfloat16 through its bits. */
export const JS_HALF_CONVERSIONS: HalfConversions = {
  widen: (data, dtype) =>
    dtype === "bfloat16" ? decodeBf16(data as Uint16Array) : new Float32Array(data),
  narrow: (data, dtype) => dtype === "bfloat16" ? encodeBf16(data) : new Float16Array(data),
};

/** Primitives that handle the 16-bit floats themselves: casts round once from any source. */
const NATIVE_HALF = new Set(["convert_element_type"]);

const hasHalf = (avals: Aval[]) => {
  for (let i = 0; i < avals.length; i++) if (isHalfFloat(avals[i].dtype)) return true;
  return false;
};

const widenAval = (a: Aval): Aval => isHalfFloat(a.dtype) ? { ...a, dtype: "float32" } : a;

/**
 * Params with their dtype fields (`iota`'s and others' `dtype`) moved from a 16-bit float to
 * float32, so that the float32 implementation produces float32 that is then rounded.
 */
export function widenParams(params: Record<string, unknown>): Record<string, unknown> {
  const dtype = params.dtype;
  if (typeof dtype !== "string" || !isHalfFloat(dtype as DType)) return params;
  return { ...params, dtype: "float32" };
}

/**
 * Wraps a device executor so that primitives on float16/bfloat16 run in float32: operands of
 * a 16-bit float dtype are widened, the primitive runs on float32 avals and params, and each
 * output whose dtype is a 16-bit float is rounded back. Pure data movement (primitives with a
 * `view` rule) and casts pass through unchanged.
 */
export function computeHalfInFloat32(run: HostExecute, conv: HalfConversions): HostExecute {
  return (prim, inputs, inAvals, params, outAvals) => {
    if (
      NATIVE_HALF.has(prim.name) || prim.rules.view !== undefined ||
      (!hasHalf(inAvals) && !hasHalf(outAvals))
    ) {
      return run(prim, inputs, inAvals, params, outAvals);
    }
    const xs = inputs.map((x, i) =>
      isHalfFloat(inAvals[i].dtype) ? conv.widen(x, inAvals[i].dtype) : x
    );
    const ys = run(prim, xs, inAvals.map(widenAval), widenParams(params), outAvals.map(widenAval));
    return ys.map((y, i) => {
      const dtype = outAvals[i].dtype;
      if (!isHalfFloat(dtype)) return y;
      if (!(y instanceof Float32Array)) {
        throw new Error(
          `${prim.name}: internal error: float32 compute of ${dtype} gave no float32`,
        );
      }
      return conv.narrow(y, dtype);
    });
  };
}
