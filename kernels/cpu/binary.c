/* Binary elementwise kernels, comparisons and select:
 *   kiln_<op>_<t>(int64 n, const T* a, const T* b, T* out)
 *   kiln_<eq|ne|lt|le|gt|ge>_<t>(int64 n, const T* a, const T* b, uint8_t* out)
 *   kiln_select_<bytes>(int64 n, const uint8_t* pred, const void* t, const void* f, void* out)
 * No input traps: integer division and remainder by 0 give 0, INT32_MIN / -1 wraps. */
#include "kiln.h"

/* The loop body is compiled once (noinline) and shared by the one- and many-thread paths. */
#define BINARY_TO(op, tc, T, R, threshold, ...)                                                 \
  static __attribute__((noinline)) void op##_##tc##_range(                                      \
      int64_t begin, int64_t end, const T* restrict a, const T* restrict b, R* restrict out) {  \
    _Pragma("omp simd") for (int64_t i = begin; i < end; i++) {                                 \
      const T x = a[i], y = b[i];                                                               \
      out[i] = (R)(__VA_ARGS__);                                                                \
    }                                                                                           \
  }                                                                                             \
  void kiln_##op##_##tc(int64_t n, const T* a, const T* b, R* out) {                            \
    KILN_SPLIT(n, threshold, op##_##tc##_range(begin, end, a, b, out));                         \
  }
#define BINARY(op, tc, T, threshold, ...) BINARY_TO(op, tc, T, T, threshold, __VA_ARGS__)

/* ---- float ---- */

/* max/min propagate NaN from either side: when x is NaN pick x, else when the comparison
 * fails (y larger, or y NaN) pick y. */
#define FLOAT_BINARY_M(tc, T, M)                                                                \
  BINARY(add, tc, T, KILN_PAR_CHEAP, x + y)                                                     \
  BINARY(sub, tc, T, KILN_PAR_CHEAP, x - y)                                                     \
  BINARY(mul, tc, T, KILN_PAR_CHEAP, x * y)                                                     \
  BINARY(div, tc, T, KILN_PAR_CHEAP, x / y)                                                     \
  BINARY(max, tc, T, KILN_PAR_CHEAP, (x > y || x != x) ? x : y)                                 \
  BINARY(min, tc, T, KILN_PAR_CHEAP, (x < y || x != x) ? x : y)                                 \
  BINARY(pow, tc, T, KILN_PAR_MATH, M(pow)(x, y))                                               \
  BINARY(rem, tc, T, KILN_PAR_MATH, M(fmod)(x, y))                                              \
  BINARY(atan2, tc, T, KILN_PAR_MATH, M(atan2)(x, y))
#define FLOAT_BINARY(tc, T) FLOAT_BINARY_M(tc, T, KILN_MATH_##tc)
KILN_FLOAT_TYPES(FLOAT_BINARY)

/* ---- integer ---- */

static inline int32_t div_i32(int32_t x, int32_t y) {
  if (y == 0) return 0;
  if (y == -1) return (int32_t)(0u - (uint32_t)x); /* INT32_MIN / -1 wraps to INT32_MIN */
  return x / y;
}
static inline int32_t rem_i32(int32_t x, int32_t y) {
  return (y == 0 || y == -1) ? 0 : x % y; /* x % -1 is 0, and INT32_MIN % -1 would trap */
}
static inline uint32_t pow_u32(uint32_t base, uint32_t exponent) {
  uint32_t result = 1; /* square-and-multiply, wrapping modulo 2^32 */
  while (exponent) {
    if (exponent & 1) result *= base;
    base *= base;
    exponent >>= 1;
  }
  return result;
}
static inline int32_t pow_i32(int32_t base, int32_t exponent) {
  if (exponent < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exponent & 1) ? -1 : 1;
    return 0; /* 1 / base^|e| truncates to 0 (and 1/0 is defined as 0 here too) */
  }
  return (int32_t)pow_u32((uint32_t)base, (uint32_t)exponent);
}

