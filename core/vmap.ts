/**
 * `vmap`: automatic batching after Autodidax. A batch tracer carries a value with an extra
 * batch axis (or none); each primitive's `batch` rule maps batched operands to batched
 * results with whole-batch primitives, so there is no per-example dispatch.
 * @module
 */

import { z } from "npm:zod@4";
import { asTensor } from "./numpy/convert.ts";
import type { Primitive } from "./primitive.ts";
import { broadcastInDim, transpose as transposePrim } from "./prims/structure.ts";
import { fmtShape } from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { bind, bind1, getCurrentTrace, Trace, Tracer, withTrace } from "./trace.ts";
import { flatten, fmtTreeDef, type TreeDef, unflatten } from "./tree.ts";

/** A value inside vmap: `value` holds the whole batch along axis `batchDim` (null: unbatched). */
export class BatchTracer extends Tracer {
  constructor(trace: BatchTrace, readonly value: Tensor, readonly batchDim: number | null) {
    super(trace, batchDim === null ? value.aval : perExampleAval(value, batchDim));
  }
}

function perExampleAval(value: Tensor, batchDim: number) {
  const shape = value.shape.filter((_, i) => i !== batchDim);
  return { shape, dtype: value.dtype, weak: value.aval.weak };
}

/** Moves axis `from` of x to position `to` (a transpose, or nothing). */
export function moveAxis(x: Tensor, from: number, to: number): Tensor {
  if (from === to) return x;
  const perm = [...Array(x.ndim).keys()].filter((a) => a !== from);
  perm.splice(to, 0, from);
  return bind1(transposePrim, [x], { perm });
}

/** Gives x a batch axis of `size` at `dim`: moved there if batched at `from`, else broadcast. */
export function matchBatch(x: Tensor, from: number | null, dim: number, size: number): Tensor {
  if (from !== null) return moveAxis(x, from, dim);
  const shape = [...x.shape];
  shape.splice(dim, 0, size);
  const dims = x.shape.map((_, i) => (i < dim ? i : i + 1));
  return bind1(broadcastInDim, [x], { shape, broadcastDimensions: dims });
}

/** Applies primitives' batch rules. */
export class BatchTrace extends Trace {
  constructor(parent: Trace, readonly axisSize: number) {
    super(parent, "vmap");
  }

  /** Wraps a batched value as a tracer of this trace. */
  pure(value: Tensor, batchDim: number | null): Tensor {
    return batchDim === null ? value : new BatchTracer(this, value, batchDim);
  }

  processPrimitive(prim: Primitive, args: Tensor[], params: Record<string, unknown>): Tensor[] {
    const values: Tensor[] = [];
    const dims: (number | null)[] = [];
    for (const a of args) {
      if (a instanceof BatchTracer && a.trace === this) {
        values.push(a.value);
        dims.push(a.batchDim);
      } else {
        values.push(a);
        dims.push(null);
      }
    }
    const parent = this.parent!;
    if (dims.every((d) => d === null)) return withTrace(parent, () => bind(prim, values, params));
    const rule = prim.rules.batch;
    if (rule === undefined) {
      throw new Error(`vmap: the batching rule of ${prim.name} is not implemented`);
    }
    const [outs, outDims] = withTrace(parent, () => rule(values, dims, params, this.axisSize));
    return outs.map((o, i) => this.pure(o, outDims[i]));
  }
}

/** An axis spec: a position, or null for "not mapped", as a pytree prefix of the arguments. */
export type AxisSpec = number | null | AxisSpec[] | { [key: string]: AxisSpec };

/** Options of {@link vmap}. */
export interface VmapOptions {
  /** Where each argument's batch axis is (default 0): a number, null, or a pytree prefix. */
  inAxes?: AxisSpec;
  /** Where to put the outputs' batch axis (default 0): a number, null, or a pytree prefix. */
  outAxes?: AxisSpec;
  /** The batch size, needed when no argument is mapped. */
  axisSize?: number;
}

const axisSpec: z.ZodType<AxisSpec> = z.lazy(() =>
  z.union([z.number().int(), z.null(), z.array(axisSpec), z.record(z.string(), axisSpec)])
);
const vmapOptionsSchema = z.object({
  inAxes: axisSpec.optional(),
  outAxes: axisSpec.optional(),
  axisSize: z.number().int().nonnegative().optional(),
}).strict();

