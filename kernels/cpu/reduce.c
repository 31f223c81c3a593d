/* Reductions over the middle axis of x viewed as (outer, len, inner):
 *   kiln_reduce_<sum|prod|max|min>_<t>(int64 outer, int64 len, int64 inner, const T* x, T* out)
 *   kiln_reduce_<any|all>_b8(...)
 *   kiln_argmax_<t>/kiln_argmin_<t>(int64 outer, int64 len, int64 inner, const T* x, int32_t* out)
 *
 * Float sums and products accumulate in double; sums add blocks of BLOCK elements in LANES
 * independent lanes (which also vectorizes) and the block sums with Neumaier compensation.
 * Integer arithmetic wraps. max/min propagate NaN. A long row is split into a fixed number of
 * chunks that depends only on its length, so results do not depend on the thread count. Rows
 * of at most SHORT_REDUCE elements (inner == 1) are folded COLUMNS rows at a time, each in
 * order (the lane setup per row cost ~20x on rows of 4). */
#include "kiln.h"

#define LANES 32        /* independent accumulators per contiguous run */
#define BLOCK 4096      /* elements per compensated block of a float sum */
#define COLUMNS 256     /* columns reduced together when inner > 1 */
#define MAX_CHUNKS 64   /* partial results of one long row */
#define MIN_CHUNK 32768 /* elements per chunk of a long row */
#define PAR_REDUCE (1 << 18)
#define SHORT_REDUCE 32 /* rows this short (inner == 1) reduce COLUMNS rows at a time */
#define SHORT_ARG 64 /* argmax/argmin rows this short (inner == 1) take one scalar pass */

#define ADD(a, v) ((a) + (v))
#define MUL(a, v) ((a) * (v))
#define IMAX(a, v) ((v) > (a) ? (v) : (a))
#define IMIN(a, v) ((v) < (a) ? (v) : (a))
/* NaN-propagating: once the accumulator is NaN, neither comparison can replace it. */
#define FMAX(a, v) (((v) > (a) || (v) != (v)) ? (v) : (a))
#define FMIN(a, v) (((v) < (a) || (v) != (v)) ? (v) : (a))

/* Folds x[0, n) into ACC lanes, then the lanes into one value. */
#define LANE_RUN(name, T, ACC, IDENT, COMBINE)                                                  \
  static ACC name(int64_t n, const T* restrict x) {                                             \
    ACC lane[LANES];                                                                            \
    for (int j = 0; j < LANES; j++) lane[j] = (IDENT);                                          \
    int64_t i = 0;                                                                              \
    for (; i + LANES <= n; i += LANES) {                                                        \
      for (int j = 0; j < LANES; j++) lane[j] = COMBINE(lane[j], (ACC)x[i + j]);                \
    }                                                                                           \
    for (int j = 0; i < n; i++, j++) lane[j] = COMBINE(lane[j], (ACC)x[i]);                     \
    for (int width = LANES / 2; width > 0; width /= 2) {                                        \
      for (int j = 0; j < width; j++) lane[j] = COMBINE(lane[j], lane[j + width]);              \
    }                                                                                           \
    return lane[0];                                                                             \
  }

/* Float sums: lane sums of BLOCK-sized blocks, added with Neumaier's compensation. */
#define FLOAT_SUM_RUN(tc, T)                                                                    \
  LANE_RUN(sum_block_##tc, T, double, 0.0, ADD)                                                 \
  static double sum_run_##tc(int64_t n, const T* restrict x) {                                  \
    double sum = 0, compensation = 0;                                                           \
    for (int64_t b = 0; b < n; b += BLOCK) {                                                    \
      const double v = sum_block_##tc(n - b < BLOCK ? n - b : BLOCK, x + b);                    \
      const double t = sum + v;                                                                 \
      compensation += fabs(sum) >= fabs(v) ? (sum - t) + v : (v - t) + sum;                     \
      sum = t;                                                                                  \
    }                                                                                           \
    /* an infinite sum makes the compensation NaN (inf - inf): the sum alone is the answer */  \
    return isfinite(sum) ? sum + compensation : sum;                                            \
  }
KILN_FLOAT_TYPES(FLOAT_SUM_RUN)

