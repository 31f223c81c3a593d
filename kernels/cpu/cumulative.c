/* Cumulative (inclusive scan) kernels over the middle axis of (outer, len, inner):
 *   kiln_cum<sum|prod|max|min>_<t>(int64 outer, int64 len, int64 inner, int32 reverse,
 *                                  const T* x, T* out)
 * reverse scans from the end of the axis. Float sums/products accumulate in double, integer
 * ones wrap; cummax/cummin propagate NaN from its first occurrence on. */
#include "kiln.h"

#define COLUMNS 256 /* columns scanned together when inner > 1 */

#define ADD(a, v) ((a) + (v))
#define MUL(a, v) ((a) * (v))
#define IMAX(a, v) ((v) > (a) ? (v) : (a))
#define IMIN(a, v) ((v) < (a) ? (v) : (a))
#define FMAX(a, v) (((v) > (a) || (v) != (v)) ? (v) : (a))
#define FMIN(a, v) (((v) < (a) || (v) != (v)) ? (v) : (a))

#define CUMULATIVE(op, tc, T, ACC, IDENT, COMBINE)                                              \
  void kiln_cum##op##_##tc(int64_t outer, int64_t len, int64_t inner, int32_t reverse,          \
                           const T* restrict x, T* restrict out) {                              \
    const int64_t total = outer * len * inner;                                                  \
    const int64_t step = reverse ? -inner : inner; /* from one l to the next scanned one */     \
    const int parallel_rows = total > KILN_PAR_CHEAP && outer > 1;                              \
    if (inner == 1) {                                                                           \
      _Pragma("omp parallel for schedule(static) if(parallel: parallel_rows)")                  \
      for (int64_t o = 0; o < outer; o++) {                                                     \
        const int64_t start = o * len + (reverse ? len - 1 : 0);                                \
        ACC acc = (IDENT);                                                                      \
        for (int64_t l = 0; l < len; l++) {                                                     \
          acc = COMBINE(acc, (ACC)x[start + l * step]);                                         \
          out[start + l * step] = (T)acc;                                                       \
        }                                                                                       \
      }                                                                                         \
      return;                                                                                   \
    }                                                                                           \
    const int64_t column_blocks = (inner + COLUMNS - 1) / COLUMNS;                              \
    _Pragma("omp parallel for schedule(static) if(parallel: total > KILN_PAR_CHEAP)")           \
    for (int64_t item = 0; item < outer * column_blocks; item++) {                              \
      const int64_t o = item / column_blocks, j0 = (item % column_blocks) * COLUMNS;            \
      const int64_t width = inner - j0 < COLUMNS ? inner - j0 : COLUMNS;                        \
      const int64_t start = (o * len + (reverse ? len - 1 : 0)) * inner + j0;                   \
      ACC acc[COLUMNS];                                                                         \
      for (int64_t j = 0; j < width; j++) acc[j] = (IDENT);                                     \
      for (int64_t l = 0; l < len; l++) {                                                       \
        const T* restrict src = x + start + l * step;                                           \
        T* restrict dst = out + start + l * step;                                               \
        _Pragma("omp simd") for (int64_t j = 0; j < width; j++) {                               \
          acc[j] = COMBINE(acc[j], (ACC)src[j]);                                                \
          dst[j] = (T)acc[j];                                                                   \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }

CUMULATIVE(sum, f32, float, double, 0.0, ADD)
CUMULATIVE(sum, f64, double, double, 0.0, ADD)
CUMULATIVE(sum, i32, int32_t, uint32_t, 0u, ADD)
CUMULATIVE(sum, u32, uint32_t, uint32_t, 0u, ADD)

CUMULATIVE(prod, f32, float, double, 1.0, MUL)
CUMULATIVE(prod, f64, double, double, 1.0, MUL)
CUMULATIVE(prod, i32, int32_t, uint32_t, 1u, MUL)
CUMULATIVE(prod, u32, uint32_t, uint32_t, 1u, MUL)

CUMULATIVE(max, f32, float, float, -INFINITY, FMAX)
CUMULATIVE(max, f64, double, double, -INFINITY, FMAX)
CUMULATIVE(max, i32, int32_t, int32_t, INT32_MIN, IMAX)
CUMULATIVE(max, u32, uint32_t, uint32_t, 0u, IMAX)

CUMULATIVE(min, f32, float, float, INFINITY, FMIN)
CUMULATIVE(min, f64, double, double, INFINITY, FMIN)
CUMULATIVE(min, i32, int32_t, int32_t, INT32_MAX, IMIN)
CUMULATIVE(min, u32, uint32_t, uint32_t, UINT32_MAX, IMIN)
