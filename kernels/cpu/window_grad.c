/* Gradients of windowed max (max pooling), as XLA's SelectAndScatter and JAX's
 * select_and_gather_add, for any rank:
 *   kiln_select_and_gather_add_<t>(int64 ndim, const int64* p, const T* tangent, const T* x,
 *                                  T* out)       out (out_shape): per window, the tangent at
 *                                                 the selected tap, 0 when there is none
 *   kiln_select_and_scatter_add_<t>(int64 ndim, const int64* p, const T* ct, const T* x,
 *                                   T* out)      out (in_shape, overwritten): zeros plus each
 *                                                 window's ct added at its selected tap
 * p is the packed parameter block of kiln_reduce_window_*: in_shape, out_shape, window,
 * strides, pad_lo, window_dilation (ndim entries each). tangent has x's shape, ct out_shape.
 * The selected tap of a window is its first maximal tap of x in row-major tap order, a NaN
 * counting as the maximum (the first NaN wins), as argmax picks; taps in the padding are
 * never selected, and a window made only of padding selects nothing. Scatters add in
 * row-major window order (integers wrap), so results are deterministic. */
#include "kiln.h"

#define PAR_SELECT (1 << 16) /* output elements x window elements */
#define SCHUNK 256           /* outputs of one row handled together by the 2-D paths */
#define LANES 16             /* the 2-D paths select whole multiples of this many windows */
#define MAX_PHASES 4         /* strides up to this are split into contiguous phases */
#define PHASE_SLACK 64       /* ...when a window spans fewer than this many strides */

/* v beats the best so far: larger, or the first NaN (!(v <= best) holds for a NaN v; a NaN
 * best is never beaten). Two spellings of the same test, each where gcc vectorizes it
 * without branches: the bitwise one in loops over arrays (there || becomes a data-dependent
 * branch around the second test), the logical one in the 2x2 loop (which gcc does not
 * vectorize with the bitwise one). */
#define FBETTER(v, best) (!__builtin_islessequal((v), (best)) & ((best) == (best)))
#define FBETTER_2X2(v, best) ((v) > (best) || ((v) != (v) && (best) == (best)))
#define IBETTER(v, best) ((v) > (best))
#define ADD(a, v) ((a) + (v))
#define ADD_I32(a, v) ((int32_t)((uint32_t)(a) + (uint32_t)(v)))

/* The 2-D paths apply when the window spans only the last two axes (every leading axis has
 * window 1, stride 1, no padding), without dilation or padding, and every tap of every
 * window lies inside the plane. */
typedef struct {
  int64_t planes, H, W, OH, OW, KH, KW, SH, SW;
} Plane2d;

/* Sets the plane geometry and returns 1 when the 2-D paths apply, else returns 0. */
static int plane_2d(int64_t ndim, const int64_t* p, Plane2d* g) {
  if (ndim < 2) return 0;
  const int64_t *in = p, *out_shape = p + ndim, *window = p + 2 * ndim, *stride = p + 3 * ndim,
                *pad = p + 4 * ndim, *dil = p + 5 * ndim;
  const int64_t a = ndim - 2, b = ndim - 1;
  g->planes = 1;
  for (int64_t k = 0; k < a; k++) {
    if (window[k] != 1 || stride[k] != 1 || pad[k] != 0 || in[k] != out_shape[k]) return 0;
    g->planes *= in[k];
  }
  if (dil[a] != 1 || dil[b] != 1 || pad[a] != 0 || pad[b] != 0) return 0;
  g->H = in[a], g->W = in[b], g->OH = out_shape[a], g->OW = out_shape[b];
  g->KH = window[a], g->KW = window[b], g->SH = stride[a], g->SW = stride[b];
  if (g->OH < 1 || g->OW < 1 || (g->KH - 1) * g->W + g->KW >= INT32_MAX) return 0;
  return (g->OH - 1) * g->SH + g->KH <= g->H && (g->OW - 1) * g->SW + g->KW <= g->W;
}

