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
      if (brs == 1) { /* transposed B: walk each column's contiguous run of p */                \
        for (int c = 0; c < NR_##tc; c++) {                                                     \
          if (c < width) {                                                                      \
            for (int64_t p = 0; p < kc; p++) bp[p * NR_##tc + c] = src[c * bcs + p];            \
          } else {                                                                              \
            for (int64_t p = 0; p < kc; p++) bp[p * NR_##tc + c] = 0;                           \
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
  /* Matrix-vector shapes (m == 1 or n == 1): plain loops, no packing, computing the output  \
   * vector's elements [begin, end). */                                                        \
  static void gemv_##tc(int64_t m, int64_t n, int64_t k, const T* a, int32_t ta, const T* b,    \
                        int32_t tb, T* restrict out, int64_t begin, int64_t end) {              \
    if (n == 1) { /* out[i] = sum_p A(i, p) v[p], v = b whatever tb is */                       \
      if (!ta) {                                                                                \
        for (int64_t i = begin; i < end; i++) {                                                 \
          T s = 0;                                                                              \
          _Pragma("omp simd reduction(+:s)")                                                    \
          for (int64_t p = 0; p < k; p++) s += a[i * k + p] * b[p];                             \
          out[i] = s;                                                                           \
        }                                                                                       \
      } else {                                                                                  \
        for (int64_t i = begin; i < end; i++) out[i] = 0;                                       \
        for (int64_t p = 0; p < k; p++) {                                                       \
          const T v = b[p];                                                                     \
          _Pragma("omp simd") for (int64_t i = begin; i < end; i++) out[i] += a[p * m + i] * v; \
        }                                                                                       \
      }                                                                                         \
    } else { /* m == 1: out[j] = sum_p u[p] B(p, j), u = a whatever ta is */                    \
      if (tb) {                                                                                 \
        for (int64_t j = begin; j < end; j++) {                                                 \
          T s = 0;                                                                              \
          _Pragma("omp simd reduction(+:s)")                                                    \
          for (int64_t p = 0; p < k; p++) s += a[p] * b[j * k + p];                             \
          out[j] = s;                                                                           \
        }                                                                                       \
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

/* Block sizes: the packed A (MC x KC) and B (KC x NC) live on the stack, 384 KiB. */
BLOCKED(f32, float, 16, 256, 128, 256)
BLOCKED(f64, double, 8, 128, 128, 256)

/* ---- dispatch ---- */

#define FLOAT_MATMUL(tc, T, GEMM)                                                               \
  void kiln_matmul_##tc(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a,             \
                        int32_t ta, const T* b, int32_t tb, T* out) {                           \
    const int fits = m <= INT_MAX && n <= INT_MAX && k <= INT_MAX;                              \
    const double work = (double)m * n * k;                                                      \
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
