/* Windowed reductions (pooling), as XLA's ReduceWindow without base dilation:
 *   kiln_reduce_window_<max|sum>_<t>(int64 ndim, const int64* p, const T* x, T* out)
 * p holds ndim-long arrays in order: in_shape, out_shape, window, strides, pad_lo,
 * window_dilation. Output index o reduces x[o*stride - pad_lo + w*dilation] over the window
 * positions w; positions outside the input read the identity (-inf / lowest, or 0).
 * max propagates NaN; float sums accumulate in double, integer sums wrap. */
#include "kiln.h"

#define PAR_WINDOW (1 << 16) /* output elements x window elements */

#define ADD(a, v) ((a) + (v))
#define IMAX(a, v) ((v) > (a) ? (v) : (a))
#define FMAX(a, v) (((v) > (a) || (v) != (v)) ? (v) : (a))

#define REDUCE_WINDOW(op, tc, T, ACC, IDENT, COMBINE)                                           \
  void kiln_reduce_window_##op##_##tc(int64_t ndim, const int64_t* p, const T* x, T* out) {     \
    const int64_t *in = p, *out_shape = p + ndim, *window = p + 2 * ndim,                       \
                  *stride = p + 3 * ndim, *pad = p + 4 * ndim, *dil = p + 5 * ndim;             \
    int64_t total = 1, window_size = 1;                                                         \
    for (int64_t k = 0; k < ndim; k++) total *= out_shape[k], window_size *= window[k];         \
    if (total == 0) return;                                                                     \
    if (ndim == 0) {                                                                            \
      out[0] = (T)COMBINE((ACC)(IDENT), (ACC)x[0]);                                             \
      return;                                                                                   \
    }                                                                                           \
    const int64_t last = ndim - 1;                                                              \
    _Pragma("omp parallel for schedule(static) if(parallel: total * window_size > PAR_WINDOW)") \
    for (int64_t o = 0; o < total; o++) {                                                       \
      int64_t base[ndim], tap[ndim];                                                            \
      int64_t rest = o;                                                                         \
      for (int64_t k = last; k >= 0; k--) {                                                     \
        base[k] = (rest % out_shape[k]) * stride[k] - pad[k];                                   \
        rest /= out_shape[k];                                                                   \
        tap[k] = 0;                                                                             \
      }                                                                                         \
      /* taps of the last dim that land inside the input: w in [w0, w1) */                     \
      int64_t w0 = 0, w1 = window[last];                                                        \
      while (w0 < w1 && base[last] + w0 * dil[last] < 0) w0++;                                  \
      while (w1 > w0 && base[last] + (w1 - 1) * dil[last] >= in[last]) w1--;                    \
      ACC acc = (ACC)(IDENT);                                                                   \
      int done = window_size == 0 || w0 == w1;                                                  \
      while (!done) {                                                                           \
        /* offset of the current outer taps, or skip them when one falls outside */             \
        int64_t offset = 0, inside = 1;                                                         \
        for (int64_t k = 0; k < last; k++) {                                                    \
          const int64_t pos = base[k] + tap[k] * dil[k];                                        \
          inside &= pos >= 0 && pos < in[k];                                                    \
          offset = offset * in[k] + pos;                                                        \
        }                                                                                       \
        if (inside) {                                                                           \
          const T* row = x + offset * in[last] + base[last];                                    \
          for (int64_t w = w0; w < w1; w++) acc = COMBINE(acc, (ACC)row[w * dil[last]]);        \
        }                                                                                       \
        done = 1; /* next outer tap, odometer style */                                          \
        for (int64_t k = last - 1; k >= 0; k--) {                                               \
          if (++tap[k] < window[k]) {                                                           \
            done = 0;                                                                           \
            break;                                                                              \
          }                                                                                     \
          tap[k] = 0;                                                                           \
        }                                                                                       \
      }                                                                                         \
      out[o] = (T)acc;                                                                          \
    }                                                                                           \
  }

REDUCE_WINDOW(max, f32, float, float, -INFINITY, FMAX)
REDUCE_WINDOW(max, f64, double, double, -INFINITY, FMAX)
REDUCE_WINDOW(max, i32, int32_t, int32_t, INT32_MIN, IMAX)
REDUCE_WINDOW(max, u32, uint32_t, uint32_t, 0u, IMAX)
REDUCE_WINDOW(sum, f32, float, double, 0.0, ADD)
REDUCE_WINDOW(sum, f64, double, double, 0.0, ADD)
REDUCE_WINDOW(sum, i32, int32_t, uint32_t, 0u, ADD)
REDUCE_WINDOW(sum, u32, uint32_t, uint32_t, 0u, ADD)
