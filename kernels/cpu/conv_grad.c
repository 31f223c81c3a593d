/* Gradients of the 2-D convolution of conv.c, by im2col / col2im + matmul:
 *   kiln_conv2d_grad_lhs_<t>(const int64* p, const T* ct, const T* w, T* dx)   f32 f64
 *   kiln_conv2d_grad_rhs_<t>(const int64* p, const T* x, const T* ct, T* dw)   f32 f64
 * p is the forward's parameter array (kiln_conv2d_<t>, conv.c); x and dx are (N, C, H, W), w and
 * dw (O, C/G, KH, KW), ct (N, O, OH, OW): the cotangent of the forward's output. The outputs are
 * overwritten.
 *
 * lhs (input) gradient, per image n and group g:
 *   dcol (cg*KH*KW x OH*OW) = w[g]^T (cg*KH*KW x O/G) @ ct[n, g] (O/G x OH*OW),
 *   then col2im adds each row of dcol into the input positions im2col reads it from.
 * rhs (weight) gradient, per group g, over chunks of images side by side in one col buffer:
 *   dw[g] (O/G x cg*KH*KW) += ct[chunk, g] (O/G x nb*OH*OW) @ col^T (nb*OH*OW x cg*KH*KW),
 *   or its transpose when cg*KH*KW < O/G (the matmul wants the wider side as its n).
 * A stride-1 convolution as wide as its input (SAME) moves each im2col / col2im row as one
 * contiguous run (the input plane shifted by the tap's offset).
 * Threads take whole images (or whole groups) with a one-thread matmul each, as the forward
 * does; for the weight gradient each thread sums into its own partial dw, added up at the end.
 * Scratch is allocated up front; when that fails a direct loop gives the same result. */
#include <stdlib.h>

#include "kiln.h"

/* dst[j] += src[j] for j in [lo, hi): one row of col2im; dst and src may point outside their
 * arrays for j outside [lo, hi) (those lanes are never touched). Masked vector moves beat a
 * loop on such short rows (a feature map's width). */
#if defined(__AVX512F__)
#include <immintrin.h>
#define WINDOW_ADD(tc, T, LANES, MASK, VEC, LOAD, STORE)                                        \
  static inline void window_add_##tc(T* dst, const T* src, int64_t lo, int64_t hi) {            \
    for (int64_t j = lo; j < hi; j += LANES) {                                                  \
      const int64_t len = hi - j < LANES ? hi - j : LANES;                                      \
      const MASK m = (MASK)((1u << len) - 1);                                                   \
      const VEC sum = LOAD(m, dst + j) + LOAD(m, src + j);                                      \
      STORE(dst + j, m, sum);                                                                   \
    }                                                                                           \
  }
WINDOW_ADD(f32, float, 16, __mmask16, __m512, _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps)
WINDOW_ADD(f64, double, 8, __mmask8, __m512d, _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd)
#else
#define WINDOW_ADD(tc, T)                                                                       \
  static inline void window_add_##tc(T* dst, const T* src, int64_t lo, int64_t hi) {            \
    for (int64_t j = lo; j < hi; j++) dst[j] += src[j];                                         \
  }
KILN_FLOAT_TYPES(WINDOW_ADD)
#endif

/* Columns of im2col (the rhs gradient's k) processed per matmul, and the most elements of one
 * col chunk: it stays in a core's L2 (1 MiB here) between im2col and the matmul. */
#define GRAD_CHUNK_COLUMNS 1024
#define GRAD_CHUNK_ELEMENTS (96 * 1024)
/* Rows of the rhs gradient's col buffer: taps, or when the product is computed transposed
 * (taps < og, col is the matmul's A), taps rounded up to the matmul's 8-row micro-tile with
 * zero rows, so that A is read in place instead of packing a partial tile of it. */
static inline int64_t col_rows(int64_t taps, int64_t og) {
  return taps >= og ? taps : (taps + 7) / 8 * 8;
}

/* Multiply-adds from which the work is spread over the threads. */
#define GRAD_PARALLEL_WORK 1e7

