/* A fake libcuda + libnvrtc for testing Kiln's cuda device on a machine without a GPU.

   Kiln opens it as both libraries (KILN_LIBCUDA and KILN_NVRTC point here), so the whole path
   of a cuda program runs unchanged: ffi/cuda.ts, ffi/nvrtc.ts, the caching allocator, the
   eager executor and the JIT back end. Only the bottom is emulated:

   - device memory is host memory (malloc); a budget (KILN_CUDA_EMULATOR_MEMORY bytes, default
     1 GiB) makes out-of-memory reachable;
   - "NVRTC" compiles a source as C++ with the fiber runtime (runtime.h, at
     KILN_CUDA_EMULATOR_HEADER) into a shared library in KILN_CUDA_EMULATOR_DIR, named by a
     hash of the source; its "PTX" is that library's path;
   - a module is that library (dlopen); a kernel is its launcher `emu_launch_NAME`, generated
     here for every `__global__` function; a launch runs the grid on the calling thread.

   Launches are therefore synchronous, and one emulated multiprocessor keeps grids small.
   Graphs: a stream's launches between cuStreamBeginCapture and cuStreamEndCapture are recorded
   (with a copy of their parameters) and replayed by cuGraphLaunch. The capture is strict: any
   other work (a copy, an allocation, a launch elsewhere) fails and invalidates it, so Kiln's
   capture code meets the same refusals here as on a real driver. An event is "not ready" the
   first time it is queried, so read-backs that poll are exercised. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_cuda.h"

/* ---- the driver API ---------------------------------------------------------------------- */

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_NOT_READY = 600,
  CUDA_ERROR_LAUNCH_FAILED = 719,
  CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
  CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
};

/* The stream being captured (at most one here), and whether the capture was invalidated. */
static void* capturing;
static int capture_invalidated;

/* Work that a capture cannot record: fails, and spoils the capture, while one is under way. */
#define REFUSED_DURING_CAPTURE()                                    \
  do {                                                              \
    if (capturing) {                                                \
      capture_invalidated = 1;                                      \
      return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;                 \
    }                                                               \
  } while (0)

static const char* error_name(int code) {
  switch (code) {
    case CUDA_SUCCESS: return "CUDA_SUCCESS";
    case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
    case CUDA_ERROR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
    case CUDA_ERROR_INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
    case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
    case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
    case CUDA_ERROR_NOT_READY: return "CUDA_ERROR_NOT_READY";
    case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: return "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED";
    case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: return "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED";
    default: return NULL;
  }
}

static const char* error_string(int code) {
  switch (code) {
    case CUDA_SUCCESS: return "no error";
    case CUDA_ERROR_INVALID_VALUE: return "invalid argument";
    case CUDA_ERROR_OUT_OF_MEMORY: return "out of memory";
    case CUDA_ERROR_INVALID_IMAGE: return "device kernel image is invalid";
    case CUDA_ERROR_INVALID_HANDLE: return "invalid resource handle";
    case CUDA_ERROR_NOT_FOUND: return "named symbol not found";
    case CUDA_ERROR_LAUNCH_FAILED: return "unspecified launch failure";
    case CUDA_ERROR_NOT_READY: return "device not ready";
    case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: return "operation not permitted when stream is capturing";
    case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: return "operation failed due to a previous error during capture";
    default: return NULL;
  }
}

