/**
 * CUDA kernels for the structural operations the CPU back end runs as library calls (strided
 * copies there): `concatenate`, `pad` (XLA's: low, high and interior padding, negative low or
 * high crops) and `dynamic_slice` / `dynamic_update_slice` (start indices are int32 scalars in
 * device memory, clamped as XLA does so the box fits). One thread per element written; any
 * dtype (they only move elements).
 * @module
 */

import type { Eqn } from "../../core/graph.ts";
import { sizeOf, stridesOf } from "../../core/shape.ts";
import type { PadParams } from "../../core/prims/structure_build.ts";
import { splitAt } from "../../core/prims/reduce.ts";
import { flatCode, type FlatKernelCode, unravel } from "./flat_kernel.ts";

const STRUCTURE_OPS = new Set(["concatenate", "pad", "dynamic_slice", "dynamic_update_slice"]);

/** Whether this file renders the equation. */
export function hasStructureKernel(eqn: Eqn): boolean {
  return STRUCTURE_OPS.has(eqn.prim.name);
}

/** The kernels of a structural equation (`inputs`: the operands' C names). */
export function renderStructureKernels(
  prefix: string,
  eqn: Eqn,
  inputs: string[],
  out: string,
): FlatKernelCode[] {
  const outShape = eqn.outputs[0].aval.shape;
  const items = sizeOf(outShape);
  switch (eqn.prim.name) {
    case "concatenate":
      return [flatCode(prefix, items, concatenateBody(eqn, inputs, out))];
    case "pad":
      return [flatCode(prefix, items, padBody(eqn, inputs, out))];
    case "dynamic_slice": {
      const shape = eqn.inputs[0].aval.shape;
      const starts = clampedStarts(inputs.slice(1), shape, outShape);
      const strides = stridesOf(shape);
      const source = outShape.map((_, d) => `(s${d} + idx${d}) * ${strides[d]}LL`).join(" + ");
      const body = `    ${starts}\n    ${unravel(outShape)}\n` +
        `    ${out}[e] = ${inputs[0]}[${source || "0"}];`;
      return [flatCode(prefix, items, body)];
    }
    default: { // dynamic_update_slice: a copy of the operand, then the update written over it
      const updateShape = eqn.inputs[1].aval.shape;
      const starts = clampedStarts(inputs.slice(2), outShape, updateShape);
      const strides = stridesOf(outShape);
      const target = updateShape.map((_, d) => `(s${d} + idx${d}) * ${strides[d]}LL`)
        .join(" + ");
      const update = `    ${starts}\n    ${unravel(updateShape)}\n` +
        `    ${out}[${target || "0"}] = ${inputs[1]}[e];`;
      return [
        flatCode(`${prefix}_copy`, items, `    ${out}[e] = ${inputs[0]}[e];`, {
          reads: [0],
          part: "copy",
        }),
        flatCode(`${prefix}_update`, sizeOf(updateShape), update, {
          reads: [1, ...inputs.slice(2).map((_, k) => k + 2), "out"],
          part: "update",
        }),
      ];
    }
  }
}

/** `s0, s1, ...`: the starts read from their scalars, clamped into [0, dim - size]. */
function clampedStarts(names: string[], shape: readonly number[], sizes: readonly number[]) {
  return names.map((name, d) => {
    const last = shape[d] - sizes[d];
    return `const long long r${d} = ${name}[0];\n` +
      `    const long long s${d} = r${d} < 0 ? 0 : r${d} > ${last} ? ${last} : r${d};`;
  }).join("\n    ");
}

function concatenateBody(eqn: Eqn, inputs: string[], out: string): string {
  const { axis } = eqn.params as { axis: number };
  const [, total, inner] = splitAt(eqn.outputs[0].aval.shape, axis);
  let offset = 0;
  const branches = eqn.inputs.map((a, k) => {
    const len = a.aval.shape[axis];
    const from = offset;
    offset += len;
    if (len === 0) return "";
    const read = `${out}[e] = ${inputs[k]}[(o * ${len}LL + (a - ${from})) * ${inner}LL + i];`;
    return `if (a < ${offset}) { ${read} }`;
  }).filter((b) => b !== "");
  return `    const long long i = e % ${inner}, r = e / ${inner};\n` +
    `    const long long a = r % ${total}, o = r / ${total};\n` +
    `    ${branches.join("\n    else ")}`;
}

function padBody(eqn: Eqn, [x, value]: string[], out: string): string {
  const { lo, interior } = eqn.params as unknown as PadParams;
  const shape = eqn.inputs[0].aval.shape;
  const outShape = eqn.outputs[0].aval.shape;
  const strides = stridesOf(shape);
  // per axis: the position relative to the operand's first element, a multiple of the step
  // when it lands on an element, and inside the operand's extent
  const checks = shape.map((n, d) => {
    const step = interior[d] + 1;
    return `{ const long long q = idx${d} - (${lo[d]}LL);\n` +
      `      if (q < 0 || q % ${step} != 0 || q / ${step} >= ${n}) inside = false;\n` +
      `      else source += (q / ${step}) * ${strides[d]}LL; }`;
  });
  return `    ${unravel(outShape)}
    bool inside = true;
    long long source = 0;
    ${checks.join("\n    ")}
    ${out}[e] = inside ? ${x}[source] : ${value}[0];`;
}
