/* 2-D convolution (cross-correlation, as XLA's conv_general_dilated) by im2col + matmul:
 *   kiln_conv2d_<t>(const int64* p, const T* x, const T* w, T* out)   f32 f64
 * p = [N, C, H, W, O, KH, KW, OH, OW, groups, stride_h, stride_w, pad_top, pad_left,
 *      lhs_dil_h, lhs_dil_w, rhs_dil_h, rhs_dil_w]; x (N, C, H, W), w (O, C/groups, KH, KW),
 * out (N, O, OH, OW). Output (oh, kh) reads row oh*stride_h - pad_top + kh*rhs_dil_h of the
 * lhs-dilated input ((H-1)*lhs_dil_h+1 rows); outside it, or between dilated rows, reads 0.
 *
 * Per image and group, the patches are unrolled into col (C/groups*KH*KW, OH*OW) and
 * out[n, group] (O/groups, OH*OW) = w[group] (O/groups, C/groups*KH*KW) @ col. col is the one
 * buffer this kernel allocates; a 1x1 stride-1 unpadded convolution needs none.
 *
 * A stride-1 convolution as wide as its input (SAME) copies each im2col row as one run (the
 * plane shifted by the tap's offset). kiln_im2col_<t> is also used by the gradients
 * (conv_grad.c), declared in kiln.h. */
#include <stdlib.h>

#include "kiln.h"

