/* The fake libnvrtc half of the CUDA emulator (see fake_cuda.c, built into the same library):
   "compiling" a source builds it as C++ with the fiber runtime into a shared library named by
   a hash of the source; the "PTX" is that library's path, which the fake cuModuleLoadData
   opens. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
            "  return emu_run(%.*s, table, grid, threads);\n}\n"
            "extern \"C\" size_t emu_params_%.*s(void) { return emu_param_bytes(%.*s); }\n",
            (int)length, at, (int)length, at, (int)length, at, (int)length, at);
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
