/* Shared definitions for Kiln's eager CPU kernels (see kernels/README.md for the ABI).
 *
 * Every file includes this header; all the .c files here are compiled together into one
 * shared library with -O3 -march=native -fno-math-errno -fopenmp. */
#ifndef KILN_H
#define KILN_H

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* Parallel thresholds, in elements. Waking a sleeping OpenMP thread costs 5-25 µs on the
 * development VM (2 cores), so a second thread only pays off well above that: measured
 * crossovers were ~64K elements for expf and ~256K for an f32 add (cache-resident data). */
#ifndef KILN_PAR_MATH
#define KILN_PAR_MATH (1 << 16) /* elementwise ops that call a transcendental function */
#endif
#ifndef KILN_PAR_CHEAP
#define KILN_PAR_CHEAP (1 << 18) /* arithmetic, compares, casts */
#endif
#ifndef KILN_PAR_COPY
#define KILN_PAR_COPY (1 << 19) /* fills, copies, gathers */
#endif

/* The part [*begin, *end) of [0, n) that the calling thread of an OpenMP team handles:
 * contiguous, split at multiples of `granule` (16 elements keeps threads off each other's
 * cache lines). */
static inline void kiln_thread_range(int64_t n, int64_t granule, int64_t* begin, int64_t* end) {
  const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
  const int64_t blocks = (n + granule - 1) / granule;
  *begin = blocks * t / threads * granule;
  *end = blocks * (t + 1) / threads * granule;
  if (*begin > n) *begin = n;
  if (*end > n) *end = n;
}

/* Runs `call` (which reads `begin` and `end`) over [0, n): directly when n <= threshold, so
 * small calls never touch the OpenMP runtime (even an `if(parallel: 0)` region costs a
 * runtime call), else once per thread of a parallel region, each on its own range. */
#define KILN_SPLIT(n, threshold, call)                                                          \
  do {                                                                                          \
    if ((n) <= (threshold)) {                                                                   \
      const int64_t begin = 0, end = (n);                                                       \
      call;                                                                                     \
    } else {                                                                                    \
      _Pragma("omp parallel") {                                                                 \
        int64_t begin, end;                                                                     \
        kiln_thread_range((n), 16, &begin, &end);                                                 \
        call;                                                                                   \
      }                                                                                         \
    }                                                                                           \
  } while (0)

/* The C math functions used inside loops, declared SIMD-callable so that gcc vectorizes
 * them through glibc's libmvec (glibc only declares them so under -ffast-math). */
#define KILN_DECLARE_SIMD_1(fn)                                                                 \
  _Pragma("omp declare simd notinbranch") float fn##f(float);                                   \
  _Pragma("omp declare simd notinbranch") double fn(double);
#define KILN_DECLARE_SIMD_2(fn)                                                                 \
  _Pragma("omp declare simd notinbranch") float fn##f(float, float);                            \
  _Pragma("omp declare simd notinbranch") double fn(double, double);
KILN_DECLARE_SIMD_1(exp)
KILN_DECLARE_SIMD_1(exp2)
KILN_DECLARE_SIMD_1(expm1)
KILN_DECLARE_SIMD_1(log)
KILN_DECLARE_SIMD_1(log2)
KILN_DECLARE_SIMD_1(log10)
KILN_DECLARE_SIMD_1(log1p)
KILN_DECLARE_SIMD_1(cbrt)
KILN_DECLARE_SIMD_1(sin)
KILN_DECLARE_SIMD_1(cos)
KILN_DECLARE_SIMD_1(tan)
KILN_DECLARE_SIMD_1(asin)
KILN_DECLARE_SIMD_1(acos)
KILN_DECLARE_SIMD_1(atan)
KILN_DECLARE_SIMD_1(sinh)
KILN_DECLARE_SIMD_1(cosh)
KILN_DECLARE_SIMD_1(tanh)
KILN_DECLARE_SIMD_1(asinh)
KILN_DECLARE_SIMD_1(acosh)
KILN_DECLARE_SIMD_1(atanh)
KILN_DECLARE_SIMD_1(erf)
KILN_DECLARE_SIMD_2(pow)
KILN_DECLARE_SIMD_2(atan2)

