/* Gather and scatter along the middle axis of (outer, len, inner):
 *   kiln_take_<bytes>(int64 outer, int64 len, int64 inner, int64 nidx, const int32_t* idx,
 *                     const void* x, void* out)            out[o, j, i] = x[o, idx[j], i]
 *   kiln_scatter_add_<t>(outer, len, inner, nidx, idx, const T* updates, T* out)
 *   kiln_scatter_set_<bytes>(outer, len, inner, nidx, idx, const void* updates, void* out)
 *   kiln_scatter_{mul,min,max}_<t>(outer, len, inner, nidx, idx, const T* updates, T* out)
 * out of a scatter already holds the operand; add accumulates duplicates (integers wrap), set
 * lets the last write win. Indices are already validated or clamped into [0, len). */
#include "kiln.h"

#define TAKE(bytes, T)                                                                          \
  void kiln_take_##bytes(int64_t outer, int64_t len, int64_t inner, int64_t nidx,               \
                         const int32_t* restrict idx, const void* x, void* out) {               \
    const T* restrict src = (const T*)x;                                                        \
    T* restrict dst = (T*)out;                                                                  \
    const int64_t rows = outer * nidx;                                                          \
    if (inner == 1) { /* element gather */                                                      \
      _Pragma("omp parallel for schedule(static) if(parallel: rows > KILN_PAR_COPY)")           \
      for (int64_t r = 0; r < rows; r++) {                                                      \
        dst[r] = src[(r / nidx) * len + idx[r % nidx]];                                         \
      }                                                                                         \
      return;                                                                                   \
    }                                                                                           \
    _Pragma("omp parallel for schedule(static) if(parallel: rows * inner > KILN_PAR_COPY)")     \
    for (int64_t r = 0; r < rows; r++) {                                                        \
      const int64_t o = r / nidx, j = r % nidx;                                                 \
      memcpy(dst + r * inner, src + (o * len + idx[j]) * inner, (size_t)inner * sizeof(T));     \
    }                                                                                           \
  }
TAKE(1, uint8_t)
TAKE(2, uint16_t)
TAKE(4, uint32_t)
TAKE(8, uint64_t)

/* Scatters run their index loop in order (duplicates must be applied in sequence); the
 * outer rows are independent and may run in parallel. */
#define SCATTER(name, T, UPDATE)                                                                \
  void kiln_scatter_##name(int64_t outer, int64_t len, int64_t inner, int64_t nidx,             \
                           const int32_t* restrict idx, const void* updates, void* out) {       \
    const T* restrict src = (const T*)updates;                                                  \
    T* restrict dst = (T*)out;                                                                  \
    const int use_threads = outer > 1 && outer * nidx * inner > KILN_PAR_COPY;                  \
    _Pragma("omp parallel for schedule(static) if(parallel: use_threads)")                      \
    for (int64_t o = 0; o < outer; o++) {                                                       \
      for (int64_t j = 0; j < nidx; j++) {                                                      \
        T* restrict d = dst + (o * len + idx[j]) * inner;                                       \
        const T* restrict s = src + (o * nidx + j) * inner;                                     \
        _Pragma("omp simd") for (int64_t i = 0; i < inner; i++) d[i] = UPDATE(d[i], s[i]);     \
      }                                                                                         \
    }                                                                                           \
  }

#define ADD(old, v) ((old) + (v)) /* floats; unsigned wraps */
#define ADD_I32(old, v) ((int32_t)((uint32_t)(old) + (uint32_t)(v)))
#define SET(old, v) (v)

SCATTER(add_f32, float, ADD)
SCATTER(add_f64, double, ADD)
SCATTER(add_i32, int32_t, ADD_I32)
SCATTER(add_u32, uint32_t, ADD)
SCATTER(set_1, uint8_t, SET)
SCATTER(set_2, uint16_t, SET)
SCATTER(set_4, uint32_t, SET)
SCATTER(set_8, uint64_t, SET)

/* The nonlinear accumulating scatters (JAX's scatter_mul / scatter_min / scatter_max): every
 * update is folded into its target in index order. min/max propagate NaN and keep the old
 * value on ties, as the reference (`nanMin(old, v)`). */
#define MUL(old, v) ((old) * (v)) /* floats; unsigned wraps */
#define MUL_I32(old, v) ((int32_t)((uint32_t)(old) * (uint32_t)(v)))
#define FMIN(old, v) (((old) != (old) || (v) != (v)) ? (old) + (v) : ((old) < (v) ? (old) : (v)))
#define FMAX(old, v) (((old) != (old) || (v) != (v)) ? (old) + (v) : ((old) > (v) ? (old) : (v)))
#define IMIN(old, v) ((old) < (v) ? (old) : (v))
#define IMAX(old, v) ((old) > (v) ? (old) : (v))

SCATTER(mul_f32, float, MUL)
SCATTER(mul_f64, double, MUL)
SCATTER(mul_i32, int32_t, MUL_I32)
SCATTER(mul_u32, uint32_t, MUL)
SCATTER(min_f32, float, FMIN)
SCATTER(min_f64, double, FMIN)
SCATTER(min_i32, int32_t, IMIN)
SCATTER(min_u32, uint32_t, IMIN)
SCATTER(max_f32, float, FMAX)
SCATTER(max_f64, double, FMAX)
SCATTER(max_i32, int32_t, IMAX)
SCATTER(max_u32, uint32_t, IMAX)
