/* Stable ascending sort of each row, NaN last (as NumPy), with the argsort:
 *   kiln_sort_<t>(int64 outer, int64 len, const T* x, T* values, int32_t* indices)
 * f32 f64 i32 u32 b8; indices may be NULL.
 *
 * Each value is mapped to an unsigned key whose order is the sort order (floats: sign-flip
 * trick, -0 mapped to +0 so that the two compare equal, every NaN to the largest key), then
 * the (key, index) pairs are sorted by an LSD radix sort, which is stable, in a scratch
 * buffer from malloc. Short rows use insertion sort. */
#include <omp.h>
#include <stdlib.h>

#include "kiln.h"

#define SHORT_ROW 48
#define PAR_SORT (1 << 16)

static inline uint32_t key_f32(float v) {
  if (v != v) return UINT32_MAX;
  if (v == 0) return 0x80000000u; /* -0 and +0 */
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}
static inline uint64_t key_f64(double v) {
  if (v != v) return UINT64_MAX;
  if (v == 0) return 0x8000000000000000u;
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  return (bits & 0x8000000000000000u) ? ~bits : bits | 0x8000000000000000u;
}
static inline uint32_t key_i32(int32_t v) { return (uint32_t)v ^ 0x80000000u; }
static inline uint32_t key_u32(uint32_t v) { return v; }
static inline uint32_t key_b8(uint8_t v) { return v != 0; }

#define SORT(tc, T, K)                                                                          \
  /* Sorts (keys, idx) of length len stably by key; tmp_* are scratch of the same size.      \
   * Returns the sorted indices (in idx or tmp_idx, depending on the passes made). */         \
  static const int32_t* radix_##tc(int64_t len, K* keys, int32_t* idx, K* tmp_keys,             \
                                   int32_t* tmp_idx) {                                          \
    enum { DIGITS = sizeof(K) };                                                                \
    int64_t count[sizeof(K)][256];                                                              \
    memset(count, 0, sizeof count);                                                             \
    for (int64_t i = 0; i < len; i++) {                                                         \
      for (int d = 0; d < DIGITS; d++) count[d][(keys[i] >> (8 * d)) & 255]++;                  \
    }                                                                                           \
    for (int d = 0; d < DIGITS; d++) {                                                          \
      const int shift = 8 * d;                                                                  \
      if (count[d][(keys[0] >> shift) & 255] == len) continue; /* one value: nothing moves */  \
      int64_t start[256], sum = 0;                                                              \
      for (int b = 0; b < 256; b++) start[b] = sum, sum += count[d][b];                         \
      for (int64_t i = 0; i < len; i++) {                                                       \
        const int64_t at = start[(keys[i] >> shift) & 255]++;                                   \
        tmp_keys[at] = keys[i], tmp_idx[at] = idx[i];                                           \
      }                                                                                         \
      K* k = keys;                                                                              \
      keys = tmp_keys, tmp_keys = k;                                                            \
      int32_t* j = idx;                                                                         \
      idx = tmp_idx, tmp_idx = j;                                                               \
    }                                                                                           \
    return idx;                                                                                 \
  }                                                                                             \
                                                                                                \
  /* Stable insertion sort of row into values/indices (short rows, or no scratch memory). */    \
  static void insertion_##tc(int64_t len, const T* row, T* values, int32_t* indices) {          \
    for (int64_t i = 0; i < len; i++) {                                                         \
      const T v = row[i];                                                                       \
      const K key = key_##tc(v);                                                                \
      int64_t j = i;                                                                            \
      while (j > 0 && key_##tc(values[j - 1]) > key) {                                          \
        values[j] = values[j - 1];                                                              \
        if (indices) indices[j] = indices[j - 1];                                               \
        j--;                                                                                    \
      }                                                                                         \
      values[j] = v;                                                                            \
      if (indices) indices[j] = (int32_t)i;                                                     \
    }                                                                                           \
  }                                                                                             \
                                                                                                \
  static void sort_rows_##tc(int64_t o0, int64_t o1, int64_t len, const T* x, T* values,        \
                             int32_t* indices) {                                                \
    void* scratch = len > SHORT_ROW ? malloc((size_t)len * 2 * (sizeof(K) + 4)) : NULL;         \
    for (int64_t o = o0; o < o1; o++) {                                                         \
      const T* row = x + o * len;                                                               \
      T* vals = values + o * len;                                                               \
      int32_t* inds = indices ? indices + o * len : NULL;                                       \
      if (scratch == NULL) {                                                                    \
        insertion_##tc(len, row, vals, inds);                                                   \
        continue;                                                                               \
      }                                                                                         \
      K* keys = (K*)scratch;                                                                    \
      K* tmp_keys = keys + len;                                                                 \
      int32_t* idx = (int32_t*)(tmp_keys + len);                                                \
      int32_t* tmp_idx = idx + len;                                                             \
      for (int64_t i = 0; i < len; i++) keys[i] = key_##tc(row[i]), idx[i] = (int32_t)i;        \
      const int32_t* sorted = radix_##tc(len, keys, idx, tmp_keys, tmp_idx);                    \
      for (int64_t i = 0; i < len; i++) vals[i] = row[sorted[i]];                               \
      if (inds) memcpy(inds, sorted, (size_t)len * sizeof(int32_t));                            \
    }                                                                                           \
    free(scratch);                                                                              \
  }                                                                                             \
                                                                                                \
  void kiln_sort_##tc(int64_t outer, int64_t len, const T* x, T* values, int32_t* indices) {    \
    if (outer <= 0 || len <= 0) return;                                                         \
    if (outer == 1 || outer * len <= PAR_SORT) {                                                \
      sort_rows_##tc(0, outer, len, x, values, indices);                                        \
      return;                                                                                   \
    }                                                                                           \
    _Pragma("omp parallel") {                                                                   \
      const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();                  \
      sort_rows_##tc(outer * t / threads, outer * (t + 1) / threads, len, x, values, indices);  \
    }                                                                                           \
  }

SORT(f32, float, uint32_t)
SORT(f64, double, uint64_t)
SORT(i32, int32_t, uint32_t)
SORT(u32, uint32_t, uint32_t)
SORT(b8, uint8_t, uint32_t)