#define CONV2D_GRAD(tc, T)                                                                      \
  /* One row of col2im (tap kh, kw) of a stride-1 convolution without lhs dilation whose        \
   * output is as wide as its input (conv.c's im2col_shifted): the row is the plane shifted by  \
   * (dh, dw), added as one contiguous run once the columns where the shift wraps around are    \
   * zeroed (they are taps in the padding; src is scratch). */                                  \
  static inline void col2im_shifted_##tc(const int64_t* p, T* restrict src, int64_t kh,         \
                                         int64_t kw, T* restrict plane) {                       \
    const int64_t H = p[P_H], W = p[P_W], OH = p[P_OH], OW = p[P_OW];                           \
    const int64_t dh = kh * p[P_RDH] - p[P_PT], dw = kw * p[P_RDW] - p[P_PL];                   \
    const int64_t oh0 = dh < 0 ? -dh : 0, oh1 = H - dh < OH ? H - dh : OH;                      \
    const int64_t ow0 = dw < 0 ? -dw : 0, ow1 = W - dw < OW ? W - dw : OW;                      \
    if (oh0 >= oh1 || ow0 >= ow1) return;                                                       \
    for (int64_t oh = oh0; oh + 1 < oh1; oh++) {                                                \
      for (int64_t j = oh * OW + ow1; j < (oh + 1) * OW + ow0; j++) src[j] = 0;                 \
    }                                                                                           \
    const int64_t first = oh0 * OW + ow0, last = (oh1 - 1) * OW + ow1;                          \
    T* restrict dst = plane + (oh0 + dh) * W + ow0 + dw;                                        \
    for (int64_t i = 0; i < last - first; i++) dst[i] += src[first + i];                        \
  }                                                                                             \
                                                                                                \
  /* dx (cg, H, W) += col2im(dcol), dcol ((cg*KH*KW) x (OH*OW)): the adjoint of im2col; dcol    \
   * is scratch (the shifted path zeroes its entries that read padding). */                     \
  static void col2im_##tc(const int64_t* p, T* restrict dcol, int64_t cg, T* restrict dx) {     \
    const int64_t H = p[P_H], W = p[P_W], KH = p[P_KH], KW = p[P_KW], OH = p[P_OH],             \
                  OW = p[P_OW];                                                                 \
    const int simple_w = p[P_SW] == 1 && p[P_LDW] == 1;                                         \
    const int shifted = simple_w && p[P_SH] == 1 && p[P_LDH] == 1 && OW == W;                   \
    for (int64_t r = 0; r < cg * KH * KW; r++) {                                                \
      const int64_t c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;                         \
      T* restrict plane = dx + c * H * W;                                                       \
      if (shifted) {                                                                            \
        col2im_shifted_##tc(p, dcol + r * OH * OW, kh, kw, plane);                              \
        continue;                                                                               \
      }                                                                                         \
      int64_t ow0 = 0, ow1 = OW, shift = 0;                                                     \
      if (simple_w) { /* output columns [ow0, ow1) land inside the input at ow + shift */       \
        shift = kw * p[P_RDW] - p[P_PL];                                                        \
        ow0 = shift < 0 ? -shift : 0;                                                           \
        ow1 = W - shift < OW ? W - shift : OW;                                                  \
      }                                                                                         \
      for (int64_t oh = 0; oh < OH; oh++) {                                                     \
        const T* restrict src = dcol + (r * OH + oh) * OW;                                      \
        const int64_t ih = conv_source_index(oh, kh, p[P_SH], p[P_PT], p[P_RDH], p[P_LDH], H);  \
        if (ih < 0) continue;                                                                   \
        T* restrict row = plane + ih * W;                                                       \
        if (simple_w) {                                                                         \
          window_add_##tc(row + shift, src, ow0, ow1);                                          \
        } else {                                                                                \
          for (int64_t ow = 0; ow < OW; ow++) {                                                 \
            const int64_t iw = conv_source_index(ow, kw, p[P_SW], p[P_PL], p[P_RDW], p[P_LDW], W); \
            if (iw >= 0) row[iw] += src[ow];                                                    \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* Both gradients as loops over the forward's sum, for when scratch cannot be allocated:      \
   * dx += ct * w (when dx is not NULL) or dw += ct * x; the output is zeroed by the caller. */ \
  static void direct_grad_##tc(const int64_t* p, const T* x, const T* w, const T* ct, T* dx,    \
                               T* dw) {                                                         \
    const int64_t C = p[P_C], H = p[P_H], W = p[P_W], O = p[P_O], KH = p[P_KH], KW = p[P_KW],   \
                  OH = p[P_OH], OW = p[P_OW], cg = C / p[P_GROUPS], og = O / p[P_GROUPS];       \
    for (int64_t n = 0; n < p[P_N]; n++)                                                        \
      for (int64_t o = 0; o < O; o++)                                                           \
        for (int64_t oh = 0; oh < OH; oh++)                                                     \
          for (int64_t ow = 0; ow < OW; ow++) {                                                 \
            const T g = ct[((n * O + o) * OH + oh) * OW + ow];                                  \
            for (int64_t c = 0; c < cg; c++)                                                    \
              for (int64_t kh = 0; kh < KH; kh++) {                                             \
                const int64_t ih = conv_source_index(oh, kh, p[P_SH], p[P_PT], p[P_RDH], p[P_LDH], H); \
                for (int64_t kw = 0; kw < KW && ih >= 0; kw++) {                                \
                  const int64_t iw =                                                            \
                      conv_source_index(ow, kw, p[P_SW], p[P_PL], p[P_RDW], p[P_LDW], W);       \
                  if (iw < 0) continue;                                                         \
                  const int64_t wi = ((o * cg + c) * KH + kh) * KW + kw;                        \
                  const int64_t xi = ((n * C + (o / og) * cg + c) * H + ih) * W + iw;           \
                  if (dx != NULL) dx[xi] += g * w[wi];                                          \
                  else dw[wi] += g * x[xi];                                                     \
                }                                                                               \
              }                                                                                 \
          }                                                                                     \
  }                                                                                             \
                                                                                                \
  /* Input gradient of the (image, group) units [u0, u1), u = n * G + g; dcol is scratch        \
   * (NULL for a pointwise convolution, whose dcol is dx itself). */                            \
  static void grad_lhs_units_##tc(const int64_t* p, const T* ct, const T* w, T* dx, int64_t u0, \
                                  int64_t u1, T* dcol, int threaded_matmul) {                   \
    const int64_t C = p[P_C], HW = p[P_H] * p[P_W], O = p[P_O], G = p[P_GROUPS];                \
    const int64_t cg = C / G, og = O / G, taps = cg * p[P_KH] * p[P_KW];                        \
    const int64_t pixels = p[P_OH] * p[P_OW];                                                   \
    for (int64_t u = u0; u < u1; u++) {                                                         \
      const int64_t n = u / G, g = u % G;                                                       \
      T* dxg = dx + (n * C + g * cg) * HW;                                                      \
      const T* ctg = ct + (n * O + g * og) * pixels;                                            \
      const T* wg = w + g * og * taps;                                                          \
      T* dst = dcol != NULL ? dcol : dxg;                                                       \
      if (og == 0) memset(dst, 0, (size_t)(taps * pixels) * sizeof(T));                         \
      else if (threaded_matmul) kiln_matmul_##tc(1, taps, pixels, og, wg, 1, ctg, 0, dst);      \
      else kiln_matmul_blocked_##tc(1, taps, pixels, og, wg, 1, ctg, 0, dst);                   \
      if (dcol != NULL) {                                                                       \
        memset(dxg, 0, (size_t)(cg * HW) * sizeof(T));                                          \
        col2im_##tc(p, dcol, cg, dxg);                                                          \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  void kiln_conv2d_grad_lhs_##tc(const int64_t* p, const T* ct, const T* w, T* dx) {            \
    const int64_t N = p[P_N], C = p[P_C], G = p[P_GROUPS], KH = p[P_KH], KW = p[P_KW];          \
    const int64_t taps = C / G * KH * KW, pixels = p[P_OH] * p[P_OW], units = N * G;            \
    const size_t dx_bytes = (size_t)(N * C * p[P_H] * p[P_W]) * sizeof(T);                      \
    if (dx_bytes == 0) return;                                                                  \
    if (pixels == 0 || taps == 0) {                                                             \
      memset(dx, 0, dx_bytes);                                                                  \
      return;                                                                                   \
    }                                                                                           \
    /* a 1x1 unit-stride unpadded convolution: dx[n, g] is the matmul's output itself */        \
    const int pointwise = KH == 1 && KW == 1 && p[P_SH] == 1 && p[P_SW] == 1 &&                 \
                          p[P_PT] == 0 && p[P_PL] == 0 && p[P_LDH] == 1 && p[P_LDW] == 1 &&     \
                          p[P_OH] == p[P_H] && p[P_OW] == p[P_W];                               \
    const size_t dcol_elems = pointwise ? 0 : (size_t)(taps * pixels);                          \
    const double work = (double)N * p[P_O] * pixels * taps;                                     \
    const int threads = units >= 2 && work > GRAD_PARALLEL_WORK ? omp_get_max_threads() : 1;    \
    T* scratch = dcol_elems ? (T*)malloc(dcol_elems * (size_t)threads * sizeof(T)) : NULL;      \
    if (dcol_elems && scratch == NULL) {                                                        \
      memset(dx, 0, dx_bytes);                                                                  \
      direct_grad_##tc(p, NULL, w, ct, dx, NULL); /* out of memory: slow but still correct */   \
      return;                                                                                   \
    }                                                                                           \
    if (threads > 1) {                                                                          \
      _Pragma("omp parallel num_threads(threads)") {                                            \
        int64_t u0, u1;                                                                         \
        kiln_thread_range(units, 1, &u0, &u1);                                                  \
        T* dcol = scratch ? scratch + dcol_elems * (size_t)omp_get_thread_num() : NULL;         \
        grad_lhs_units_##tc(p, ct, w, dx, u0, u1, dcol, 0);                                     \
      }                                                                                         \
    } else {                                                                                    \
      grad_lhs_units_##tc(p, ct, w, dx, 0, units, scratch, 1);                                  \
    }                                                                                           \
    free(scratch);                                                                              \
  }                                                                                             \
                                                                                                \
  /* Weight gradient of groups [g0, g1) over images [n0, n1), added into acc (O x taps, all     \
   * groups; rows outside [g0, g1) untouched). Scratch: col (col_rows(taps, og) x kk), ctc      \
   * (og x kk) and tmp (og x col_rows), kk = nb * pixels. */                                    \
  static void grad_rhs_part_##tc(const int64_t* p, const T* x, const T* ct, T* acc,             \
                                 int64_t g0, int64_t g1, int64_t n0, int64_t n1, int64_t nb,    \
                                 T* col, T* ctc, T* tmp, int threaded_matmul) {                 \
    const int64_t C = p[P_C], HW = p[P_H] * p[P_W], O = p[P_O], G = p[P_GROUPS];                \
    const int64_t cg = C / G, og = O / G, taps = cg * p[P_KH] * p[P_KW];                        \
    const int64_t pixels = p[P_OH] * p[P_OW];                                                   \
    const int wide = taps >= og; /* tmp is (og x taps) = ct @ col^T, else its transpose */      \
    const int64_t rows = col_rows(taps, og);                                                    \
    int64_t zeroed = 0; /* the kk for which col's padding rows are zero */                      \
    for (int64_t g = g0; g < g1; g++) {                                                         \
      T* accg = acc + g * og * taps;                                                            \
      for (int64_t n = n0; n < n1; n += nb) {                                                   \
        const int64_t images = n1 - n < nb ? n1 - n : nb, kk = images * pixels;                 \
        if (rows > taps && zeroed != kk) {                                                      \
          memset(col + taps * kk, 0, (size_t)((rows - taps) * kk) * sizeof(T));                 \
          zeroed = kk;                                                                          \
        }                                                                                       \
        /* one image's cotangent is already (og x pixels); several are copied side by side */   \
        const T* ctk = images == 1 ? ct + (n * O + g * og) * pixels : ctc;                      \
        for (int64_t j = 0; j < images; j++) {                                                  \
          kiln_im2col_##tc(p, x + ((n + j) * C + g * cg) * HW, cg, col + j * pixels, kk);       \
          const T* ctg = ct + ((n + j) * O + g * og) * pixels;                                  \
          for (int64_t o = 0; o < og && images > 1; o++) {                                      \
            memcpy(ctc + o * kk + j * pixels, ctg + o * pixels, (size_t)pixels * sizeof(T));    \
          }                                                                                     \
        }                                                                                       \
        if (threaded_matmul) {                                                                  \
          if (wide) kiln_matmul_##tc(1, og, taps, kk, ctk, 0, col, 1, tmp);                     \
          else kiln_matmul_##tc(1, rows, og, kk, col, 0, ctk, 1, tmp);                          \
        } else {                                                                                \
          if (wide) kiln_matmul_blocked_##tc(1, og, taps, kk, ctk, 0, col, 1, tmp);             \
          else kiln_matmul_blocked_##tc(1, rows, og, kk, col, 0, ctk, 1, tmp);                  \
        }                                                                                       \
        if (wide) {                                                                             \
          for (int64_t i = 0; i < og * taps; i++) accg[i] += tmp[i];                            \
        } else {                                                                                \
          for (int64_t o = 0; o < og; o++) {                                                    \
            for (int64_t t = 0; t < taps; t++) accg[o * taps + t] += tmp[t * og + o];           \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  void kiln_conv2d_grad_rhs_##tc(const int64_t* p, const T* x, const T* ct, T* dw) {            \
    const int64_t N = p[P_N], O = p[P_O], G = p[P_GROUPS], og = O / G;                          \
    const int64_t taps = p[P_C] / G * p[P_KH] * p[P_KW], pixels = p[P_OH] * p[P_OW];            \
    const int64_t dw_elems = O * taps;                                                          \
    if (dw_elems == 0) return;                                                                  \
    memset(dw, 0, (size_t)dw_elems * sizeof(T));                                                \
    if (N == 0 || pixels == 0) return;                                                          \
    /* images per chunk: up to GRAD_CHUNK_COLUMNS columns and GRAD_CHUNK_ELEMENTS in col */     \
    int64_t nb = GRAD_CHUNK_COLUMNS / pixels;                                                   \
    if (nb * pixels * taps > GRAD_CHUNK_ELEMENTS) nb = GRAD_CHUNK_ELEMENTS / (pixels * taps);   \
    if (nb > N) nb = N;                                                                         \
    if (nb < 1) nb = 1;                                                                         \
    const int64_t kk = nb * pixels;                                                             \
    const int64_t rows = col_rows(taps, og);                                                    \
    const size_t per_thread = (size_t)((rows + og) * kk + og * rows);                           \
    const double work = (double)N * O * pixels * taps;                                          \
    int threads = work > GRAD_PARALLEL_WORK ? omp_get_max_threads() : 1;                        \
    /* threads take whole groups when that splits evenly, else images with partial sums */      \
    const int by_groups = G % threads == 0 || G >= 4 * threads || N < 2;                        \
    if (by_groups && G < threads) threads = (int)G;                                             \
    const size_t partials = threads > 1 && !by_groups ? (size_t)dw_elems * (threads - 1) : 0;   \
    T* scratch = (T*)malloc((per_thread * (size_t)threads + partials) * sizeof(T));             \
    if (scratch == NULL) {                                                                      \
      direct_grad_##tc(p, x, NULL, ct, NULL, dw); /* out of memory: slow but still correct */   \
      return;                                                                                   \
    }                                                                                           \
    if (threads <= 1) {                                                                         \
      grad_rhs_part_##tc(p, x, ct, dw, 0, G, 0, N, nb, scratch, scratch + rows * kk,            \
                         scratch + (rows + og) * kk, 1);                                        \
    } else {                                                                                    \
      T* partial_base = scratch + per_thread * (size_t)threads;                                 \
      _Pragma("omp parallel num_threads(threads)") {                                            \
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();                         \
        T* col = scratch + per_thread * (size_t)t;                                              \
        T* ctc = col + rows * kk;                                                               \
        T* tmp = ctc + og * kk;                                                                 \
        if (by_groups) {                                                                        \
          int64_t g0, g1;                                                                       \
          kiln_thread_range(G, 1, &g0, &g1);                                                    \
          grad_rhs_part_##tc(p, x, ct, dw, g0, g1, 0, N, nb, col, ctc, tmp, 0);                 \
        } else {                                                                                \
          /* thread 0 sums into dw, the others into their partials, then all add up a slice */  \
          T* acc = t == 0 ? dw : partial_base + (size_t)dw_elems * (t - 1);                     \
          if (t > 0) memset(acc, 0, (size_t)dw_elems * sizeof(T));                              \
          int64_t n0, n1;                                                                       \
          kiln_thread_range(N, 1, &n0, &n1);                                                    \
          grad_rhs_part_##tc(p, x, ct, acc, 0, G, n0, n1, nb, col, ctc, tmp, 0);                \
          _Pragma("omp barrier")                                                                \
          int64_t e0, e1;                                                                       \
          kiln_thread_range(dw_elems, 16, &e0, &e1);                                            \
          for (int k = 1; k < nt; k++) {                                                        \
            const T* part = partial_base + (size_t)dw_elems * (k - 1);                          \
            for (int64_t e = e0; e < e1; e++) dw[e] += part[e];                                 \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
    free(scratch);                                                                              \
  }

KILN_FLOAT_TYPES(CONV2D_GRAD)
