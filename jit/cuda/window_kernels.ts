/**
 * CUDA kernels for the window reductions and the max's derivatives (`core/prims/window.ts`),
 * with the CPU's semantics, over any rank:
 *
 * - `reduce_window_max` / `reduce_window_sum`: one thread per output element; padding reads
 *   the identity; max propagates NaN; float sums accumulate in double, integer sums wrap;
 * - `select_and_gather_add(t, x)`: each window's selected tap (the first maximal one in
 *   row-major tap order, the first NaN winning) gathers the tangent there;
 * - `select_and_scatter_add(ct, x)`: one thread per operand element, visiting the windows
 *   that contain it in row-major window order and adding the cotangent of those that select
 *   it: no atomics, and the sums are added in the CPU's order, so results are bit-identical.
 * @module
 */

import type { DType } from "../../core/dtype.ts";
import type { Eqn } from "../../core/graph.ts";
import type { ReduceWindowParams } from "../../core/prims/window.ts";
import { sizeOf } from "../../core/shape.ts";
import { flatCode, type FlatKernelCode, nest, offsetIn, unravel } from "./flat_kernel.ts";
import { accumulatorType, cudaType, REDUCE_FUNCTOR } from "./prelude.ts";
import { reduceIdentity } from "../kernel_scopes.ts";

const WINDOW_OPS = new Set([
  "reduce_window_max",
  "reduce_window_sum",
  "select_and_gather_add",
  "select_and_scatter_add",
]);
const NUMERIC = new Set<DType>(["float32", "float64", "int32", "uint32"]);

/** Whether this file renders the equation. */
export function hasWindowKernel(eqn: Eqn): boolean {
  return WINDOW_OPS.has(eqn.prim.name) && NUMERIC.has(eqn.outputs[0].aval.dtype);
}

/** The kernel of a window equation: `inputs` are its operands' C names. */
export function renderWindowKernels(
  prefix: string,
  eqn: Eqn,
  inputs: string[],
  out: string,
): FlatKernelCode[] {
  const p = eqn.params as unknown as ReduceWindowParams;
  const name = eqn.prim.name;
  // the operand x, and the shape of the reduction (one element per window)
  const x = name.startsWith("select") ? eqn.inputs[1].aval : eqn.inputs[0].aval;
  const windows = name === "select_and_scatter_add"
    ? eqn.inputs[0].aval.shape
    : eqn.outputs[0].aval.shape;
  const w = { p, shape: x.shape, windows, T: cudaType(x.dtype, name), dtype: x.dtype };
  const items = sizeOf(eqn.outputs[0].aval.shape);
  if (name === "reduce_window_max" || name === "reduce_window_sum") {
    const op = name === "reduce_window_max" ? "max" : "sum";
    return [flatCode(prefix, items, reduceBody(w, op, inputs[0], out))];
  }
  if (name === "select_and_gather_add") {
    const [t, xs] = inputs;
    const body = `    ${unravel(windows)}
    ${selection(w, xs, (d) => `idx${d}`)}
    ${out}[e] = chosen < 0 ? (${w.T})0 : ${t}[chosen];`;
    return [flatCode(prefix, items, body)];
  }
  return [flatCode(prefix, items, scatterBody(w, inputs, out))];
}

interface Windows {
  p: ReduceWindowParams;
  /** The operand's shape. */
  shape: readonly number[];
  /** The reduction's shape. */
  windows: readonly number[];
  T: string;
  dtype: DType;
}

/** `pos_d`: the operand position of window `o` (an expression) and tap `k_d`, or continue. */
function tapPosition(w: Windows, d: number, o: string): string {
  const { windowStrides, padding, windowDilation } = w.p;
  return `const long long pos${d} = (${o}) * ${windowStrides[d]} - (${padding[d][0]}) + ` +
    `k${d} * ${windowDilation[d]};\n` +
    `      if (pos${d} < 0 || pos${d} >= ${w.shape[d]}) continue;`;
}

function reduceBody(w: Windows, op: "max" | "sum", x: string, out: string): string {
  // the reductions' accumulator, identity and NaN-propagating combiner (prelude.ts)
  const red = op === "sum" ? "+" : "max";
  const acc = accumulatorType(w.dtype, red);
  const read = `const ${acc} v = (${acc})${x}[${offsetIn(w.shape, (d) => `pos${d}`)}];
      sum = ${REDUCE_FUNCTOR[red]}::f(sum, v);`;
  return `    ${unravel(w.windows)}
    ${acc} sum = ${reduceIdentity(red, w.dtype)};
    ${nest(w.p.windowDimensions, "k", (d) => tapPosition(w, d, `idx${d}`), read)}
    ${out}[e] = (${w.T})sum;`;
}

/**
 * Statements leaving in `chosen` the flat operand offset of the tap that window
 * `window(0), window(1), ...` selects (-1 when the window lies wholly in the padding).
 */
function selection(w: Windows, x: string, window: (d: number) => string): string {
  const read = `const long long at = ${offsetIn(w.shape, (d) => `pos${d}`)};
      const ${w.T} v = ${x}[at];
      if (chosen < 0 || v > best || (v != v && best == best)) { best = v; chosen = at; }`;
  return `long long chosen = -1;
    ${w.T} best = 0;
    ${nest(w.p.windowDimensions, "k", (d) => tapPosition(w, d, window(d)), read)}`;
}

function scatterBody(w: Windows, [ct, x]: string[], out: string): string {
  const { windowStrides, padding, windowDilation, windowDimensions } = w.p;
  // the windows containing operand position s along axis d, in increasing order: the taps in
  // decreasing order, o = (s + lo − k·dilation) / stride when it divides and is in range
  const windowOf = (d: number) =>
    `const long long kk${d} = ${windowDimensions[d] - 1} - j${d};\n` +
    `      const long long u${d} = idx${d} + (${padding[d][0]}) - kk${d} * ${
      windowDilation[d]
    };\n` +
    `      if (u${d} < 0 || u${d} % ${windowStrides[d]} != 0 || ` +
    `u${d} / ${windowStrides[d]} >= ${w.windows[d]}) continue;\n` +
    `      const long long o${d} = u${d} / ${windowStrides[d]};`;
  const visit = `{
        ${selection(w, x, (d) => `o${d}`)}
        if (chosen == e) sum += ${ct}[${offsetIn(w.windows, (d) => `o${d}`)}];
      }`;
  return `    ${unravel(w.shape)}
    ${w.T} sum = 0;
    ${nest(windowDimensions, "j", windowOf, visit)}
    ${out}[e] = sum;`;
}