/* expf inlined: glibc libmvec's AVX-512 expf (_ZGVeN16v_expf_skx) step for step, with the same
 * constants, so results are bit-identical to it wherever it stays on its fast path
 * (|x| <= 87.3365), and the same 2.64 ulp worst case over all floats (checked exhaustively).
 * libmvec hands other lanes to scalar expf; here x is clamped to ±104 (beyond which the result
 * is 0 or inf) and 2^n is applied in two steps, so subnormal results round once and overflow
 * gives inf. Inlined, the constants stay in registers and no call is made per vector: ~10%
 * off an exp-bound loop such as a row softmax. x = n ln2 + r, e^x = 2^n p(r). */
static inline float kiln_expf(float x) {
  const float xc = fabsf(x) > 104.0f ? copysignf(104.0f, x) : x; /* NaN passes through */
  const float t = __builtin_fmaf(xc, 0x1.715476p+0f, 0x1.8p+23f); /* n + 1.5 * 2^23 */
  const float n = t - 0x1.8p+23f;
  float r = __builtin_fmaf(-n, 0x1.62e4p-1f, xc);
  r = __builtin_fmaf(-n, 0x1.7f7d1cp-20f, r);
  float p = __builtin_fmaf(0x1.0fb3fcp-7f, r, 0x1.570724p-5f);
  p = __builtin_fmaf(p, r, 0x1.555958p-3f);
  p = __builtin_fmaf(p, r, 0x1.fffe68p-2f);
  p = __builtin_fmaf(p, r, 0x1.fffffcp-1f);
  p = __builtin_fmaf(p, r, 1.0f);
  union { float f; int32_t i; } bits = {t}, s1, s2;
  const int32_t k = bits.i - 0x4b400000, k1 = k >> 1, k2 = k - k1;
  s1.i = (k1 + 127) << 23;
  s2.i = (k2 + 127) << 23;
  return (p * s1.f) * s2.f;
}
/* exp of each float type, as the kernels and the JIT use it. */
#define KILN_EXP_f32(x) kiln_expf(x)
#define KILN_EXP_f64(x) exp(x)

/* Picks the float or double flavour of a libm function: KILN_MATH_f32(exp) is expf. */
#define KILN_MATH_f32(fn) fn##f
#define KILN_MATH_f64(fn) fn

/* ---- 16-bit floats ----
 * Conversions to either 16-bit float round to nearest, ties to even, once; NaN stays (quiet)
 * NaN. Kiln never computes on 16-bit floats: kernels and generated code widen to float,
 * compute, and round. bfloat16 is stored as its bit patterns in a uint16_t.
 *
 * float16: GCC's _Float16 where the compiler has it (x86-64 since GCC 12; F16C converts it in
 * hardware under -march=native), else its bit patterns in a uint16_t converted in software
 * (also forced by -DKILN_SOFT_F16, which the tests use to check the fallback). Code converts
 * only through these macros: KILN_F16_TO_F32(h), KILN_F32_TO_F16(f), KILN_F64_TO_F16(d). */
#if defined(__FLT16_MANT_DIG__) && !defined(KILN_SOFT_F16)
typedef _Float16 kiln_f16;
#define KILN_F16_TO_F32(h) ((float)(h))
#define KILN_F32_TO_F16(f) ((_Float16)(f))
#define KILN_F64_TO_F16(d) ((_Float16)(d))
#else
typedef uint16_t kiln_f16;
static inline float kiln_f16_bits_to_f32(uint16_t h) {
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 31 && m != 0) { /* NaN: quieted, payload kept (as F16C does) */
    const uint32_t u = ((uint32_t)(h & 0x8000u) << 16) | 0x7fc00000u | (m << 13);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
  }
  const float f = e == 0    ? (float)m * 0x1p-24f /* zero or subnormal: exact */
                  : e == 31 ? INFINITY
                            : ldexpf((float)(m | 0x400u), (int)e - 25);
  return (h & 0x8000u) ? -f : f;
}
/* Rounds once to nearest even: the value scaled to a whole number of float16 ulps (exact, a
 * power-of-two scaling) is rounded by rint in the default rounding mode. */
