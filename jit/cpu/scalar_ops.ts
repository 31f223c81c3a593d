/**
 * The scalar C semantics of every elementwise primitive, for the CPU code generator. Each
 * entry mirrors the eager kernels in `kernels/cpu/unary.c`, `binary.c` and `cast.c`
 * exactly: NaN-propagating max/min, integer division by zero giving 0 and `INT_MIN / -1`
 * giving `INT_MIN`, wrapping signed arithmetic, saturating float→int casts, round half to
 * even with `rint`, bool stored as `uint8_t`.
 * @module
 */

import { type DType, isHalfFloat } from "../../core/dtype.ts";
import { numberToBf16Bits } from "../../core/float16.ts";

/** The C type that stores each dtype. */
export const CTYPE: Record<DType, string> = {
  float16: "kiln_f16", // _Float16, or its bits where the compiler lacks it (kiln.h)
  bfloat16: "uint16_t", // its bit patterns (kiln.h converts them)
  float32: "float",
  float64: "double",
  int32: "int32_t",
  uint32: "uint32_t",
  bool: "uint8_t",
};

/** Helpers the generated code uses (after `#include "kiln.h"`). */
export const C_PRELUDE = `
static inline int32_t kj_div_i32(int32_t x, int32_t y) {
  if (y == 0) return 0;
  if (y == -1) return (int32_t)(0u - (uint32_t)x);
  return x / y;
}
static inline int32_t kj_rem_i32(int32_t x, int32_t y) { return (y == 0 || y == -1) ? 0 : x % y; }
static inline uint32_t kj_pow_u32(uint32_t base, uint32_t e) {
  uint32_t r = 1;
  while (e) { if (e & 1) r *= base; base *= base; e >>= 1; }
  return r;
}
static inline int32_t kj_pow_i32(int32_t base, int32_t e) {
  if (e < 0) { if (base == 1) return 1; if (base == -1) return (e & 1) ? -1 : 1; return 0; }
  return (int32_t)kj_pow_u32((uint32_t)base, (uint32_t)e);
}
`;

/** Unary ops that call a transcendental libm function (they raise the thread threshold). */
export const EXPENSIVE = new Set([
  "exp",
  "exp2",
  "expm1",
  "log",
  "log2",
  "log10",
  "log1p",
  "cbrt",
  "sin",
  "cos",
  "tan",
  "asin",
  "acos",
  "atan",
  "sinh",
  "cosh",
  "tanh",
  "asinh",
  "acosh",
  "atanh",
  "logistic",
  "erf",
  "pow",
  "rem",
  "atan2",
]);

const LIBM_UNARY = new Set([
  "exp",
  "exp2",
  "expm1",
  "log",
  "log2",
  "log10",
  "log1p",
  "sqrt",
  "cbrt",
  "sin",
  "cos",
  "tan",
  "asin",
  "acos",
  "atan",
  "sinh",
  "cosh",
  "tanh",
  "asinh",
  "acosh",
  "atanh",
  "floor",
  "ceil",
  "trunc",
  "erf",
]);

const fn = (dtype: DType, name: string) => (dtype === "float32" ? `${name}f` : name);
/** exp as the eager kernels compute it (`KILN_EXP_*` in kiln.h: libmvec's expf, inlined). */
const exp = (dtype: DType) => (dtype === "float32" ? "kiln_expf" : "exp");