// Expands a prefix spec to one entry per leaf of `def`.
function broadcastPrefix(spec: AxisSpec, def: TreeDef, what: string): (number | null)[] {
  if (spec === null || typeof spec === "number") {
    const count = countLeaves(def);
    return new Array(count).fill(spec);
  }
  if (def.kind === "leaf" || def.kind === "none") {
    if (def.kind === "none") return [];
    throw new TypeError(`vmap: ${what} ${JSON.stringify(spec)} is not a prefix of the structure *`);
  }
  if (Array.isArray(spec)) {
    if (def.kind !== "array" || def.children.length !== spec.length) {
      throw new TypeError(
        `vmap: ${what} ${JSON.stringify(spec)} does not match the structure ${fmtTreeDef(def)}`,
      );
    }
    return def.children.flatMap((c, i) => broadcastPrefix(spec[i], c, what));
  }
  if (def.kind !== "object") {
    throw new TypeError(
      `vmap: ${what} ${JSON.stringify(spec)} does not match the structure ${fmtTreeDef(def)}`,
    );
  }
  return def.children.flatMap((c, i) => {
    const key = def.keys[i];
    if (!(key in spec)) throw new TypeError(`vmap: ${what} has no entry for key "${key}"`);
    return broadcastPrefix((spec as Record<string, AxisSpec>)[key], c, what);
  });
}

function countLeaves(def: TreeDef): number {
  if (def.kind === "leaf") return 1;
  if (def.kind === "none") return 0;
  return def.children.reduce((n, c) => n + countLeaves(c), 0);
}

/**
 * Vectorizes `f` over a batch axis: `vmap(f)(xs)` equals stacking `f(x)` for each slice x of
 * xs along axis 0, computed with whole-batch operations. Composes with grad, jit and itself.
 */
// deno-lint-ignore no-explicit-any
export function vmap<F extends (...args: any[]) => any>(
  f: F,
  options: VmapOptions = {},
): (...args: Parameters<F>) => ReturnType<F> {
  const parsed = vmapOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`);
    throw new TypeError(`vmap: invalid options: ${issues.join("; ")}`);
  }
  const inAxes = options.inAxes === undefined ? 0 : options.inAxes;
  const outAxes = options.outAxes === undefined ? 0 : options.outAxes;
  return ((...args: unknown[]) => {
    const [leaves, argsDef] = flatten(args);
    const axes = broadcastPrefix(inAxes, argsDef, "inAxes");
    const tensors = leaves.map((l) => asTensor(l));
    let size = options.axisSize ?? null;
    const dims = tensors.map((t, i) => {
      const a = axes[i];
      if (a === null) return null;
      if (a < -t.ndim || a >= t.ndim) {
        throw new RangeError(
          `vmap: inAxes ${a} is out of range for argument leaf ${i} of shape ${fmtShape(t.shape)}`,
        );
      }
      const d = a < 0 ? a + t.ndim : a;
      if (size === null) size = t.shape[d];
      else if (t.shape[d] !== size) {
        throw new RangeError(
          `vmap: mapped axes have different sizes: argument leaf ${i} has size ${
            t.shape[d]
          } along axis ${a}, others ${size}`,
        );
      }
      return d;
    });
    if (size === null) throw new RangeError("vmap: no argument is mapped; pass axisSize");
    const trace = new BatchTrace(getCurrentTrace(), size);
    try {
      const inputs = tensors.map((t, i) => trace.pure(t, dims[i]));
      const out = withTrace(trace, () => f(...unflatten<unknown[]>(argsDef, inputs)));
      const [outLeaves, outDef] = flatten(out);
      const outSpecs = broadcastPrefix(outAxes, outDef, "outAxes");
      const results = outLeaves.map((leaf, i) => {
        const t = asTensor(leaf);
        const [value, dim] = t instanceof BatchTracer && t.trace === trace
          ? [t.value, t.batchDim]
          : [t, null];
        const target = outSpecs[i];
        if (target === null) {
          if (dim !== null) {
            throw new TypeError(`vmap: outAxes is null for output leaf ${i}, but it is batched`);
          }
          return value;
        }
        const nd = value.ndim + (dim === null ? 1 : 0);
        if (target < -nd || target >= nd) {
          throw new RangeError(
            `vmap: outAxes ${target} is out of range for output leaf ${i} with ${nd} axes`,
          );
        }
        return matchBatch(value, dim, target < 0 ? target + nd : target, size!);
      });
      return unflatten(outDef, results);
    } finally {
      trace.valid = false;
    }
  }) as (...args: Parameters<F>) => ReturnType<F>;
}
