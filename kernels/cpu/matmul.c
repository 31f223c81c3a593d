/* Matrix multiply: per batch, out (m, n) = op(a) op(b), where a is (m, k) or, transposed,
 * (k, m), and b is (k, n) or (n, k).
 *   kiln_matmul_<t>(int64 batch, int64 m, int64 n, int64 k, const T* a, int32 trans_a,
 *                   const T* b, int32 trans_b, T* out)               f32 f64 i32 u32
 *   kiln_matmul_blocked_<t>(same)  the built-in f32/f64 kernel, never BLAS (for tests, benches)
 *   int32 kiln_blas_load(const char* path), int32 kiln_blas_loaded(void)
 *
 * f32/f64 call cblas_?gemm from a dlopen'ed BLAS when one is loaded and the product is large
 * enough. Otherwise a GotoBLAS-style kernel: C is cut into MC x NC tiles (spread over the
 * OpenMP threads); for each KC-deep slice the tile's A rows and B columns are packed into
 * stack buffers laid out for a register-blocked MR x NR micro-kernel written with GCC vector
 * extensions (AVX-512: NR = 2 vectors). Integer matmul is plain loops with wraparound. */
#include <dlfcn.h>
#include <limits.h>

#include "kiln.h"

/* ---- BLAS ---- */

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float*, int, const float*,
                         int, float, float*, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double*, int,
                         const double*, int, double, double*, int);
static sgemm_fn blas_sgemm;
static dgemm_fn blas_dgemm;
/* m*n*k from which one product goes to BLAS (below, the call overhead dominates), and from
 * which each product of a batch does (below, the built-in kernel wins by spreading the batch
 * over the threads, where BLAS runs one product at a time). */
#define BLAS_MIN_WORK (32.0 * 32.0 * 32.0)
#define BLAS_MIN_BATCHED_WORK (256.0 * 256.0 * 256.0)
/* m*n*k from which a matrix-vector product runs in the built-in loops rather than BLAS */
#define GEMV_MIN_BUILTIN_WORK (512.0 * 512.0)

/* Loads a CBLAS library. A NULL path unloads it (the built-in kernel is used again). */
int32_t kiln_blas_load(const char* path) {
  if (path == NULL) {
    blas_sgemm = NULL, blas_dgemm = NULL;
    return 0;
  }
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL) return 0;
  void* s = dlsym(handle, "cblas_sgemm");
  void* d = dlsym(handle, "cblas_dgemm");
  if (s == NULL || d == NULL) {
    dlclose(handle);
    return 0;
  }
  blas_sgemm = (sgemm_fn)s, blas_dgemm = (dgemm_fn)d;
  return 1;
}

int32_t kiln_blas_loaded(void) { return blas_sgemm != NULL; }

/* ---- the blocked kernel ---- */

#if defined(__AVX512F__)
#include <immintrin.h>
#define KILN_TRANSPOSE16 1
/* dst[p * ldd + c] = src[c * lds + p] for c, p < 16: a 16 x 16 float transpose in registers. */
static inline void transpose16_f32(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 16; h += 8) {
    for (int i = 0; i < 4; i++) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
  for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * ldd, r[i]);
}
#else
#define KILN_TRANSPOSE16 0
static inline void transpose16_f32(const float* src, int64_t lds, float* dst, int64_t ldd) {
  for (int c = 0; c < 16; c++) {
    for (int p = 0; p < 16; p++) dst[p * ldd + c] = src[c * lds + p];
  }
}
#endif

#define MR 8 /* rows of the micro-tile; NR = 2 vectors of columns */