static inline uint16_t kiln_f64_to_f16_bits(double d) {
  const uint16_t sign = signbit(d) ? 0x8000u : 0u;
  const double a = fabs(d);
  if (a != a) { /* NaN: quieted, the payload's top bits kept */
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return (uint16_t)(sign | 0x7e00u | ((u >> 42) & 0x3ffu));
  }
  if (a >= 65520.0) return (uint16_t)(sign | 0x7c00u);
  if (a < 0x1p-14) return (uint16_t)(sign | (uint16_t)rint(a * 0x1p24)); /* 1024 is 2^-14 */
  int e;
  frexp(a, &e); /* a in [2^(e-1), 2^e) */
  const double m = rint(ldexp(a, 11 - e)); /* 1024 .. 2048 */
  return (uint16_t)(sign | (uint16_t)(((e + 14) << 10) + (int)m - 1024)); /* 2048 carries */
}
#define KILN_F16_TO_F32(h) kiln_f16_bits_to_f32(h)
#define KILN_F32_TO_F16(f) kiln_f64_to_f16_bits((double)(f))
#define KILN_F64_TO_F16(d) kiln_f64_to_f16_bits(d)
#endif
typedef uint16_t kiln_bf16;

/* The float a bfloat16 bit pattern stands for (exact). */
static inline float kiln_bf16_to_f32(uint16_t b) {
  const uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
/* Rounds the float with bit pattern u to bfloat16 bits: add half an ulp (one less on ties
 * whose kept part is even), truncate. */
static inline uint16_t kiln_f32_bits_to_bf16(uint32_t u) {
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static inline uint16_t kiln_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return kiln_f32_bits_to_bf16(u);
}
/* double to bfloat16 without double rounding: round to float toward zero with a sticky low
 * bit ("round to odd"), exact for the final rounding since float keeps 16 more bits. */
static inline uint16_t kiln_f64_to_bf16(double d) {
  const float f = (float)d;
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((double)f != d && d == d) {
    if (fabs((double)f) > fabs(d)) u -= 1; /* step back toward zero */
    u |= 1u;
  }
  return kiln_f32_bits_to_bf16(u);
}

/* X-macro type lists: X(code, C type). */
#define KILN_FLOAT_TYPES(X) X(f32, float) X(f64, double)
#define KILN_INT_TYPES(X) X(i32, int32_t) X(u32, uint32_t)
#define KILN_NUMERIC_TYPES(X) KILN_FLOAT_TYPES(X) KILN_INT_TYPES(X)
#define KILN_ALL_TYPES(X) KILN_NUMERIC_TYPES(X) X(b8, uint8_t)

/* Matmul entry points shared with conv.c. */
void kiln_matmul_blocked_f32(int64_t batch, int64_t m, int64_t n, int64_t k, const float* a,
                             int32_t trans_a, const float* b, int32_t trans_b, float* out);
void kiln_matmul_blocked_f64(int64_t batch, int64_t m, int64_t n, int64_t k, const double* a,
                             int32_t trans_a, const double* b, int32_t trans_b, double* out);
void kiln_matmul_f32(int64_t batch, int64_t m, int64_t n, int64_t k, const float* a,
                     int32_t trans_a, const float* b, int32_t trans_b, float* out);
void kiln_matmul_f64(int64_t batch, int64_t m, int64_t n, int64_t k, const double* a,
                     int32_t trans_a, const double* b, int32_t trans_b, double* out);

/* The kiln_conv2d_<t> parameter array p (conv.c, conv_grad.c): the index of each entry. */
enum { P_N, P_C, P_H, P_W, P_O, P_KH, P_KW, P_OH, P_OW, P_GROUPS, P_SH, P_SW, P_PT, P_PL,
       P_LDH, P_LDW, P_RDH, P_RDW };

/* The input row/column that output coordinate o and tap k of a convolution read, or -1 for a
 * zero (padding, or between the rows of an lhs-dilated input). */
static inline int64_t conv_source_index(int64_t o, int64_t k, int64_t stride, int64_t pad,
                                        int64_t kdil, int64_t ldil, int64_t size) {
  const int64_t q = o * stride - pad + k * kdil; /* in the lhs-dilated input */
  if (ldil == 1) return q < 0 || q >= size ? -1 : q; /* the common case, without a division */
  if (q < 0 || q > (size - 1) * ldil || q % ldil != 0) return -1;
  return q / ldil;
}

/* im2col of the 2-D convolution (conv.c), shared with its gradients (conv_grad.c): unrolls cg
 * channels of one image into col ((cg*KH*KW) x (OH*OW)) with rows ld elements apart; p is the
 * kiln_conv2d_<t> parameter array. */
void kiln_im2col_f32(const int64_t* p, const float* x, int64_t cg, float* col, int64_t ld);
void kiln_im2col_f64(const int64_t* p, const double* x, int64_t cg, double* col, int64_t ld);

#endif