/* Short rows (a 14- or 7-wide pooled image) would leave most windows to the scalar remainder
 * of a vectorized loop, whose data-dependent branches mispredict on every other window. So a
 * 2-D path selects `width` windows rounded up to LANES into scratch, and copies out only
 * `width`: the extra windows read past the row (never past the buffer: `padded_width` keeps
 * the rounding only where the last read of the rounded run, `reach` elements after the run's
 * first element, stays below `limit`) and their results are dropped. */
static inline int64_t padded_width(int64_t first, int64_t width, int64_t reach_per_window,
                                   int64_t reach, int64_t limit) {
  const int64_t rounded = (width + LANES - 1) / LANES * LANES;
  return first + (rounded - 1) * reach_per_window + reach < limit ? rounded : width;
}

#define WINDOW_GRAD(tc, T, BETTER, BETTER_2X2, ACCUM)                                                       \
  /* Flat offset in x of output o's selected tap, or -1 (odometer over the window taps, the \
   * last axis innermost, as kiln_reduce_window_*). */                                         \
  static int64_t select_tap_##tc(int64_t ndim, const int64_t* p, const T* x, int64_t o) {      \
    const int64_t *in = p, *out_shape = p + ndim, *window = p + 2 * ndim,                       \
                  *stride = p + 3 * ndim, *pad = p + 4 * ndim, *dil = p + 5 * ndim;             \
    const int64_t last = ndim - 1;                                                              \
    int64_t base[ndim], tap[ndim];                                                              \
    int64_t rest = o;                                                                           \
    for (int64_t k = last; k >= 0; k--) {                                                       \
      base[k] = (rest % out_shape[k]) * stride[k] - pad[k];                                     \
      rest /= out_shape[k];                                                                     \
      tap[k] = 0;                                                                               \
    }                                                                                           \
    /* taps of the last axis that land inside the input: w in [w0, w1) */                      \
    int64_t w0 = 0, w1 = window[last];                                                          \
    while (w0 < w1 && base[last] + w0 * dil[last] < 0) w0++;                                    \
    while (w1 > w0 && base[last] + (w1 - 1) * dil[last] >= in[last]) w1--;                      \
    int64_t chosen = -1;                                                                        \
    T best = 0;                                                                                 \
    int done = w0 == w1;                                                                        \
    while (!done) {                                                                             \
      int64_t offset = 0, inside = 1;                                                           \
      for (int64_t k = 0; k < last; k++) {                                                      \
        const int64_t pos = base[k] + tap[k] * dil[k];                                          \
        inside &= pos >= 0 && pos < in[k];                                                      \
        offset = offset * in[k] + pos;                                                          \
      }                                                                                         \
      if (inside) {                                                                             \
        const int64_t row = offset * in[last] + base[last];                                     \
        for (int64_t w = w0; w < w1; w++) {                                                     \
          const T v = x[row + w * dil[last]];                                                   \
          if (chosen < 0 || BETTER(v, best)) best = v, chosen = row + w * dil[last];            \
        }                                                                                       \
      }                                                                                         \
      done = 1;                                                                                 \
      for (int64_t k = last - 1; k >= 0; k--) {                                                 \
        if (++tap[k] < window[k]) {                                                             \
          done = 0;                                                                             \
          break;                                                                                \
        }                                                                                       \
        tap[k] = 0;                                                                             \
      }                                                                                         \
    }                                                                                           \
    return chosen;                                                                              \
  }                                                                                             \
                                                                                                \
  /* Selects the taps of n windows of one row (SW apart, the first at x + first, every tap   \
   * readable): sel[j] = offset of window j's selected tap from its first element. */         \
  static void select_row_##tc(const T* x, int64_t size, int64_t first, int64_t width,           \
                              int64_t W, int64_t KH, int64_t KW, int64_t SW, int32_t* sel) {    \
    const int64_t n = padded_width(first, width, SW, (KH - 1) * W + KW - 1, size);              \
    /* strided taps are first split by phase (tap kw of window j is phases[kw % SW][j + kw / \
     * SW]), so that every tap is read contiguously and the selects vectorize */               \
    const int split = SW > 1 && SW <= MAX_PHASES && (KW - 1) / SW < PHASE_SLACK;               \
    T best[SCHUNK], phases[MAX_PHASES][SCHUNK + PHASE_SLACK];                                   \
    for (int64_t kh = 0; kh < KH; kh++) {                                                       \
      const T* row = x + first + kh * W;                                                        \
      if (split) {                                                                              \
        const int64_t last = (n - 1) * SW + KW - 1; /* the last element the row's taps read */ \
        for (int64_t q = 0; q < SW && q <= last; q++) {                                         \
          const int64_t count = (last - q) / SW + 1;                                            \
          for (int64_t j = 0; j < count; j++) phases[q][j] = row[j * SW + q];                   \
        }                                                                                       \
      }                                                                                         \
      for (int64_t kw = 0; kw < KW; kw++) {                                                     \
        const int32_t off = (int32_t)(kh * W + kw);                                             \
        if (kh == 0 && kw == 0) {                                                               \
          const T* src = split ? phases[0] : row;                                               \
          const int64_t step = split ? 1 : SW;                                                  \
          for (int64_t j = 0; j < n; j++) best[j] = src[j * step], sel[j] = 0;                  \
          continue;                                                                             \
        }                                                                                       \
        if (split || SW == 1) {                                                                 \
          const T* src = split ? phases[kw % SW] + kw / SW : row + kw;                          \
          for (int64_t j = 0; j < n; j++) {                                                     \
            const T v = src[j];                                                                 \
            const int take = BETTER(v, best[j]);                                                \
            best[j] = take ? v : best[j];                                                       \
            sel[j] = take ? off : sel[j];                                                       \
          }                                                                                     \
        } else {                                                                                \
          for (int64_t j = 0; j < n; j++) {                                                     \
            const T v = row[j * SW + kw];                                                       \
            const int take = BETTER(v, best[j]);                                                \
            best[j] = take ? v : best[j];                                                       \
            sel[j] = take ? off : sel[j];                                                       \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* 2x2 windows, stride 2, over n windows of the rows x0 and x1: for a gather, picked[j] =  \
   * the tangent (rows t0, t1) at window j's selected tap; for a scatter, out0..3[j] = v[j] \
   * at the selected tap (a, b, c, d in row-major order) and 0 at the three others. */       \
  static inline __attribute__((always_inline)) void pool2x2_##tc(                              \
      const int gather, int64_t n, const T* x0, const T* x1, const T* t0, const T* t1,         \
      const T* v, T* picked, T* out0, T* out1, T* out2, T* out3) {                              \
    for (int64_t j = 0; j < n; j++) {                                                           \
      /* unconditional loads and selects: gcc vectorizes the stride-2 access */                \
      const T a = x0[2 * j], b = x0[2 * j + 1], c = x1[2 * j], d = x1[2 * j + 1];               \
      const int take_b = BETTER_2X2(b, a);                                                          \
      const T ab = take_b ? b : a;                                                              \
      const int take_c = BETTER_2X2(c, ab);                                                         \
      const T abc = take_c ? c : ab;                                                            \
      const int take_d = BETTER_2X2(d, abc);                                                        \
      if (gather) {                                                                             \
        const T ta = t0[2 * j], tb = t0[2 * j + 1], tc_ = t1[2 * j], td = t1[2 * j + 1];        \
        const T tab = take_b ? tb : ta, tabc = take_c ? tc_ : tab;                              \
        picked[j] = take_d ? td : tabc;                                                         \
      } else {                                                                                  \
        /* the cotangent passes down the chain of selections to the tap that won */           \
        const T vj = v[j], zero = 0;                                                            \
        const T vd = take_d ? vj : zero, rest = take_d ? zero : vj;                             \
        const T vc = take_c ? rest : zero, vab = take_c ? zero : rest;                          \
        out0[j] = take_b ? zero : vab;                                                          \
        out1[j] = take_b ? vab : zero;                                                          \
        out2[j] = vc;                                                                           \
        out3[j] = vd;                                                                           \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
  static void gather_2x2_##tc(int64_t n, const T* x0, const T* x1, const T* t0, const T* t1,   \
                              T* picked) {                                                      \
    pool2x2_##tc(1, n, x0, x1, t0, t1, NULL, picked, NULL, NULL, NULL, NULL);                   \
  }                                                                                             \
  static void scatter_2x2_##tc(int64_t n, const T* x0, const T* x1, const T* v, T* out0,        \
                               T* out1, T* out2, T* out3) {                                     \
    pool2x2_##tc(0, n, x0, x1, NULL, NULL, v, NULL, out0, out1, out2, out3);                    \
  }                                                                                             \
                                                                                                \
  /* 2-D gather, parallel over output rows */                                                  \
  static void gather_2d_##tc(const Plane2d* g, const T* t, const T* x, T* out) {                \
    const int64_t H = g->H, W = g->W, OH = g->OH, OW = g->OW, KH = g->KH, KW = g->KW;           \
    const int64_t SH = g->SH, SW = g->SW, items = g->planes * OH, size = g->planes * H * W;     \
    const int pool2x2 = KH == 2 && KW == 2 && SH == 2 && SW == 2;                               \
    _Pragma("omp parallel for schedule(static) if(parallel: items * OW * KH * KW > PAR_SELECT)") \
    for (int64_t item = 0; item < items; item++) {                                              \
      const int64_t n = item / OH, oh = item % OH;                                              \
      const int64_t start = n * H * W + oh * SH * W;                                            \
      T* orow = out + item * OW;                                                                \
      T picked[SCHUNK];                                                                         \
      int32_t sel[SCHUNK];                                                                      \
      for (int64_t ow0 = 0; ow0 < OW; ow0 += SCHUNK) {                                          \
        const int64_t width = OW - ow0 < SCHUNK ? OW - ow0 : SCHUNK;                            \
        const int64_t first = start + ow0 * SW;                                                 \
        if (pool2x2) {                                                                          \
          const int64_t m = padded_width(first, width, 2, W + 1, size);                         \
          gather_2x2_##tc(m, x + first, x + first + W, t + first, t + first + W, picked);       \
        } else {                                                                                \
          select_row_##tc(x, size, first, width, W, KH, KW, SW, sel);                           \
          for (int64_t j = 0; j < width; j++) picked[j] = t[first + j * SW + sel[j]];           \
        }                                                                                       \
        memcpy(orow + ow0, picked, (size_t)width * sizeof(T));                                  \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* 2-D scatter where the windows tile the plane (window == stride): each output row owns   \
   * KH input rows and writes them whole (the cotangent at the selected tap, zeros          \
   * elsewhere), the rows and columns past the last window zeroed; parallel over rows. */   \
  static void scatter_tiled_2d_##tc(const Plane2d* g, const T* ct, const T* x, T* out) {        \
    const int64_t H = g->H, W = g->W, OH = g->OH, OW = g->OW, KH = g->KH, KW = g->KW;           \
    const int64_t items = g->planes * OH, size = g->planes * H * W;                             \
    _Pragma("omp parallel for schedule(static) if(parallel: items * OW * KH * KW > PAR_SELECT)") \
    for (int64_t item = 0; item < items; item++) {                                              \
      const int64_t n = item / OH, oh = item % OH;                                              \
      const int64_t start = n * H * W + oh * KH * W;                                            \
      const T* crow = ct + item * OW;                                                           \
      T v[4][SCHUNK];                                                                           \
      int32_t sel[SCHUNK];                                                                      \
      for (int64_t ow0 = 0; ow0 < OW; ow0 += SCHUNK) {                                          \
        const int64_t width = OW - ow0 < SCHUNK ? OW - ow0 : SCHUNK;                            \
        const int64_t first = start + ow0 * KW;                                                 \
        if (KH == 2 && KW == 2) {                                                               \
          const int64_t m = padded_width(first, width, 2, W + 1, size);                         \
          T cts[SCHUNK];                                                                        \
          memcpy(cts, crow + ow0, (size_t)width * sizeof(T));                                   \
          for (int64_t j = width; j < m; j++) cts[j] = 0;                                       \
          scatter_2x2_##tc(m, x + first, x + first + W, cts, v[0], v[1], v[2], v[3]);           \
          T *o0 = out + first, *o1 = o0 + W;                                                    \
          for (int64_t j = 0; j < width; j++) {                                                 \
            o0[2 * j] = v[0][j], o0[2 * j + 1] = v[1][j];                                       \
            o1[2 * j] = v[2][j], o1[2 * j + 1] = v[3][j];                                       \
          }                                                                                     \
        } else {                                                                                \
          select_row_##tc(x, size, first, width, W, KH, KW, KW, sel);                           \
          for (int64_t kh = 0; kh < KH; kh++) {                                                 \
            for (int64_t kw = 0; kw < KW; kw++) {                                               \
              T* os = out + first + kh * W + kw;                                                \
              const int64_t off = kh * W + kw;                                                  \
              for (int64_t j = 0; j < width; j++) {                                             \
                os[j * KW] = sel[j] == off ? crow[ow0 + j] : (T)0;                              \
              }                                                                                 \
            }                                                                                   \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
      const int64_t covered = OW * KW;                                                          \
      if (covered < W) {                                                                        \
        for (int64_t kh = 0; kh < KH; kh++) {                                                   \
          memset(out + start + kh * W + covered, 0, (size_t)(W - covered) * sizeof(T));         \
        }                                                                                       \
      }                                                                                         \
      if (oh == OH - 1 && OH * KH < H) {                                                        \
        memset(out + n * H * W + OH * KH * W, 0, (size_t)((H - OH * KH) * W) * sizeof(T));      \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* 2-D scatter with overlapping windows or gaps: each plane is zeroed, then added into in  \
   * window order; parallel over planes. */                                                    \
  static void scatter_2d_##tc(const Plane2d* g, const T* ct, const T* x, T* out) {              \
    const int64_t H = g->H, W = g->W, OH = g->OH, OW = g->OW, KH = g->KH, KW = g->KW;           \
    const int64_t SH = g->SH, SW = g->SW, planes = g->planes, size = planes * H * W;            \
    const int64_t work = planes * OH * OW * KH * KW;                                            \
    _Pragma("omp parallel for schedule(static) if(parallel: planes > 1 && work > PAR_SELECT)")  \
    for (int64_t n = 0; n < planes; n++) {                                                      \
      T* plane = out + n * H * W;                                                               \
      memset(plane, 0, (size_t)(H * W) * sizeof(T));                                            \
      int32_t sel[SCHUNK];                                                                      \
      for (int64_t oh = 0; oh < OH; oh++) {                                                     \
        const T* crow = ct + (n * OH + oh) * OW;                                                \
        for (int64_t ow0 = 0; ow0 < OW; ow0 += SCHUNK) {                                        \
          const int64_t width = OW - ow0 < SCHUNK ? OW - ow0 : SCHUNK;                          \
          const int64_t first = oh * SH * W + ow0 * SW;                                         \
          select_row_##tc(x, size, n * H * W + first, width, W, KH, KW, SW, sel);               \
          for (int64_t j = 0; j < width; j++) {                                                 \
            T* at = plane + first + j * SW + sel[j];                                            \
            *at = ACCUM(*at, crow[ow0 + j]);                                                    \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  void kiln_select_and_gather_add_##tc(int64_t ndim, const int64_t* p, const T* t, const T* x,  \
                                       T* out) {                                                \
    int64_t total = 1, in_size = 1, window_size = 1;                                            \
    for (int64_t k = 0; k < ndim; k++) {                                                        \
      total *= p[ndim + k], in_size *= p[k], window_size *= p[2 * ndim + k];                    \
    }                                                                                           \
    if (total == 0) return;                                                                     \
    if (ndim == 0) {                                                                            \
      out[0] = t[0];                                                                            \
      return;                                                                                   \
    }                                                                                           \
    if (in_size == 0) { /* every window lies in the padding */                                 \
      memset(out, 0, (size_t)total * sizeof(T));                                                \
      return;                                                                                   \
    }                                                                                           \
    Plane2d g;                                                                                  \
    if (plane_2d(ndim, p, &g)) {                                                                \
      gather_2d_##tc(&g, t, x, out);                                                            \
      return;                                                                                   \
    }                                                                                           \
    _Pragma("omp parallel for schedule(static) if(parallel: total * window_size > PAR_SELECT)") \
    for (int64_t o = 0; o < total; o++) {                                                      \
      const int64_t at = select_tap_##tc(ndim, p, x, o);                                        \
      out[o] = at < 0 ? (T)0 : t[at];                                                           \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  void kiln_select_and_scatter_add_##tc(int64_t ndim, const int64_t* p, const T* ct,            \
                                        const T* x, T* out) {                                   \
    const int64_t *in = p, *out_shape = p + ndim, *window = p + 2 * ndim,                       \
                  *stride = p + 3 * ndim, *dil = p + 5 * ndim;                                  \
    int64_t total = 1, in_size = 1, window_size = 1;                                            \
    for (int64_t k = 0; k < ndim; k++) {                                                        \
      total *= out_shape[k], in_size *= in[k], window_size *= window[k];                        \
    }                                                                                           \
    if (in_size == 0) return;                                                                   \
    if (ndim == 0) {                                                                            \
      out[0] = ct[0];                                                                           \
      return;                                                                                   \
    }                                                                                           \
    Plane2d g;                                                                                  \
    if (total > 0 && plane_2d(ndim, p, &g)) {                                                   \
      if (g.KH == g.SH && g.KW == g.SW) scatter_tiled_2d_##tc(&g, ct, x, out);                  \
      else scatter_2d_##tc(&g, ct, x, out);                                                     \
      return;                                                                                   \
    }                                                                                           \
    const int64_t work = total * window_size;                                                   \
    _Pragma("omp parallel for schedule(static) if(parallel: in_size > KILN_PAR_COPY)")          \
    for (int64_t i = 0; i < in_size; i++) out[i] = 0;                                           \
    /* Outputs that differ along an axis whose windows do not overlap (one tap, or a span no \
     * longer than the stride) touch disjoint inputs: the outputs are cut into rows over the \
     * leading run of such axes, rows run in parallel and each row adds in order. */          \
    int64_t rows = 1, lead = 0;                                                                 \
    while (lead < ndim && (window[lead] == 1 ||                                                 \
                           (window[lead] - 1) * dil[lead] + 1 <= stride[lead])) {               \
      rows *= out_shape[lead++];                                                                \
    }                                                                                           \
    const int64_t per_row = rows == 0 ? 0 : total / rows;                                       \
    _Pragma("omp parallel for schedule(static) if(parallel: rows > 1 && work > PAR_SELECT)")    \
    for (int64_t r = 0; r < rows; r++) {                                                        \
      for (int64_t o = r * per_row; o < (r + 1) * per_row; o++) {                               \
        const int64_t at = select_tap_##tc(ndim, p, x, o);                                      \
        if (at >= 0) out[at] = ACCUM(out[at], ct[o]);                                           \
      }                                                                                         \
    }                                                                                           \
  }

WINDOW_GRAD(f32, float, FBETTER, FBETTER_2X2, ADD)
WINDOW_GRAD(f64, double, FBETTER, FBETTER_2X2, ADD)
WINDOW_GRAD(i32, int32_t, IBETTER, IBETTER, ADD_I32)
WINDOW_GRAD(u32, uint32_t, IBETTER, IBETTER, ADD)
