/**
 * Forward mode: the JVP trace, `jvp`, and `linearize` (a JVP whose tangent half is staged
 * into a graph by a {@link StagingTrace} while the primal half runs now).
 * @module
 */

import { isFloat } from "../dtype.ts";
import { evalGraph, type Graph } from "../graph.ts";
import { asTensor } from "../numpy/convert.ts";
import { zeros } from "../numpy/creation.ts";
import type { Primitive } from "../primitive.ts";
import { fmtShape, shapeEqual } from "../shape.ts";
import { StagingTrace } from "../staging.ts";
import type { Tensor } from "../tensor.ts";
import { bind, getCurrentTrace, Trace, Tracer, withTrace } from "../trace.ts";
import { flatten, fmtTreeDef, type Leaf, type TreeDef, treeDefEqual, unflatten } from "../tree.ts";

/** A value inside a JVP: its primal and its tangent (null means zero). */
export class JvpTracer extends Tracer {
  constructor(trace: JvpTrace, readonly primal: Tensor, readonly tangent: Tensor | null) {
    super(trace, primal.aval);
  }
}

/** Zeros shaped like `x` (a tangent or cotangent that is known to be zero). */
export function zerosLike(
  x: { aval: { shape: readonly number[]; dtype: import("../dtype.ts").DType } },
): Tensor {
  return zeros(x.aval.shape, { dtype: x.aval.dtype });
}

/** Applies primitives' `jvp` rules, carrying a tangent beside each primal. */
export class JvpTrace extends Trace {
  constructor(parent: Trace, transform: string) {
    super(parent, transform);
  }

  /** Wraps a primal and tangent as a tracer of this trace. */
  pure(primal: Tensor, tangent: Tensor | null): Tensor {
    return tangent === null ? primal : new JvpTracer(this, primal, tangent);
  }

  processPrimitive(prim: Primitive, args: Tensor[], params: Record<string, unknown>): Tensor[] {
    const primals: Tensor[] = [];
    const tangents: (Tensor | null)[] = [];
    let anyTangent = false;
    for (const a of args) {
      if (a instanceof JvpTracer && a.trace === this) {
        primals.push(a.primal);
        tangents.push(a.tangent);
        if (a.tangent !== null) anyTangent = true;
      } else {
        primals.push(a);
        tangents.push(null);
      }
    }
    const parent = this.parent!;
    // nothing to differentiate: a constant for this trace
    if (!anyTangent) return withTrace(parent, () => bind(prim, primals, params));
    const rule = prim.rules.jvp;
    if (rule === undefined) {
      throw new Error(
        `${this.transform}: the differentiation rule of ${prim.name} is not implemented`,
      );
    }
    // instantiate zero tangents of float inputs unless the rule handles symbolic zeros
    if (!prim.rules.jvpAcceptsZeros) {
      for (let i = 0; i < primals.length; i++) {
        if (tangents[i] === null && isFloat(primals[i].dtype)) tangents[i] = zerosLike(primals[i]);
      }
    }
    const [primalsOut, tangentsOut] = withTrace(parent, () => rule(primals, tangents, params));
    return primalsOut.map((p, i) => {
      const t = tangentsOut[i];
      return t === null || t === undefined || !isFloat(p.dtype) ? p : new JvpTracer(this, p, t);
    });
  }
}

/** Splits a value seen by a JVP trace into primal and tangent (null when zero). */
export function primalAndTangent(trace: JvpTrace, x: Tensor): [Tensor, Tensor | null] {
  if (x instanceof JvpTracer && x.trace === trace) return [x.primal, x.tangent];
  return [x, null];
}

function leafTensor(leaf: Leaf): Tensor {
  return asTensor(leaf);
}

/** Checks a tangent against its primal, naming the transform. */
function checkTangent(op: string, primal: Tensor, tangent: Tensor, index: number): void {
  if (
    !shapeEqual(primal.shape, tangent.shape) ||
    (isFloat(primal.dtype) && tangent.dtype !== primal.dtype)
  ) {
    throw new TypeError(
      `${op}: tangent ${index} has ${tangent.dtype}${
        fmtShape(tangent.shape)
      } but its primal is ${primal.dtype}${
        fmtShape(primal.shape)
      }; tangents must match their primals' shape and dtype`,
    );
  }
}

/** The result of running a function under a JVP trace. */
interface JvpRun {
  outDef: TreeDef;
  primalsOut: Tensor[];
  tangentsOut: (Tensor | null)[];
}

// Runs f on tracers of `trace` built from primal and tangent leaves.
function runJvp(
  trace: JvpTrace,
  f: (...args: never[]) => unknown,
  argsDef: TreeDef,
  primals: Tensor[],
  tangents: (Tensor | null)[],
): JvpRun {
  const inputs = primals.map((p, i) => trace.pure(p, tangents[i]));
  const out = withTrace(trace, () => f(...unflatten<never[]>(argsDef, inputs)));
  const [outLeaves, outDef] = flatten(out);
  const primalsOut: Tensor[] = [];
  const tangentsOut: (Tensor | null)[] = [];
  for (const leaf of outLeaves) {
    const [p, t] = primalAndTangent(trace, leafTensor(leaf));
    primalsOut.push(p);
    tangentsOut.push(t);
  }
  return { outDef, primalsOut, tangentsOut };
}

