/**
 * CUDA kernels for the reductions along one axis that the CPU back end runs as library calls
 * (`kernels/cpu/reduce.c`, `kernels/cpu/cumulative.c`), with the same semantics:
 * - argmax/argmin: the first index of the extreme, a NaN counting as the extreme;
 * - cumsum/cumprod/cummax/cummin: inclusive scans, optionally from the end; float sums and
 *   products accumulate in double, integer ones wrap, cummax/cummin propagate a NaN from its
 *   first occurrence on.
 *
 * An operand of shape (outer, len, inner) around the axis: one thread per (outer, inner) line,
 * scanning it serially (neighbouring threads read neighbouring columns when inner > 1). Long
 * lines with few of them (a scan of one long vector) are therefore slow: a two-level scan
 * would be next.
 * @module
 */

import type { DType } from "../../core/dtype.ts";
import type { Eqn } from "../../core/graph.ts";
import { splitAt } from "../../core/prims/reduce.ts";
import { flatCode, type FlatKernelCode } from "./flat_kernel.ts";
import { accumulatorType, cudaType, REDUCE_FUNCTOR } from "./prelude.ts";

/** The dtypes of the CPU's argument and cumulative kernels (16-bit floats normalized away). */
const LIBRARY_DTYPES = new Set<DType>(["float32", "float64", "int32", "uint32"]);
const ARG_OPS = new Set(["argmax", "argmin"]);
const SCAN_OPS = new Set(["cumsum", "cumprod", "cummax", "cummin"]);

/** Whether this file renders the equation. */
export function hasIndexKernel(eqn: Eqn): boolean {
  const name = eqn.prim.name;
  return (ARG_OPS.has(name) || SCAN_OPS.has(name)) &&
    LIBRARY_DTYPES.has(eqn.inputs[0].aval.dtype);
}

/** The kernel of an argmax/argmin or cumulative equation (operand `x`, output `out`). */
export function renderIndexKernels(
  prefix: string,
  eqn: Eqn,
  [x]: string[],
  out: string,
): FlatKernelCode[] {
  const xa = eqn.inputs[0].aval;
  const { axis, reverse } = eqn.params as { axis: number; reverse?: boolean };
  const [outer, len, inner] = splitAt(xa.shape, axis);
  const lines = len === 0 ? 0 : outer * inner;
  const T = cudaType(xa.dtype, eqn.prim.name);
  const line = `const long long i = e % ${inner}, o = e / ${inner};\n` +
    `    const long long base = o * ${len * inner}LL + i;`;
  if (ARG_OPS.has(eqn.prim.name)) {
    const better = eqn.prim.name === "argmax" ? "v > best" : "v < best";
    const body = `    ${line}
    ${T} best = ${x}[base];
    int index = 0;
    for (long long k = 1; k < ${len} && best == best; k++) {
      const ${T} v = ${x}[base + k * ${inner}];
      if (v != v || ${better}) { best = v; index = (int)k; }
    }
    ${out}[e] = index;`;
    return [flatCode(prefix, lines, body)];
  }
  // the reductions' accumulator types and NaN-propagating combiners (prelude.ts)
  const op = ({ sum: "+", prod: "*", max: "max", min: "min" } as const)[
    eqn.prim.name.slice(3) as "sum" | "prod" | "max" | "min"
  ];
  const acc = accumulatorType(xa.dtype, op);
  const combine = `${REDUCE_FUNCTOR[op]}::f(acc, v)`;
  const body = `    ${line}
    ${acc} acc = 0;
    for (long long s = 0; s < ${len}; s++) {
      const long long at = base + (${reverse ? `${len - 1} - s` : "s"}) * ${inner};
      const ${acc} v = (${acc})${x}[at];
      acc = s == 0 ? v : (${combine});
      ${out}[at] = (${T})acc;
    }`;
  return [flatCode(prefix, lines, body)];
}
