/**
 * Graph helpers for the control-flow primitives (`cond`, `while`, `scan`): staging functions
 * into graphs with closure conversion, and the graph-to-graph transforms their rules need
 * (JVP, batching, transposition), each built by tracing a function that replays the graph
 * under the transform's trace.
 * @module
 */

import { isFloat } from "../dtype.ts";
import { type Atom, type Eqn, evalGraph, Graph, Literal, Var } from "../graph.ts";
import { zeros } from "../numpy/creation.ts";
import { stack } from "../numpy/shape.ts";
import type { Aval } from "../primitive.ts";
import { fmtShape } from "../shape.ts";
import { StagingTrace } from "../staging.ts";
import type { Tensor } from "../tensor.ts";
import { bind1, getCurrentTrace, withTrace } from "../trace.ts";
import { BatchTrace, BatchTracer, matchBatch } from "../vmap.ts";
import { JvpTrace, primalAndTangent } from "../autodiff/jvp.ts";
import { vjp } from "../autodiff/transpose.ts";
import { reshape as reshapePrim, slice as slicePrim } from "./structure.ts";

/** A graph and the values it closed over, which become its leading inputs. */
export interface ClosedGraph {
  graph: Graph;
  consts: Tensor[];
}

/** `aval` without the weak-type flag (tangents and cotangents are never weak). */
export function strong(aval: Aval): Aval {
  return { shape: aval.shape, dtype: aval.dtype, weak: false };
}

/** Concrete zeros of `aval`'s shape and dtype. */
export function zerosFor(aval: Aval): Tensor {
  return zeros(aval.shape, { dtype: aval.dtype });
}

/**
 * Closure conversion: every literal that is not a concrete scalar (a tracer of an enclosing
 * transform, or a concrete array) becomes a new leading graph input; returns those values.
 */
export function closureConvert(graph: Graph): ClosedGraph {
  const hoisted = new Map<Tensor, Var>();
  const consts: Tensor[] = [];
  const conv = (a: Atom): Atom => {
    if (!(a instanceof Literal) || (a.value.isConcrete && a.value.ndim === 0)) return a;
    let v = hoisted.get(a.value);
    if (v === undefined) {
      v = new Var(a.value.aval);
      hoisted.set(a.value, v);
      consts.push(a.value);
    }
    return v;
  };
  const eqns: Eqn[] = graph.eqns.map((e) => ({ ...e, inputs: e.inputs.map(conv) }));
  const outputs = graph.outputs.map(conv);
  return { graph: new Graph([...hoisted.values(), ...graph.inputs], eqns, outputs), consts };
}

/**
 * Stages `fn` on new inputs of `avals` into a graph. With `convert`, closed-over values are
 * hoisted into leading inputs (user functions); without, the graph must be closed over
 * concrete values only (graphs built by the rules from closed graphs).
 */
export function stage(
  name: string,
  avals: readonly Aval[],
  fn: (ins: Tensor[]) => Tensor[],
  convert = false,
): ClosedGraph {
  // stage everything, also operations on constants: otherwise they would run on (and be
  // staged by) an enclosing trace, and the graph would capture that trace's values
  const staging = new StagingTrace(getCurrentTrace(), name, true);
  try {
    const ins = avals.map((a) => staging.newInput(a));
    const outs = withTrace(staging, () => fn(ins));
    const graph = staging.toGraph(ins, outs);
    if (convert) return closureConvert(graph);
    const leaked = graph.eqns.some((e) =>
      e.inputs.some((a) => a instanceof Literal && !a.value.isConcrete)
    ) || graph.outputs.some((a) => a instanceof Literal && !a.value.isConcrete);
    if (leaked) throw new Error(`${name}: internal error: a derived graph captured a traced value`);
    return { graph, consts: [] };
  } finally {
    staging.valid = false;
  }
}

/** Runs `fn` under a fresh JVP trace: primal outputs and tangents (null: zero). */
export function jvpInline(
  fn: (xs: Tensor[]) => Tensor[],
  primals: readonly Tensor[],
  tangents: readonly (Tensor | null)[],
): [Tensor[], (Tensor | null)[]] {
  const trace = new JvpTrace(getCurrentTrace(), "jvp");
  try {
    const ins = primals.map((p, i) => trace.pure(p, tangents[i]));
    const outs = withTrace(trace, () => fn(ins));
    const split = outs.map((o) => primalAndTangent(trace, o));
    return [split.map((s) => s[0]), split.map((s) => s[1])];
  } finally {
    trace.valid = false;
  }
}

/** Indices of the float entries of `avals`. */
export function floatIndices(avals: readonly Aval[]): number[] {
  return avals.flatMap((a, i) => (isFloat(a.dtype) ? [i] : []));
}

/** Tangent `t`, or zeros shaped like `p` when null. */
export function instantiate(t: Tensor | null, p: { aval: Aval }): Tensor {
  return t ?? zerosFor(strong(p.aval));
}

/**
 * The JVP of `graph` as a graph: inputs are all primals, then a tangent for each input with
 * `has[i]`; outputs are the tangents of the float outputs (zeros instantiated).
 */