/** The C expression of unary primitive `name` on `x` of `dtype`, or undefined if unknown. */
export function unaryC(name: string, dtype: DType, x: string): string | undefined {
  const T = CTYPE[dtype];
  if (dtype === "float32" || dtype === "float64") {
    if (name === "exp") return `${exp(dtype)}(${x})`;
    if (LIBM_UNARY.has(name)) return `${fn(dtype, name)}(${x})`;
    switch (name) {
      case "neg":
        return `(-${x})`;
      case "abs":
        return `${fn(dtype, "fabs")}(${x})`;
      case "sign":
        return `(${x} > 0 ? (${T})1 : (${x} < 0 ? (${T})-1 : ${x}))`;
      case "rsqrt":
        return `((${T})1 / ${fn(dtype, "sqrt")}(${x}))`;
      case "round":
        return `${fn(dtype, "rint")}(${x})`;
      case "reciprocal":
        return `((${T})1 / ${x})`;
      case "logistic":
        return `((${T})1 / ((${T})1 + ${exp(dtype)}(-${x})))`;
      case "isnan":
        return `(uint8_t)(isnan(${x}) != 0)`;
      case "isinf":
        return `(uint8_t)(isinf(${x}) != 0)`;
      case "isfinite":
        return `(uint8_t)(isfinite(${x}) != 0)`;
    }
    return undefined;
  }
  if (dtype === "int32") {
    switch (name) {
      case "neg":
        return `((int32_t)(0u - (uint32_t)${x}))`;
      case "abs":
        return `(${x} < 0 ? (int32_t)(0u - (uint32_t)${x}) : ${x})`;
      case "sign":
        return `((int32_t)((${x} > 0) - (${x} < 0)))`;
      case "not":
        return `((int32_t)~${x})`;
    }
    return undefined;
  }
  if (dtype === "uint32") {
    switch (name) {
      case "neg":
        return `(0u - ${x})`;
      case "abs":
        return x;
      case "sign":
        return `((uint32_t)(${x} != 0))`;
      case "not":
        return `((uint32_t)~${x})`;
    }
    return undefined;
  }
  return name === "not" ? `((uint8_t)(${x} == 0))` : undefined;
}

const COMPARE: Record<string, string> = {
  eq: "==",
  ne: "!=",
  lt: "<",
  le: "<=",
  gt: ">",
  ge: ">=",
};
const BITWISE: Record<string, string> = { and: "&", or: "|", xor: "^" };

/** The C expression of binary primitive `name` on `a`, `b` of `dtype`, or undefined. */
export function binaryC(name: string, dtype: DType, a: string, b: string): string | undefined {
  const T = CTYPE[dtype];
  if (name in COMPARE) return `((uint8_t)(${a} ${COMPARE[name]} ${b}))`;
  if (name in BITWISE) {
    return dtype === "float32" || dtype === "float64"
      ? undefined
      : `((${T})(${a} ${BITWISE[name]} ${b}))`;
  }
  if (dtype === "float32" || dtype === "float64") {
    switch (name) {
      case "add":
        return `(${a} + ${b})`;
      case "sub":
        return `(${a} - ${b})`;
      case "mul":
        return `(${a} * ${b})`;
      case "div":
        return `(${a} / ${b})`;
      case "max":
        return `((${a} > ${b} || ${a} != ${a}) ? ${a} : ${b})`;
      case "min":
        return `((${a} < ${b} || ${a} != ${a}) ? ${a} : ${b})`;
      case "pow":
        return `${fn(dtype, "pow")}(${a}, ${b})`;
      case "rem":
        return `${fn(dtype, "fmod")}(${a}, ${b})`;
      case "atan2":
        return `${fn(dtype, "atan2")}(${a}, ${b})`;
    }
    return undefined;
  }
  if (dtype === "int32") {
    const wrap = (op: string) => `((int32_t)((uint32_t)${a} ${op} (uint32_t)${b}))`;
    switch (name) {
      case "add":
        return wrap("+");
      case "sub":
        return wrap("-");
      case "mul":
        return wrap("*");
      case "div":
        return `kj_div_i32(${a}, ${b})`;
      case "rem":
        return `kj_rem_i32(${a}, ${b})`;
      case "max":
        return `(${a} > ${b} ? ${a} : ${b})`;
      case "min":
        return `(${a} < ${b} ? ${a} : ${b})`;
      case "pow":
        return `kj_pow_i32(${a}, ${b})`;
    }
    return undefined;
  }
  if (dtype === "uint32") {
    switch (name) {
      case "add":
        return `((uint32_t)(${a} + ${b}))`;
      case "sub":
        return `((uint32_t)(${a} - ${b}))`;
      case "mul":
        return `((uint32_t)(${a} * ${b}))`;
      case "div":
        return `(${b} ? ${a} / ${b} : 0u)`;
      case "rem":
        return `(${b} ? ${a} % ${b} : 0u)`;
      case "max":
        return `(${a} > ${b} ? ${a} : ${b})`;
      case "min":
        return `(${a} < ${b} ? ${a} : ${b})`;
      case "pow":
        return `kj_pow_u32(${a}, ${b})`;
    }
  }
  return undefined;
}

