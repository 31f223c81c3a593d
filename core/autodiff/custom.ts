/**
 * Controlling differentiation: `stopGradient`, `customJvp`, `customVjp` and `checkpoint`
 * (rematerialization: recompute the forward pass during the backward pass instead of storing
 * its intermediates).
 * @module
 */

import { isFloat } from "../dtype.ts";
import { evalGraph } from "../graph.ts";
import { asTensor } from "../numpy/convert.ts";
import { type Aval, Primitive, UndefinedPrimal } from "../primitive.ts";
import { Tensor } from "../tensor.ts";
import { bind, bind1, getCurrentTrace, type Trace, withTrace } from "../trace.ts";
import { flatten, unflatten } from "../tree.ts";
import { BatchTrace, BatchTracer, matchBatch } from "../vmap.ts";
import { JvpTrace, JvpTracer, linearizeFlat, zerosLike } from "./jvp.ts";
import { pullback } from "./transpose.ts";

/** Identity whose derivative is zero. */
export const stopGradientPrim: Primitive<Record<string, never>> = new Primitive<
  Record<string, never>
>("stop_gradient", {
  abstractEval: ([x]) => [x],
  impl: ([x]) => [x],
  jvp: ([x]) => [[bind1(stopGradientPrim, [x], {})], [null]],
  batch: ([x], [d]) => [[bind1(stopGradientPrim, [x], {})], [d]],
});

/** Stops gradients flowing through `x` (its value passes unchanged). */
export function stopGradient<T>(x: T): T {
  const [leaves, def] = flatten(x);
  return unflatten<T>(def, leaves.map((l) => bind1(stopGradientPrim, [asTensor(l)], {})));
}

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

// The innermost JVP trace that sees one of `leaves` as its own tracer, if the current trace
// is one (custom rules apply where that trace differentiates the call).
function activeJvpTrace(leaves: Tensor[]): JvpTrace | null {
  const trace = getCurrentTrace();
  if (!(trace instanceof JvpTrace)) return null;
  return leaves.some((l) => l instanceof JvpTracer && l.trace === trace) ? trace : null;
}

function splitForTrace(trace: JvpTrace, leaves: Tensor[]): [Tensor[], Tensor[]] {
  const primals: Tensor[] = [], tangents: Tensor[] = [];
  for (const l of leaves) {
    if (l instanceof JvpTracer && l.trace === trace) {
      primals.push(l.primal);
      tangents.push(l.tangent ?? zerosLike(l.primal));
    } else {
      primals.push(l);
      tangents.push(zerosLike(l));
    }
  }
  return [primals, tangents];
}

/** A function with a user-defined JVP rule (`f.defjvp(rule)`). */
export interface CustomJvpFunction<F extends AnyFn> {
  (...args: Parameters<F>): ReturnType<F>;
  /** Sets the rule: `rule(primals, tangents)` returns `[primalOut, tangentOut]`. */
  defjvp(
    rule: (primals: Parameters<F>, tangents: Parameters<F>) => [unknown, unknown],
  ): CustomJvpFunction<F>;
}

/**
 * Wraps `f` so that forward and reverse mode use a rule you give instead of differentiating
 * f's operations (for numerical stability or speed). The rule must be linear in its tangents.
 */
export function customJvp<F extends AnyFn>(f: F): CustomJvpFunction<F> {
  let rule: ((primals: never, tangents: never) => [unknown, unknown]) | null = null;
  const wrapped = ((...args: unknown[]) => {
    const [leaves, def] = flatten(args);
    const tensors = leaves.map((l) => asTensor(l));
    const trace = rule === null ? null : activeJvpTrace(tensors);
    if (trace === null) return f(...args);
    const [primals, tangents] = splitForTrace(trace, tensors);
    const [pOut, tOut] = withTrace(
      trace.parent!,
      () => rule!(unflatten<never>(def, primals), unflatten<never>(def, tangents)),
    );
    const [pLeaves, pDef] = flatten(pOut);
    const [tLeaves] = flatten(tOut);
    if (tLeaves.length !== pLeaves.length) {
      throw new TypeError(
        "customJvp: the rule's tangent output must match the primal output's structure",
      );
    }
    return unflatten(pDef, pLeaves.map((p, i) => trace.pure(asTensor(p), asTensor(tLeaves[i]))));
  }) as unknown as CustomJvpFunction<F>;
  wrapped.defjvp = (r) => {
    rule = r as never;
    return wrapped;
  };
  return wrapped;
}

/** Parameters of the linear stand-in primitives below. */
interface LinearCallParams {
  /** Applies the linear map to tangents (forward). */
  forward: (tangents: Tensor[]) => Tensor[];
  /** Applies its transpose to output cotangents (backward). */
  backward: (cts: Tensor[]) => Tensor[];
  outAvals: Aval[];
  name: string;
  /**
   * How many leading operands are residuals: values the closures capture, passed only so
   * that the traces owning them see the call (vmap batches it when they are batched). The
   * closures never read them as operands; the linear operands follow.
   */
  numResiduals: number;
}