export function jvpTangentGraph(graph: Graph, has: readonly boolean[]): Graph {
  const avals = graph.inputs.map((v) => v.aval);
  const tAvals = avals.filter((_, i) => has[i]).map(strong);
  const n = avals.length;
  const floats = floatIndices(graph.outputs.map((o) => o.aval));
  return stage("jvp", [...avals, ...tAvals], (ins) => {
    let k = n;
    const tangents = has.map((h) => (h ? ins[k++] : null));
    const [po, to] = jvpInline((xs) => evalGraph(graph, xs), ins.slice(0, n), tangents);
    return floats.map((j) => instantiate(to[j], po[j]));
  }).graph;
}

/**
 * Batches `graph` (vmap): input i carries a batch axis of `size` at `inDims[i]` (null: none).
 * Outputs are batched at axis 0; with `force` false, unbatched outputs stay unbatched
 * (`outDims` says which).
 */
export function batchGraph(
  graph: Graph,
  inDims: readonly (number | null)[],
  size: number,
  force: boolean,
): { graph: Graph; outDims: (0 | null)[] } {
  const avals = graph.inputs.map((v, i) => {
    const d = inDims[i];
    if (d === null) return v.aval;
    const shape = [...v.aval.shape];
    shape.splice(d, 0, size);
    return { ...v.aval, shape };
  });
  const outDims: (0 | null)[] = [];
  const { graph: batched } = stage("vmap", avals, (ins) => {
    const trace = new BatchTrace(getCurrentTrace(), size);
    try {
      const tracers = ins.map((x, i) => trace.pure(x, inDims[i]));
      const outs = withTrace(trace, () => evalGraph(graph, tracers));
      return outs.map((o, j) => {
        const [v, d] = o instanceof BatchTracer && o.trace === trace
          ? [o.value, o.batchDim]
          : [o, null];
        if (d === null && !force) {
          outDims[j] = null;
          return v;
        }
        outDims[j] = 0;
        return matchBatch(v, d, 0, size);
      });
    } finally {
      trace.valid = false;
    }
  });
  return { graph: batched, outDims };
}

/**
 * Cotangents of the linear inputs of `graph` (those with `linear[i]`) for output cotangents
 * `cts`, the other inputs fixed at `residuals` (in input order). Runs on the current trace.
 */
export function vjpOfGraph(
  graph: Graph,
  linear: readonly boolean[],
  residuals: readonly Tensor[],
  cts: readonly Tensor[],
): Tensor[] {
  const linAvals = graph.inputs.filter((_, i) => linear[i]).map((v) => strong(v.aval));
  if (linAvals.length === 0) return [];
  const f = (...lin: Tensor[]): Tensor[] => {
    let r = 0, l = 0;
    return evalGraph(graph, linear.map((isLin) => (isLin ? lin[l++] : residuals[r++])));
  };
  const [, pull] = vjp(f as never, ...linAvals.map(zerosFor));
  return pull([...cts] as never) as Tensor[];
}

/**
 * The transpose of `graph`, linear in the inputs with `linear[i]`: inputs are the other
 * (residual) inputs in order, then one cotangent per output; outputs are the cotangents of
 * the linear inputs.
 */
export function transposeGraph(graph: Graph, linear: readonly boolean[]): Graph {
  const resAvals = graph.inputs.filter((_, i) => !linear[i]).map((v) => v.aval);
  const ctAvals = graph.outputs.map((o) => strong(o.aval));
  const nRes = resAvals.length;
  return stage("transpose", [...resAvals, ...ctAvals], (ins) => {
    return vjpOfGraph(graph, linear, ins.slice(0, nRes), ins.slice(nRes));
  }).graph;
}

/** `x[i]` along axis 0 (on the current trace). */
export function indexAxis0(x: Tensor, i: number): Tensor {
  const rest = x.shape.slice(1);
  const sliced = bind1(slicePrim, [x], {
    start: [i, ...rest.map(() => 0)],
    limit: [i + 1, ...rest],
    strides: x.shape.map(() => 1),
  });
  return bind1(reshapePrim, [sliced], { shape: rest });
}

/** Stacks per-iteration values along a new axis 0 (zeros of `aval` stacked when empty). */
export function stackAxis0(items: Tensor[], aval: Aval): Tensor {
  if (items.length === 0) return zeros([0, ...aval.shape], { dtype: aval.dtype });
  return stack(items, 0);
}

/** `f32[2,3]` for error messages. */
export function fmtAvalShort(aval: Aval): string {
  return `${aval.dtype}${fmtShape(aval.shape)}`;
}

/** Checks operands against a graph's inputs; throws naming `op` and `what`. */
export function checkGraphInputs(op: string, what: string, graph: Graph, args: Aval[]): void {
  if (graph.inputs.length !== args.length) {
    throw new TypeError(
      `${op}: ${what} takes ${graph.inputs.length} inputs, got ${args.length} operands`,
    );
  }
  graph.inputs.forEach((v, i) => {
    if (!sameType(v.aval, args[i])) {
      throw new TypeError(
        `${op}: ${what} input ${i} is ${fmtAvalShort(v.aval)}, the operand is ${
          fmtAvalShort(args[i])
        }`,
      );
    }
  });
}

/** Same shape and dtype (weak types may differ). */
export function sameType(a: Aval, b: Aval): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length &&
    a.shape.every((d, i) => d === b.shape[i]);
}
