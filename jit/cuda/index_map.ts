/**
 * View primitives as index maps: given the index forms of a view's output, the index forms at
 * which it reads its operand. The same maps as the CPU loop generator's view cases
 * (`jit/cpu/loop_codegen.ts`), written once as a function so that a renderer can share them.
 * @module
 */

import type { Eqn } from "../../core/graph.ts";
import { type Affine, axpy, constant } from "../cpu/loop_codegen.ts";
import { isUnitReshape } from "../cpu/plan.ts";

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