/**
 * A linear map given by closures, staged as one equation so the backward pass calls
 * `backward` (custom_vjp's bwd, or checkpoint's recomputed pullback). Operands: the
 * residuals, then the linear inputs.
 */
const linearCall: Primitive<LinearCallParams> = new Primitive<LinearCallParams>("linear_call", {
  abstractEval: (_inputs, { outAvals }) => outAvals,
  impl: () => {
    throw new Error("linear_call: runs through its run rule");
  },
  run: (args, p) => p.forward(args.slice(p.numResiduals)),
  // linear in its linear operands; the residuals are treated as constants
  jvp: (primals, tangents, p) => {
    const k = p.numResiduals;
    const lin = tangents.slice(k).map((t, i) => t ?? zerosLike(primals[k + i]));
    return [bind(linearCall, primals, p), bind(linearCall, [...primals.slice(0, k), ...lin], p)];
  },
  transpose: (cts, inputs, p) => {
    const k = p.numResiduals;
    const grads = p.backward(cts);
    return inputs.map((inp, i) => (i >= k && inp instanceof UndefinedPrimal ? grads[i - k] : null));
  },
  // a linear_call of the whole batch (at axis 0) whose closures run under a nested vmap
  batch: (args, dims, p, axisSize) => {
    const k = p.numResiduals;
    const lin = args.slice(k).map((x, i) => matchBatch(x, dims[k + i], 0, axisSize));
    const params: LinearCallParams = {
      name: p.name,
      numResiduals: k,
      outAvals: p.outAvals.map((a) => ({ ...a, shape: [axisSize, ...a.shape] })),
      forward: (ts) => mapOverBatch(p.forward, ts, axisSize),
      backward: (cts) => mapOverBatch(p.backward, cts, axisSize),
    };
    const outs = bind(linearCall, [...args.slice(0, k), ...lin], params);
    return [outs, outs.map(() => 0)];
  },
});

/**
 * A batch trace that runs linear_call's closures on a whole batch. The closures capture
 * per-example values of the vmap that batched the call: tracers of a live batch trace
 * beside this one (same parent, or one this kind of trace stands for) over the same batch.
 * It takes those as its own.
 */
class SameBatchTrace extends BatchTrace {
  override processPrimitive(
    prim: Primitive,
    args: Tensor[],
    params: Record<string, unknown>,
  ): Tensor[] {
    return super.processPrimitive(prim, args.map((a) => this.adopt(a)), params);
  }

  /** Whether tracers of `t` are values of this trace's batch. */
  standsFor(t: Trace | null): boolean {
    return t === this || (
      t instanceof BatchTrace && t.valid && t.axisSize === this.axisSize &&
      sameLevel(t.parent, this.parent)
    );
  }

  /** `x` as a tracer of this trace when it is a value of this trace's batch. */
  adopt(x: Tensor): Tensor {
    if (!(x instanceof BatchTracer) || x.trace === this || !this.standsFor(x.trace)) return x;
    return this.pure(x.value, x.batchDim);
  }
}

// Whether trace `a` plays the part of `b`: the same trace, or one that `b` stands for.
function sameLevel(a: Trace | null, b: Trace | null): boolean {
  return a === b || (b instanceof SameBatchTrace && b.valid && b.standsFor(a));
}

/** Applies per-example `fn` to tensors batched at axis 0; its outputs batched at axis 0. */
function mapOverBatch(fn: (xs: Tensor[]) => Tensor[], xs: Tensor[], size: number): Tensor[] {
  const trace = new SameBatchTrace(getCurrentTrace(), size);
  try {
    const outs = withTrace(trace, () => fn(xs.map((x) => trace.pure(x, 0))));
    return outs.map((o) => {
      const t = trace.adopt(o);
      return t instanceof BatchTracer && t.trace === trace
        ? matchBatch(t.value, t.batchDim, 0, size)
        : matchBatch(t, null, 0, size);
    });
  } finally {
    trace.valid = false;
  }
}

/** The tensors inside arrays and plain objects of `x` (residuals need not be pytrees). */
function tensorsIn(x: unknown, out: Tensor[] = []): Tensor[] {
  if (x instanceof Tensor) out.push(x);
  else if (Array.isArray(x)) { for (const c of x) tensorsIn(c, out); }
  else if (typeof x === "object" && x !== null && Object.getPrototypeOf(x) === Object.prototype) {
    for (const c of Object.values(x)) tensorsIn(c, out);
  }
  return out;
}