int cuGetErrorName(int code, const char** out) {
  *out = error_name(code);
  return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

int cuGetErrorString(int code, const char** out) {
  *out = error_string(code);
  return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* every allocation starts with a header holding its size, so free knows what it returns */
#define HEADER_BYTES 256
static size_t memory_used;

static size_t memory_budget(void) {
  const char* text = getenv("KILN_CUDA_EMULATOR_MEMORY");
  return text ? (size_t)strtoull(text, NULL, 10) : ((size_t)1 << 30);
}

int cuInit(unsigned flags) { return flags == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }
int cuDriverGetVersion(int* version) { *version = 12020; return CUDA_SUCCESS; }
int cuDeviceGetCount(int* count) { *count = 1; return CUDA_SUCCESS; }

int cuDeviceGet(int* device, int ordinal) {
  if (ordinal != 0) return CUDA_ERROR_INVALID_VALUE;
  *device = 0;
  return CUDA_SUCCESS;
}

int cuDeviceGetName(char* name, int length, int device) {
  (void)device;
  snprintf(name, (size_t)length, "Kiln CUDA emulator (CPU)");
  return CUDA_SUCCESS;
}

int cuDeviceGetAttribute(int* value, int attribute, int device) {
  (void)device;
  switch (attribute) {
    case 1: *value = 1024; break;  /* MAX_THREADS_PER_BLOCK */
    case 16: *value = 1; break;    /* MULTIPROCESSOR_COUNT: small grids, grid-stride loops */
    case 75: *value = 8; break;    /* COMPUTE_CAPABILITY_MAJOR */
    case 76: *value = 0; break;    /* COMPUTE_CAPABILITY_MINOR */
    default: *value = 0;
  }
  return CUDA_SUCCESS;
}

int cuDeviceTotalMem_v2(size_t* bytes, int device) {
  (void)device;
  *bytes = memory_budget();
  return CUDA_SUCCESS;
}

static int primary_context;
int cuDevicePrimaryCtxRetain(void** context, int device) {
  (void)device;
  *context = &primary_context;
  return CUDA_SUCCESS;
}
int cuDevicePrimaryCtxRelease_v2(int device) { (void)device; return CUDA_SUCCESS; }
int cuCtxPushCurrent_v2(void* context) {
  return context == &primary_context ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
int cuCtxPopCurrent_v2(void** context) { *context = &primary_context; return CUDA_SUCCESS; }
int cuCtxSynchronize(void) {
  REFUSED_DURING_CAPTURE();
  return CUDA_SUCCESS;
}

int cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
  *total = memory_budget();
  *free_bytes = *total - memory_used;
  return CUDA_SUCCESS;
}

int cuMemAlloc_v2(uint64_t* pointer, size_t bytes) {
  REFUSED_DURING_CAPTURE();
  if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  if (memory_used + bytes > memory_budget()) return CUDA_ERROR_OUT_OF_MEMORY;
  char* block = aligned_alloc(HEADER_BYTES, HEADER_BYTES + ((bytes + 255) & ~(size_t)255));
  if (!block) return CUDA_ERROR_OUT_OF_MEMORY;
  memcpy(block, &bytes, sizeof bytes);
  memory_used += bytes;
  *pointer = (uint64_t)(uintptr_t)(block + HEADER_BYTES);
  return CUDA_SUCCESS;
}

int cuMemFree_v2(uint64_t pointer) {
  REFUSED_DURING_CAPTURE();
  if (pointer == 0) return CUDA_ERROR_INVALID_VALUE;
  char* block = (char*)(uintptr_t)pointer - HEADER_BYTES;
  size_t bytes;
  memcpy(&bytes, block, sizeof bytes);
  memory_used -= bytes;
  free(block);
  return CUDA_SUCCESS;
}

int cuMemcpyHtoD_v2(uint64_t destination, const void* source, size_t bytes) {
  REFUSED_DURING_CAPTURE();
  memcpy((void*)(uintptr_t)destination, source, bytes);
  return CUDA_SUCCESS;
}
int cuMemcpyDtoH_v2(void* destination, uint64_t source, size_t bytes) {
  REFUSED_DURING_CAPTURE();
  memcpy(destination, (const void*)(uintptr_t)source, bytes);
  return CUDA_SUCCESS;
}
int cuMemcpyDtoD_v2(uint64_t destination, uint64_t source, size_t bytes) {
  REFUSED_DURING_CAPTURE();
  memmove((void*)(uintptr_t)destination, (const void*)(uintptr_t)source, bytes);
  return CUDA_SUCCESS;
}
int cuMemsetD8_v2(uint64_t destination, unsigned char value, size_t count) {
  REFUSED_DURING_CAPTURE();
  memset((void*)(uintptr_t)destination, value, count);
  return CUDA_SUCCESS;
}

/* the image is the NUL-terminated path of the library "NVRTC" built */
int cuModuleLoadData(void** module, const void* image) {
  void* handle = dlopen((const char*)image, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    fprintf(stderr, "fake libcuda: %s\n", dlerror());
    return CUDA_ERROR_INVALID_IMAGE;
  }
  *module = handle;
  return CUDA_SUCCESS;
}

int cuModuleUnload(void* module) {
  return dlclose(module) == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

/* A kernel handle is a Function (fake_cuda.h): the module's launcher and the bytes of the
   kernel's parameter. */

int cuModuleGetFunction(void** function, void* module, const char* name) {
  char symbol[512];
  snprintf(symbol, sizeof symbol, "emu_launch_%s", name);
  Launcher run = (Launcher)dlsym(module, symbol);
  snprintf(symbol, sizeof symbol, "emu_params_%s", name);
  size_t (*param_bytes)(void) = (size_t (*)(void))dlsym(module, symbol);
  if (!run || !param_bytes) return CUDA_ERROR_NOT_FOUND;
  Function* f = malloc(sizeof *f); /* kept for the process, as modules are rarely unloaded */
  f->run = run;
  f->param_bytes = param_bytes();
  *function = f;
  return CUDA_SUCCESS;
}

/* A recorded launch, and a graph: the launches of one capture, in order. */
typedef struct {
  Function* function;
  int grid, threads;
  void* params;
} Node;
typedef struct {
  Node* nodes;
  int count, capacity;
} Graph;
static Graph* recording;

int cuLaunchKernel(void* function, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, unsigned shared, void* stream, void** params,
                   void** extra) {
  (void)shared, (void)extra;
  if (!function || !params) return CUDA_ERROR_INVALID_VALUE;
  if (gy != 1 || gz != 1 || by != 1 || bz != 1 || gx == 0 || bx == 0 || bx > 1024) {
    return CUDA_ERROR_INVALID_VALUE; /* Kiln's kernels are one-dimensional */
  }
  return emu_submit(function, stream, params[0], (int)gx, (int)bx);
}

int emu_submit(Function* f, void* stream, const void* params, int grid, int threads) {
  if (capturing && stream == capturing) {
    if (recording->count == recording->capacity) {
      recording->capacity = recording->capacity ? 2 * recording->capacity : 16;
      recording->nodes = realloc(recording->nodes, recording->capacity * sizeof(Node));
    }
    Node* node = &recording->nodes[recording->count++];
    *node = (Node){f, grid, threads, malloc(f->param_bytes)};
    memcpy(node->params, params, f->param_bytes);
    return CUDA_SUCCESS;
  }
  REFUSED_DURING_CAPTURE();
  return f->run(params, grid, threads) == 0 ? CUDA_SUCCESS : CUDA_ERROR_LAUNCH_FAILED;
}

static int stream_tokens[64], streams_made;
int cuStreamCreate(void** stream, unsigned flags) {
  (void)flags;
  *stream = &stream_tokens[streams_made++ % 64];
  return CUDA_SUCCESS;
}
int cuStreamDestroy_v2(void* stream) { (void)stream; return CUDA_SUCCESS; }
int cuStreamSynchronize(void* stream) {
  if (stream != capturing) REFUSED_DURING_CAPTURE();
  return CUDA_SUCCESS;
}

int cuStreamBeginCapture_v2(void* stream, int mode) {
  (void)mode;
  if (!stream) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED; /* not the legacy stream */
  if (capturing) return CUDA_ERROR_INVALID_VALUE;
  capturing = stream;
  capture_invalidated = 0;
  recording = calloc(1, sizeof *recording);
  return CUDA_SUCCESS;
}

int cuGraphDestroy(void* graph) {
  Graph* g = graph;
  if (!g) return CUDA_ERROR_INVALID_VALUE;
  for (int i = 0; i < g->count; i++) free(g->nodes[i].params);
  free(g->nodes);
  free(g);
  return CUDA_SUCCESS;
}

int cuStreamEndCapture(void* stream, void** graph) {
  if (!capturing || stream != capturing) return CUDA_ERROR_INVALID_VALUE;
  capturing = NULL;
  *graph = NULL;
  if (capture_invalidated) {
    cuGraphDestroy(recording);
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  *graph = recording;
  return CUDA_SUCCESS;
}

/* An executable graph is a copy of the graph (the graph may be destroyed right after). */
int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags) {
  Graph* g = graph;
  if (!g || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  Graph* copy = calloc(1, sizeof *copy);
  copy->nodes = calloc(g->count ? g->count : 1, sizeof(Node));
  copy->count = copy->capacity = g->count;
  for (int i = 0; i < g->count; i++) {
    copy->nodes[i] = g->nodes[i];
    copy->nodes[i].params = malloc(g->nodes[i].function->param_bytes);
    memcpy(copy->nodes[i].params, g->nodes[i].params, g->nodes[i].function->param_bytes);
  }
  *exec = copy;
  return CUDA_SUCCESS;
}
int cuGraphExecDestroy(void* exec) { return cuGraphDestroy(exec); }

int cuGraphLaunch(void* exec, void* stream) {
  (void)stream;
  REFUSED_DURING_CAPTURE();
  Graph* g = exec;
  if (!g) return CUDA_ERROR_INVALID_VALUE;
  for (int i = 0; i < g->count; i++) {
    Node* n = &g->nodes[i];
    if (n->function->run(n->params, n->grid, n->threads) != 0) return CUDA_ERROR_LAUNCH_FAILED;
  }
  return CUDA_SUCCESS;
}

/* ---- page-locked memory and events (for asynchronous read-back) ---------------------------- */

int cuMemAllocHost_v2(void** pointer, size_t bytes) {
  REFUSED_DURING_CAPTURE();
  *pointer = malloc(bytes ? bytes : 1);
  return *pointer ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
int cuMemFreeHost(void* pointer) {
  free(pointer);
  return CUDA_SUCCESS;
}
int cuMemcpyDtoHAsync_v2(void* destination, uint64_t source, size_t bytes, void* stream) {
  if (stream != capturing) REFUSED_DURING_CAPTURE();
  memcpy(destination, (const void*)(uintptr_t)source, bytes);
  return CUDA_SUCCESS;
}

/* an event counts its queries: the first says "not ready" */
int cuEventCreate(void** event, unsigned flags) {
  (void)flags;
  *event = calloc(1, sizeof(int));
  return CUDA_SUCCESS;
}
int cuEventRecord(void* event, void* stream) {
  if (stream != capturing) REFUSED_DURING_CAPTURE();
  *(int*)event = 0;
  return CUDA_SUCCESS;
}
int cuEventQuery(void* event) { return (*(int*)event)++ == 0 ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS; }
int cuEventDestroy_v2(void* event) {
  free(event);
  return CUDA_SUCCESS;
}