/**
 * Forward-mode derivative: `jvp(f, primals, tangents)` returns `[f(...primals), tangentOut]`
 * where tangentOut is the directional derivative along `tangents` (pytrees matching primals).
 */
export function jvp<Out = unknown>(
  f: (...args: never[]) => Out,
  primals: readonly unknown[],
  tangents: readonly unknown[],
): [Out, Out] {
  if (!Array.isArray(primals) || !Array.isArray(tangents)) {
    throw new TypeError("jvp: primals and tangents must be arrays of arguments");
  }
  const [pLeaves, pDef] = flatten(primals);
  const [tLeaves, tDef] = flatten(tangents);
  if (!treeDefEqual(pDef, tDef)) {
    throw new TypeError(
      `jvp: tangents have structure ${fmtTreeDef(tDef)}, primals ${fmtTreeDef(pDef)}`,
    );
  }
  const ps = pLeaves.map(leafTensor);
  const ts = tLeaves.map((t, i) => {
    const tt = leafTensor(t);
    checkTangent("jvp", ps[i], tt, i);
    return isFloat(ps[i].dtype) ? tt : null;
  });
  const trace = new JvpTrace(getCurrentTrace(), "jvp");
  try {
    const run = runJvp(trace, f, pDef, ps, ts);
    const tangentsOut = run.tangentsOut.map((t, i) => t ?? zerosLike(run.primalsOut[i]));
    return [unflatten<Out>(run.outDef, run.primalsOut), unflatten<Out>(run.outDef, tangentsOut)];
  } finally {
    trace.valid = false;
  }
}

/** What `linearize` produces: primal outputs and the linear map as a graph. */
export interface Linearized {
  /** Structure of the arguments. */
  argsDef: TreeDef;
  /** Flattened primal inputs. */
  primals: Tensor[];
  /** Structure of the outputs. */
  outDef: TreeDef;
  /** Flattened primal outputs. */
  primalsOut: Tensor[];
  /** Tangent inputs (one per primal leaf) to tangent outputs; integer inputs have none. */
  graph: Graph;
  /** For each primal leaf, its position among the graph inputs, or -1 for integers. */
  inputIndex: number[];
}

/** Linearizes f at `args` (flattened pytrees): the machinery behind `linearize` and `vjp`. */
export function linearizeFlat(
  transform: string,
  f: (...args: never[]) => unknown,
  args: readonly unknown[],
): Linearized {
  const [leaves, argsDef] = flatten(args);
  const primals = leaves.map(leafTensor);
  const staging = new StagingTrace(getCurrentTrace(), transform);
  const trace = new JvpTrace(staging, transform);
  try {
    const inputIndex: number[] = [];
    const tangentInputs = [];
    const tangents: (Tensor | null)[] = [];
    for (const p of primals) {
      if (isFloat(p.dtype)) {
        const t = staging.newInput({ shape: p.aval.shape, dtype: p.dtype, weak: false });
        inputIndex.push(tangentInputs.length);
        tangentInputs.push(t);
        tangents.push(t);
      } else {
        inputIndex.push(-1);
        tangents.push(null);
      }
    }
    const run = runJvp(trace, f, argsDef, primals, tangents);
    const tangentsOut = run.tangentsOut.map((t, i) => t ?? zerosLike(run.primalsOut[i]));
    const graph = staging.toGraph(tangentInputs, tangentsOut);
    return { argsDef, primals, outDef: run.outDef, primalsOut: run.primalsOut, graph, inputIndex };
  } finally {
    trace.valid = false;
    staging.valid = false;
  }
}

/**
 * `linearize(f, ...primals)` returns `[f(...primals), fLin]` where `fLin(...tangents)` is the
 * JVP at the primals, evaluated from a staged graph without re-running f.
 */
export function linearize<Out = unknown>(
  f: (...args: never[]) => Out,
  ...primals: unknown[]
): [Out, (...tangents: unknown[]) => Out] {
  const lin = linearizeFlat("linearize", f, primals);
  const fLin = (...tangents: unknown[]): Out => {
    const [tLeaves, tDef] = flatten(tangents);
    if (!treeDefEqual(tDef, lin.argsDef)) {
      throw new TypeError(
        `linearize: tangents have structure ${fmtTreeDef(tDef)}, expected ${
          fmtTreeDef(lin.argsDef)
        }`,
      );
    }
    const graphArgs: Tensor[] = [];
    tLeaves.forEach((t, i) => {
      const tt = leafTensor(t);
      checkTangent("linearize", lin.primals[i], tt, i);
      if (lin.inputIndex[i] >= 0) graphArgs.push(tt);
    });
    return unflatten<Out>(lin.outDef, evalGraph(lin.graph, graphArgs));
  };
  return [unflatten<Out>(lin.outDef, lin.primalsOut), fLin];
}
