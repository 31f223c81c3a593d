/**
 * CPU kernels of the elementwise primitives: one C symbol per (op, dtype), looked up once
 * when the table is built so that a call costs one map lookup and one FFI call.
 * @module
 */

import {
  allocate,
  type DType,
  isHalfFloat,
  ITEMSIZE,
  TYPE_CODE,
  type TypedArray,
} from "../../core/dtype.ts";
import { binaryDefs, unaryDefs } from "../../core/prims/elementwise.ts";
import type { Aval } from "../../core/primitive.ts";
import {
  type CArg,
  type CpuKernel,
  type CpuKernelTable,
  type CpuSymbols,
  symbol,
} from "./types.ts";

type Fn = (...args: CArg[]) => unknown;

// symbol of `op` for each dtype the primitive accepts (the 16-bit floats run as float32)
function symbolsByDType(sym: CpuSymbols, op: string, dtypes: string[]): Partial<Record<DType, Fn>> {
  const out: Partial<Record<DType, Fn>> = {};
  for (const dt of dtypes as DType[]) {
    if (!isHalfFloat(dt)) out[dt] = symbol(sym, `kiln_${op}_${TYPE_CODE[dt]}`);
  }
  return out;
}

function unaryKernel(fns: Partial<Record<DType, Fn>>): CpuKernel {
  return (_sym, [x], [xa], _p, [out]) => {
    const y = allocate(out.dtype, x.length);
    fns[xa.dtype]!(BigInt(x.length), x, y);
    return [y];
  };
}

function binaryKernel(fns: Partial<Record<DType, Fn>>): CpuKernel {
  return (_sym, [a, b], [aa], _p, [out]) => {
    const y = allocate(out.dtype, a.length);
    fns[aa.dtype]!(BigInt(a.length), a, b, y);
    return [y];
  };
}

/** Builds the elementwise kernel table against the loaded symbols. */
export function elementwiseKernels(sym: CpuSymbols): CpuKernelTable {
  const table: CpuKernelTable = {};
  for (const [name, def] of Object.entries(unaryDefs)) {
    table[name] = unaryKernel(symbolsByDType(sym, name, Object.keys(def.fns)));
  }
  for (const [name, def] of Object.entries(binaryDefs)) {
    table[name] = binaryKernel(symbolsByDType(sym, name, Object.keys(def.fns)));
  }
  const selectBySize: Record<number, Fn> = {
    1: symbol(sym, "kiln_select_1"),
    4: symbol(sym, "kiln_select_4"),
    8: symbol(sym, "kiln_select_8"),
  };
  table["select"] = (_sym, [pred, t, f], [, ta], _p, [out]) => {
    const y = allocate(out.dtype, t.length);
    selectBySize[ITEMSIZE[ta.dtype]](BigInt(t.length), pred, t, f, y);
    return [y];
  };
  const casts = castKernels(sym);
  table["convert_element_type"] = (_sym, [x], [xa]: Aval[], _p, [out]): TypedArray[] => {
    if (xa.dtype === out.dtype) return [x]; // only the weak flag changed: share the buffer
    return [castWith(casts, x, xa.dtype, out.dtype)];
  };
  return table;
}

/** The cast kernels, by `${from}>${to}`, for every pair of distinct dtypes. */
export function castKernels(sym: CpuSymbols): Map<string, Fn> {
  const casts = new Map<string, Fn>();
  for (const from of Object.keys(TYPE_CODE) as DType[]) {
    for (const to of Object.keys(TYPE_CODE) as DType[]) {
      if (from !== to) {
        casts.set(`${from}>${to}`, symbol(sym, `kiln_cast_${TYPE_CODE[from]}_${TYPE_CODE[to]}`));
      }
    }
  }
  return casts;
}

/** Casts host storage with the C kernels (rounding to nearest even into the 16-bit floats). */
export function castWith(
  casts: Map<string, Fn>,
  x: TypedArray,
  from: DType,
  to: DType,
): TypedArray {
  const y = allocate(to, x.length);
  if (x.length > 0) casts.get(`${from}>${to}`)!(BigInt(x.length), x, y);
  return y;
}