/* Signed add/sub/mul go through uint32_t: wraparound instead of undefined overflow. */
#define WRAP_I32(expr) (int32_t)(expr)
BINARY(add, i32, int32_t, KILN_PAR_CHEAP, WRAP_I32((uint32_t)x + (uint32_t)y))
BINARY(sub, i32, int32_t, KILN_PAR_CHEAP, WRAP_I32((uint32_t)x - (uint32_t)y))
BINARY(mul, i32, int32_t, KILN_PAR_CHEAP, WRAP_I32((uint32_t)x * (uint32_t)y))
BINARY(div, i32, int32_t, KILN_PAR_CHEAP, div_i32(x, y))
BINARY(rem, i32, int32_t, KILN_PAR_CHEAP, rem_i32(x, y))
BINARY(max, i32, int32_t, KILN_PAR_CHEAP, x > y ? x : y)
BINARY(min, i32, int32_t, KILN_PAR_CHEAP, x < y ? x : y)
BINARY(pow, i32, int32_t, KILN_PAR_CHEAP, pow_i32(x, y))

BINARY(add, u32, uint32_t, KILN_PAR_CHEAP, x + y)
BINARY(sub, u32, uint32_t, KILN_PAR_CHEAP, x - y)
BINARY(mul, u32, uint32_t, KILN_PAR_CHEAP, x * y)
BINARY(div, u32, uint32_t, KILN_PAR_CHEAP, y ? x / y : 0u)
BINARY(rem, u32, uint32_t, KILN_PAR_CHEAP, y ? x % y : 0u)
BINARY(max, u32, uint32_t, KILN_PAR_CHEAP, x > y ? x : y)
BINARY(min, u32, uint32_t, KILN_PAR_CHEAP, x < y ? x : y)
BINARY(pow, u32, uint32_t, KILN_PAR_CHEAP, pow_u32(x, y))

#define BITWISE(tc, T)                                                                          \
  BINARY(and, tc, T, KILN_PAR_CHEAP, x & y)                                                     \
  BINARY(or, tc, T, KILN_PAR_CHEAP, x | y)                                                      \
  BINARY(xor, tc, T, KILN_PAR_CHEAP, x ^ y)
BITWISE(i32, int32_t)
BITWISE(u32, uint32_t)
BITWISE(b8, uint8_t)

/* ---- comparisons (NaN compares false except for ne) ---- */

#define COMPARE(op, tc, T, expr) BINARY_TO(op, tc, T, uint8_t, KILN_PAR_CHEAP, expr)
#define COMPARES(tc, T)                                                                         \
  COMPARE(eq, tc, T, x == y)                                                                    \
  COMPARE(ne, tc, T, x != y)                                                                    \
  COMPARE(lt, tc, T, x < y)                                                                     \
  COMPARE(le, tc, T, x <= y)                                                                    \
  COMPARE(gt, tc, T, x > y)                                                                     \
  COMPARE(ge, tc, T, x >= y)
KILN_ALL_TYPES(COMPARES)

/* ---- select ---- */

#define SELECT(bytes, T)                                                                        \
  static __attribute__((noinline)) void select_##bytes##_range(                                 \
      int64_t begin, int64_t end, const uint8_t* restrict pred, const T* restrict t,            \
      const T* restrict f, T* restrict out) {                                                   \
    _Pragma("omp simd") for (int64_t i = begin; i < end; i++) out[i] = pred[i] ? t[i] : f[i];   \
  }                                                                                             \
  void kiln_select_##bytes(int64_t n, const uint8_t* pred, const void* on_true,                 \
                           const void* on_false, void* out) {                                   \
    KILN_SPLIT(n, KILN_PAR_CHEAP,                                                               \
               select_##bytes##_range(begin, end, pred, on_true, on_false, out));               \
  }
SELECT(1, uint8_t)
SELECT(4, uint32_t)
SELECT(8, uint64_t)
