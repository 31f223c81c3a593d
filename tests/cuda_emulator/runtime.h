/* A CPU emulation of the CUDA execution model, for testing generated kernels where there is no
   GPU (tests/cuda_emulator.ts and the fake driver in tests/cuda_emulator/fake_cuda.c include it
   before a generated source). The blocks of a launch run one after another; the threads of a
   block are fibers (ucontext) that switch only at barriers, on one OS thread, so shared-memory
   block reductions and warp shuffles execute with a GPU's synchronization. A barrier that not
   every thread of a block (or warp) reaches, which on a GPU would hang or corrupt, fails the
   launch. It checks indexing, loop structure, reductions and their synchronization; not the
   device's floating-point details (it uses the host's libm) nor memory-model subtleties. */
#include <math.h>
#include <string.h>
#include <ucontext.h>
struct emu_dim3 { unsigned x, y, z; };
static emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
/* CUDA threads are fibers (ucontext) switched only at barriers, on one OS thread */
struct EmuBarrier {
  int count, arrived = 0;
  unsigned long generation = 0;
};
struct EmuFiber {
  ucontext_t context;
  EmuBarrier* waiting = nullptr;
  unsigned long generation = 0;
  bool done = false;
};
static ucontext_t emu_scheduler;
static EmuFiber* emu_self;
static EmuBarrier emu_block_barrier;
static EmuBarrier emu_warp_barrier[32];
static unsigned long long emu_warp_slot[32][32];
static void (*emu_kernel)();
static void emu_wait(EmuBarrier& b) {
  if (++b.arrived == b.count) { b.arrived = 0; b.generation++; return; }
  emu_self->waiting = &b;
  emu_self->generation = b.generation;
  swapcontext(&emu_self->context, &emu_scheduler);
}
static inline void __syncthreads() { emu_wait(emu_block_barrier); }
template <typename T> static inline T __shfl_down_sync(unsigned, T v, int offset) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  emu_wait(emu_warp_barrier[warp]);
  memcpy(&emu_warp_slot[warp][lane], &v, sizeof(T));
  emu_wait(emu_warp_barrier[warp]);
  T r = v;
  if (lane + offset < 32) memcpy(&r, &emu_warp_slot[warp][lane + offset], sizeof(T));
  return r;
}
static inline float __int_as_float(int bits) { float f; memcpy(&f, &bits, 4); return f; }
static inline float __uint_as_float(unsigned bits) { float f; memcpy(&f, &bits, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static void emu_entry() {
  emu_kernel();
  emu_self->done = true; /* returns to uc_link: the scheduler */
}
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __threadfence() ((void)0) /* blocks run one after another */
/* Runs the blocks one after another; within a block, runs every runnable fiber in turn until
   all are done. No runnable fiber left while some wait: a barrier not all threads reach. */
static int emu_run_blocks(EmuFiber* fibers, char* stacks, size_t stack, int grid, int threads) {
  for (int b = 0; b < grid; b++) {
    blockIdx = {(unsigned)b, 0, 0};
    emu_block_barrier = EmuBarrier{threads};
    for (int w = 0; w < 32; w++) emu_warp_barrier[w] = EmuBarrier{32};
    for (int t = 0; t < threads; t++) {
      EmuFiber& f = fibers[t];
      f = EmuFiber();
      getcontext(&f.context);
      f.context.uc_stack.ss_sp = stacks + (size_t)t * stack;
      f.context.uc_stack.ss_size = stack;
      f.context.uc_link = &emu_scheduler;
      makecontext(&f.context, emu_entry, 0);
    }
    int done = 0;
    while (done < threads) {
      bool progress = false;
      for (int t = 0; t < threads; t++) {
        EmuFiber& f = fibers[t];
        if (f.done || (f.waiting && f.waiting->generation == f.generation)) continue;
        f.waiting = nullptr;
        emu_self = &f;
        threadIdx = {(unsigned)t, 0, 0};
        swapcontext(&emu_scheduler, &f.context);
        progress = true;
        if (f.done) done++;
      }
      if (!progress) return 1;
    }
  }
  return 0;
}

/* (no <vector>: the header is compiled with every emulated module, so it stays light; the
   stacks are left uninitialized, so only the pages a fiber touches are mapped) */
static int emu_launch(void (*kernel)(), int grid, int threads) {
  const size_t stack = 256 * 1024;
  char* stacks = new char[(size_t)threads * stack];
  EmuFiber* fibers = new EmuFiber[threads];
  emu_kernel = kernel;
  gridDim = {(unsigned)grid, 1, 1};
  blockDim = {(unsigned)threads, 1, 1};
  const int status = emu_run_blocks(fibers, stacks, stack, grid, threads);
  delete[] fibers;
  delete[] stacks;
  return status;
}

/* Launches `kernel` (taking its pointer table by value) from the table bytes at `table`: the
   table is copied first, as a launch copies the kernel's parameters. In an anonymous namespace:
   template statics are otherwise process-wide (STB_GNU_UNIQUE) across the libraries of several
   programs, whose tables differ in size. */
namespace {
template <class Table> struct EmuCall {
  static void (*kernel)(Table);
  static Table table;
  static void run() { kernel(table); }
};
template <class Table> void (*EmuCall<Table>::kernel)(Table);
template <class Table> Table EmuCall<Table>::table;
template <class Table>
static int emu_run(void (*kernel)(Table), const void* table, int grid, int threads) {
  EmuCall<Table>::kernel = kernel;
  memcpy(&EmuCall<Table>::table, table, sizeof(Table));
  return emu_launch(EmuCall<Table>::run, grid, threads);
}
/* Bytes of a kernel's parameter (its pointer table): what a captured launch keeps a copy of. */
template <class Table> static size_t emu_param_bytes(void (*)(Table)) { return sizeof(Table); }
}  // namespace

/* Fibers switch only at barriers, so a read-modify-write is atomic here. */
template <typename T> static inline T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