/* The public kernel: RUN folds a contiguous row, COMBINE folds one more element (columns,
 * chunk partials). */
#define REDUCE(op, tc, T, ACC, IDENT, COMBINE, RUN)                                             \
  static ACC row_##op##_##tc(int64_t len, const T* restrict x) {                                \
    if (len <= PAR_REDUCE) return RUN(len, x);                                                  \
    int64_t chunks = (len + MIN_CHUNK - 1) / MIN_CHUNK;                                         \
    if (chunks > MAX_CHUNKS) chunks = MAX_CHUNKS;                                               \
    ACC partial[MAX_CHUNKS];                                                                    \
    _Pragma("omp parallel for schedule(static)") for (int64_t c = 0; c < chunks; c++) {         \
      const int64_t begin = len * c / chunks, end = len * (c + 1) / chunks;                     \
      partial[c] = RUN(end - begin, x + begin);                                                 \
    }                                                                                           \
    ACC acc = partial[0];                                                                       \
    for (int64_t c = 1; c < chunks; c++) acc = COMBINE(acc, partial[c]);                        \
    return acc;                                                                                 \
  }                                                                                             \
  void kiln_reduce_##op##_##tc(int64_t outer, int64_t len, int64_t inner, const T* restrict x,  \
                               T* restrict out) {                                               \
    const int64_t total = outer * len * inner;                                                  \
    if (inner == 1 && len <= SHORT_REDUCE && outer >= 8) { /* short rows: COLUMNS at a time */  \
      const int64_t row_blocks = (outer + COLUMNS - 1) / COLUMNS;                               \
      _Pragma("omp parallel for schedule(static) if(parallel: total > PAR_REDUCE)")             \
      for (int64_t blk = 0; blk < row_blocks; blk++) {                                          \
        const int64_t o0 = blk * COLUMNS;                                                       \
        const int64_t width = outer - o0 < COLUMNS ? outer - o0 : COLUMNS;                      \
        const T* restrict first = x + o0 * len;                                                 \
        ACC acc[COLUMNS];                                                                       \
        for (int64_t j = 0; j < width; j++) acc[j] = (IDENT);                                   \
        for (int64_t l = 0; l < len; l++) {                                                     \
          _Pragma("omp simd") for (int64_t j = 0; j < width; j++) {                             \
            acc[j] = COMBINE(acc[j], (ACC)first[j * len + l]);                                  \
          }                                                                                     \
        }                                                                                       \
        for (int64_t j = 0; j < width; j++) out[o0 + j] = (T)acc[j];                            \
      }                                                                                         \
      return;                                                                                   \
    }                                                                                           \
    if (inner == 1) {                                                                           \
      if (outer < 8 || total <= PAR_REDUCE) { /* few rows: parallel within each long row */     \
        for (int64_t o = 0; o < outer; o++) out[o] = (T)row_##op##_##tc(len, x + o * len);      \
        return;                                                                                 \
      }                                                                                         \
      _Pragma("omp parallel for schedule(static)") for (int64_t o = 0; o < outer; o++) {        \
        out[o] = (T)RUN(len, x + o * len);                                                      \
      }                                                                                         \
      return;                                                                                   \
    }                                                                                           \
    const int64_t column_blocks = (inner + COLUMNS - 1) / COLUMNS;                              \
    _Pragma("omp parallel for schedule(static) if(parallel: total > PAR_REDUCE)")               \
    for (int64_t item = 0; item < outer * column_blocks; item++) {                              \
      const int64_t o = item / column_blocks, j0 = (item % column_blocks) * COLUMNS;            \
      const int64_t width = inner - j0 < COLUMNS ? inner - j0 : COLUMNS;                        \
      ACC acc[COLUMNS];                                                                         \
      for (int64_t j = 0; j < width; j++) acc[j] = (IDENT);                                     \
      for (int64_t l = 0; l < len; l++) {                                                       \
        const T* restrict row = x + (o * len + l) * inner + j0;                                 \
        _Pragma("omp simd") for (int64_t j = 0; j < width; j++) {                               \
          acc[j] = COMBINE(acc[j], (ACC)row[j]);                                                \
        }                                                                                       \
      }                                                                                         \
      for (int64_t j = 0; j < width; j++) out[o * inner + j0 + j] = (T)acc[j];                  \
    }                                                                                           \
  }

