/* The fake libcublas of the CUDA emulator (built into the same library as fake_cuda.c; Kiln
   opens it through KILN_CUBLAS): cublasGemmStridedBatchedEx as a plain column-major loop, so
   Kiln's mapping of row-major matmuls onto cuBLAS (operands swapped, transposes, leading
   dimensions, batch strides, 16-bit types) is checked against the CPU. A gemm goes through
   the fake driver's emu_submit: on a stream being captured it is recorded into the graph, as
   cuBLAS's kernels would be. Stream and workspace calls are checked for a live handle. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_cuda.h"

enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
};
enum { CUDA_R_32F = 0, CUDA_R_64F = 1, CUDA_R_16F = 2, CUDA_R_16BF = 14 };
enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_64F = 70, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 };

/* A float32 input as TF32 rounds it: 10 mantissa bits, to nearest (ties away, as the tensor
   cores' conversion). */
static double tf32(double value) {
  float f = (float)value;
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x1000u) & ~0x1fffu;
  memcpy(&f, &bits, sizeof f);
  return f;
}

typedef struct {
  int alive;
  void* stream;
  uint64_t workspace;
} Handle;

int cublasCreate_v2(void** handle) {
  Handle* h = calloc(1, sizeof *h);
  h->alive = 1;
  *handle = h;
  return CUBLAS_STATUS_SUCCESS;
}
int cublasDestroy_v2(void* handle) {
  Handle* h = handle;
  if (!h || !h->alive) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->alive = 0; /* kept: a use after destroy reads as an error, not freed memory */
  return CUBLAS_STATUS_SUCCESS;
}
int cublasGetVersion_v2(void* handle, int* version) {
  (void)handle;
  *version = 1; /* 0.0.1: the emulator's */
  return CUBLAS_STATUS_SUCCESS;
}
int cublasSetStream_v2(void* handle, void* stream) {
  Handle* h = handle;
  if (!h || !h->alive) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = stream;
  h->workspace = 0; /* as cuBLAS: a new stream resets the workspace */
  return CUBLAS_STATUS_SUCCESS;
}
int cublasSetWorkspace_v2(void* handle, uint64_t workspace, size_t bytes) {
  Handle* h = handle;
  if (!h || !h->alive) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes > 0 && !workspace) return CUBLAS_STATUS_INVALID_VALUE;
  h->workspace = workspace;
  return CUBLAS_STATUS_SUCCESS;
}

/* One gemm's arguments, copied when a capture records it. */
typedef struct {
  int transa, transb, m, n, k, type, compute;
  int lda, ldb, ldc, batch;
  long long stride_a, stride_b, stride_c;
  double alpha, beta;
  uint64_t a, b, c;
} Gemm;

static double load(uint64_t base, long long i, int type) {
  switch (type) {
    case CUDA_R_32F: return ((const float*)(uintptr_t)base)[i];
    case CUDA_R_64F: return ((const double*)(uintptr_t)base)[i];
    case CUDA_R_16F: return (float)((const _Float16*)(uintptr_t)base)[i];
    default: { /* bfloat16: the high half of a float32 */
      uint32_t bits = (uint32_t)((const uint16_t*)(uintptr_t)base)[i] << 16;
      float f;
      memcpy(&f, &bits, sizeof f);
      return f;
    }
  }
}

