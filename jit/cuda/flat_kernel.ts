/**
 * The shape shared by the hand-written CUDA kernels of library calls (`gather.ts`,
 * `index_kernels.ts`, `structure_kernels.ts`): a kernel taking the program's pointer table,
 * a grid-stride loop over its items, 64-bit indices (such a kernel can pass 2^31 elements).
 * @module
 */

import { stridesOf } from "../../core/shape.ts";

/** Threads per block of these kernels. */
export const FLAT_THREADS = 256;

/**
 * A rendered kernel: text with `@TABLE@`/`@DECLS@` placeholders (filled by `program.ts`), flat
 * over `items`. `reads` are the equation's operands it reads (indices) and `"out"` when it
 * reads the output an earlier kernel of the same equation wrote; absent: every operand.
 */
export interface FlatKernelCode {
  name: string;
  text: string;
  items: number;
  threads: number;
  reads?: (number | "out")[];
  /** What this kernel does, when an equation has several (e.g. "copy"). */
  part?: string;
}

/** A grid-stride loop over `count` items, the item's index being `e`. */
export function flatLoop(count: number, body: string): string {
  return `for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < ${count}LL; ` +
    `e += (long long)gridDim.x * blockDim.x) {\n${body}\n  }`;
}

/** A kernel named `name` running `body` (with the table's buffer declarations first). */
export function flatKernel(name: string, body: string): string {
  return `extern "C" __global__ void __launch_bounds__(${FLAT_THREADS}) ${name}(const @TABLE@ P) {\n` +
    `@DECLS@\n  ${body}\n}`;
}

/** One flat kernel of `items` items. */
export function flatCode(
  name: string,
  items: number,
  body: string,
  extra: Pick<FlatKernelCode, "reads" | "part"> = {},
): FlatKernelCode {
  return {
    name,
    text: flatKernel(name, flatLoop(items, body)),
    items,
    threads: FLAT_THREADS,
    ...extra,
  };
}

/**
 * C statements splitting the flat index `e` of a row-major `shape` into `idx0, idx1, ...`
 * (long long), last axis first.
 */
export function unravel(shape: readonly number[], index = "e", prefix = "idx"): string {
  if (shape.length === 0) return "";
  const lines = [`long long rest_ = ${index};`];
  for (let d = shape.length - 1; d >= 0; d--) {
    lines.push(
      d === 0
        ? `const long long ${prefix}${d} = rest_;`
        : `const long long ${prefix}${d} = rest_ % ${shape[d]}; rest_ /= ${shape[d]};`,
    );
  }
  return lines.join("\n    ");
}

/**
 * Nested loops over `extents` (loop variables `v0, v1, ...`), each opening with `check(d)`
 * (a statement that may `continue`), around `body`.
 */
export function nest(
  extents: readonly number[],
  variable: string,
  check: (d: number) => string,
  body: string,
): string {
  let text = body;
  for (let d = extents.length - 1; d >= 0; d--) {
    text =
      `for (long long ${variable}${d} = 0; ${variable}${d} < ${
        extents[d]
      }; ${variable}${d}++) {\n` +
      `      ${check(d)}\n      ${text}\n    }`;
  }
  return text;
}

/** The flat offset of `v0, v1, ...` (or of `expr(d)`) in a row-major `shape`. */
export function offsetIn(shape: readonly number[], expr: (d: number) => string): string {
  const strides = stridesOf(shape);
  return shape.map((_, d) => `${expr(d)} * ${strides[d]}LL`).join(" + ") || "0";
}