/* dst[j] = src[j] for j in [lo, hi), 0 for the rest of [0, n): one im2col row, whose src may
 * point outside the input where it reads padding (those lanes are never loaded). Rows are
 * short (a feature map's width), so masked vector moves beat memcpy/memset calls. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define WINDOW_COPY(tc, T, LANES, MASK, LOAD, STORE)                                            \
  static inline void window_copy_##tc(T* dst, const T* src, int64_t n, int64_t lo,              \
                                      int64_t hi) {                                             \
    for (int64_t j = 0; j < n; j += LANES) {                                                    \
      const int64_t len = n - j < LANES ? n - j : LANES;                                        \
      int64_t a = lo - j, b = hi - j;                                                           \
      a = a < 0 ? 0 : a > len ? len : a;                                                        \
      b = b < a ? a : b > len ? len : b;                                                        \
      const MASK load = (MASK)(((1u << b) - 1) & ~((1u << a) - 1));                             \
      STORE(dst + j, (MASK)((1u << len) - 1), LOAD(load, src + j));                             \
    }                                                                                           \
  }
WINDOW_COPY(f32, float, 16, __mmask16, _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps)
WINDOW_COPY(f64, double, 8, __mmask8, _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd)
#else
#define WINDOW_COPY(tc, T)                                                                      \
  static inline void window_copy_##tc(T* dst, const T* src, int64_t n, int64_t lo,              \
                                      int64_t hi) {                                             \
    for (int64_t j = 0; j < n; j++) dst[j] = j >= lo && j < hi ? src[j] : (T)0;                 \
  }
KILN_FLOAT_TYPES(WINDOW_COPY)
#endif

#define CONV2D(tc, T)                                                                           \
  /* One im2col row (tap kh, kw of one channel plane) of a stride-1 convolution without lhs     \
   * dilation whose output is as wide as its input: the plane shifted by (dh, dw), so the row   \
   * is one contiguous copy from the first output position that reads inside the input to       \
   * the last, zeros before and after it, and zeros on the few columns between two copied       \
   * output rows where the shift wraps around (the taps that read the left/right padding). */   \
  static inline void im2col_shifted_##tc(const int64_t* p, const T* restrict plane, int64_t kh, \
                                         int64_t kw, T* restrict dst) {                         \
    const int64_t H = p[P_H], W = p[P_W], OH = p[P_OH], OW = p[P_OW];                           \
    const int64_t dh = kh * p[P_RDH] - p[P_PT], dw = kw * p[P_RDW] - p[P_PL];                   \
    const int64_t oh0 = dh < 0 ? -dh : 0, oh1 = H - dh < OH ? H - dh : OH;                      \
    const int64_t ow0 = dw < 0 ? -dw : 0, ow1 = W - dw < OW ? W - dw : OW;                      \
    if (oh0 >= oh1 || ow0 >= ow1) {                                                             \
      memset(dst, 0, (size_t)(OH * OW) * sizeof(T));                                            \
      return;                                                                                   \
    }                                                                                           \
    /* [first, last) is copied */                                                               \
    const int64_t first = oh0 * OW + ow0, last = (oh1 - 1) * OW + ow1;                          \
    memset(dst, 0, (size_t)first * sizeof(T));                                                  \
    memcpy(dst + first, plane + (oh0 + dh) * W + ow0 + dw, (size_t)(last - first) * sizeof(T)); \
    memset(dst + last, 0, (size_t)(OH * OW - last) * sizeof(T));                                \
    for (int64_t oh = oh0; oh + 1 < oh1; oh++) {                                                \
      for (int64_t j = oh * OW + ow1; j < (oh + 1) * OW + ow0; j++) dst[j] = 0;                 \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* Unrolls cg channels of one image, x (cg, H, W), into col ((cg*KH*KW) x (OH*OW)), whose     \
   * rows are ld >= OH*OW elements apart (so that several images can sit side by side). */      \
  void kiln_im2col_##tc(const int64_t* p, const T* restrict x, int64_t cg, T* restrict col,     \
                        int64_t ld) {                                                           \
    const int64_t H = p[P_H], W = p[P_W], KH = p[P_KH], KW = p[P_KW], OH = p[P_OH],             \
                  OW = p[P_OW];                                                                 \
    const int64_t rows = cg * KH * KW;                                                          \
    const int simple_w = p[P_SW] == 1 && p[P_LDW] == 1;                                         \
    const int shifted = simple_w && p[P_SH] == 1 && p[P_LDH] == 1 && OW == W;                   \
    _Pragma("omp parallel for schedule(static) if(parallel: rows * OH * OW > KILN_PAR_COPY)")   \
    for (int64_t r = 0; r < rows; r++) {                                                        \
      const int64_t c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;                         \
      const T* restrict plane = x + c * H * W;                                                  \
      if (shifted) { /* a stride-1 conv as wide as its input (SAME): see im2col_shifted */      \
        im2col_shifted_##tc(p, plane, kh, kw, col + r * ld);                                    \
        continue;                                                                               \
      }                                                                                         \
      /* output columns [ow0, ow1) read inside the input when the row is not dilated */         \
      int64_t ow0 = 0, ow1 = OW;                                                                \
      if (simple_w) {                                                                           \
        const int64_t shift = kw * p[P_RDW] - p[P_PL]; /* input column = ow + shift */          \
        ow0 = shift < 0 ? -shift : 0;                                                           \
        ow1 = W - shift < OW ? W - shift : OW;                                                  \
        if (ow1 < ow0) ow1 = ow0;                                                               \
        if (ow0 > OW) ow0 = ow1 = OW;                                                           \
      }                                                                                         \
      for (int64_t oh = 0; oh < OH; oh++) {                                                     \
        T* restrict dst = col + r * ld + oh * OW;                                               \
        const int64_t ih = conv_source_index(oh, kh, p[P_SH], p[P_PT], p[P_RDH], p[P_LDH], H);  \
        if (ih < 0) {                                                                           \
          window_copy_##tc(dst, dst, OW, 0, 0);                                                 \
        } else if (simple_w) {                                                                  \
          window_copy_##tc(dst, plane + ih * W + kw * p[P_RDW] - p[P_PL], OW, ow0, ow1);        \
        } else {                                                                                \
          for (int64_t ow = 0; ow < OW; ow++) {                                                 \
            const int64_t iw = conv_source_index(ow, kw, p[P_SW], p[P_PL], p[P_RDW], p[P_LDW], W); \
            dst[ow] = iw < 0 ? (T)0 : plane[ih * W + iw];                                       \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* The definition as loops, for when the im2col buffer cannot be allocated. */                \
  static void direct_##tc(const int64_t* p, const T* x, const T* w, T* out) {                   \
    const int64_t C = p[P_C], H = p[P_H], W = p[P_W], O = p[P_O], KH = p[P_KH], KW = p[P_KW],   \
                  OH = p[P_OH], OW = p[P_OW], cg = C / p[P_GROUPS], og = O / p[P_GROUPS];       \
    for (int64_t n = 0; n < p[P_N]; n++)                                                        \
      for (int64_t o = 0; o < O; o++)                                                           \
        for (int64_t oh = 0; oh < OH; oh++)                                                     \
          for (int64_t ow = 0; ow < OW; ow++) {                                                 \
            T s = 0;                                                                            \
            for (int64_t c = 0; c < cg; c++)                                                    \
              for (int64_t kh = 0; kh < KH; kh++) {                                             \
                const int64_t ih = conv_source_index(oh, kh, p[P_SH], p[P_PT], p[P_RDH], p[P_LDH], H); \
                for (int64_t kw = 0; kw < KW && ih >= 0; kw++) {                                \
                  const int64_t iw =                                                            \
                      conv_source_index(ow, kw, p[P_SW], p[P_PL], p[P_RDW], p[P_LDW], W);       \
                  if (iw < 0) continue;                                                         \
                  s += w[((o * cg + c) * KH + kh) * KW + kw] *                                  \
                       x[((n * C + (o / og) * cg + c) * H + ih) * W + iw];                      \
                }                                                                               \
              }                                                                                 \
            out[((n * O + o) * OH + oh) * OW + ow] = s;                                         \
          }                                                                                     \
  }                                                                                             \
                                                                                                \
  /* Images [n0, n1), with col as the im2col buffer (NULL for a pointwise convolution). */      \
  static void images_##tc(const int64_t* p, const T* x, const T* w, T* out, int64_t n0,         \
                          int64_t n1, T* col, int threaded_matmul) {                            \
    const int64_t C = p[P_C], H = p[P_H], W = p[P_W], O = p[P_O], G = p[P_GROUPS];              \
    const int64_t cg = C / G, og = O / G, taps = cg * p[P_KH] * p[P_KW];                        \
    const int64_t pixels = p[P_OH] * p[P_OW];                                                   \
    for (int64_t n = n0; n < n1; n++) {                                                         \
      for (int64_t g = 0; g < G; g++) {                                                         \
        const T* xg = x + (n * C + g * cg) * H * W;                                             \
        if (col != NULL) kiln_im2col_##tc(p, xg, cg, col, pixels);                              \
        const T* wg = w + g * og * taps;                                                        \
        T* og_out = out + (n * O + g * og) * pixels;                                            \
        if (threaded_matmul) {                                                                  \
          kiln_matmul_##tc(1, og, pixels, taps, wg, 0, col ? col : xg, 0, og_out);              \
        } else {                                                                                \
          kiln_matmul_blocked_##tc(1, og, pixels, taps, wg, 0, col ? col : xg, 0, og_out);      \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  void kiln_conv2d_##tc(const int64_t* p, const T* x, const T* w, T* out) {                     \
    const int64_t N = p[P_N], O = p[P_O], KH = p[P_KH], KW = p[P_KW];                           \
    const int64_t taps = p[P_C] / p[P_GROUPS] * KH * KW, pixels = p[P_OH] * p[P_OW];            \
    if (N == 0 || O == 0 || pixels == 0) return;                                                \
    const int pointwise = KH == 1 && KW == 1 && p[P_SH] == 1 && p[P_SW] == 1 &&                 \
                          p[P_PT] == 0 && p[P_PL] == 0 && p[P_LDH] == 1 && p[P_LDW] == 1 &&     \
                          p[P_OH] == p[P_H] && p[P_OW] == p[P_W];                               \
    const size_t col_bytes = pointwise || taps == 0 ? 0 : (size_t)(taps * pixels) * sizeof(T);  \
    const double work = (double)N * O * pixels * taps;                                          \
    int failed = 0;                                                                             \
    if (N >= 2 && omp_get_max_threads() > 1 && work > 1e7) {                                    \
      /* Whole images per thread, each with its own buffer and a one-thread matmul: no          \
       * fork/join per image, and no contention with a BLAS thread pool. */                     \
      _Pragma("omp parallel reduction(|: failed)") {                                            \
        int64_t n0, n1;                                                                         \
        kiln_thread_range(N, 1, &n0, &n1);                                                      \
        T* col = col_bytes ? (T*)malloc(col_bytes) : NULL;                                      \
        if (col_bytes && col == NULL) failed = 1;                                               \
        else images_##tc(p, x, w, out, n0, n1, col, 0);                                         \
        free(col);                                                                              \
      }                                                                                         \
    } else {                                                                                    \
      T* col = col_bytes ? (T*)malloc(col_bytes) : NULL;                                        \
      if (col_bytes && col == NULL) failed = 1;                                                 \
      else images_##tc(p, x, w, out, 0, N, col, 1);                                             \
      free(col);                                                                                \
    }                                                                                           \
    if (failed) direct_##tc(p, x, w, out); /* out of memory: slow but still correct */          \
  }

KILN_FLOAT_TYPES(CONV2D)