static void store(uint64_t base, long long i, int type, double value) {
  switch (type) {
    case CUDA_R_32F: ((float*)(uintptr_t)base)[i] = (float)value; return;
    case CUDA_R_64F: ((double*)(uintptr_t)base)[i] = value; return;
    case CUDA_R_16F: ((_Float16*)(uintptr_t)base)[i] = (_Float16)(float)value; return;
    default: { /* bfloat16, rounded to nearest even (NaN kept quiet) */
      float f = (float)value;
      uint32_t bits;
      memcpy(&bits, &f, sizeof bits);
      uint16_t out = (f != f) ? (uint16_t)((bits >> 16) | 0x40)
                              : (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
      ((uint16_t*)(uintptr_t)base)[i] = out;
    }
  }
}

/* Column-major: C = alpha op(A) op(B) + beta C per batch, op(A) m x k, op(B) k x n. The
   operands are first read into doubles (op(A) transposed, so both inner loops are contiguous). */
static int run_gemm(const void* params, int grid, int threads) {
  (void)grid, (void)threads;
  const Gemm* g = params;
  const long long m = g->m, n = g->n, k = g->k;
  double* at = malloc(sizeof(double) * (size_t)(m * k + 1)); /* at[i * k + l] = op(A)[i][l] */
  double* bt = malloc(sizeof(double) * (size_t)(k * n + 1)); /* bt[j * k + l] = op(B)[l][j] */
  if (!at || !bt) return free(at), free(bt), 1;
  for (int p = 0; p < g->batch; p++) {
    const long long oa = p * g->stride_a, ob = p * g->stride_b, oc = p * g->stride_c;
    for (long long i = 0; i < m; i++) {
      for (long long l = 0; l < k; l++) {
        at[i * k + l] = load(g->a, oa + (g->transa ? l + i * g->lda : i + l * g->lda), g->type);
        if (g->compute == CUBLAS_COMPUTE_32F_FAST_TF32) at[i * k + l] = tf32(at[i * k + l]);
      }
    }
    for (long long j = 0; j < n; j++) {
      for (long long l = 0; l < k; l++) {
        bt[j * k + l] = load(g->b, ob + (g->transb ? j + l * g->ldb : l + j * g->ldb), g->type);
        if (g->compute == CUBLAS_COMPUTE_32F_FAST_TF32) bt[j * k + l] = tf32(bt[j * k + l]);
      }
    }
    for (long long j = 0; j < n; j++) {
      for (long long i = 0; i < m; i++) {
        const double* x = at + i * k;
        const double* y = bt + j * k;
        double sum64 = 0; /* float accumulation for COMPUTE_32F, double for 64F */
        float sum32 = 0;
        if (g->compute == CUBLAS_COMPUTE_64F) {
          for (long long l = 0; l < k; l++) sum64 += x[l] * y[l];
        } else {
          for (long long l = 0; l < k; l++) sum32 += (float)(x[l] * y[l]);
        }
        const double sum = g->compute == CUBLAS_COMPUTE_64F ? sum64 : sum32;
        const long long ci = oc + i + j * g->ldc;
        const double old = g->beta != 0 ? load(g->c, ci, g->type) : 0;
        store(g->c, ci, g->type, g->alpha * sum + g->beta * old);
      }
    }
  }
  free(at);
  free(bt);
  return 0;
}

static Function gemm_function = {run_gemm, sizeof(Gemm)};

int cublasGemmStridedBatchedEx(void* handle, int transa, int transb, int m, int n, int k,
                               const void* alpha, uint64_t a, int atype, int lda,
                               long long stride_a, uint64_t b, int btype, int ldb,
                               long long stride_b, const void* beta, uint64_t c, int ctype,
                               int ldc, long long stride_c, int batch, int compute, int algo) {
  Handle* h = handle;
  (void)algo;
  if (!h || !h->alive) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (atype != btype || atype != ctype) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_64F &&
      !(compute == CUBLAS_COMPUTE_32F_FAST_TF32 && atype == CUDA_R_32F)) {
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if ((compute == CUBLAS_COMPUTE_64F) != (atype == CUDA_R_64F)) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || transa < 0 || transa > 1 || transb < 0 ||
      transb > 1) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  /* cuBLAS's leading-dimension rules: at least the stored rows of each operand */
  if (lda < (transa ? k : m) || ldb < (transb ? n : k) || ldc < m || lda < 1 || ldb < 1) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  Gemm g = {transa, transb, m, n, k, atype, compute, lda, ldb, ldc, batch,
            stride_a, stride_b, stride_c, 0, 0, a, b, c};
  g.alpha = compute == CUBLAS_COMPUTE_64F ? *(const double*)alpha : *(const float*)alpha;
  g.beta = compute == CUBLAS_COMPUTE_64F ? *(const double*)beta : *(const float*)beta;
  /* a failed submission (work elsewhere during a capture) is an execution failure */
  return emu_submit(&gemm_function, h->stream, &g, 1, 1) == 0 ? CUBLAS_STATUS_SUCCESS : 13;
}
