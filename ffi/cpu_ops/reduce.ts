/**
 * CPU kernels of reductions, arg-reductions, cumulative scans and dot_general. Reductions
 * over several axes run in one call when the axes are adjacent; otherwise the reduced axes
 * are first moved last with one strided copy. dot_general passes transposed operands to the
 * matmul kernel as flags when their layout allows, and copies only when it must.
 * @module
 */

import { allocate, ITEMSIZE, TYPE_CODE, type TypedArray } from "../../core/dtype.ts";
import type { Aval } from "../../core/primitive.ts";
import { type DotGeneralParams, dotGeneralPlan } from "../../core/prims/dot.ts";
import { splitAt } from "../../core/prims/reduce.ts";
import { type Shape, sizeOf, stridesOf } from "../../core/shape.ts";
import { stridedCopyC } from "./structure.ts";
import { type CArg, type CpuKernelTable, type CpuSymbols, i64, symbol } from "./types.ts";

// Moves `axes` of x to the end (a copy) unless they already are a contiguous run.
function asOuterLenInner(
  sym: CpuSymbols,
  x: TypedArray,
  xa: Aval,
  axes: number[],
): { data: TypedArray; outer: number; len: number; inner: number } {
  const shape = xa.shape;
  const contiguous = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
  if (contiguous && axes.length > 0) {
    const first = axes[0], last = axes[axes.length - 1];
    return {
      data: x,
      outer: sizeOf(shape.slice(0, first)),
      len: sizeOf(shape.slice(first, last + 1)),
      inner: sizeOf(shape.slice(last + 1)),
    };
  }
  const kept = [...shape.keys()].filter((a) => !axes.includes(a));
  const perm = [...kept, ...axes];
  const data = permute(sym, x, xa, perm);
  return {
    data,
    outer: sizeOf(kept.map((a) => shape[a])),
    len: sizeOf(axes.map((a) => shape[a])),
    inner: 1,
  };
}

/** Copies x into the layout of its axes permuted by `perm`. */
export function permute(sym: CpuSymbols, x: TypedArray, xa: Aval, perm: number[]): TypedArray {
  const inStrides = stridesOf(xa.shape);
  const outShape: Shape = perm.map((p) => xa.shape[p]);
  const y = allocate(xa.dtype, x.length);
  stridedCopyC(
    sym,
    ITEMSIZE[xa.dtype],
    outShape,
    x,
    0,
    perm.map((p) => inStrides[p]),
    y,
    0,
    stridesOf(outShape),
  );
  return y;
}

const REDUCE_OPS: Record<string, string> = {
  reduce_sum: "sum",
  reduce_prod: "prod",
  reduce_max: "max",
  reduce_min: "min",
};

/** Builds the reduction and contraction kernel table. */
export function reduceKernels(sym: CpuSymbols): CpuKernelTable {
  const table: CpuKernelTable = {};
  // symbols `${prefix}${type code}`, each looked up once: building and resolving the name on
  // every call cost ~10% of a small reduction
  const byDType = (prefix: string) => {
    const fns: Record<string, (...args: CArg[]) => unknown> = {};
    return (code: string) => fns[code] ??= symbol(sym, prefix + code);
  };
  for (const [name, op] of Object.entries(REDUCE_OPS)) {
    const kernels = byDType(`kiln_reduce_${op}_`);
    const anyAll = byDType(`kiln_reduce_${op === "max" ? "any" : "all"}_`);
    table[name] = (_sym, [x], [xa], params, [out]) => {
      const axes = params.axes as number[];
      const y = allocate(out.dtype, sizeOf(out.shape));
      const { data, outer, len, inner } = asOuterLenInner(sym, x, xa, axes);
      // bool max/min are any/all
      const kernel = xa.dtype === "bool" ? anyAll("b8") : kernels(TYPE_CODE[xa.dtype]);
      kernel(
        i64(outer),
        i64(len),
        i64(inner),
        data,
        y,
      );
      return [y];
    };
  }
  for (const name of ["argmax", "argmin"]) {
    const kernels = byDType(`kiln_${name}_`);
    table[name] = (_sym, [x], [xa], params, [out]) => {
      const [outer, len, inner] = splitAt(xa.shape, params.axis as number);
      const y = allocate(out.dtype, sizeOf(out.shape));
      // bools compare as their 0/1 bytes: reuse the unsigned kernel on a widened copy
      const data = xa.dtype === "bool" ? Uint32Array.from(x) : x;
      const code = xa.dtype === "bool" ? "u32" : TYPE_CODE[xa.dtype];
      kernels(code)(i64(outer), i64(len), i64(inner), data, y);
      return [y];
    };
  }
  for (const name of ["cumsum", "cumprod", "cummax", "cummin"]) {
    const kernels = byDType(`kiln_${name}_`);
    table[name] = (_sym, [x], [xa], params) => {
      const [outer, len, inner] = splitAt(xa.shape, params.axis as number);
      const y = allocate(xa.dtype, x.length);
      kernels(TYPE_CODE[xa.dtype])(
        i64(outer),
        i64(len),
        i64(inner),
        params.reverse ? 1 : 0,
        x,
        y,
      );
      return [y];
    };
  }
  const matmuls = byDType("kiln_matmul_");
  table["dot_general"] = (_sym, [lhs, rhs], [la, ra], params, [out]) => {
    const p = params as unknown as DotGeneralParams;
    const plan = dotGeneralPlan(la.shape, ra.shape, p);
    const matmul = matmuls(TYPE_CODE[out.dtype]);
    const nb = p.lhsBatch.length;
    // lhs wants (batch, m, k); (batch, k, m) is fine too with trans_a
    const lhsFree = plan.lhsPerm.slice(nb, plan.lhsPerm.length - p.lhsContracting.length);
    const lhsAlt = [...p.lhsBatch, ...p.lhsContracting, ...lhsFree];
    const [a, transA] = operandLayout(sym, lhs, la, plan.lhsPerm, lhsAlt);
    const rhsFree = plan.rhsPerm.slice(nb + p.rhsContracting.length);
    const rhsAlt = [...p.rhsBatch, ...rhsFree, ...p.rhsContracting];
    const [b, transB] = operandLayout(sym, rhs, ra, plan.rhsPerm, rhsAlt);
    const y = allocate(out.dtype, sizeOf(out.shape));
    matmul(
      i64(plan.batch),
      i64(plan.m),
      i64(plan.n),
      i64(plan.k),
      a,
      transA,
      b,
      transB,
      y,
    );
    return [y];
  };
  return table;
}

const isIdentity = (perm: number[]) => perm.every((p, i) => p === i);

// The operand as the matmul kernel wants it: as it is (flag 0), as it is but transposed
// (flag 1), or copied into the wanted order.
function operandLayout(
  sym: CpuSymbols,
  x: TypedArray,
  xa: Aval,
  wanted: number[],
  transposed: number[],
): [TypedArray, number] {
  if (isIdentity(wanted)) return [x, 0];
  if (isIdentity(transposed)) return [x, 1];
  return [permute(sym, x, xa, wanted), 0];
}
