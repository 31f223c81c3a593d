/**
 * Graph passes run before a graph is compiled: inlining nested jit calls, constant folding,
 * algebraic simplification of the obvious cases, common-subexpression elimination and
 * dead-code elimination. Each pass returns a new graph; the input graph is not changed.
 * @module
 */

import { type Atom, type Eqn, Graph, Literal, Var } from "../core/graph.ts";
import { shapeEqual } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { bind, evalTraceRoot, withTrace } from "../core/trace.ts";

/** A rewrite of one equation: replacement atoms for its outputs, or null to keep it. */
type Rewrite = (eqn: Eqn, inputs: Atom[]) => Atom[] | null;

// Rebuilds a graph equation by equation, letting `rewrite` replace an equation's outputs.
function rewriteGraph(graph: Graph, rewrite: Rewrite): Graph {
  const subst = new Map<Var, Atom>();
  const read = (a: Atom): Atom => (a instanceof Var ? subst.get(a) ?? a : a);
  const eqns: Eqn[] = [];
  for (const eqn of graph.eqns) {
    const inputs = eqn.inputs.map(read);
    const replaced = rewrite(eqn, inputs);
    if (replaced !== null) {
      eqn.outputs.forEach((v, i) => subst.set(v, replaced[i]));
      continue;
    }
    eqns.push({ ...eqn, inputs });
  }
  return new Graph(graph.inputs, eqns, graph.outputs.map(read));
}

/** Replaces `jit` equations by the equations of their graphs. */
export function inlineNestedJit(graph: Graph): Graph {
  if (!graph.eqns.some((e) => e.prim.name === "jit")) return graph;
  const subst = new Map<Var, Atom>();
  const read = (a: Atom): Atom => (a instanceof Var ? subst.get(a) ?? a : a);
  const eqns: Eqn[] = [];
  const expand = (eqn: Eqn) => {
    const inputs = eqn.inputs.map(read);
    if (eqn.prim.name !== "jit") {
      eqns.push({ ...eqn, inputs });
      return;
    }
    const inner = inlineNestedJit(eqn.params.graph as Graph);
    inner.inputs.forEach((v, i) => subst.set(v, inputs[i]));
    for (const e of inner.eqns) expand(e);
    eqn.outputs.forEach((v, i) => subst.set(v, read(inner.outputs[i])));
  };
  for (const eqn of graph.eqns) expand(eqn);
  return new Graph(graph.inputs, eqns, graph.outputs.map(read));
}

// Primitives whose equations must not be folded or merged (closures, side information).
function isOpaque(eqn: Eqn): boolean {
  return eqn.prim.rules.run !== undefined;
}

const FOLD_LIMIT = 1 << 16; // fold constants up to this many elements (bigger ones stay runtime work)

/** Evaluates equations whose inputs are all constants now (small results only). */
export function foldConstants(graph: Graph): Graph {
  return rewriteGraph(graph, (eqn, inputs) => {
    if (isOpaque(eqn) || !inputs.every((a) => a instanceof Literal)) return null;
    const size = eqn.outputs.reduce((n, v) => n + v.aval.shape.reduce((a, b) => a * b, 1), 0);
    if (size > FOLD_LIMIT || !inputs.every((a) => (a as Literal).value.isConcrete)) return null;
    // evaluate concretely even while some transform is tracing (jit inside jit)
    const outs = withTrace(
      evalTraceRoot(),
      () => bind(eqn.prim, inputs.map((a) => (a as Literal).value), eqn.params),
    );
    return outs.map((t: Tensor) => new Literal(t));
  });
}

function isIdentityPerm(perm: number[]): boolean {
  return perm.every((p, i) => p === i);
}

/** Removes no-op equations: same-dtype casts, same-shape reshapes and broadcasts, identity transposes, double negation. */
export function simplifyAlgebra(graph: Graph): Graph {
  const producer = new Map<Var, Eqn>();
  for (const e of graph.eqns) for (const v of e.outputs) producer.set(v, e);
  return rewriteGraph(graph, (eqn, inputs) => {
    const x = inputs[0];
    const out = eqn.outputs[0];
    switch (eqn.prim.name) {
      case "convert_element_type":
        return x.aval.dtype === out.aval.dtype && x.aval.weak === out.aval.weak ? [x] : null;
      case "reshape":
      case "broadcast_in_dim":
        return shapeEqual(x.aval.shape, out.aval.shape) ? [x] : null;
      case "transpose":
        return isIdentityPerm(eqn.params.perm as number[]) ? [x] : null;
      case "neg": {
        const inner = x instanceof Var ? producer.get(x) : undefined;
        return inner?.prim.name === "neg" ? [inner.inputs[0]] : null;
      }
      default:
        return null;
    }
  });
}

function atomKey(a: Atom, literalIds: Map<Tensor, number>): string {
  if (a instanceof Var) return `v${a.id}`;
  let id = literalIds.get(a.value);
  if (id === undefined) literalIds.set(a.value, id = literalIds.size);
  return `c${id}`;
}

/** Merges equations that apply the same primitive with the same params to the same inputs. */
export function eliminateCommonSubexpressions(graph: Graph): Graph {
  const seen = new Map<string, Var[]>();
  const literalIds = new Map<Tensor, number>();
  return rewriteGraph(graph, (eqn, inputs) => {
    if (isOpaque(eqn)) return null;
    let params: string;
    try {
      params = JSON.stringify(eqn.params);
    } catch {
      return null; // params that cannot be compared (closures, graphs)
    }
    const key = `${eqn.prim.name}|${params}|${inputs.map((a) => atomKey(a, literalIds)).join(",")}`;
    const prev = seen.get(key);
    if (prev) return prev;
    seen.set(key, eqn.outputs);
    return null;
  });
}

/** Drops equations whose outputs no output needs. */
export function eliminateDeadCode(graph: Graph): Graph {
  const live = new Set<Var>(graph.outputs.filter((a): a is Var => a instanceof Var));
  const kept: Eqn[] = [];
  for (let i = graph.eqns.length - 1; i >= 0; i--) {
    const eqn = graph.eqns[i];
    if (!eqn.outputs.some((v) => live.has(v))) continue;
    kept.push(eqn);
    for (const a of eqn.inputs) if (a instanceof Var) live.add(a);
  }
  return new Graph(graph.inputs, kept.reverse(), graph.outputs);
}

/** The standard pipeline, in order. */
export function optimize(graph: Graph): Graph {
  let g = inlineNestedJit(graph);
  g = foldConstants(g);
  g = simplifyAlgebra(g);
  g = eliminateCommonSubexpressions(g);
  return eliminateDeadCode(g);
}
