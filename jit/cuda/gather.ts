/**
 * CUDA kernels for the gathers and scatter-adds along one axis that the CPU back end runs as
 * library calls (`kernels/cpu/gather.c`): `take` (an embedding lookup, integer-label
 * cross-entropy's forward) and `scatter_add` (its gradient). Indices are int32, already
 * clamped or validated by the NumPy/lax layer, as on the CPU.
 *
 * An operand of shape (outer, len, inner) around the axis and `nidx` indices:
 * - take writes (outer, nidx, inner): one thread per output element;
 * - scatter_add copies the operand into the output, then adds each update with `atomicAdd`
 *   (two kernels: the copy must finish first). Duplicate indices therefore accumulate in an
 *   unspecified order, as in XLA and PyTorch on a GPU.
 * @module
 */

import type { DType } from "../../core/dtype.ts";
import { splitAt } from "../../core/prims/reduce.ts";
import { sizeOf } from "../../core/shape.ts";
import type { Eqn } from "../../core/graph.ts";

/** Threads per block of these kernels. */
const THREADS = 256;

/** A rendered kernel: text with `@TABLE@`/`@DECLS@` placeholders, flat over `items`. */
export interface FlatKernelCode {
  name: string;
  text: string;
  items: number;
  threads: number;
}

/** The dtypes `atomicAdd` takes (the CPU's scatter_add types, 16-bit floats normalized away). */
const ATOMIC_ADD = new Set<DType>(["float32", "float64", "int32", "uint32"]);

/** Whether a CUDA kernel renders this equation (else it runs on the host). */
export function hasGatherKernel(eqn: Eqn): boolean {
  const name = eqn.prim.name;
  if (eqn.inputs[1]?.aval.dtype !== "int32") return false;
  if (name === "take") return true;
  return name === "scatter_add" && ATOMIC_ADD.has(eqn.inputs[0].aval.dtype);
}

/** A grid-stride loop over `count` items (64-bit: gathers can pass 2^31 elements). */
const loop = (count: number, body: string) =>
  `for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < ${count}LL; ` +
  `e += (long long)gridDim.x * blockDim.x) {\n${body}\n  }`;

const kernel = (name: string, body: string) =>
  `extern "C" __global__ void __launch_bounds__(${THREADS}) ${name}(const @TABLE@ P) {\n` +
  `@DECLS@\n  ${body}\n}`;

/**
 * The kernels of a `take` or `scatter_add`, in launch order; `names` are the buffers' C names
 * (operand, indices, updates for a scatter, output).
 */
export function renderGatherKernels(
  prefix: string,
  eqn: Eqn,
  names: { x: string; idx: string; updates?: string; out: string },
): FlatKernelCode[] {
  const x = eqn.inputs[0].aval;
  const [outer, len, inner] = splitAt(x.shape, (eqn.params as { axis: number }).axis);
  const nidx = sizeOf(eqn.inputs[1].aval.shape);
  // (o, j, i) of element e of an (outer, nidx, inner) array, and its operand position
  const source = `const long long i = e % ${inner}, r = e / ${inner};\n` +
    `    const long long o = r / ${nidx}, j = r % ${nidx};\n` +
    `    const long long at = (o * ${len} + ${names.idx}[j]) * ${inner} + i;`;
  const gathered = outer * nidx * inner;
  if (eqn.prim.name === "take") {
    const body = loop(gathered, `    ${source}\n    ${names.out}[e] = ${names.x}[at];`);
    return [{ name: prefix, text: kernel(prefix, body), items: gathered, threads: THREADS }];
  }
  const copy = loop(sizeOf(x.shape), `    ${names.out}[e] = ${names.x}[e];`);
  const add = loop(
    gathered,
    `    ${source}\n    atomicAdd(&${names.out}[at], ${names.updates}[e]);`,
  );
  return [
    {
      name: `${prefix}_copy`,
      text: kernel(`${prefix}_copy`, copy),
      items: sizeOf(x.shape),
      threads: THREADS,
    },
    {
      name: `${prefix}_add`,
      text: kernel(`${prefix}_add`, add),
      items: gathered,
      threads: THREADS,
    },
  ];
}