#define BLOCKED(tc, T, LANES, KC, MC, NC)                                                       \
  typedef T vec_##tc __attribute__((vector_size(LANES * sizeof(T))));                           \
  typedef T uvec_##tc __attribute__((vector_size(LANES * sizeof(T)), aligned(sizeof(T)),        \
                                     may_alias));                                               \
  enum { NR_##tc = 2 * LANES };                                                                 \
                                                                                                \
  /* c[0:MR, 0:NR] (+)= ap (kc x MR, interleaved) * bp (kc x NR). */                            \
  static inline void micro_##tc(int64_t kc, const T* restrict ap, const T* restrict bp,         \
                                T* restrict c, int64_t ldc, int accumulate) {                   \
    vec_##tc acc[MR][2] = {{{0}}};                                                              \
    for (int64_t p = 0; p < kc; p++) {                                                          \
      const vec_##tc b0 = *(const vec_##tc*)(bp + p * NR_##tc);                                 \
      const vec_##tc b1 = *(const vec_##tc*)(bp + p * NR_##tc + LANES);                         \
      for (int r = 0; r < MR; r++) {                                                            \
        const T a = ap[p * MR + r];                                                             \
        acc[r][0] += a * b0;                                                                    \
        acc[r][1] += a * b1;                                                                    \
      }                                                                                         \
    }                                                                                           \
    for (int r = 0; r < MR; r++) {                                                              \
      uvec_##tc* row = (uvec_##tc*)(c + r * ldc);                                               \
      if (accumulate) row[0] += acc[r][0], row[1] += acc[r][1];                                 \
      else row[0] = acc[r][0], row[1] = acc[r][1];                                              \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* Packs rows [i0, i0+mc) x cols [p0, p0+kc) of A(i, p) = a[i*ars + p*acs] into MR-row     \
   * panels, zero-padding the last one. */                                                      \
  static void pack_a_##tc(const T* a, int64_t ars, int64_t acs, int64_t i0, int64_t mc,         \
                          int64_t p0, int64_t kc, T* restrict ap) {                             \
    for (int64_t ir = 0; ir < mc; ir += MR, ap += kc * MR) {                                    \
      const int64_t rows = mc - ir < MR ? mc - ir : MR;                                         \
      const T* src = a + (i0 + ir) * ars + p0 * acs;                                            \
      if (ars == 1 && rows == MR) { /* transposed A: the MR values of one p are adjacent */     \
        for (int64_t p = 0; p < kc; p++) {                                                      \
          for (int r = 0; r < MR; r++) ap[p * MR + r] = src[p * acs + r];                       \
        }                                                                                       \
        continue;                                                                               \
      }                                                                                         \
      for (int r = 0; r < MR; r++) {                                                            \
        if (r < rows) {                                                                         \
          for (int64_t p = 0; p < kc; p++) ap[p * MR + r] = src[r * ars + p * acs];             \
        } else {                                                                                \
          for (int64_t p = 0; p < kc; p++) ap[p * MR + r] = 0;                                  \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* Packs rows [p0, p0+kc) x cols [j0, j0+nc) of B(p, j) = b[p*brs + j*bcs] into NR-column  \
   * panels, zero-padding the last one. */                                                      \
  static void pack_b_##tc(const T* b, int64_t brs, int64_t bcs, int64_t p0, int64_t kc,         \
                          int64_t j0, int64_t nc, T* restrict bp) {                             \
    for (int64_t jr = 0; jr < nc; jr += NR_##tc, bp += kc * NR_##tc) {                          \
      const int64_t width = nc - jr < NR_##tc ? nc - jr : NR_##tc;                              \
      const T* src = b + p0 * brs + (j0 + jr) * bcs;                                            \
      if (brs == 1) { /* transposed B: each column's run of p is contiguous; transpose it in   \
                       * blocks of 16 p so that the writes stay within a few cache lines */    \
        int64_t q0 = 0;                                                                         \
        if (KILN_TRANSPOSE16 && sizeof(T) == 4 && NR_##tc == 32 && width == NR_##tc) {          \
          for (; q0 + 16 <= kc; q0 += 16) {                                                     \
            transpose16_f32((const float*)src + q0, bcs, (float*)bp + q0 * 32, 32);             \
            transpose16_f32((const float*)src + 16 * bcs + q0, bcs, (float*)bp + q0 * 32 + 16,  \
                            32);                                                                \
          }                                                                                     \
        }                                                                                       \
        for (int64_t q = q0; q < kc; q += 16) {                                                 \
          const int64_t qn = kc - q < 16 ? kc - q : 16;                                         \
          for (int c = 0; c < NR_##tc; c++) {                                                   \
            if (c < width) {                                                                    \
              for (int64_t p = q; p < q + qn; p++) bp[p * NR_##tc + c] = src[c * bcs + p];      \
            } else {                                                                            \
              for (int64_t p = q; p < q + qn; p++) bp[p * NR_##tc + c] = 0;                     \
            }                                                                                   \
          }                                                                                     \
        }                                                                                       \
        continue;                                                                               \
      }                                                                                         \
      for (int64_t p = 0; p < kc; p++) {                                                        \
        T* dst = bp + p * NR_##tc;                                                              \
        for (int c = 0; c < width; c++) dst[c] = src[p * brs + c];                              \
        for (int c = (int)width; c < NR_##tc; c++) dst[c] = 0;                                  \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* One MC x NC tile of C for one batch entry, over the whole k. */                            \
  static void tile_##tc(int64_t m, int64_t n, int64_t k, const T* a, int32_t ta, const T* b,    \
                        int32_t tb, T* out, int64_t i0, int64_t mb, int64_t j0) {               \
    T ap[MC * KC] __attribute__((aligned(64)));                                                 \
    T bp[KC * NC] __attribute__((aligned(64)));                                                 \
    const int64_t ars = ta ? 1 : k, acs = ta ? m : 1, brs = tb ? 1 : n, bcs = tb ? k : 1;       \
    const int64_t mc = m - i0 < mb ? m - i0 : mb, nc = n - j0 < NC ? n - j0 : NC;               \
    /* equal slices of k (288 = 144 + 144, not 256 + 32) */                                  \
    const int64_t slices = (k + KC - 1) / KC, step = (k + slices - 1) / slices;                 \
    for (int64_t p0 = 0; p0 < k; p0 += step) {                                                  \
      const int64_t kc = k - p0 < step ? k - p0 : step;                                         \
      pack_a_##tc(a, ars, acs, i0, mc, p0, kc, ap);                                             \
      pack_b_##tc(b, brs, bcs, p0, kc, j0, nc, bp);                                             \
      for (int64_t jr = 0; jr < nc; jr += NR_##tc) {                                            \
        for (int64_t ir = 0; ir < mc; ir += MR) {                                               \
          T* c = out + (i0 + ir) * n + j0 + jr;                                                 \
          const T* apanel = ap + ir * kc;                                                       \
          const T* bpanel = bp + jr * kc;                                                       \
          if (mc - ir >= MR && nc - jr >= NR_##tc) {                                            \
            micro_##tc(kc, apanel, bpanel, c, n, p0 > 0);                                       \
            continue;                                                                           \
          }                                                                                     \
          /* an edge tile: compute it whole, store the part inside C */                         \
          T edge[MR * NR_##tc] __attribute__((aligned(64)));                                    \
          micro_##tc(kc, apanel, bpanel, edge, NR_##tc, 0);                                     \
          const int64_t rows = mc - ir < MR ? mc - ir : MR;                                     \
          const int64_t cols = nc - jr < NR_##tc ? nc - jr : NR_##tc;                           \
          for (int64_t r = 0; r < rows; r++) {                                                  \
            for (int64_t j = 0; j < cols; j++) {                                                \
              c[r * n + j] = (p0 > 0 ? c[r * n + j] : 0) + edge[r * NR_##tc + j];               \
            }                                                                                   \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* out[i] = dot(rows[i, :k], v) for i in [begin, end): four rows at a time, so that four      \
   * independent sums hide the add latency and each load of v serves four rows. */              \
  static void gemv_rows_##tc(int64_t k, const T* rows, const T* v, T* restrict out,             \
                             int64_t begin, int64_t end) {                                      \
    int64_t i = begin;                                                                          \
    for (; i + 4 <= end; i += 4) {                                                              \
      const T *r0 = rows + i * k, *r1 = r0 + k, *r2 = r1 + k, *r3 = r2 + k;                     \
      T s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                                         \
      _Pragma("omp simd reduction(+:s0, s1, s2, s3)") for (int64_t p = 0; p < k; p++) {         \
        const T x = v[p];                                                                       \
        s0 += r0[p] * x;                                                                        \
        s1 += r1[p] * x;                                                                        \
        s2 += r2[p] * x;                                                                        \
        s3 += r3[p] * x;                                                                        \
      }                                                                                         \
      out[i] = s0, out[i + 1] = s1, out[i + 2] = s2, out[i + 3] = s3;                           \
    }                                                                                           \
    for (; i < end; i++) {                                                                      \
      const T* r = rows + i * k;                                                                \
      T s = 0;                                                                                  \
      _Pragma("omp simd reduction(+:s)") for (int64_t p = 0; p < k; p++) s += r[p] * v[p];      \
      out[i] = s;                                                                               \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* Matrix-vector shapes (m == 1 or n == 1): plain loops, no packing, computing the output  \
   * vector's elements [begin, end). */                                                        \
  static void gemv_##tc(int64_t m, int64_t n, int64_t k, const T* a, int32_t ta, const T* b,    \
                        int32_t tb, T* restrict out, int64_t begin, int64_t end) {              \
    if (n == 1) { /* out[i] = sum_p A(i, p) v[p], v = b whatever tb is */                       \
      if (!ta) {                                                                                \
        gemv_rows_##tc(k, a, b, out, begin, end);                                               \
      } else {                                                                                  \
        for (int64_t i = begin; i < end; i++) out[i] = 0;                                       \
        for (int64_t p = 0; p < k; p++) {                                                       \
          const T v = b[p];                                                                     \
          _Pragma("omp simd") for (int64_t i = begin; i < end; i++) out[i] += a[p * m + i] * v; \
        }                                                                                       \
      }                                                                                         \
    } else { /* m == 1: out[j] = sum_p u[p] B(p, j), u = a whatever ta is */                    \
      if (tb) {                                                                                 \
        gemv_rows_##tc(k, b, a, out, begin, end);                                               \
      } else {                                                                                  \
        for (int64_t j = begin; j < end; j++) out[j] = 0;                                       \
        for (int64_t p = 0; p < k; p++) {                                                       \
          const T u = a[p];                                                                     \
          _Pragma("omp simd") for (int64_t j = begin; j < end; j++) out[j] += u * b[p * n + j]; \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  void kiln_matmul_blocked_##tc(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a,     \
                                int32_t ta, const T* b, int32_t tb, T* out) {                   \
    if (batch <= 0 || m <= 0 || n <= 0) return;                                                 \
    if (k <= 0) {                                                                               \
      memset(out, 0, (size_t)(batch * m * n) * sizeof(T));                                     \
      return;                                                                                   \
    }                                                                                           \
    const double work = (double)batch * m * n * k;                                              \
    if (m == 1 || n == 1) { /* threads split the batch, or else the output vector */            \
      const int64_t len = m * n;                                                                \
      if (batch == 1 && work > 1e6) {                                                           \
        _Pragma("omp parallel") {                                                               \
          int64_t begin, end;                                                                   \
          kiln_thread_range(len, 16, &begin, &end);                                             \
          gemv_##tc(m, n, k, a, ta, b, tb, out, begin, end);                                    \
        }                                                                                       \
        return;                                                                                 \
      }                                                                                         \
      _Pragma("omp parallel for schedule(static) if(parallel: work > 1e6)")                     \
      for (int64_t e = 0; e < batch; e++) {                                                     \
        gemv_##tc(m, n, k, a + e * m * k, ta, b + e * k * n, tb, out + e * m * n, 0, len);      \
      }                                                                                         \
      return;                                                                                   \
    }                                                                                           \
    if ((batch == 1 || (double)m * n * k >= DIRECT_MIN_BATCHED_WORK) &&                         \
        direct_##tc(batch, m, n, k, a, ta, b, tb, out)) {                                       \
      return;                                                                                   \
    }                                                                                           \
    /* Rows per tile: MC, or fewer so that mid-sized products still split over the threads */   \
    const int64_t col_tiles = (n + NC - 1) / NC;                                                \
    int64_t mb = MC;                                                                            \
    while (mb > 2 * MR && batch * ((m + mb - 1) / mb) * col_tiles < 4) {                        \
      mb = (mb / 2 + MR - 1) / MR * MR;                                                         \
    }                                                                                           \
    const int64_t row_tiles = (m + mb - 1) / mb, tiles = batch * row_tiles * col_tiles;         \
    _Pragma("omp parallel for schedule(static) if(parallel: work > 4e5 && tiles > 1)")          \
    for (int64_t t = 0; t < tiles; t++) {                                                       \
      const int64_t e = t / (row_tiles * col_tiles), rest = t % (row_tiles * col_tiles);        \
      tile_##tc(m, n, k, a + e * m * k, ta, b + e * k * n, tb, out + e * m * n,                 \
                (rest / col_tiles) * mb, mb, (rest % col_tiles) * NC);                          \
    }                                                                                           \
  }

/* m*n*k from which each product of a batch goes to the direct kernel (split over the threads
 * one product at a time); smaller batched products are spread over the threads whole. */
#define DIRECT_MIN_BATCHED_WORK (1 << 20)
static int direct_f32(int64_t, int64_t, int64_t, int64_t, const float*, int32_t, const float*,
                      int32_t, float*);
static int direct_f64(int64_t, int64_t, int64_t, int64_t, const double*, int32_t, const double*,
                      int32_t, double*);

/* Block sizes: the packed A (MC x KC) and B (KC x NC) live on the stack, 384 KiB. */
BLOCKED(f32, float, 16, 256, 128, 256)
BLOCKED(f64, double, 8, 128, 128, 256)

/* ---- the direct kernel: products whose A fits in a core's L2 ----
 * Shapes such as the layers of a small MLP (128 x 784 x 512, or 784 x 512 x 128 for a weight
 * gradient) are too small for the tiled kernel to spread well over the threads: its tiles
 * pack A (and all threads pack the same B) again and again. Here each thread owns a block of
 * C, columns by preference (rows when C is too narrow), and packs nothing but its own B, one
 * NR-column panel at a time (KC x NR, kept in L1/L2); the micro-kernel reads A in place,
 * broadcasting MR rows (or, for a transposed A, MR adjacent values) per step of k. A is then
 * re-read from L2 for every panel, hence the size limit. No barrier, no shared buffer. */

/* a(r, p) read in place: a[r * lda + p] (rows, A not transposed) or a[p * lda + r] (cols,
 * A transposed, or a packed edge panel with lda = MR). */
#define DIRECT_MICRO(tc, T, LANES, NAME, AEXPR)                                                 \
  static inline void NAME(int64_t kc, const T* restrict a, int64_t lda, const T* restrict bp,   \
                          T* restrict c, int64_t ldc, int accumulate) {                         \
    vec_##tc acc[MR][2] = {{{0}}};                                                              \
    for (int64_t p = 0; p < kc; p++) {                                                          \
      const vec_##tc b0 = *(const vec_##tc*)(bp + p * NR_##tc);                                 \
      const vec_##tc b1 = *(const vec_##tc*)(bp + p * NR_##tc + LANES);                         \
      for (int r = 0; r < MR; r++) {                                                            \
        const T x = AEXPR;                                                                      \
        acc[r][0] += x * b0;                                                                    \
        acc[r][1] += x * b1;                                                                    \
      }                                                                                         \
    }                                                                                           \
    for (int r = 0; r < MR; r++) {                                                              \
      uvec_##tc* row = (uvec_##tc*)(c + r * ldc);                                               \
      if (accumulate) row[0] += acc[r][0], row[1] += acc[r][1];                                 \
      else row[0] = acc[r][0], row[1] = acc[r][1];                                              \
    }                                                                                           \
  }

#define DIRECT(tc, T, LANES, DKC, A_LIMIT)                                                      \
  DIRECT_MICRO(tc, T, LANES, direct_rows_##tc, a[r * lda + p])                                  \
  DIRECT_MICRO(tc, T, LANES, direct_cols_##tc, a[p * lda + r])                                  \
                                                                                                \
  /* C rows [i0, i1) x cols [j0, j1) of one product, over the whole k. */                       \
  static void direct_part_##tc(int64_t m, int64_t n, int64_t k, const T* a, int32_t ta,         \
                               const T* b, int32_t tb, T* out, int64_t i0, int64_t i1,          \
                               int64_t j0, int64_t j1) {                                        \
    T bp[DKC * NR_##tc] __attribute__((aligned(64)));                                           \
    T ap[DKC * MR] __attribute__((aligned(64)));                                                \
    const int64_t ars = ta ? 1 : k, acs = ta ? m : 1, brs = tb ? 1 : n, bcs = tb ? k : 1;       \
    const int64_t slices = (k + DKC - 1) / DKC, step = (k + slices - 1) / slices;               \
    for (int64_t p0 = 0; p0 < k; p0 += step) {                                                  \
      const int64_t kc = k - p0 < step ? k - p0 : step;                                         \
      for (int64_t jr = j0; jr < j1; jr += NR_##tc) {                                           \
        const int64_t cols = j1 - jr < NR_##tc ? j1 - jr : NR_##tc;                             \
        pack_b_##tc(b, brs, bcs, p0, kc, jr, cols, bp);                                         \
        for (int64_t ir = i0; ir < i1; ir += MR) {                                              \
          const int64_t rows = i1 - ir < MR ? i1 - ir : MR;                                     \
          T* c = out + ir * n + jr;                                                             \
          T edge[MR * NR_##tc] __attribute__((aligned(64)));                                    \
          const int full = cols == NR_##tc;                                                     \
          T* dst = full ? c : edge;                                                             \
          const int64_t ldd = full ? n : NR_##tc;                                               \
          const int acc = full && p0 > 0;                                                       \
          if (rows < MR) {                                                                      \
            pack_a_##tc(a, ars, acs, ir, rows, p0, kc, ap);                                     \
            direct_cols_##tc(kc, ap, MR, bp, edge, NR_##tc, 0);                                 \
            dst = edge;                                                                         \
          } else if (ta) {                                                                      \
            direct_cols_##tc(kc, a + p0 * m + ir, m, bp, dst, ldd, acc);                        \
          } else {                                                                              \
            direct_rows_##tc(kc, a + ir * k + p0, k, bp, dst, ldd, acc);                        \
          }                                                                                     \
          if (dst == edge) {                                                                    \
            for (int64_t r = 0; r < rows; r++) {                                                \
              for (int64_t j = 0; j < cols; j++) {                                              \
                c[r * n + j] = (p0 > 0 ? c[r * n + j] : 0) + edge[r * NR_##tc + j];             \
              }                                                                                 \
            }                                                                                   \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  /* Runs the product with the direct kernel when its A fits (returns 1), else returns 0. */   \
  static int direct_##tc(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a,            \
                         int32_t ta, const T* b, int32_t tb, T* out) {                          \
    const double work = (double)batch * m * n * k;                                              \
    int threads = work > 5e5 ? omp_get_max_threads() : 1;                                       \
    /* by columns when every thread gets two panels or more, else by rows */                    \
    const int by_cols = n >= (int64_t)threads * 2 * NR_##tc || m < (int64_t)threads * MR;       \
    const int64_t kc = k < DKC ? k : (k + (k + DKC - 1) / DKC - 1) / ((k + DKC - 1) / DKC);     \
    const int64_t rows = by_cols ? m : (m + threads - 1) / threads;                             \
    if ((double)rows * kc > A_LIMIT) return 0;                                                  \
    if (threads <= 1) {                                                                         \
      for (int64_t e = 0; e < batch; e++) {                                                     \
        direct_part_##tc(m, n, k, a + e * m * k, ta, b + e * k * n, tb, out + e * m * n, 0, m,  \
                         0, n);                                                                 \
      }                                                                                         \
      return 1;                                                                                 \
    }                                                                                           \
    _Pragma("omp parallel num_threads(threads)") {                                              \
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();                       \
      const int64_t granule = by_cols ? NR_##tc : MR, len = by_cols ? n : m;                    \
      const int64_t units = (len + granule - 1) / granule;                                      \
      int64_t lo = units * t / nt * granule, hi = units * (t + 1) / nt * granule;               \
      if (hi > len) hi = len;                                                                   \
      if (lo < hi) {                                                                            \
        for (int64_t e = 0; e < batch; e++) {                                                   \
          direct_part_##tc(m, n, k, a + e * m * k, ta, b + e * k * n, tb, out + e * m * n,      \
                           by_cols ? 0 : lo, by_cols ? m : hi, by_cols ? lo : 0,                \
                           by_cols ? hi : n);                                                   \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
    return 1;                                                                                   \
  }

/* KC up to 1024 (the B panel is 128 KiB); A up to 160K elements (640 KiB) per thread. */
DIRECT(f32, float, 16, 1024, 160.0 * 1024)
DIRECT(f64, double, 8, 512, 80.0 * 1024)

/* ---- dispatch ---- */

#define FLOAT_MATMUL(tc, T, GEMM)                                                               \
  void kiln_matmul_##tc(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a,             \
                        int32_t ta, const T* b, int32_t tb, T* out) {                           \
    const int fits = m <= INT_MAX && n <= INT_MAX && k <= INT_MAX;                              \
    const double work = (double)m * n * k;                                                      \
    /* large matrix-vector products are memory-bound: the built-in loops run them ~4x           \
     * faster than BLAS's gemm with one column (small ones stay with BLAS, cache-resident) */   \
    if ((m == 1 || n == 1) && (batch > 1 || work >= GEMV_MIN_BUILTIN_WORK)) {                   \
      kiln_matmul_blocked_##tc(batch, m, n, k, a, ta, b, tb, out);                              \
      return;                                                                                   \
    }                                                                                           \
    /* the direct kernel beats BLAS where it applies, unless C is narrower than one panel */    \
    if (n >= NR_##tc && m > 0 && k > 0 && (batch == 1 || work >= DIRECT_MIN_BATCHED_WORK) &&    \
        direct_##tc(batch, m, n, k, a, ta, b, tb, out)) {                                       \
      return;                                                                                   \
    }                                                                                           \
    if (GEMM != NULL && fits && k > 0 && m > 0 && n > 0 &&                                      \
        work >= (batch > 1 ? BLAS_MIN_BATCHED_WORK : BLAS_MIN_WORK)) {                          \
      for (int64_t e = 0; e < batch; e++) {                                                     \
        GEMM(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS,                                \
             tb ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n, (int)k, 1, a + e * m * k,       \
             (int)(ta ? m : k), b + e * k * n, (int)(tb ? k : n), 0, out + e * m * n, (int)n);  \
      }                                                                                         \
      return;                                                                                   \
    }                                                                                           \
    kiln_matmul_blocked_##tc(batch, m, n, k, a, ta, b, tb, out);                                \
  }
FLOAT_MATMUL(f32, float, blas_sgemm)
FLOAT_MATMUL(f64, double, blas_dgemm)

/* Integers: i-p-j loops (contiguous rows of B) or, with B transposed, row dot products.
 * The arithmetic is unsigned so that overflow wraps. */
#define INT_MATMUL(tc, T)                                                                       \
  void kiln_matmul_##tc(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a,             \
                        int32_t ta, const T* b, int32_t tb, T* out) {                           \
    const int64_t ars = ta ? 1 : k, acs = ta ? m : 1;                                           \
    const double work = (double)batch * m * n * k;                                              \
    _Pragma("omp parallel for schedule(static) if(parallel: work > 1e6)")                       \
    for (int64_t row = 0; row < batch * m; row++) {                                             \
      const int64_t e = row / m, i = row % m;                                                   \
      const T* ae = a + e * m * k + i * ars;                                                    \
      const uint32_t* be = (const uint32_t*)(b + e * k * n);                                    \
      uint32_t* o = (uint32_t*)(out + row * n);                                                 \
      if (tb) {                                                                                 \
        for (int64_t j = 0; j < n; j++) {                                                       \
          uint32_t s = 0;                                                                       \
          _Pragma("omp simd reduction(+:s)") for (int64_t p = 0; p < k; p++) s +=               \
              (uint32_t)ae[p * acs] * be[j * k + p];                                            \
          o[j] = s;                                                                             \
        }                                                                                       \
      } else {                                                                                  \
        for (int64_t j = 0; j < n; j++) o[j] = 0;                                               \
        for (int64_t p = 0; p < k; p++) {                                                       \
          const uint32_t v = (uint32_t)ae[p * acs];                                             \
          _Pragma("omp simd") for (int64_t j = 0; j < n; j++) o[j] += v * be[p * n + j];        \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }
KILN_INT_TYPES(INT_MATMUL)
