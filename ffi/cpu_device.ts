/**
 * The `cpu` device: tensors live in JS ArrayBuffers (V8 counts and frees them; they pass
 * zero-copy to C as FFI buffers) and eager primitives run precompiled C kernels from
 * `kernels/cpu/`. Primitives that only move data run through their `view` rule and one
 * strided-copy kernel.
 * @module
 */

import type { Device } from "../core/device.ts";
import type { TypedArray } from "../core/dtype.ts";
import { computeHalfInFloat32, type HostExecute } from "../core/half_compute.ts";
import type { Primitive } from "../core/primitive.ts";
import { loadCpuLibrary } from "./cpu_library.ts";
import { convKernels } from "./cpu_ops/conv.ts";
import { castKernels, castWith, elementwiseKernels } from "./cpu_ops/elementwise.ts";
import { indexingKernels } from "./cpu_ops/indexing.ts";
import { reduceKernels } from "./cpu_ops/reduce.ts";
import { runView, structureKernels } from "./cpu_ops/structure.ts";
import { windowGradKernels } from "./cpu_ops/window_grad.ts";
import type { CpuKernelTable, CpuSymbols } from "./cpu_ops/types.ts";

/** The cpu device plus what the tests inspect. */
export interface CpuDevice extends Device {
  /** Primitive names with a native kernel (or a view rule). */
  hasKernel(prim: Primitive): boolean;
  /** Whether a CBLAS library was found for large matmuls. */
  readonly blasLoaded: boolean;
}

/** Creates the cpu device; throws when the kernels cannot be built or loaded. */
export function createCpuDevice(): CpuDevice {
  const lib = loadCpuLibrary();
  const sym = lib.symbols as unknown as CpuSymbols;
  const table: CpuKernelTable = {
    ...elementwiseKernels(sym),
    ...structureKernels(sym),
    ...reduceKernels(sym),
    ...convKernels,
    ...indexingKernels,
    ...windowGradKernels,
  };
  const run: HostExecute = (prim, xs, inAvals, params, outAvals) => {
    const kernel = table[prim.name];
    if (kernel !== undefined) return kernel(sym, xs, inAvals, params, outAvals);
    if (prim.rules.view !== undefined) {
      return [runView(sym, prim, xs[0], inAvals[0], params, outAvals[0])];
    }
    throw new Error(`cpu device: no kernel for primitive ${prim.name}`);
  };
  // float16/bfloat16 run the float32 kernels between two C casts (XLA's CPU semantics)
  const casts = castKernels(sym);
  const execute = computeHalfInFloat32(run, {
    widen: (x, dtype) => castWith(casts, x, dtype, "float32") as Float32Array,
    narrow: (x, dtype) => castWith(casts, x, "float32", dtype),
  });
  return {
    name: "cpu",
    blasLoaded: lib.blasLoaded,
    fromHost: (data) => data,
    toHost: (buffer) => (buffer as TypedArray).slice(),
    toHostAsync: (buffer) => Promise.resolve((buffer as TypedArray).slice()),
    execute: (prim, inputs, inAvals, params, outAvals) =>
      execute(prim, inputs as TypedArray[], inAvals, params, outAvals),
    dispose: () => {},
    hasKernel: (prim) => prim.name in table || prim.rules.view !== undefined,
  };
}
