/* 2-D convolution (cross-correlation, as XLA's conv_general_dilated) by im2col + matmul:
 *   kiln_conv2d_<t>(const int64* p, const T* x, const T* w, T* out)   f32 f64
 * p = [N, C, H, W, O, KH, KW, OH, OW, groups, stride_h, stride_w, pad_top, pad_left,
 *      lhs_dil_h, lhs_dil_w, rhs_dil_h, rhs_dil_w]; x (N, C, H, W), w (O, C/groups, KH, KW),
 * out (N, O, OH, OW). Output (oh, kh) reads row oh*stride_h - pad_top + kh*rhs_dil_h of the
 * lhs-dilated input ((H-1)*lhs_dil_h+1 rows); outside it, or between dilated rows, reads 0.
 *
 * Per image and group, the patches are unrolled into col (C/groups*KH*KW, OH*OW) and
 * out[n, group] (O/groups, OH*OW) = w[group] (O/groups, C/groups*KH*KW) @ col. col is the one
 * buffer this library allocates; a 1x1 stride-1 unpadded convolution needs none. */
#include <stdlib.h>

#include "kiln.h"

enum { P_N, P_C, P_H, P_W, P_O, P_KH, P_KW, P_OH, P_OW, P_GROUPS, P_SH, P_SW, P_PT, P_PL,
       P_LDH, P_LDW, P_RDH, P_RDW };

/* Maps output coordinate o and kernel tap k to the input row/column, or -1 for a zero. */
static inline int64_t source_index(int64_t o, int64_t k, int64_t stride, int64_t pad,
                                   int64_t kdil, int64_t ldil, int64_t size) {
  const int64_t q = o * stride - pad + k * kdil; /* in the lhs-dilated input */
  if (q < 0 || q > (size - 1) * ldil || q % ldil != 0) return -1;
  return q / ldil;
}

#define CONV2D(tc, T)                                                                           \
  /* Unrolls channels [c0, c0+cg) of one image into col ((cg*KH*KW) x (OH*OW)). */              \
  static void im2col_##tc(const int64_t* p, const T* restrict x, int64_t cg, T* restrict col) { \
    const int64_t H = p[P_H], W = p[P_W], KH = p[P_KH], KW = p[P_KW], OH = p[P_OH],             \
                  OW = p[P_OW];                                                                 \
    const int64_t rows = cg * KH * KW;                                                          \
    const int simple_w = p[P_SW] == 1 && p[P_LDW] == 1;                                         \
    _Pragma("omp parallel for schedule(static) if(parallel: rows * OH * OW > KILN_PAR_COPY)")   \
    for (int64_t r = 0; r < rows; r++) {                                                        \
      const int64_t c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;                         \
      const T* restrict plane = x + c * H * W;                                                  \
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
        T* restrict dst = col + (r * OH + oh) * OW;                                             \
        const int64_t ih = source_index(oh, kh, p[P_SH], p[P_PT], p[P_RDH], p[P_LDH], H);       \
        if (ih < 0) {                                                                           \
          memset(dst, 0, (size_t)OW * sizeof(T));                                               \
        } else if (simple_w) {                                                                  \
          const T* restrict src = plane + ih * W + kw * p[P_RDW] - p[P_PL];                     \
          for (int64_t ow = 0; ow < ow0; ow++) dst[ow] = 0;                                     \
          memcpy(dst + ow0, src + ow0, (size_t)(ow1 - ow0) * sizeof(T));                        \
          for (int64_t ow = ow1; ow < OW; ow++) dst[ow] = 0;                                    \
        } else {                                                                                \
          for (int64_t ow = 0; ow < OW; ow++) {                                                 \
            const int64_t iw = source_index(ow, kw, p[P_SW], p[P_PL], p[P_RDW], p[P_LDW], W);   \
            dst[ow] = iw < 0 ? (T)0 : plane[ih * W + iw];                                       \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* The definition as loops, for when the im2col buffer cannot be allocated. */               \
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
                const int64_t ih = source_index(oh, kh, p[P_SH], p[P_PT], p[P_RDH], p[P_LDH], H); \
                for (int64_t kw = 0; kw < KW && ih >= 0; kw++) {                                \
                  const int64_t iw =                                                            \
                      source_index(ow, kw, p[P_SW], p[P_PL], p[P_RDW], p[P_LDW], W);            \
                  if (iw < 0) continue;                                                         \
                  s += w[((o * cg + c) * KH + kh) * KW + kw] *                                  \
                       x[((n * C + (o / og) * cg + c) * H + ih) * W + iw];                      \
                }                                                                               \
              }                                                                                 \
            out[((n * O + o) * OH + oh) * OW + ow] = s;                                         \
          }                                                                                     \
  }                                                                                             \
                                                                                                \
  /* Images [n0, n1), with col as the im2col buffer (NULL for a pointwise convolution). */    \
  static void images_##tc(const int64_t* p, const T* x, const T* w, T* out, int64_t n0,         \
                          int64_t n1, T* col, int threaded_matmul) {                            \
    const int64_t C = p[P_C], H = p[P_H], W = p[P_W], O = p[P_O], G = p[P_GROUPS];              \
    const int64_t cg = C / G, og = O / G, taps = cg * p[P_KH] * p[P_KW];                        \
    const int64_t pixels = p[P_OH] * p[P_OW];                                                   \
    for (int64_t n = n0; n < n1; n++) {                                                         \
      for (int64_t g = 0; g < G; g++) {                                                         \
        const T* xg = x + (n * C + g * cg) * H * W;                                             \
        if (col != NULL) im2col_##tc(p, xg, cg, col);                                           \
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
      /* Whole images per thread, each with its own buffer and a one-thread matmul: no         \
       * fork/join per image, and no contention with a BLAS thread pool. */                     \
      _Pragma("omp parallel reduction(|: failed)") {                                            \
        int64_t n0, n1;                                                                         \
        kiln_thread_range(N, 1, &n0, &n1);                                                         \
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