/** A function with a user-defined VJP (`f.defvjp(fwd, bwd)`). */
export interface CustomVjpFunction<F extends AnyFn> {
  (...args: Parameters<F>): ReturnType<F>;
  /**
   * `fwd(...args)` returns `[output, residuals]`; `bwd(residuals, cotangent)` returns the
   * cotangents of the arguments as an array (one per argument).
   */
  defvjp(
    fwd: (...args: Parameters<F>) => [ReturnType<F>, unknown],
    bwd: (residuals: never, cotangent: ReturnType<F>) => unknown[],
  ): CustomVjpFunction<F>;
}

/** Wraps `f` so that reverse mode calls your backward function. */
export function customVjp<F extends AnyFn>(f: F): CustomVjpFunction<F> {
  let fwd: ((...args: unknown[]) => [unknown, unknown]) | null = null;
  let bwd: ((res: never, ct: never) => unknown[]) | null = null;
  const wrapped = ((...args: unknown[]) => {
    const [leaves, argsDef] = flatten(args);
    const tensors = leaves.map((l) => asTensor(l));
    const trace = fwd === null ? null : activeJvpTrace(tensors);
    if (trace === null) return f(...args);
    const [primals, tangents] = splitForTrace(trace, tensors);
    const [out, residuals] = withTrace(
      trace.parent!,
      () => fwd!(...unflatten<unknown[]>(argsDef, primals)),
    );
    const [outLeaves, outDef] = flatten(out);
    const outTensors = outLeaves.map((l) => asTensor(l));
    const resTensors = tensorsIn(residuals);
    const params: LinearCallParams = {
      name: f.name || "custom_vjp",
      numResiduals: resTensors.length,
      outAvals: outTensors.map((t) => t.aval),
      forward: () => {
        throw new Error(
          "customVjp: forward-mode differentiation (jvp, jacfwd) of a customVjp function is not supported",
        );
      },
      backward: (cts) => {
        const grads = bwd!(residuals as never, unflatten<never>(outDef, cts));
        const [gLeaves] = flatten(grads);
        return gLeaves.map((g, i) => (g === null ? zerosLike(primals[i]) : asTensor(g)));
      },
    };
    const tOut = withTrace(
      trace.parent!,
      () => bind(linearCall, [...resTensors, ...tangents], params),
    );
    return unflatten(
      outDef,
      outTensors.map((p, i) => trace.pure(p, isFloat(p.dtype) ? tOut[i] : null)),
    );
  }) as unknown as CustomVjpFunction<F>;
  wrapped.defvjp = (fw, bw) => {
    fwd = fw as never;
    bwd = bw as never;
    return wrapped;
  };
  return wrapped;
}

/**
 * Rematerialization: under differentiation, `checkpoint(f)` saves only its inputs and
 * recomputes f's forward pass during the backward pass, trading compute for memory.
 */
export function checkpoint<F extends AnyFn>(f: F): F {
  return ((...args: unknown[]) => {
    const [leaves, argsDef] = flatten(args);
    const tensors = leaves.map((l) => asTensor(l));
    const trace = activeJvpTrace(tensors);
    if (trace === null) return f(...args);
    const [primals, tangents] = splitForTrace(trace, tensors);
    const out = withTrace(trace.parent!, () => f(...unflatten<unknown[]>(argsDef, primals)));
    const [outLeaves, outDef] = flatten(out);
    const outTensors = outLeaves.map((l) => asTensor(l));
    const fFlat = (...xs: never[]) => f(...unflatten<unknown[]>(argsDef, xs));
    const params: LinearCallParams = {
      name: f.name || "checkpoint",
      numResiduals: primals.length,
      outAvals: outTensors.map((t) => t.aval),
      // forward: the JVP at the saved inputs, recomputed
      forward: (ts) => {
        const lin = linearizeFlat("checkpoint", fFlat, primals);
        const used = ts.filter((_, i) => lin.inputIndex[i] >= 0);
        return flatten(unflatten(lin.outDef, evalLinear(lin, used)))[0].map((l) => asTensor(l));
      },
      // backward: relinearize from the saved inputs, then pull back
      backward: (cts) => {
        const lin = linearizeFlat("checkpoint", fFlat, primals);
        return pullback(lin, unflatten(lin.outDef, cts), "checkpoint");
      },
    };
    const tOut = withTrace(
      trace.parent!,
      () => bind(linearCall, [...primals, ...tangents], params),
    );
    return unflatten(
      outDef,
      outTensors.map((p, i) => trace.pure(p, isFloat(p.dtype) ? tOut[i] : null)),
    );
  }) as F;
}

function evalLinear(lin: ReturnType<typeof linearizeFlat>, tangents: Tensor[]): Tensor[] {
  return evalGraph(lin.graph, tangents);
}
