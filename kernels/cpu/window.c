/* Windowed reductions (pooling), as XLA's ReduceWindow without base dilation:
 *   kiln_reduce_window_<max|sum>_<t>(int64 ndim, const int64* p, const T* x, T* out)
 * p holds ndim-long arrays in order: in_shape, out_shape, window, strides, pad_lo,
 * window_dilation. Output index o reduces x[o*stride - pad_lo + w*dilation] over the window
 * positions w; positions outside the input read the identity (-inf / lowest, or 0).
 * max propagates NaN; float sums accumulate in double, integer sums wrap. */
#include "kiln.h"

#define PAR_WINDOW (1 << 16) /* output elements x window elements */
#define WCHUNK 256           /* outputs of one row reduced together by the fast path */

#define ADD(a, v) ((a) + (v))
#define IMAX(a, v) ((v) > (a) ? (v) : (a))
/* bitwise |: the same test, without a branch */
#define FMAX(a, v) ((((v) > (a)) | ((v) != (v))) ? (v) : (a))

/* Fast path: the window spans only the last two axes (every leading axis has window 1,
 * stride 1, no padding) and has no dilation. The leading axes become one batch of planes and
 * the taps are visited in the generic path's order (rows, then columns); taps outside the
 * plane are skipped, as there. Returns 0 when it does not apply. */
#define WINDOW_2D(op, tc, T, ACC, IDENT, COMBINE)                                               \
  static int window_2d_##op##_##tc(int64_t ndim, const int64_t* p, const T* x, T* out,         \
                                   int64_t work) {                                              \
    const int64_t *in = p, *out_shape = p + ndim, *window = p + 2 * ndim,                       \
                  *stride = p + 3 * ndim, *pad = p + 4 * ndim, *dil = p + 5 * ndim;             \
    const int64_t a = ndim - 2, b = ndim - 1;                                                   \
    if (dil[a] != 1 || dil[b] != 1 || stride[a] < 1 || stride[b] < 1) return 0;                                                   \
    int64_t batch = 1;                                                                          \
    for (int64_t k = 0; k < a; k++) {                                                           \
      if (window[k] != 1 || stride[k] != 1 || pad[k] != 0 || in[k] != out_shape[k]) return 0;  \
      batch *= in[k];                                                                           \
    }                                                                                           \
    const int64_t H = in[a], W = in[b], OH = out_shape[a], OW = out_shape[b];                   \
    const int64_t KH = window[a], KW = window[b], SH = stride[a], SW = stride[b];               \
    const int64_t PH = pad[a], PW = pad[b];                                                     \
    _Pragma("omp parallel for schedule(static) if(parallel: work > PAR_WINDOW)")                \
    for (int64_t item = 0; item < batch * OH; item++) {                                         \
      const int64_t n = item / OH, oh = item % OH;                                              \
      const T* plane = x + n * H * W;                                                           \
      T* orow = out + item * OW;                                                                \
      const int64_t h = oh * SH - PH;                                                           \
      const int64_t kh0 = h < 0 ? -h : 0, kh1 = H - h < KH ? H - h : KH;                        \
      for (int64_t ow0 = 0; ow0 < OW; ow0 += WCHUNK) {                                          \
        const int64_t width = OW - ow0 < WCHUNK ? OW - ow0 : WCHUNK;                            \
        ACC acc[WCHUNK];                                                                        \
        for (int64_t j = 0; j < width; j++) acc[j] = (ACC)(IDENT);                              \
        for (int64_t kh = kh0; kh < kh1; kh++) {                                                \
          const T* row = plane + (h + kh) * W;                                                  \
          for (int64_t kw = 0; kw < KW; kw++) {                                                 \
            /* outputs whose tap kw lands inside the row: 0 <= ow*SW + c < W */                 \
            const int64_t c = kw - PW;                                                          \
            int64_t lo = c >= 0 ? 0 : (-c + SW - 1) / SW;                                       \
            int64_t hi = W - 1 - c < 0 ? 0 : (W - 1 - c) / SW + 1;                              \
            lo = lo > ow0 ? lo - ow0 : 0;                                                       \
            hi = hi - ow0 < width ? hi - ow0 : width;                                           \
            const T* src = row + ow0 * SW + c;                                                  \
            _Pragma("omp simd") for (int64_t j = lo; j < hi; j++) {                             \
              acc[j] = COMBINE(acc[j], (ACC)src[j * SW]);                                       \
            }                                                                                   \
          }                                                                                     \
        }                                                                                       \
        for (int64_t j = 0; j < width; j++) orow[ow0 + j] = (T)acc[j];                          \
      }                                                                                         \
    }                                                                                           \
    return 1;                                                                                   \
  }

