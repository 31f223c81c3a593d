/* kiln_strided_copy: for every index i of shape,
 *   dst[dst_offset + Σ i_k dst_strides_k] = src[src_offset + Σ i_k src_strides_k]
 * (offsets and strides in elements, strides may be 0 or negative; bytes = 1, 2, 4 or 8).
 *
 * The dims are first simplified (size-1 dims dropped, dims that are contiguous in both
 * arrays merged), then either copied row by row along the last dim (memcpy when both are
 * contiguous, a fill when the source stride is 0) or, for a transpose-like pair of last
 * dims, in small square tiles so that both sides stay in cache. */
#include "kiln.h"

#define MAX_DIMS 64
#define TILE 16 /* rows and columns of a transposed tile */

typedef struct {
  int nd; /* after simplification; 0 means a single element */
  int64_t shape[MAX_DIMS], src[MAX_DIMS], dst[MAX_DIMS];
} layout_t;

/* Drops size-1 dims and merges dim k into dim k-1 where both arrays step through them as
 * one run. Returns the total element count. */
static int64_t simplify(int64_t ndim, const int64_t* shape, const int64_t* ss,
                        const int64_t* ds, layout_t* l) {
  int64_t total = 1;
  l->nd = 0;
  for (int64_t k = 0; k < ndim; k++) {
    if (shape[k] == 0) return 0; /* checked first: at most 62 dims of size >= 2 remain */
  }
  for (int64_t k = 0; k < ndim; k++) {
    total *= shape[k];
    if (shape[k] == 1) continue;
    const int d = l->nd;
    if (d > 0 && l->src[d - 1] == ss[k] * shape[k] && l->dst[d - 1] == ds[k] * shape[k]) {
      l->shape[d - 1] *= shape[k];
      l->src[d - 1] = ss[k];
      l->dst[d - 1] = ds[k];
      continue;
    }
    l->shape[d] = shape[k], l->src[d] = ss[k], l->dst[d] = ds[k];
    l->nd = d + 1;
  }
  return total;
}

/* Offsets of "row" r, where rows enumerate dims [0, nrow_dims) in row-major order; also
 * the row's index digits when idx is not NULL. */
static void row_start(const layout_t* l, int nrow_dims, int64_t r, int64_t* idx, int64_t* so,
                      int64_t* dof) {
  int64_t s = 0, d = 0;
  for (int k = nrow_dims - 1; k >= 0; k--) {
    const int64_t i = r % l->shape[k];
    r /= l->shape[k];
    if (idx) idx[k] = i;
    s += i * l->src[k], d += i * l->dst[k];
  }
  *so = s, *dof = d;
}

