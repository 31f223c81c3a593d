/**
 * A CPU emulation of the CUDA execution model, for testing rendered kernels where there is no
 * GPU: the generated source is compiled as C++ after `cuda_emulator/runtime.h`, which defines
 * the CUDA builtins and runs a block's threads as fibers that switch at barriers (see there).
 *
 * Two ways in: {@linkcode buildEmulator} runs rendered programs directly on host arrays;
 * {@linkcode fakeCudaEnvironment} builds `cuda_emulator/`'s fake libcuda, libnvrtc and
 * libcublas on the same runtime, under which a Kiln process's whole `cuda` device runs.
 */

import { createHash } from "node:crypto";
import { STORAGE, type TypedArray } from "../core/dtype.ts";
import { Literal, Var } from "../core/graph.ts";
import { sizeOf } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { flatten } from "../core/tree.ts";
import { optimize } from "../jit/passes.ts";
import { stageGraph } from "../jit/stage.ts";
import { cacheDirectory, compileSharedLibrary } from "../ffi/compile.ts";
import { CUDA_PRELUDE } from "../jit/cuda/prelude.ts";
import { nvrtc, nvrtcStatus } from "../ffi/nvrtc.ts";
import {
  constantBlob,
  type CudaKernelStep,
  type CudaProgram,
  launchGrid,
} from "../jit/cuda/program.ts";

/** The fiber runtime that emulates CUDA's execution model on the CPU (C++). */
const RUNTIME_HEADER = new URL("./cuda_emulator/runtime.h", import.meta.url);

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
      .map((k) => ({ name: k.name }))
  );
  const launchers = kernels.map((k) =>
    `extern "C" int emu_${k.name}(void* const* P, int grid, int threads) {\n` +
    `  return emu_run(${k.name}, P, grid, threads);\n}`
  );
  const runtime = Deno.readTextFileSync(RUNTIME_HEADER);
  const source = [runtime, CUDA_PRELUDE, ...programs.map((p) => p.kernels), ...launchers].join(
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

/**
 * The environment under which a Kiln process's `cuda` device runs on the CPU emulation: one
 * library built from `cuda_emulator/` (through the build cache) as libcuda, libnvrtc and
 * libcublas (`fake_cuda.c`, `fake_nvrtc.c`, `fake_cublas.c`; `cublas: false` turns cuBLAS off,
 * so matmuls run as rendered kernels), and a cache folder of its own, named by the emulator's
 * sources: the fake NVRTC's "images" are paths of libraries built with the runtime header, so
 * they must not outlive a change of either.
 */
export function fakeCudaEnvironment(options: { cublas?: boolean } = {}): Record<string, string> {
  const files = ["fake_cuda.h", "fake_cuda.c", "fake_nvrtc.c", "fake_cublas.c"];
  const sources = files.map((name) => ({
    name,
    text: Deno.readTextFileSync(new URL(`./cuda_emulator/${name}`, import.meta.url)),
  }));
  const fake = compileSharedLibrary(sources, {
    flags: ["-O1", "-shared", "-fPIC"],
    libs: ["-ldl"],
  });
  const hash = createHash("sha256");
  for (const source of sources) hash.update(source.text);
  const version = hash.update(Deno.readTextFileSync(RUNTIME_HEADER)).digest("hex").slice(0, 16);
  const cache = `${cacheDirectory()}/cuda-emulator-${version}`;
  Deno.mkdirSync(cache, { recursive: true });
  return {
    KILN_LIBCUDA: fake,
    KILN_NVRTC: fake,
    KILN_CUBLAS: options.cublas === false ? "0" : fake,
    KILN_CACHE_DIR: cache,
    KILN_CUDA_EMULATOR_DIR: cache,
    KILN_CUDA_EMULATOR_HEADER: new URL(RUNTIME_HEADER).pathname,
  };
}

/**
 * `nvrtcStatus()`, except that the emulator's fake NVRTC counts as unavailable: tests of what a
 * real NVRTC produces (PTX, cubins, its diagnostics) skip under the emulation.
 */
export function realNvrtcStatus(): { available: boolean; reason: string } {
  const status = nvrtcStatus();
  if (status.available && nvrtc().info.version[0] === 0) {
    return { available: false, reason: "the NVRTC found is the CUDA emulator's (no PTX)" };
  }
  return status;
}