/* 2x2 stride-2 pooling without padding or dilation (the usual max pool), on whole planes.
 * Pooled rows are short (14 or 7 outputs), so instead of a vector loop plus a scalar
 * remainder per row, each row is reduced 16 outputs at a time into a scratch row (whose
 * extra lanes read past the row into the next, never past the buffer) and only the real
 * outputs are copied out; a row whose rounded read would leave the buffer goes scalar. The
 * taps are combined in the generic path's order, so results are bit-identical. */
#define POOL_LANES 16
#define WINDOW_2X2(op, tc, T, ACC, IDENT, COMBINE)                                              \
  static int window_2x2_##op##_##tc(int64_t ndim, const int64_t* p, const T* x, T* out) {     \
    const int64_t *in = p, *out_shape = p + ndim, *window = p + 2 * ndim,                       \
                  *stride = p + 3 * ndim, *pad = p + 4 * ndim, *dil = p + 5 * ndim;             \
    const int64_t a = ndim - 2, b = ndim - 1;                                                   \
    if (window[a] != 2 || window[b] != 2 || stride[a] != 2 || stride[b] != 2) return 0;         \
    if (pad[a] != 0 || pad[b] != 0 || dil[a] != 1 || dil[b] != 1) return 0;                     \
    int64_t batch = 1;                                                                          \
    for (int64_t k = 0; k < a; k++) {                                                           \
      if (window[k] != 1 || stride[k] != 1 || pad[k] != 0 || in[k] != out_shape[k]) return 0;  \
      batch *= in[k];                                                                           \
    }                                                                                           \
    const int64_t H = in[a], W = in[b], OH = out_shape[a], OW = out_shape[b];                   \
    if (OH < 1 || OW < 1 || 2 * OH > H || 2 * OW > W) return 0;                                 \
    const T* end = x + batch * H * W;                                                           \
    _Pragma("omp parallel for schedule(static) if(parallel: batch * OH * OW * 4 > PAR_WINDOW)") \
    for (int64_t item = 0; item < batch * OH; item++) {                                         \
      const int64_t n = item / OH, oh = item % OH;                                              \
      const T* r0 = x + n * H * W + 2 * oh * W;                                                 \
      const T* r1 = r0 + W;                                                                     \
      T* orow = out + item * OW;                                                                \
      for (int64_t j0 = 0; j0 < OW; j0 += POOL_LANES) {                                         \
        const int64_t count = OW - j0 < POOL_LANES ? OW - j0 : POOL_LANES;                      \
        if (r1 + 2 * (j0 + POOL_LANES) <= end) {                                                \
          T lane[POOL_LANES];                                                                   \
          const T *s0 = r0 + 2 * j0, *s1 = r1 + 2 * j0;                                         \
          for (int j = 0; j < POOL_LANES; j++) {                                                \
            ACC acc = COMBINE((ACC)(IDENT), (ACC)s0[2 * j]);                                    \
            acc = COMBINE(acc, (ACC)s0[2 * j + 1]);                                             \
            acc = COMBINE(acc, (ACC)s1[2 * j]);                                                 \
            lane[j] = (T)COMBINE(acc, (ACC)s1[2 * j + 1]);                                      \
          }                                                                                     \
          memcpy(orow + j0, lane, (size_t)count * sizeof(T));                                   \
        } else {                                                                                \
          for (int64_t j = j0; j < j0 + count; j++) {                                           \
            ACC acc = COMBINE((ACC)(IDENT), (ACC)r0[2 * j]);                                    \
            acc = COMBINE(acc, (ACC)r0[2 * j + 1]);                                             \
            acc = COMBINE(acc, (ACC)r1[2 * j]);                                                 \
            orow[j] = (T)COMBINE(acc, (ACC)r1[2 * j + 1]);                                      \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
    return 1;                                                                                   \
  }

#define REDUCE_WINDOW(op, tc, T, ACC, IDENT, COMBINE)                                           \
  WINDOW_2X2(op, tc, T, ACC, IDENT, COMBINE)                                                    \
  WINDOW_2D(op, tc, T, ACC, IDENT, COMBINE)                                                     \
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
    if (ndim >= 2 && window_2x2_##op##_##tc(ndim, p, x, out)) return;                           \
    if (ndim >= 2 && window_2d_##op##_##tc(ndim, p, x, out, total * window_size)) return;       \
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
