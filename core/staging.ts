/**
 * The staging trace: partial evaluation after Autodidax. An operation on at least one staged
 * value is recorded as a graph equation; an operation on known values only runs now, on the
 * parent trace. `linearize` stages the tangent half of a JVP this way while the primal half
 * runs eagerly; the JIT stages whole functions.
 * @module
 */

import { type Atom, type Eqn, Graph, Literal, Var } from "./graph.ts";
import type { Aval, Primitive } from "./primitive.ts";
import type { Tensor } from "./tensor.ts";
import { bind, Trace, Tracer, withTrace } from "./trace.ts";

/** A value being staged into a graph. */
export class StagedTracer extends Tracer {
  constructor(trace: StagingTrace, readonly variable: Var) {
    super(trace, variable.aval);
  }
}

/** Records operations on staged values as equations. */
export class StagingTrace extends Trace {
  /** The equations recorded so far, in order. */
  readonly eqns: Eqn[] = [];

  /**
   * @param stageAll stage every operation, also those on known values only (the JIT: the
   *   graph must describe the whole function); otherwise known operations run now (linearize).
   */
  constructor(parent: Trace, transform: string, readonly stageAll = false) {
    super(parent, transform);
  }

  /** A new graph input of abstract value `aval`. */
  newInput(aval: Aval): StagedTracer {
    return new StagedTracer(this, new Var(aval));
  }

  /** True when `x` is a value this trace is staging. */
  owns(x: Tensor): x is StagedTracer {
    return x instanceof StagedTracer && x.trace === this;
  }

  processPrimitive(prim: Primitive, args: Tensor[], params: Record<string, unknown>): Tensor[] {
    if (!this.stageAll && !args.some((a) => this.owns(a))) {
      return withTrace(this.parent!, () => bind(prim, args, params));
    }
    const inputs: Atom[] = args.map((a) => (this.owns(a) ? a.variable : new Literal(a)));
    const outAvals = prim.rules.abstractEval(args.map((a) => a.aval), params);
    const outs = outAvals.map((aval) => new StagedTracer(this, new Var(aval)));
    this.eqns.push({ prim, inputs, params, outputs: outs.map((o) => o.variable) });
    return outs;
  }

  /** The graph from `inputs` to `outputs`, keeping only the equations the outputs need. */
  toGraph(inputs: StagedTracer[], outputs: Tensor[]): Graph {
    const outAtoms: Atom[] = outputs.map((o) => (this.owns(o) ? o.variable : new Literal(o)));
    const live = new Set<Var>(outAtoms.filter((a): a is Var => a instanceof Var));
    const kept: Eqn[] = [];
    for (let i = this.eqns.length - 1; i >= 0; i--) {
      const eqn = this.eqns[i];
      if (!eqn.outputs.some((v) => live.has(v))) continue;
      kept.push(eqn);
      for (const a of eqn.inputs) if (a instanceof Var) live.add(a);
    }
    return new Graph(inputs.map((t) => t.variable), kept.reverse(), outAtoms);
  }
}