/* Defines the lane run and the kernel together. */
#define REDUCE_LANES(op, tc, T, ACC, IDENT, COMBINE)                                            \
  LANE_RUN(run_##op##_##tc, T, ACC, IDENT, COMBINE)                                             \
  REDUCE(op, tc, T, ACC, IDENT, COMBINE, run_##op##_##tc)

REDUCE(sum, f32, float, double, 0.0, ADD, sum_run_f32)
REDUCE(sum, f64, double, double, 0.0, ADD, sum_run_f64)
REDUCE_LANES(sum, i32, int32_t, uint32_t, 0u, ADD)
REDUCE_LANES(sum, u32, uint32_t, uint32_t, 0u, ADD)

REDUCE_LANES(prod, f32, float, double, 1.0, MUL)
REDUCE_LANES(prod, f64, double, double, 1.0, MUL)
REDUCE_LANES(prod, i32, int32_t, uint32_t, 1u, MUL)
REDUCE_LANES(prod, u32, uint32_t, uint32_t, 1u, MUL)

REDUCE_LANES(max, f32, float, float, -INFINITY, FMAX)
REDUCE_LANES(max, f64, double, double, -INFINITY, FMAX)
REDUCE_LANES(max, i32, int32_t, int32_t, INT32_MIN, IMAX)
REDUCE_LANES(max, u32, uint32_t, uint32_t, 0u, IMAX)
REDUCE_LANES(any, b8, uint8_t, uint8_t, 0, IMAX)

REDUCE_LANES(min, f32, float, float, INFINITY, FMIN)
REDUCE_LANES(min, f64, double, double, INFINITY, FMIN)
REDUCE_LANES(min, i32, int32_t, int32_t, INT32_MAX, IMIN)
REDUCE_LANES(min, u32, uint32_t, uint32_t, UINT32_MAX, IMIN)
REDUCE_LANES(all, b8, uint8_t, uint8_t, 1, IMIN)

/* ---- argmax / argmin: the first index of the extreme; a NaN is the extreme ---- */

/* BETTER(v, best): v replaces the current best. Ties keep the earlier index. */
/* bitwise | and &: the same tests, without branches */
#define FLOAT_ARG_BETTER_max(v, best) (((v) > (best)) | (((v) != (v)) & ((best) == (best))))
#define FLOAT_ARG_BETTER_min(v, best) (((v) < (best)) | (((v) != (v)) & ((best) == (best))))
#define INT_ARG_BETTER_max(v, best) ((v) > (best))
#define INT_ARG_BETTER_min(v, best) ((v) < (best))

/* A contiguous row takes two vectorized-friendly passes: the extreme value (NaN-propagating
 * reduction), then the first position holding it. */
#define ARG_REDUCE(op, tc, T, BETTER)                                                           \
  static int32_t arg_row_##op##_##tc(int64_t len, const T* restrict x) {                        \
    const T extreme = (T)run_##op##_##tc(len, x);                                               \
    if (extreme != extreme) {                                                                   \
      for (int64_t l = 0; l < len; l++)                                                         \
        if (x[l] != x[l]) return (int32_t)l;                                                    \
    }                                                                                           \
    int64_t l = 0; /* blocks of 16 compared at once, then the hit block element by element */   \
    for (; l + 16 <= len; l += 16) {                                                            \
      int hit = 0;                                                                              \
      _Pragma("omp simd reduction(|:hit)") for (int j = 0; j < 16; j++) {                       \
        hit |= x[l + j] == extreme;                                                             \
      }                                                                                         \
      if (hit) break;                                                                           \
    }                                                                                           \
    for (; l < len; l++)                                                                        \
      if (x[l] == extreme) return (int32_t)l;                                                   \
    return 0;                                                                                   \
  }                                                                                             \
  void kiln_arg##op##_##tc(int64_t outer, int64_t len, int64_t inner, const T* restrict x,      \
                           int32_t* restrict out) {                                             \
    const int64_t total = outer * len * inner;                                                  \
    if (len <= 0) { /* not a valid call (len >= 1); answer 0 rather than read past x */        \
      memset(out, 0, (size_t)(outer * inner) * sizeof(int32_t));                                \
      return;                                                                                   \
    }                                                                                           \
    if (inner == 1 && len <= SHORT_ARG) { /* short rows: COLUMNS rows at a time, one pass */  \
      const int64_t row_blocks = (outer + COLUMNS - 1) / COLUMNS;                               \
      _Pragma("omp parallel for schedule(static) if(parallel: total > PAR_REDUCE)")             \
      for (int64_t blk = 0; blk < row_blocks; blk++) {                                          \
        const int64_t o0 = blk * COLUMNS;                                                       \
        const int64_t width = outer - o0 < COLUMNS ? outer - o0 : COLUMNS;                      \
        const T* restrict first = x + o0 * len;                                                 \
        T best[COLUMNS];                                                                        \
        int32_t index[COLUMNS];                                                                 \
        _Pragma("omp simd") for (int64_t j = 0; j < width; j++) {                               \
          best[j] = first[j * len];                                                             \
          index[j] = 0;                                                                         \
        }                                                                                       \
        for (int64_t l = 1; l < len; l++) {                                                     \
          _Pragma("omp simd") for (int64_t j = 0; j < width; j++) {                             \
            const T v = first[j * len + l];                                                     \
            const int better = BETTER(v, best[j]);                                              \
            best[j] = better ? v : best[j];                                                     \
            index[j] = better ? (int32_t)l : index[j];                                          \
          }                                                                                     \
        }                                                                                       \
        memcpy(out + o0, index, (size_t)width * sizeof(int32_t));                               \
      }                                                                                         \
      return;                                                                                   \
    }                                                                                           \
    if (inner == 1) {                                                                           \
      _Pragma("omp parallel for schedule(static) if(parallel: total > PAR_REDUCE && outer > 1)") \
      for (int64_t o = 0; o < outer; o++) out[o] = arg_row_##op##_##tc(len, x + o * len);       \
      return;                                                                                   \
    }                                                                                           \
    const int64_t column_blocks = (inner + COLUMNS - 1) / COLUMNS;                              \
    _Pragma("omp parallel for schedule(static) if(parallel: total > PAR_REDUCE)")               \
    for (int64_t item = 0; item < outer * column_blocks; item++) {                              \
      const int64_t o = item / column_blocks, j0 = (item % column_blocks) * COLUMNS;            \
      const int64_t width = inner - j0 < COLUMNS ? inner - j0 : COLUMNS;                        \
      T best[COLUMNS];                                                                          \
      int32_t index[COLUMNS];                                                                   \
      const T* restrict first = x + o * len * inner + j0;                                       \
      for (int64_t j = 0; j < width; j++) best[j] = first[j], index[j] = 0;                     \
      for (int64_t l = 1; l < len; l++) {                                                       \
        const T* restrict row = first + l * inner;                                              \
        _Pragma("omp simd") for (int64_t j = 0; j < width; j++) {                               \
          const int better = BETTER(row[j], best[j]);                                           \
          best[j] = better ? row[j] : best[j];                                                  \
          index[j] = better ? (int32_t)l : index[j];                                            \
        }                                                                                       \
      }                                                                                         \
      memcpy(out + o * inner + j0, index, (size_t)width * sizeof(int32_t));                     \
    }                                                                                           \
  }

ARG_REDUCE(max, f32, float, FLOAT_ARG_BETTER_max)
ARG_REDUCE(max, f64, double, FLOAT_ARG_BETTER_max)
ARG_REDUCE(max, i32, int32_t, INT_ARG_BETTER_max)
ARG_REDUCE(max, u32, uint32_t, INT_ARG_BETTER_max)
ARG_REDUCE(min, f32, float, FLOAT_ARG_BETTER_min)
ARG_REDUCE(min, f64, double, FLOAT_ARG_BETTER_min)
ARG_REDUCE(min, i32, int32_t, INT_ARG_BETTER_min)
ARG_REDUCE(min, u32, uint32_t, INT_ARG_BETTER_min)
