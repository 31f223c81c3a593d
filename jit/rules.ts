/**
 * Differentiation and batching of the `jit` primitive. The JVP evaluates the graph inline
 * under the JVP trace (so `grad(jit(f))` differentiates f's operations); batching stages the
 * vmapped graph into a new `jit` call, so `vmap(jit(f))` stays compiled.
 * @module
 */

import { jvp, zerosLike } from "../core/autodiff/jvp.ts";
import { evalGraph } from "../core/graph.ts";
import type { Primitive, PrimitiveRules } from "../core/primitive.ts";
import type { Tensor } from "../core/tensor.ts";
import { bind } from "../core/trace.ts";
import { vmap } from "../core/vmap.ts";
import type { JitParams } from "./jit.ts";
import { optimize } from "./passes.ts";
import { stageGraph } from "./stage.ts";

/** jvp of a jitted graph: the graph's equations differentiated inline. */
export const jitJvpRule: NonNullable<PrimitiveRules<JitParams>["jvp"]> = (
  primals,
  tangents,
  params,
) => {
  const filled = tangents.map((t, i) => t ?? zerosLike(primals[i]));
  const [outs, touts] = jvp((...xs: Tensor[]) => evalGraph(params.graph, xs), primals, filled);
  return [outs as Tensor[], touts as Tensor[]];
};

const batchedGraphs = new WeakMap<
  JitParams,
  Map<string, { params: JitParams; consts: Tensor[] }>
>();

/** vmap of a jitted graph: a new jit call on the batched graph (outputs batched at axis 0). */
export const jitBatchRule: NonNullable<PrimitiveRules<JitParams>["batch"]> = (
  args,
  dims,
  params,
  axisSize,
) => {
  const key = `${dims.join(",")}|${axisSize}|${
    args.map((a) => `${a.dtype}${a.shape.join("x")}`).join(",")
  }`;
  let perParams = batchedGraphs.get(params);
  if (!perParams) batchedGraphs.set(params, perParams = new Map());
  let entry = perParams.get(key);
  if (!entry) {
    const body = (...xs: Tensor[]) => evalGraph(params.graph, xs);
    const batched = (...xs: Tensor[]) => vmap(body, { inAxes: dims, axisSize })(...xs);
    const staged = stageGraph(
      batched,
      { kind: "array", children: args.map(() => ({ kind: "leaf" })) },
      args,
      `vmap(jit(${params.name}))`,
    );
    entry = {
      params: {
        graph: optimize(staged.graph),
        name: `vmap_${params.name}`,
        donated: staged.graph.inputs.map(() => false),
        device: params.device,
        compiled: new Map(),
      },
      consts: staged.consts,
    };
    if (!staged.consts.some((c) => !c.isConcrete)) perParams.set(key, entry);
  }
  const prim = jitPrimRef!;
  const outs = bind(prim, [...args, ...entry.consts], entry.params);
  return [outs, outs.map(() => 0)];
};

let jitPrimRef: Primitive<JitParams> | null = null;
/** Lets jit.ts hand over its primitive (the two modules import each other). */
export function setJitPrimitive(prim: Primitive<JitParams>): void {
  jitPrimRef = prim;
}
