/**
 * Affine index forms and the view primitives as index maps, shared by the kernel generators
 * (`jit/cpu/loop_codegen.ts`, `jit/cuda/kernel_codegen.ts`). A view's operand index is a
 * function of its output index, so broadcast, transpose, slice, rev and unit reshapes cost
 * index arithmetic, never a copy.
 * @module
 */

import type { Eqn } from "../core/graph.ts";
import { isUnitReshape } from "./cpu/plan.ts";

/** An affine index: `c + Σ coef * loopVar`. */
export interface Affine {
  c: number;
  t: Map<number, number>;
}
/** The constant index `c`. */
export const constant = (c: number): Affine => ({ c, t: new Map() });
/** The index equal to loop variable `v`. */
export const single = (v: number): Affine => ({ c: 0, t: new Map([[v, 1]]) });
/** acc += k * f. */
export function axpy(acc: Affine, k: number, f: Affine): void {
  acc.c += k * f.c;
  for (const [v, co] of f.t) acc.t.set(v, (acc.t.get(v) ?? 0) + k * co);
}
/** offset + Σ strides[i] * forms[i]: the flat index of a multi-index. */
export function linear(forms: Affine[], strides: number[], offset = 0): Affine {
  const out = constant(offset);
  forms.forEach((f, i) => axpy(out, strides[i], f));
  return out;
}
/** A canonical text of an index form (equal forms, equal keys). */
export const formKey = (f: Affine) =>
  `${f.c}` +
  [...f.t].filter(([, c]) => c !== 0).sort((a, b) => a[0] - b[0]).map(([v, c]) => `+${c}*${v}`)
    .join("");

/**
 * The operand index of a view equation (`broadcast_in_dim`, `transpose`, `slice`, `rev`, or a
 * `reshape` that only adds or drops size-1 axes), or undefined for anything else.
 */
export function viewOperandIndex(eqn: Eqn, idx: Affine[]): Affine[] | undefined {
  const p = eqn.params as Record<string, never>;
  const x = eqn.inputs[0];
  switch (eqn.prim.name) {
    case "broadcast_in_dim": {
      const dims = p.broadcastDimensions as number[];
      return x.aval.shape.map((d, i) => (d === 1 ? constant(0) : idx[dims[i]]));
    }
    case "transpose": {
      const perm = p.perm as number[];
      const xi = new Array<Affine>(perm.length);
      perm.forEach((axis, i) => (xi[axis] = idx[i]));
      return xi;
    }
    case "slice": {
      const start = p.start as number[], strides = p.strides as number[];
      return idx.map((f, i) => {
        const g = constant(start[i]);
        axpy(g, strides[i], f);
        return g;
      });
    }
    case "rev": {
      const axes = p.axes as number[];
      return idx.map((f, i) => {
        if (!axes.includes(i)) return f;
        const g = constant(x.aval.shape[i] - 1);
        axpy(g, -1, f);
        return g;
      });
    }
    case "reshape": {
      if (!isUnitReshape(eqn)) return undefined;
      const out = eqn.outputs[0].aval.shape;
      const kept = idx.filter((_, i) => out[i] !== 1);
      let k = 0;
      return x.aval.shape.map((d) => (d === 1 ? constant(0) : kept[k++]));
    }
  }
  return undefined;
}
