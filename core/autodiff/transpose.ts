/**
 * Reverse mode: transposing a linear graph (the backward pass) and `vjp` = linearize +
 * transpose. Cotangents are instantiated before a rule sees them (symbolic zeros in
 * transpose rules caused many of JAX's bugs).
 * @module
 */

import { isFloat } from "../dtype.ts";
import { type Graph, Literal, Var } from "../graph.ts";
import { add } from "../numpy/elementwise.ts";
import { asTensor } from "../numpy/convert.ts";
import { UndefinedPrimal } from "../primitive.ts";
import { fmtShape, shapeEqual } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { flatten, fmtTreeDef, treeDefEqual, unflatten } from "../tree.ts";
import { JvpTracer, linearizeFlat, zerosLike } from "./jvp.ts";

/**
 * Runs the backward pass of a linear graph: given a cotangent per output, returns the
 * cotangent of each input.
 */
export function backwardPass(graph: Graph, cts: Tensor[]): Tensor[] {
  const acc = new Map<Var, Tensor>();
  const accumulate = (v: Var, ct: Tensor | null) => {
    if (ct === null) return;
    const prev = acc.get(v);
    acc.set(v, prev === undefined ? ct : add(prev, ct));
  };
  graph.outputs.forEach((o, i) => {
    if (o instanceof Var) accumulate(o, cts[i]);
  });
  for (let e = graph.eqns.length - 1; e >= 0; e--) {
    const eqn = graph.eqns[e];
    if (!eqn.outputs.some((v) => acc.has(v))) continue; // contributes nothing
    const ctsOut = eqn.outputs.map((v) => acc.get(v) ?? zerosLike(v));
    for (const v of eqn.outputs) acc.delete(v); // free as we go
    const inputs = eqn.inputs.map((
      a,
    ) => (a instanceof Literal ? a.value : new UndefinedPrimal(a.aval)));
    const rule = eqn.prim.rules.transpose;
    if (rule === undefined) {
      throw new Error(
        `vjp: the transpose rule of ${eqn.prim.name} is not implemented (is it linear?)`,
      );
    }
    const ctsIn = rule(ctsOut, inputs, eqn.params);
    eqn.inputs.forEach((a, i) => {
      if (a instanceof Var) accumulate(a, ctsIn[i] ?? null);
    });
  }
  return graph.inputs.map((v) => acc.get(v) ?? zerosLike(v));
}

/** What `vjp` returns: the output, then the pullback (and the aux value when asked). */
export type VjpResult<Out, Aux = unknown> = [Out, (cotangent: Out) => unknown[], Aux?];

/** Options of {@link vjp}. */
export interface VjpOptions {
  /** f returns `[output, aux]`; aux is returned as the third element, not differentiated. */
  hasAux?: boolean;
}

/** Runs the backward pass of a linearization for output cotangents given as a pytree. */
export function pullback(
  lin: ReturnType<typeof linearizeFlat>,
  cotangent: unknown,
  transform: string,
): Tensor[] {
  const [ctLeaves, ctDef] = flatten(cotangent);
  if (!treeDefEqual(ctDef, lin.outDef)) {
    throw new TypeError(
      `${transform}: the cotangent has structure ${fmtTreeDef(ctDef)}, the output ${
        fmtTreeDef(lin.outDef)
      }`,
    );
  }
  const cts = ctLeaves.map((c, i) => {
    const t = asTensor(c, lin.primalsOut[i].dtype);
    const p = lin.primalsOut[i];
    if (!shapeEqual(t.shape, p.shape)) {
      throw new TypeError(
        `${transform}: cotangent ${i} has shape ${fmtShape(t.shape)}, the output has ${
          fmtShape(p.shape)
        }`,
      );
    }
    return t;
  });
  const graphCts = backwardPass(lin.graph, cts);
  // integer inputs get zero cotangents (JAX's float0 becomes zeros of their dtype here)
  return lin.primals.map((
    p,
    i,
  ) => (lin.inputIndex[i] >= 0 ? graphCts[lin.inputIndex[i]] : zerosLike(p)));
}

/**
 * `vjp(f, ...primals)` returns `[f(...primals), vjpFn]` where `vjpFn(cotangent)` returns the
 * cotangents of the primals (an array, one pytree per argument). See {@link vjpWithAux} for
 * functions returning `[output, aux]`.
 */
export function vjp<Out = unknown>(
  f: (...args: never[]) => Out,
  ...primals: unknown[]
): [Out, (cotangent: Out) => unknown[]] {
  const [out, fn] = vjpWithOptions(f, primals, {});
  return [out as Out, fn];
}

/**
 * JAX's `vjp(f, *primals, has_aux=True)`: f returns `[output, aux]`; returns
 * `[output, vjpFn, aux]`, aux not differentiated.
 */
export function vjpWithAux<Out = unknown, Aux = unknown>(
  f: (...args: never[]) => [Out, Aux],
  ...primals: unknown[]
): [Out, (cotangent: Out) => unknown[], Aux] {
  const [out, fn, aux] = vjpWithOptions<Out>(f, primals, { hasAux: true });
  return [out, fn, aux as Aux];
}

/** `vjp` with options (`hasAux`). */
export function vjpWithOptions<Out = unknown>(
  f: (...args: never[]) => unknown,
  primals: readonly unknown[],
  options: VjpOptions,
  transform = "vjp",
): [Out, (cotangent: Out) => unknown[], unknown] {
  let aux: unknown = undefined;
  const wrapped = options.hasAux
    ? (...args: never[]) => {
      const result = f(...args);
      if (!Array.isArray(result) || result.length !== 2) {
        throw new TypeError(`${transform}: with hasAux, the function must return [output, aux]`);
      }
      aux = result[1];
      return result[0];
    }
    : f;
  const lin = linearizeFlat(transform, wrapped, primals);
  const out = unflatten<Out>(lin.outDef, lin.primalsOut);
  // aux is not differentiated: hand back its primal values, not the transform's tracers
  aux = primalsOfFinished(aux);
  const vjpFn = (cotangent: Out): unknown[] => {
    const cts = pullback(lin, cotangent, transform);
    return unflatten<unknown[]>(lin.argsDef, cts);
  };
  return [out, vjpFn, aux];
}

/**
 * Replaces tracers left over from a finished JVP by their primal values, inside arrays and
 * plain objects; anything else (strings, numbers, other objects) passes through.
 */
function primalsOfFinished(x: unknown): unknown {
  if (x instanceof JvpTracer) return x.trace.valid ? x : primalsOfFinished(x.primal);
  if (Array.isArray(x)) return x.map(primalsOfFinished);
  if (x !== null && typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, primalsOfFinished(v)]));
  }
  return x;
}

/** True when a tensor can carry a gradient. */
export function differentiable(x: Tensor): boolean {
  return isFloat(x.dtype);
}
