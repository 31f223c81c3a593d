/**
 * Staging a function into a graph for the JIT, with closure conversion: constants and values
 * of enclosing transforms that the function captured become extra graph inputs, so the
 * compiled code never embeds a tracer and large constants are passed, not printed into C.
 * @module
 */

import { type Atom, Graph, Literal, Var } from "../core/graph.ts";
import { asTensor } from "../core/numpy/convert.ts";
import { StagingTrace } from "../core/staging.ts";
import type { Tensor } from "../core/tensor.ts";
import { getCurrentTrace, Tracer, withTrace } from "../core/trace.ts";
import { flatten, type TreeDef, unflatten } from "../core/tree.ts";

/** A staged function: its graph, output structure and hoisted constants. */
export interface Staged {
  graph: Graph;
  outDef: TreeDef;
  /** Values for the graph inputs after the arguments' (captured constants and tracers). */
  consts: Tensor[];
}

// scalars that are concrete stay inline as literals; everything else becomes an input
function keepInline(t: Tensor): boolean {
  return !(t instanceof Tracer) && t.isConcrete && t.size === 1;
}

/** Traces `f` on abstract copies of `args` (flattened with `argsDef`) into a graph. */
export function stageGraph(
  // deno-lint-ignore no-explicit-any
  f: (...args: any[]) => unknown,
  argsDef: TreeDef,
  args: Tensor[],
  name: string,
): Staged {
  const trace = new StagingTrace(getCurrentTrace(), name, true);
  try {
    const inputs = args.map((a) => trace.newInput(a.aval));
    const out = withTrace(trace, () => f(...unflatten<unknown[]>(argsDef, inputs)));
    const [outLeaves, outDef] = flatten(out);
    const graph = trace.toGraph(inputs, outLeaves.map((l) => asTensor(l)));
    return { ...hoistConstants(graph), outDef };
  } finally {
    trace.valid = false;
  }
}

/** Turns non-inline literals into extra graph inputs. */
export function hoistConstants(graph: Graph): { graph: Graph; consts: Tensor[] } {
  const hoisted = new Map<Tensor, Var>();
  const consts: Tensor[] = [];
  const lift = (a: Atom): Atom => {
    if (!(a instanceof Literal) || keepInline(a.value)) return a;
    let v = hoisted.get(a.value);
    if (!v) {
      v = new Var(a.value.aval);
      hoisted.set(a.value, v);
      consts.push(a.value);
    }
    return v;
  };
  const eqns = graph.eqns.map((e) => ({ ...e, inputs: e.inputs.map(lift) }));
  const outputs = graph.outputs.map(lift);
  return { graph: new Graph([...graph.inputs, ...hoisted.values()], eqns, outputs), consts };
}