/**
 * The C expression converting `v` from or to a 16-bit float (as `cast.c`): those read exactly
 * as float; conversions to them round once from the source (doubles and 32-bit integers
 * directly, not through float).
 */
function convertHalfC(from: DType, to: DType, v: string): string {
  if (from === "bfloat16" || from === "float16") {
    const f = from === "bfloat16" ? `kiln_bf16_to_f32(${v})` : `KILN_F16_TO_F32(${v})`;
    if (to === "bool") {
      return from === "bfloat16" ? `((uint8_t)((${v} & 0x7fffu) != 0))` : `((uint8_t)(${f} != 0))`;
    }
    return to === "float32" ? f : convertC("float32", to, f);
  }
  if (to === "bfloat16") {
    if (from === "bool") return `((uint16_t)(${v} ? 0x3f80u : 0u))`;
    if (from === "float32") return `kiln_f32_to_bf16(${v})`;
    return `kiln_f64_to_bf16((double)${v})`;
  }
  // to float16 (as cast.c): ints through float are exact wherever float16 is finite
  if (from === "bool") return `KILN_F32_TO_F16(${v} ? 1.0f : 0.0f)`;
  return from === "float64" ? `KILN_F64_TO_F16(${v})` : `KILN_F32_TO_F16((float)${v})`;
}

/** The C expression converting `v` from one dtype to another (as `cast.c`). */
export function convertC(from: DType, to: DType, v: string): string {
  if (from === to) return to === "bool" ? `((uint8_t)(${v} != 0))` : v;
  if (isHalfFloat(from) || isHalfFloat(to)) return convertHalfC(from, to, v);
  const isF = from === "float32" || from === "float64";
  if (to === "bool") return `((uint8_t)(${v} != 0))`;
  if (from === "bool") return `((${CTYPE[to]})(${v} != 0))`;
  if (isF && to === "int32") {
    const big = from === "float32" ? "2147483648.0f" : "2147483648.0";
    const low = from === "float32" ? `${v} < -2147483648.0f` : `${v} <= -2147483649.0`;
    return `(${v} != ${v} ? 0 : ${v} >= ${big} ? INT32_MAX : ${low} ? INT32_MIN : (int32_t)${v})`;
  }
  if (isF && to === "uint32") {
    const sfx = from === "float32" ? "f" : "";
    return `(!(${v} > -1.0${sfx}) ? 0u : ${v} >= 4294967296.0${sfx} ? UINT32_MAX : (uint32_t)${v})`;
  }
  return `((${CTYPE[to]})${v})`;
}

/** A C literal of `value` stored as `dtype`. */
export function literalC(value: number, dtype: DType): string {
  if (dtype === "bfloat16") return `((uint16_t)0x${numberToBf16Bits(value).toString(16)}u)`;
  if (dtype === "float16") return `KILN_F64_TO_F16(${literalC(value, "float64")})`;
  if (dtype === "float32" || dtype === "float64") {
    const T = CTYPE[dtype];
    if (Number.isNaN(value)) return `((${T})NAN)`;
    if (value === Infinity) return `((${T})INFINITY)`;
    if (value === -Infinity) return `((${T})-INFINITY)`;
    if (Object.is(value, -0)) return `((${T})-0.0)`;
    return `((${T})${value.toPrecision(17)})`;
  }
  if (dtype === "int32") {
    return value === -2147483648 ? "((int32_t)(-2147483647 - 1))" : `((int32_t)${value})`;
  }
  if (dtype === "uint32") return `((uint32_t)${value}u)`;
  return `((uint8_t)${value ? 1 : 0})`;
}
