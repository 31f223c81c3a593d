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
 * - scatter (set) and scatter_mul/min/max copy too, then one thread per (outer, inner) column
 *   applies the updates in index order, as the CPU: deterministic, the last set winning.
 * @module
 */

import { type DType, isFloat } from "../../core/dtype.ts";
import { splitAt } from "../../core/prims/reduce.ts";
import { sizeOf } from "../../core/shape.ts";
import type { Eqn } from "../../core/graph.ts";
import { flatCode, type FlatKernelCode } from "./flat_kernel.ts";
import { cudaType } from "./prelude.ts";

/** The dtypes `atomicAdd` takes (the CPU's scatter_add types, 16-bit floats normalized away). */
const ATOMIC_ADD = new Set<DType>(["float32", "float64", "int32", "uint32"]);

/** The scatters folded in index order, and how each combines a target with an update. */
const FOLDS: Record<string, (dtype: DType) => string> = {
  scatter: () => "v",
  scatter_mul: (dtype) => dtype === "int32" ? "(int)((unsigned)old * (unsigned)v)" : "old * v",
  scatter_min: (dtype) =>
    isFloat(dtype) ? "(old != old || v != v) ? old + v : (old < v ? old : v)" : "old < v ? old : v",
  scatter_max: (dtype) =>
    isFloat(dtype) ? "(old != old || v != v) ? old + v : (old > v ? old : v)" : "old > v ? old : v",
};

/** Whether a CUDA kernel renders this equation (else it runs on the host). */
export function hasGatherKernel(eqn: Eqn): boolean {
  const name = eqn.prim.name;
  if (eqn.inputs[1]?.aval.dtype !== "int32") return false;
  if (name === "take" || name === "scatter") return true;
  const dtype = eqn.inputs[0].aval.dtype;
  if (name === "scatter_add") return ATOMIC_ADD.has(dtype);
  return name in FOLDS && ATOMIC_ADD.has(dtype); // the numeric types of the CPU's folds
}

/**
 * The kernels of a `take` or `scatter_add`, in launch order; `inputs` are the operands' C
 * names (operand, indices, and the updates of a scatter), `out` the output's.
 */
export function renderGatherKernels(
  prefix: string,
  eqn: Eqn,
  inputs: string[],
  out: string,
): FlatKernelCode[] {
  const [xName, idxName, updatesName] = inputs;
  const x = eqn.inputs[0].aval;
  const [outer, len, inner] = splitAt(x.shape, (eqn.params as { axis: number }).axis);
  const nidx = sizeOf(eqn.inputs[1].aval.shape);
  // (o, j, i) of element e of an (outer, nidx, inner) array, and its operand position
  const source = `const long long i = e % ${inner}, r = e / ${inner};\n` +
    `    const long long o = r / ${nidx}, j = r % ${nidx};\n` +
    `    const long long at = (o * ${len} + ${idxName}[j]) * ${inner} + i;`;
  const gathered = outer * nidx * inner;
  if (eqn.prim.name === "take") {
    return [flatCode(prefix, gathered, `    ${source}\n    ${out}[e] = ${xName}[at];`)];
  }
  const copy = flatCode(`${prefix}_copy`, sizeOf(x.shape), `    ${out}[e] = ${xName}[e];`, {
    reads: [0],
    part: "copy",
  });
  if (eqn.prim.name !== "scatter_add") {
    // set, mul, min, max: one thread per (outer, inner) column folds the updates in index
    // order, as the CPU does: duplicates apply in sequence (the last set wins), bit for bit
    const T = cudaType(x.dtype, eqn.prim.name);
    const fold = `    const long long i = e % ${inner}, o = e / ${inner};
    for (long long j = 0; j < ${nidx}; j++) {
      const long long at = (o * ${len} + ${idxName}[j]) * ${inner} + i;
      const ${T} old = ${out}[at], v = ${updatesName}[(o * ${nidx} + j) * ${inner} + i];
      (void)old;
      ${out}[at] = ${FOLDS[eqn.prim.name](x.dtype)};
    }`;
    return [
      copy,
      flatCode(`${prefix}_fold`, nidx === 0 ? 0 : outer * inner, fold, {
        reads: [1, 2, "out"],
        part: "updates in order",
      }),
    ];
  }
  // the atomic adds read the output the copy wrote
  return [
    copy,
    flatCode(
      `${prefix}_add`,
      gathered,
      `    ${source}\n    atomicAdd(&${out}[at], ${updatesName}[e]);`,
      { reads: [1, 2, "out"], part: "atomic adds" },
    ),
  ];
}
