/**
 * Float normalization (XLA's `FloatNormalization` pass, as its CPU back end runs it): every
 * equation that computes on float16 or bfloat16 is rewritten to compute on float32, with a
 * cast to float32 of each 16-bit operand before it and a cast back (round to nearest even) of
 * each 16-bit result after it. Generated code therefore never does arithmetic on a 16-bit
 * type; it only loads, stores and converts them. Each equation still rounds its own result,
 * as eager execution does, so jit and eager agree (XLA may drop such intermediate roundings
 * under its default `xla_allow_excess_precision`; Kiln keeps them).
 *
 * Left as they are: casts (they round once from any source type) and pure data movement
 * (primitives with a `view` rule), which are exact on the 16-bit storage. Control-flow bodies
 * are normalized where the back end compiles them (`optimizedGraph` in `cpu/plan.ts`).
 * @module
 */

import { isHalfFloat } from "../core/dtype.ts";
import { type Atom, type Eqn, Graph, Var } from "../core/graph.ts";
import { widenParams } from "../core/half_compute.ts";
import type { Aval } from "../core/primitive.ts";
import { convertElementType } from "../core/prims/elementwise.ts";

const isHalfAval = (a: Aval) => isHalfFloat(a.dtype);

/** Whether any value of `graph` (its inputs, equation operands or results) is a 16-bit float. */
export function hasHalfFloats(graph: Graph): boolean {
  if (graph.inputs.some((v) => isHalfAval(v.aval))) return true;
  if (graph.outputs.some((a) => isHalfAval(a.aval))) return true;
  return graph.eqns.some((e) =>
    e.inputs.some((a) => isHalfAval(a.aval)) || e.outputs.some((v) => isHalfAval(v.aval))
  );
}

// equations that keep their 16-bit operands: casts, and copies that never look at the values
function keepsHalf(eqn: Eqn): boolean {
  return eqn.prim.name === "convert_element_type" || eqn.prim.rules.view !== undefined ||
    eqn.prim.rules.run !== undefined;
}

function castEqn(input: Atom, output: Var): Eqn {
  return {
    prim: convertElementType as never,
    inputs: [input],
    params: { dtype: output.aval.dtype, weak: output.aval.weak },
    outputs: [output],
  };
}

/**
 * Rewrites the equations of `graph` on 16-bit floats to float32 between casts (see the
 * module notes). The graph's inputs and outputs keep their dtypes. Returns `graph` itself
 * when it has no 16-bit float. `options.keep` names equations a back end computes on 16-bit
 * operands itself (the CUDA back end's matmuls: float32 accumulation, one rounding).
 */
export function normalizeHalfFloats(
  graph: Graph,
  options: { keep?: (eqn: Eqn) => boolean } = {},
): Graph {
  if (!hasHalfFloats(graph)) return graph;
  const eqns: Eqn[] = [];
  const widened = new Map<Atom, Var>(); // each 16-bit value is widened once
  const widen = (a: Atom): Atom => {
    if (!isHalfAval(a.aval)) return a;
    let v = widened.get(a);
    if (v === undefined) {
      v = new Var({ shape: a.aval.shape, dtype: "float32", weak: a.aval.weak });
      eqns.push(castEqn(a, v));
      widened.set(a, v);
    }
    return v;
  };
  for (const eqn of graph.eqns) {
    const touchesHalf = eqn.inputs.some((a) => isHalfAval(a.aval)) ||
      eqn.outputs.some((v) => isHalfAval(v.aval));
    if (!touchesHalf || keepsHalf(eqn) || options.keep?.(eqn)) {
      eqns.push(eqn);
      continue;
    }
    const inputs = eqn.inputs.map(widen);
    const outputs = eqn.outputs.map((o) =>
      isHalfAval(o.aval) ? new Var({ shape: o.aval.shape, dtype: "float32", weak: o.aval.weak }) : o
    );
    eqns.push({ prim: eqn.prim, inputs, params: widenParams(eqn.params), outputs });
    // round each 16-bit result back into the variable the rest of the graph reads
    eqn.outputs.forEach((o, i) => {
      if (outputs[i] !== o) eqns.push(castEqn(outputs[i], o));
    });
  }
  return new Graph(graph.inputs, eqns, graph.outputs);
}
