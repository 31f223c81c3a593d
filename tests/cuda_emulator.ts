/**
 * A CPU emulation of the CUDA execution model, for testing rendered kernels where there is no
 * GPU: the generated source is compiled as C++ with a small header that defines the CUDA
 * builtins (`threadIdx`, `__syncthreads`, `__shfl_down_sync`, ...). The blocks of a launch run
 * one after another; the threads of a block are fibers that switch at barriers, so
 * shared-memory block reductions and warp shuffles execute with a GPU's synchronization. A
 * barrier that not every thread of a block (or warp) reaches, which on a GPU would hang or
 * corrupt, fails the launch. Pointers in the table are host addresses of TypedArrays.
 *
 * It checks indexing, loop structure, reductions and their synchronization; not the device's
 * floating-point details (it uses the host's libm) nor memory-model subtleties.
 */

import { STORAGE, type TypedArray } from "../core/dtype.ts";
import { Literal, Var } from "../core/graph.ts";
import { sizeOf } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { flatten } from "../core/tree.ts";
import { optimize } from "../jit/passes.ts";
import { stageGraph } from "../jit/stage.ts";
import { compileSharedLibrary } from "../ffi/compile.ts";
import { CUDA_PRELUDE } from "../jit/cuda/prelude.ts";
import {
  constantBlob,
  type CudaKernelStep,
  type CudaProgram,
  launchGrid,
} from "../jit/cuda/program.ts";

const HEADER = `
#include <math.h>
#include <string.h>
#include <ucontext.h>
#include <vector>
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
/* Runs the blocks one after another; within a block, runs every runnable fiber in turn until
   all are done. No runnable fiber left while some wait: a barrier not all threads reach. */
static int emu_launch(void (*kernel)(), int grid, int threads) {
  const size_t stack = 256 * 1024;
  std::vector<char> stacks((size_t)threads * stack);
  std::vector<EmuFiber> fibers(threads);
  emu_kernel = kernel;
  gridDim = {(unsigned)grid, 1, 1};
  blockDim = {(unsigned)threads, 1, 1};
  for (int b = 0; b < grid; b++) {
    blockIdx = {(unsigned)b, 0, 0};
    emu_block_barrier = EmuBarrier{threads};
    for (int w = 0; w < 32; w++) emu_warp_barrier[w] = EmuBarrier{32};
    for (int t = 0; t < threads; t++) {
      EmuFiber& f = fibers[t];
      f = EmuFiber();
      getcontext(&f.context);
      f.context.uc_stack.ss_sp = &stacks[(size_t)t * stack];
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
`;

/**
 * The optimized graph of `fn` at `args` (a pytree, as jit stages it) and the values of its
 * inputs: the arguments' leaves, then the constants staging hoisted into inputs.
 */
export function staged(fn: (...xs: never[]) => unknown, args: unknown[]) {
  const [leaves, def] = flatten(args);
  const { graph, consts } = stageGraph(fn as never, def, leaves as Tensor[], "cuda_emulated");
  return { graph: optimize(graph), inputs: [...(leaves as Tensor[]), ...consts] };
}

/** The arrays whose addresses the last run's table holds (kept alive across the launches). */
const pinned: { arrays: unknown[] } = { arrays: [] };

/** Emulated kernels of several programs, compiled together. */
export interface Emulator {
  /** Runs a program on host data; returns its outputs (as the graph's output dtypes). */
  run(program: CudaProgram, inputs: TypedArray[]): TypedArray[];
}

/**
 * Compiles the kernels of `programs` (rendered with distinct prefixes) for emulation, through
 * the content-addressed build cache.
 */
export function buildEmulator(programs: CudaProgram[]): Emulator {
  const kernels = programs.flatMap((p) =>
    p.steps.filter((s): s is CudaKernelStep => s.kind === "kernel")
      .map((k) => ({ name: k.name, table: p.tableType }))
  );
  // the table is copied into a static (as a launch copies the kernel's parameters)
  const launchers = kernels.map((k) =>
    `extern "C" int emu_${k.name}(void* const* P, int grid, int threads) {\n` +
    `  static ${k.table} table;\n  memcpy(&table, P, sizeof table);\n` +
    `  return emu_launch([] { ${k.name}(table); }, grid, threads);\n}`
  );
  const source = [HEADER, CUDA_PRELUDE, ...programs.map((p) => p.kernels), ...launchers].join(
    "\n",
  );
  const path = compileSharedLibrary([{ name: "emulated.c", text: source }], {
    flags: ["-x", "c++", "-std=c++17", "-O1", "-w", "-shared", "-fPIC"],
    libs: ["-lstdc++", "-lm"],
  });
  const symbols: Record<string, Deno.ForeignFunction> = {};
  for (const k of kernels) {
    symbols[`emu_${k.name}`] = { parameters: ["buffer", "i32", "i32"], result: "i32" };
  }
  const lib = Deno.dlopen(path, symbols);
  return {
    run(program, inputs) {
      const graph = program.graph;
      if (inputs.length !== graph.inputs.length) {
        throw new Error(`emulator: ${inputs.length} inputs for ${graph.inputs.length}`);
      }
      const outputs = graph.outputs.map((o) => new STORAGE[o.aval.dtype](sizeOf(o.aval.shape)));
      const constants = constantBlob(program);
      const arena = new Uint8Array(Math.max(64, program.arenaBytes));
      const address = (a: TypedArray) =>
        BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a as Uint8Array)));
      // zero-sized arrays have no storage: give them a byte so each slot is a valid address
      const keep = [...inputs, ...outputs].map((a) => (a.byteLength > 0 ? a : new Uint8Array(8)));
      const table = new BigUint64Array([
        ...keep.map(address),
        address(constants),
        address(arena),
      ]);
      for (const step of program.steps) {
        if (step.kind !== "kernel") throw new Error(`emulator: ${step.describe}`);
        if (step.items === 0) continue;
        const launch = lib.symbols[`emu_${step.name}`] as (
          p: BigUint64Array,
          grid: number,
          threads: number,
        ) => number;
        // one "multiprocessor" (at most 32 blocks), so that grid-stride loops are exercised
        if (launch(table, launchGrid(step, 1), step.threads) !== 0) {
          throw new Error(`emulator: ${step.name} reached a barrier that not all threads reached`);
        }
      }
      // outputs no kernel writes: inputs passed through, literals, repeated outputs
      graph.outputs.forEach((o, j) => {
        const b = o instanceof Var ? program.planner.bufOf(o) : undefined;
        if (b && b.kind === "out" && b.index === j) return;
        const first = graph.outputs.indexOf(o);
        outputs[j] = first !== j
          ? outputs[first].slice()
          : o instanceof Literal
          ? o.value.dataSync().slice()
          : inputs[graph.inputs.indexOf(o)].slice();
      });
      pinned.arrays = [keep, constants, arena];
      return outputs;
    },
  };
}
