/* What the fake cuBLAS (fake_cublas.c) shares with the fake driver (fake_cuda.c). */
#ifndef FAKE_CUDA_H
#define FAKE_CUDA_H
#include <stddef.h>

/* Work the device runs: a kernel's launcher, or a library call on the host, and the bytes of
   its parameter block (copied when a capture records it). */
typedef int (*Launcher)(const void* params, int grid, int threads);
typedef struct {
  Launcher run;
  size_t param_bytes;
} Function;

/* Runs `f` on `params` now, or records it into the graph when `stream` is being captured;
   refused (and the capture spoiled) when another stream is. Returns a CUresult. */
int emu_submit(Function* f, void* stream, const void* params, int grid, int threads);

#endif