#define COPY_IMPL(T)                                                                            \
  /* One run of len elements, source stride s, destination stride d. */                         \
  static inline void copy_run_##T(const T* restrict sp, T* restrict dp, int64_t len, int64_t s, \
                                 int64_t d) {                                                   \
    if (s == 1 && d == 1) {                                                                     \
      memcpy(dp, sp, (size_t)len * sizeof(T));                                                  \
    } else if (s == 0 && d == 1) { /* a broadcast column: a contiguous fill */                  \
      const T v = *sp;                                                                          \
      _Pragma("omp simd") for (int64_t j = 0; j < len; j++) dp[j] = v;                          \
    } else if (s == 0) {                                                                        \
      const T v = *sp;                                                                          \
      for (int64_t j = 0; j < len; j++) dp[j * d] = v;                                          \
    } else if (d == 1) { /* a strided gather (a slice with a step) into a contiguous row */     \
      for (int64_t j = 0; j < len; j++) dp[j] = sp[j * s];                                      \
    } else {                                                                                    \
      for (int64_t j = 0; j < len; j++) dp[j * d] = sp[j * s];                                  \
    }                                                                                           \
  }                                                                                             \
  /* Rows [r0, r1) over all dims but the last, walked with an odometer. */                      \
  static void copy_rows_##T(const layout_t* l, const T* src, T* dst, int64_t r0, int64_t r1) {  \
    const int nr = l->nd - 1;                                                                   \
    const int64_t len = l->shape[nr], s = l->src[nr], d = l->dst[nr];                           \
    int64_t idx[MAX_DIMS], so, dof;                                                             \
    row_start(l, nr, r0, idx, &so, &dof);                                                       \
    for (int64_t row = r0; row < r1; row++) {                                                   \
      const T* restrict sp = src + so;                                                          \
      T* restrict dp = dst + dof;                                                               \
      copy_run_##T(sp, dp, len, s, d);                                                          \
      for (int k = nr - 1; k >= 0; k--) { /* next row */                                        \
        so += l->src[k], dof += l->dst[k];                                                      \
        if (++idx[k] < l->shape[k]) break;                                                      \
        so -= l->src[k] * l->shape[k], dof -= l->dst[k] * l->shape[k];                          \
        idx[k] = 0;                                                                             \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
  /* Work item w = (outer row, band of TILE rows) over the last two dims, copied in         \
   * TILE x TILE tiles; a full tile of a plain transpose (source contiguous along the rows,   \
   * destination along the columns) goes through a local block, one cache line per row. */   \
  static void copy_tiles_##T(const layout_t* l, const T* src, T* dst, int64_t w0, int64_t w1) { \
    const int na = l->nd - 2, nb = l->nd - 1;                                                   \
    const int64_t rows = l->shape[na], cols = l->shape[nb];                                     \
    const int64_t sa = l->src[na], da = l->dst[na], sb = l->src[nb], db = l->dst[nb];           \
    const int64_t bands = (rows + TILE - 1) / TILE;                                             \
    for (int64_t w = w0; w < w1; w++) {                                                         \
      int64_t so, dof;                                                                          \
      row_start(l, na, w / bands, NULL, &so, &dof);                                             \
      const int64_t i0 = (w % bands) * TILE;                                                    \
      const int64_t i1 = i0 + TILE < rows ? i0 + TILE : rows;                                   \
      for (int64_t j0 = 0; j0 < cols; j0 += TILE) {                                             \
        const int64_t j1 = j0 + TILE < cols ? j0 + TILE : cols;                                 \
        if (sa == 1 && db == 1 && i1 - i0 == TILE && j1 - j0 == TILE) {                         \
          T block[TILE][TILE];                                                                  \
          for (int j = 0; j < TILE; j++) {                                                      \
            const T* restrict sp = src + so + (j0 + j) * sb + i0;                               \
            for (int i = 0; i < TILE; i++) block[i][j] = sp[i];                                 \
          }                                                                                     \
          for (int i = 0; i < TILE; i++) {                                                      \
            T* restrict dp = dst + dof + (i0 + i) * da + j0;                                    \
            for (int j = 0; j < TILE; j++) dp[j] = block[i][j];                                 \
          }                                                                                     \
          continue;                                                                             \
        }                                                                                       \
        for (int64_t i = i0; i < i1; i++) {                                                     \
          const T* restrict sp = src + so + i * sa;                                             \
          T* restrict dp = dst + dof + i * da;                                                  \
          for (int64_t j = j0; j < j1; j++) dp[j * db] = sp[j * sb];                            \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
  static void copy_##T(const layout_t* l, const T* src, T* dst, int64_t total) {                \
    if (l->nd == 0) {                                                                           \
      *dst = *src;                                                                              \
      return;                                                                                   \
    }                                                                                           \
    const int last = l->nd - 1;                                                                 \
    /* transpose-like: the source is contiguous along the second-to-last dim only (a            \
     * broadcast last dim, source stride 0, is a fill per row instead) */                       \
    const int tiled = l->nd >= 2 && l->src[last] != 1 && l->src[last] != 0 &&                   \
                      l->src[last - 1] == 1 &&                                                  \
                      l->shape[last] >= TILE && l->shape[last - 1] >= TILE;                     \
    int64_t items;                                                                              \
    if (tiled) {                                                                                \
      items = total / (l->shape[last] * l->shape[last - 1]) *                                   \
              ((l->shape[last - 1] + TILE - 1) / TILE);                                         \
    } else {                                                                                    \
      items = total / l->shape[last];                                                           \
    }                                                                                           \
    if (!tiled && items < 2 && total > KILN_PAR_COPY) { /* one long run: split it */            \
      const int64_t s = l->src[last], d = l->dst[last];                                         \
      _Pragma("omp parallel") {                                                                 \
        int64_t begin, end;                                                                     \
        kiln_thread_range(total, 1024, &begin, &end);                                           \
        copy_run_##T(src + begin * s, dst + begin * d, end - begin, s, d);                      \
      }                                                                                         \
      return;                                                                                   \
    }                                                                                           \
    if (total <= KILN_PAR_COPY || items < 2) {                                                  \
      if (tiled) copy_tiles_##T(l, src, dst, 0, items);                                         \
      else copy_rows_##T(l, src, dst, 0, items);                                                \
      return;                                                                                   \
    }                                                                                           \
    _Pragma("omp parallel") {                                                                   \
      int64_t begin, end;                                                                       \
      kiln_thread_range(items, 1, &begin, &end);                                                \
      if (tiled) copy_tiles_##T(l, src, dst, begin, end);                                       \
      else copy_rows_##T(l, src, dst, begin, end);                                              \
    }                                                                                           \
  }

COPY_IMPL(uint8_t)
COPY_IMPL(uint16_t)
COPY_IMPL(uint32_t)
COPY_IMPL(uint64_t)

void kiln_strided_copy(int64_t bytes, int64_t ndim, const int64_t* shape, const void* src,
                       int64_t src_offset, const int64_t* src_strides, void* dst,
                       int64_t dst_offset, const int64_t* dst_strides) {
  layout_t l;
  const int64_t total = simplify(ndim, shape, src_strides, dst_strides, &l);
  if (total == 0) return;
#define DISPATCH(T)                                                                             \
  copy_##T(&l, (const T*)src + src_offset, (T*)dst + dst_offset, total);                        \
  break;
  switch (bytes) {
    case 1: DISPATCH(uint8_t)
    case 2: DISPATCH(uint16_t)
    case 4: DISPATCH(uint32_t)
    case 8: DISPATCH(uint64_t)
    default: break;
  }
#undef DISPATCH
}

/* ---- allocation policy ----
 * Tensors live in ArrayBuffers that V8 allocates with calloc. glibc serves large requests
 * with fresh mmaps and unmaps them on free, so every large eager result pays a page fault per
 * 4 KiB on first touch (~27 ms per 64 MiB on the development VM, more than the arithmetic).
 * Raising the mmap and trim thresholds makes freed large blocks stay in the heap and be
 * reused, as NumPy's and PyTorch's caching allocators do. Returns 1 when both took effect. */
#include <malloc.h>
int32_t kiln_keep_freed_memory(void) {
  int mmap_ok = mallopt(M_MMAP_THRESHOLD, 1 << 30);
  int trim_ok = mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return mmap_ok && trim_ok;
}
