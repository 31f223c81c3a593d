/* Unary elementwise kernels and float predicates:
 *   kiln_<op>_<t>(int64 n, const T* x, T* out)
 *   kiln_<isnan|isinf|isfinite>_<t>(int64 n, const T* x, uint8_t* out) */
#include "kiln.h"

/* The loop body is compiled once (noinline) and shared by the one- and many-thread paths. */
#define UNARY_TO(op, tc, T, R, threshold, ...)                                                  \
  static __attribute__((noinline)) void op##_##tc##_range(int64_t begin, int64_t end,           \
                                                          const T* restrict x,                  \
                                                          R* restrict out) {                    \
    _Pragma("omp simd") for (int64_t i = begin; i < end; i++) {                                 \
      const T v = x[i];                                                                         \
      out[i] = (R)(__VA_ARGS__);                                                                \
    }                                                                                           \
  }                                                                                             \
  void kiln_##op##_##tc(int64_t n, const T* x, R* out) {                                        \
    KILN_SPLIT(n, threshold, op##_##tc##_range(begin, end, x, out));                            \
  }
#define UNARY(op, tc, T, threshold, ...) UNARY_TO(op, tc, T, T, threshold, __VA_ARGS__)
#define PREDICATE(op, tc, T, ...) UNARY_TO(op, tc, T, uint8_t, KILN_PAR_CHEAP, __VA_ARGS__)

/* ---- float ---- */

#define FLOAT_UNARY(tc, T)                                                                      \
  FLOAT_UNARY_M(tc, T, KILN_MATH_##tc)                                                          \
  /* != 0: glibc's isinf gives -1 for -inf */                                                   \
  PREDICATE(isnan, tc, T, isnan(v) != 0)                                                        \
  PREDICATE(isinf, tc, T, isinf(v) != 0)                                                        \
  PREDICATE(isfinite, tc, T, isfinite(v) != 0)

/* M(fn) names the libm function of the right precision. */
#define FLOAT_UNARY_M(tc, T, M)                                                                 \
  UNARY(neg, tc, T, KILN_PAR_CHEAP, -v)                                                         \
  UNARY(abs, tc, T, KILN_PAR_CHEAP, M(fabs)(v))                                                 \
  /* sign keeps ±0 and NaN as they are, like NumPy */                                           \
  UNARY(sign, tc, T, KILN_PAR_CHEAP, v > 0 ? (T)1 : (v < 0 ? (T)-1 : v))                        \
  UNARY(exp, tc, T, KILN_PAR_MATH, KILN_EXP_##tc(v))                                            \
  UNARY(exp2, tc, T, KILN_PAR_MATH, M(exp2)(v))                                                 \
  UNARY(expm1, tc, T, KILN_PAR_MATH, M(expm1)(v))                                               \
  UNARY(log, tc, T, KILN_PAR_MATH, M(log)(v))                                                   \
  UNARY(log2, tc, T, KILN_PAR_MATH, M(log2)(v))                                                 \
  UNARY(log10, tc, T, KILN_PAR_MATH, M(log10)(v))                                               \
  UNARY(log1p, tc, T, KILN_PAR_MATH, M(log1p)(v))                                               \
  UNARY(sqrt, tc, T, KILN_PAR_CHEAP, M(sqrt)(v))                                                \
  UNARY(rsqrt, tc, T, KILN_PAR_CHEAP, (T)1 / M(sqrt)(v))                                        \
  UNARY(cbrt, tc, T, KILN_PAR_MATH, M(cbrt)(v))                                                 \
  UNARY(sin, tc, T, KILN_PAR_MATH, M(sin)(v))                                                   \
  UNARY(cos, tc, T, KILN_PAR_MATH, M(cos)(v))                                                   \
  UNARY(tan, tc, T, KILN_PAR_MATH, M(tan)(v))                                                   \
  UNARY(asin, tc, T, KILN_PAR_MATH, M(asin)(v))                                                 \
  UNARY(acos, tc, T, KILN_PAR_MATH, M(acos)(v))                                                 \
  UNARY(atan, tc, T, KILN_PAR_MATH, M(atan)(v))                                                 \
  UNARY(sinh, tc, T, KILN_PAR_MATH, M(sinh)(v))                                                 \
  UNARY(cosh, tc, T, KILN_PAR_MATH, M(cosh)(v))                                                 \
  UNARY(tanh, tc, T, KILN_PAR_MATH, M(tanh)(v))                                                 \
  UNARY(asinh, tc, T, KILN_PAR_MATH, M(asinh)(v))                                               \
  UNARY(acosh, tc, T, KILN_PAR_MATH, M(acosh)(v))                                               \
  UNARY(atanh, tc, T, KILN_PAR_MATH, M(atanh)(v))                                               \
  UNARY(floor, tc, T, KILN_PAR_CHEAP, M(floor)(v))                                              \
  UNARY(ceil, tc, T, KILN_PAR_CHEAP, M(ceil)(v))                                                \
  /* rint under the default rounding mode is round-half-to-even, as NumPy's round */            \
  UNARY(round, tc, T, KILN_PAR_CHEAP, M(rint)(v))                                               \
  UNARY(trunc, tc, T, KILN_PAR_CHEAP, M(trunc)(v))                                              \
  UNARY(reciprocal, tc, T, KILN_PAR_CHEAP, (T)1 / v)                                            \
  /* exp(-v) overflows to inf for very negative v, giving exactly 0 */                          \
  UNARY(logistic, tc, T, KILN_PAR_MATH, (T)1 / ((T)1 + KILN_EXP_##tc(-v)))                      \
  UNARY(erf, tc, T, KILN_PAR_MATH, M(erf)(v))

KILN_FLOAT_TYPES(FLOAT_UNARY)

/* ---- integer and bool ---- */

/* Signed negation goes through uint32_t so that -INT32_MIN wraps to INT32_MIN, not UB. */
UNARY(neg, i32, int32_t, KILN_PAR_CHEAP, (int32_t)(0u - (uint32_t)v))
UNARY(abs, i32, int32_t, KILN_PAR_CHEAP, v < 0 ? (int32_t)(0u - (uint32_t)v) : v)
UNARY(sign, i32, int32_t, KILN_PAR_CHEAP, (v > 0) - (v < 0))
UNARY(not, i32, int32_t, KILN_PAR_CHEAP, ~v)

UNARY(neg, u32, uint32_t, KILN_PAR_CHEAP, 0u - v)
UNARY(abs, u32, uint32_t, KILN_PAR_CHEAP, v)
UNARY(sign, u32, uint32_t, KILN_PAR_CHEAP, v != 0)
UNARY(not, u32, uint32_t, KILN_PAR_CHEAP, ~v)

UNARY(not, b8, uint8_t, KILN_PAR_CHEAP, v == 0)
