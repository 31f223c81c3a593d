/**
 * The dtype conversion primitive `convert_element_type` and `castArray`, its host-side
 * reference cast (float→int truncates and saturates, ints wrap, bfloat16 as bit patterns).
 * @module
 */

import {
  allocate,
  castScalar,
  type DType,
  isFloat,
  storageToNumbers,
  type TypedArray,
} from "../dtype.ts";
import { encodeBf16 } from "../float16.ts";
import { Primitive, UndefinedPrimal } from "../primitive.ts";
import { bind1 } from "../trace.ts";
import { elementwiseBatch } from "./elementwise_family.ts";

/** Parameters of {@link convertElementType}. */
export interface ConvertParams {
  dtype: DType;
  weak: boolean;
}

/** Converts to another dtype: float→int truncates and saturates, NaN→int gives 0. */
export const convertElementType: Primitive<ConvertParams> = new Primitive<ConvertParams>(
  "convert_element_type",
  {
    abstractEval([x], { dtype, weak }) {
      return [{ shape: x.shape, dtype, weak }];
    },
    impl([x], [xa], { dtype }) {
      return [castArray(x, dtype, xa.dtype)];
    },
    // float to float carries the tangent (cast); from or to integers the tangent is zero
    jvp([x], [t], params) {
      const y = bind1(convertElementType, [x], params);
      if (t === null || !isFloat(x.dtype) || !isFloat(params.dtype)) return [[y], [null]];
      return [[y], [bind1(convertElementType, [t], params)]];
    },
    transpose([ct], [x]) {
      if (!(x instanceof UndefinedPrimal) || !isFloat(x.aval.dtype)) return [null];
      return [bind1(convertElementType, [ct], { dtype: x.aval.dtype, weak: false })];
    },
    batch: elementwiseBatch(() => convertElementType),
  },
);

/**
 * Casts host data of dtype `from` to `dtype`: float to int truncates and saturates (NaN gives
 * 0), int to int wraps modulo 2^32, anything to bool is `x != 0`, and to a float rounds once to
 * nearest even (bfloat16 is read and written as its bit patterns).
 */
export function castArray(x: TypedArray, dtype: DType, from: DType): TypedArray {
  const src = storageToNumbers(x, from);
  if (dtype === "bfloat16") return encodeBf16(src);
  const y = allocate(dtype, x.length);
  if (isFloat(dtype)) {
    y.set(src); // TypedArray.set converts numbers exactly as a store does
    return y;
  }
  if (isFloat(from)) {
    for (let i = 0; i < src.length; i++) y[i] = castScalar(src[i], dtype); // saturating
  } else if (dtype === "bool") {
    for (let i = 0; i < src.length; i++) y[i] = src[i] !== 0 ? 1 : 0;
  } else y.set(src); // integer to integer wraps modulo 2^32, as NumPy and JAX
  return y;
}
