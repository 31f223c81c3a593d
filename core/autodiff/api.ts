/**
 * JAX's differentiation API on top of `jvp`, `linearize` and `vjp`: `grad`, `valueAndGrad`,
 * `jacfwd`, `jacrev`, `hessian`. Options are validated once, when the transformed function
 * is created.
 * @module
 */

import { z } from "npm:zod@4";
import { isFloat } from "../dtype.ts";
import { asTensor } from "../numpy/convert.ts";
import { eye, ones, zeros } from "../numpy/creation.ts";
import { moveaxis, reshape, split } from "../numpy/shape.ts";
import { fmtShape } from "../shape.ts";
import { vmap } from "../vmap.ts";
import type { Tensor } from "../tensor.ts";
import { flatten, type Leaf, type TreeDef, unflatten } from "../tree.ts";
import { jvp as jvpFn, linearizeFlat } from "./jvp.ts";
import { pullback, vjpWithOptions } from "./transpose.ts";

/** Options of {@link grad} and {@link valueAndGrad}. */
export interface GradOptions {
  /** Which positional arguments to differentiate: one index (default 0) or several. */
  argnums?: number | number[];
  /** f returns `[value, aux]`; aux is passed through, not differentiated. */
  hasAux?: boolean;
}

const gradOptionsSchema = z.object({
  argnums: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative()).min(1)])
    .optional(),
  hasAux: z.boolean().optional(),
}).strict();

