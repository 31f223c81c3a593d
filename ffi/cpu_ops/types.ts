/**
 * The contract between the cpu device and its per-family kernel tables: a kernel receives the
 * loaded C symbols and host buffers (validated by the primitive's abstractEval already) and
 * returns freshly allocated outputs. Each family file (`elementwise.ts`, `structure.ts`, …)
 * exports a table keyed by primitive name.
 * @module
 */

import type { Aval } from "../../core/primitive.ts";
import type { TypedArray } from "../../core/dtype.ts";

/** An argument of a C kernel: int64 as BigInt, int32 as number, pointers as TypedArrays. */
export type CArg = bigint | number | TypedArray | BigInt64Array | null;

/** The loaded kernel symbols, by name (`kiln_add_f32`, …). */
export type CpuSymbols = Record<string, (...args: CArg[]) => unknown>;

/** Runs one primitive on host buffers through the C kernels. */
export type CpuKernel = (
  sym: CpuSymbols,
  inputs: TypedArray[],
  inAvals: Aval[],
  params: Record<string, unknown>,
  outAvals: Aval[],
) => TypedArray[];

/** Kernels by primitive name. */
export type CpuKernelTable = Record<string, CpuKernel>;

/** A JS number as the BigInt an int64 parameter takes. */
export const i64 = (n: number): bigint => BigInt(n);

/** Shape or strides as the int64 array a C kernel takes. */
export function int64Array(values: readonly number[]): BigInt64Array {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
}

/** The symbol `name`, or a clear error when the library lacks it. */
export function symbol(sym: CpuSymbols, name: string): (...args: CArg[]) => unknown {
  const f = sym[name];
  if (f === undefined) throw new Error(`cpu device: the kernel library has no symbol ${name}`);
  return f;
}
