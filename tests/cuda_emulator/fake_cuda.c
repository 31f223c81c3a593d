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

   Launches are therefore synchronous, and one emulated multiprocessor keeps grids small. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the driver API ---------------------------------------------------------------------- */

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_LAUNCH_FAILED = 719,
};

static const char* error_name(int code) {
  switch (code) {
    case CUDA_SUCCESS: return "CUDA_SUCCESS";
    case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
    case CUDA_ERROR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
    case CUDA_ERROR_INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
    case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
    case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
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
int cuCtxSynchronize(void) { return CUDA_SUCCESS; }

int cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
  *total = memory_budget();
  *free_bytes = *total - memory_used;
  return CUDA_SUCCESS;
}

int cuMemAlloc_v2(uint64_t* pointer, size_t bytes) {
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
  if (pointer == 0) return CUDA_ERROR_INVALID_VALUE;
  char* block = (char*)(uintptr_t)pointer - HEADER_BYTES;
  size_t bytes;
  memcpy(&bytes, block, sizeof bytes);
  memory_used -= bytes;
  free(block);
  return CUDA_SUCCESS;
}

int cuMemcpyHtoD_v2(uint64_t destination, const void* source, size_t bytes) {
  memcpy((void*)(uintptr_t)destination, source, bytes);
  return CUDA_SUCCESS;
}
int cuMemcpyDtoH_v2(void* destination, uint64_t source, size_t bytes) {
  memcpy(destination, (const void*)(uintptr_t)source, bytes);
  return CUDA_SUCCESS;
}
int cuMemcpyDtoD_v2(uint64_t destination, uint64_t source, size_t bytes) {
  memmove((void*)(uintptr_t)destination, (const void*)(uintptr_t)source, bytes);
  return CUDA_SUCCESS;
}
int cuMemsetD8_v2(uint64_t destination, unsigned char value, size_t count) {
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

int cuModuleGetFunction(void** function, void* module, const char* name) {
  char symbol[512];
  snprintf(symbol, sizeof symbol, "emu_launch_%s", name);
  *function = dlsym(module, symbol);
  return *function ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

typedef int (*Launcher)(const void* table, int grid, int threads);

int cuLaunchKernel(void* function, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, unsigned shared, void* stream, void** params,
                   void** extra) {
  (void)shared, (void)stream, (void)extra;
  if (!function || !params) return CUDA_ERROR_INVALID_VALUE;
  if (gy != 1 || gz != 1 || by != 1 || bz != 1 || gx == 0 || bx == 0 || bx > 1024) {
    return CUDA_ERROR_INVALID_VALUE; /* Kiln's kernels are one-dimensional */
  }
  return ((Launcher)function)(params[0], (int)gx, (int)bx) == 0 ? CUDA_SUCCESS
                                                                 : CUDA_ERROR_LAUNCH_FAILED;
}

static int stream_token;
int cuStreamCreate(void** stream, unsigned flags) {
  (void)flags;
  *stream = &stream_token;
  return CUDA_SUCCESS;
}
int cuStreamDestroy_v2(void* stream) { (void)stream; return CUDA_SUCCESS; }
int cuStreamSynchronize(void* stream) { (void)stream; return CUDA_SUCCESS; }

/* ---- NVRTC ------------------------------------------------------------------------------- */

enum { NVRTC_SUCCESS = 0, NVRTC_ERROR_INVALID_INPUT = 3, NVRTC_ERROR_COMPILATION = 6 };

typedef struct {
  char* source;
  char* log;
  char* image; /* the built library's path */
} Program;

/* a version no real NVRTC has, so its cached images never mix with real ones */
int nvrtcVersion(int* major, int* minor) {
  *major = 0;
  *minor = 1;
  return NVRTC_SUCCESS;
}

const char* nvrtcGetErrorString(int code) {
  switch (code) {
    case NVRTC_SUCCESS: return "NVRTC_SUCCESS";
    case NVRTC_ERROR_INVALID_INPUT: return "NVRTC_ERROR_INVALID_INPUT";
    case NVRTC_ERROR_COMPILATION: return "NVRTC_ERROR_COMPILATION";
    default: return "NVRTC_ERROR_INTERNAL_ERROR";
  }
}

int nvrtcCreateProgram(Program** program, const char* source, const char* name, int headers,
                       const char* const* contents, const char* const* names) {
  (void)name, (void)contents, (void)names;
  if (headers != 0) return NVRTC_ERROR_INVALID_INPUT;
  Program* p = calloc(1, sizeof *p);
  p->source = strdup(source);
  p->log = strdup("");
  *program = p;
  return NVRTC_SUCCESS;
}

int nvrtcDestroyProgram(Program** program) {
  free((*program)->source);
  free((*program)->log);
  free((*program)->image);
  free(*program);
  *program = NULL;
  return NVRTC_SUCCESS;
}

static uint64_t fnv1a(const char* text) {
  uint64_t hash = 1469598103934665603ull;
  for (; *text; text++) hash = (hash ^ (unsigned char)*text) * 1099511628211ull;
  return hash;
}

/* Appends a launcher for every `__global__ void __launch_bounds__(N) NAME(` in `source`. */
static void write_launchers(FILE* out, const char* source) {
  const char* marker = "__global__ void __launch_bounds__(";
  for (const char* at = strstr(source, marker); at; at = strstr(at, marker)) {
    at = strchr(at + strlen(marker), ')');
    if (!at) return;
    at++;
    while (*at == ' ') at++;
    size_t length = strcspn(at, "( ");
    fprintf(out,
            "extern \"C\" int emu_launch_%.*s(const void* table, int grid, int threads) {\n"
            "  return emu_run(%.*s, table, grid, threads);\n}\n",
            (int)length, at, (int)length, at);
  }
}

static char* read_text(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return strdup("");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* text = calloc((size_t)size + 1, 1);
  if (fread(text, 1, (size_t)size, f) != (size_t)size) text[0] = 0;
  fclose(f);
  return text;
}

static int fail_compilation(Program* p, const char* message) {
  free(p->log);
  p->log = strdup(message);
  return NVRTC_ERROR_COMPILATION;
}

int nvrtcCompileProgram(Program* p, int count, const char* const* options) {
  (void)count, (void)options;
  const char* directory = getenv("KILN_CUDA_EMULATOR_DIR");
  const char* header = getenv("KILN_CUDA_EMULATOR_HEADER");
  if (!directory || !header) {
    return fail_compilation(p, "set KILN_CUDA_EMULATOR_DIR and KILN_CUDA_EMULATOR_HEADER");
  }
  char library[4096], source[4096], log[4096], command[16384];
  uint64_t hash = fnv1a(p->source);
  snprintf(library, sizeof library, "%s/emu-%016llx.so", directory, (unsigned long long)hash);
  struct stat info;
  if (stat(library, &info) != 0) {
    snprintf(source, sizeof source, "%s/emu-%016llx-%d.cpp", directory,
             (unsigned long long)hash, (int)getpid());
    snprintf(log, sizeof log, "%s.log", source);
    FILE* out = fopen(source, "w");
    if (!out) return fail_compilation(p, "cannot write the emulated source");
    fprintf(out, "#include \"%s\"\n%s\n", header, p->source);
    write_launchers(out, p->source);
    fclose(out);
    snprintf(command, sizeof command,
             "cc -x c++ -std=c++17 -O1 -w -shared -fPIC -Wl,-Bsymbolic -o '%s.tmp' '%s' "
             "-lstdc++ -lm 2> '%s' && "
             "mv '%s.tmp' '%s'",
             source, source, log, source, library);
    int status = system(command);
    if (status != 0) {
      char* text = read_text(log);
      int result = fail_compilation(p, text);
      free(text);
      return result;
    }
    remove(source);
    remove(log);
  }
  p->image = strdup(library);
  return NVRTC_SUCCESS;
}

int nvrtcGetProgramLogSize(Program* p, size_t* size) {
  *size = strlen(p->log) + 1;
  return NVRTC_SUCCESS;
}
int nvrtcGetProgramLog(Program* p, char* log) {
  strcpy(log, p->log);
  return NVRTC_SUCCESS;
}
int nvrtcGetPTXSize(Program* p, size_t* size) {
  if (!p->image) return NVRTC_ERROR_INVALID_INPUT;
  *size = strlen(p->image) + 1;
  return NVRTC_SUCCESS;
}
int nvrtcGetPTX(Program* p, char* ptx) {
  if (!p->image) return NVRTC_ERROR_INVALID_INPUT;
  strcpy(ptx, p->image);
  return NVRTC_SUCCESS;
}
