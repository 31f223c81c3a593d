/**
 * The CUDA kernels of equations the CPU back end runs as library calls, where one is
 * written: gathers and scatter-adds (`gather.ts`), argument reductions and cumulative scans
 * (`index_kernels.ts`), concatenation, padding and dynamic slices (`structure_kernels.ts`),
 * convolutions and their gradients (`conv_kernels.ts`), window reductions and the max's
 * derivatives (`window_kernels.ts`).
 * Library calls without one run on the host (`backend.ts`).
 * @module
 */

import type { Eqn } from "../../core/graph.ts";
import type { FlatKernelCode } from "./flat_kernel.ts";
import { hasGatherKernel, renderGatherKernels } from "./gather.ts";
import { hasIndexKernel, renderIndexKernels } from "./index_kernels.ts";
import { hasStructureKernel, renderStructureKernels } from "./structure_kernels.ts";
import { hasConvKernel, renderConvKernels } from "./conv_kernels.ts";
import { hasWindowKernel, renderWindowKernels } from "./window_kernels.ts";

type Renderer = (prefix: string, eqn: Eqn, inputs: string[], out: string) => FlatKernelCode[];

const RENDERERS: [(eqn: Eqn) => boolean, Renderer][] = [
  [hasGatherKernel, renderGatherKernels],
  [hasIndexKernel, renderIndexKernels],
  [hasStructureKernel, renderStructureKernels],
  [hasConvKernel, renderConvKernels],
  [hasWindowKernel, renderWindowKernels],
];

/** Whether a CUDA kernel renders this library call (else it runs on the host). */
export function hasLibraryKernel(eqn: Eqn): boolean {
  return eqn.outputs.length === 1 && RENDERERS.some(([has]) => has(eqn));
}

/**
 * The kernels of a library call, in launch order: `inputs` are its operands' C names, `out`
 * its output's.
 */
export function renderLibraryKernels(
  prefix: string,
  eqn: Eqn,
  inputs: string[],
  out: string,
): FlatKernelCode[] {
  const renderer = RENDERERS.find(([has]) => has(eqn));
  if (!renderer) throw new Error(`cuda jit: no CUDA kernel for ${eqn.prim.name}`);
  return renderer[1](prefix, eqn, inputs, out);
}