function parseOptions<T>(op: string, schema: z.ZodType<T>, options: unknown): T {
  const result = schema.safeParse(options ?? {});
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`);
    throw new TypeError(`${op}: invalid options: ${issues.join("; ")}`);
  }
  return result.data;
}

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/**
 * A pytree whose structure depends on the options (argnums lists, hasAux, Jacobian layouts):
 * typed loosely so that destructuring needs no casts.
 */
// deno-lint-ignore no-explicit-any
export type TreeResult = any;

// The selected arguments, and f as a function of only those.
function partialOver(op: string, f: AnyFn, args: unknown[], argnums: number[]) {
  for (const n of argnums) {
    if (n >= args.length) {
      throw new RangeError(
        `${op}: argnums ${JSON.stringify(argnums)} out of range for ${args.length} arguments`,
      );
    }
  }
  const selected = argnums.map((n) => args[n]);
  const fPartial = (...chosen: never[]) => {
    const full = [...args];
    argnums.forEach((n, k) => (full[n] = chosen[k]));
    return f(...full);
  };
  return { selected, fPartial };
}

function checkFloatInputs(op: string, selected: unknown[], argnums: number[]): void {
  selected.forEach((arg, k) => {
    for (const leaf of flatten(arg)[0]) {
      const t = asTensor(leaf);
      if (!isFloat(t.dtype)) {
        throw new TypeError(
          `${op} requires floating-point inputs, but argument ${
            argnums[k]
          } has a ${t.dtype} leaf; ` +
            `cast it with .astype("float32"), or use vjp for integer inputs`,
        );
      }
    }
  });
}

/**
 * `valueAndGrad(f)(...args)` returns `[f(...args), gradient]`; with `hasAux`,
 * `[[value, aux], gradient]`. The gradient has the structure of the differentiated argument
 * (a list of them when `argnums` is a list).
 */
export function valueAndGrad<F extends AnyFn>(
  f: F,
  options?: { argnums?: 0 },
): (...args: Parameters<F>) => [ReturnType<F>, Parameters<F>[0]];
/** With `argnums` lists or `hasAux`, the results' structure follows the options. */
export function valueAndGrad<F extends AnyFn>(
  f: F,
  options: GradOptions,
): (...args: Parameters<F>) => [TreeResult, TreeResult];
export function valueAndGrad(
  f: AnyFn,
  options: GradOptions = {},
): (...args: unknown[]) => [unknown, unknown] {
  const opts = parseOptions("valueAndGrad", gradOptionsSchema, options);
  const argnums = opts.argnums ?? 0;
  const nums = Array.isArray(argnums) ? argnums : [argnums];
  const hasAux = opts.hasAux ?? false;
  return (...args: unknown[]) => {
    const { selected, fPartial } = partialOver("grad", f, args, nums);
    checkFloatInputs("grad", selected, nums);
    const [out, vjp, aux] = vjpWithOptions<unknown>(fPartial, selected, { hasAux }, "grad");
    const [outLeaves] = flatten(out);
    const value = outLeaves.length === 1 ? asTensor(outLeaves[0]) : null;
    if (value === null || value.ndim !== 0 || !isFloat(value.dtype)) {
      const got = value
        ? `${value.dtype}${fmtShape(value.shape)}`
        : `a pytree of ${outLeaves.length} leaves`;
      throw new TypeError(
        `grad: the function must return a float scalar (shape ()), got ${got}; use vjp or jacrev for non-scalar outputs`,
      );
    }
    const grads = vjp(unflatten(flatten(out)[1], [ones([], { dtype: value.dtype })]));
    const gradient = Array.isArray(argnums) ? grads : grads[0];
    return [hasAux ? [out, aux] : out, gradient];
  };
}

/**
 * `grad(f)(...args)`: the gradient of a scalar function with respect to the first argument,
 * with its structure; see the next overload for `argnums` lists and `hasAux`.
 */
export function grad<F extends AnyFn>(
  f: F,
  options?: { argnums?: 0 },
): (...args: Parameters<F>) => Parameters<F>[0];
/** With an `argnums` list, a list of gradients; with `hasAux`, `[gradient, aux]`. */
export function grad<F extends AnyFn>(
  f: F,
  options: GradOptions,
): (...args: Parameters<F>) => TreeResult;
export function grad(f: AnyFn, options: GradOptions = {}): (...args: unknown[]) => unknown {
  const vg = valueAndGrad(f, options);
  const hasAux = options.hasAux ?? false;
  return (...args: unknown[]) => {
    const [value, gradient] = vg(...args);
    return hasAux ? [gradient, (value as unknown[])[1]] : gradient;
  };
}

/** Options of the Jacobian transforms. */
export interface JacobianOptions {
  /** Which positional arguments to differentiate (default 0). */
  argnums?: number | number[];
}

const jacOptionsSchema = z.object({
  argnums: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative()).min(1)])
    .optional(),
}).strict();

interface Layout {
  leaves: Tensor[];
  def: TreeDef;
}

function layoutOf(tree: unknown): Layout {
  const [leaves, def] = flatten(tree);
  return { leaves: leaves.map((l: Leaf) => asTensor(l)), def };
}

// The identity basis over the concatenated leaves, as one tree with a leading axis of size
// total: leaf k gets rows (total, ...leaf.shape).
function basisTree(layout: Layout): unknown {
  const total = layout.leaves.reduce((n, l) => n + l.size, 0);
  const dtype = layout.leaves[0]?.dtype ?? "float32";
  const identity = eye(total, total, { dtype });
  let offset = 0;
  const parts = layout.leaves.map((leaf) => {
    const cols = leaf.size;
    const part = cols === 0
      ? zeros([total, ...leaf.shape], { dtype: leaf.dtype })
      : reshape(sliceColumns(identity, offset, offset + cols).astype(leaf.dtype), [
        total,
        ...leaf.shape,
      ]);
    offset += cols;
    return part;
  });
  return unflatten(layout.def, parts);
}

function sliceColumns(m: Tensor, start: number, stop: number): Tensor {
  return split(m, [start, stop], 1)[1];
}

// Assembles Jacobian blocks: J[outLeaf][inLeaf] with shape out.shape + in.shape, as a pytree of
// the output structure whose leaves are pytrees of the input structure.
function assemble(outL: Layout, inL: Layout, block: (o: number, i: number) => Tensor): unknown {
  const perOut = outL.leaves.map((_, o) =>
    unflatten(inL.def, inL.leaves.map((_, i) => block(o, i)))
  );
  return unflatten(outL.def, perOut);
}

function selectedArgs(op: string, f: AnyFn, args: unknown[], argnums: number | number[]) {
  const nums = Array.isArray(argnums) ? argnums : [argnums];
  const { selected, fPartial } = partialOver(op, f, args, nums);
  const inTree = Array.isArray(argnums) ? selected : selected[0];
  const fOfTree = (
    tree: never,
  ) => (Array.isArray(argnums) ? fPartial(...(tree as never[])) : fPartial(tree));
  return { inTree, fOfTree };
}

// Splits a leading axis of size Σ sizes into per-leaf blocks reshaped to `shapes`.
function splitRows(x: Tensor, sizes: number[]): Tensor[] {
  const bounds = sizes.slice(0, -1).reduce<number[]>(
    (acc, n) => [...acc, (acc.at(-1) ?? 0) + n],
    [],
  );
  return sizes.length === 1 ? [x] : split(x, bounds, 0);
}

/**
 * Jacobian by forward mode: one JVP per input element, batched with vmap over the identity
 * basis. Shape of each block: out.shape + in.shape.
 */
export function jacfwd<F extends AnyFn>(
  f: F,
  options: JacobianOptions = {},
): (...args: Parameters<F>) => TreeResult {
  const argnums = parseOptions("jacfwd", jacOptionsSchema, options).argnums ?? 0;
  return (...args: unknown[]) => {
    const { inTree, fOfTree } = selectedArgs("jacfwd", f, args, argnums);
    const inL = layoutOf(inTree);
    checkFloatInputs("jacfwd", [inTree], [0]);
    const outL = layoutOf(fOfTree(inTree as never));
    const pushforward = (tangent: unknown) => jvpFn(fOfTree, [inTree], [tangent])[1];
    const columns = layoutOf(vmap(pushforward)(basisTree(inL))).leaves; // (N, ...out.shape)
    return assemble(outL, inL, (o, i) => {
      const perInput = splitRows(columns[o], inL.leaves.map((l) => l.size));
      const block = moveaxis(perInput[i], 0, -1); // (...out.shape, in.size)
      return reshape(block, [...outL.leaves[o].shape, ...inL.leaves[i].shape]);
    });
  };
}

/**
 * Jacobian by reverse mode: one pullback per output element, batched with vmap over the
 * identity basis. Shape of each block: out.shape + in.shape.
 */
export function jacrev<F extends AnyFn>(
  f: F,
  options: JacobianOptions = {},
): (...args: Parameters<F>) => TreeResult {
  const argnums = parseOptions("jacrev", jacOptionsSchema, options).argnums ?? 0;
  return (...args: unknown[]) => {
    const { inTree, fOfTree } = selectedArgs("jacrev", f, args, argnums);
    const inL = layoutOf(inTree);
    checkFloatInputs("jacrev", [inTree], [0]);
    const lin = linearizeFlat("jacrev", fOfTree as AnyFn, [inTree]);
    const outL: Layout = { leaves: lin.primalsOut, def: lin.outDef };
    const pull = (ct: unknown) => unflatten(inL.def, pullback(lin, ct, "jacrev"));
    const rows = layoutOf(vmap(pull)(basisTree(outL))).leaves; // (M, ...in.shape)
    return assemble(outL, inL, (o, i) => {
      const perOutput = splitRows(rows[i], outL.leaves.map((l) => l.size));
      return reshape(perOutput[o], [...outL.leaves[o].shape, ...inL.leaves[i].shape]);
    });
  };
}

/** The Hessian: `jacfwd(jacrev(f))`. */
export function hessian<F extends AnyFn>(
  f: F,
  options: JacobianOptions = {},
): (...args: Parameters<F>) => TreeResult {
  return jacfwd(jacrev(f, options), options);
}
