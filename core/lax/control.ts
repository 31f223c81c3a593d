/**
 * Structured control flow (JAX's `lax.cond`, `lax.switch`, `lax.while_loop`,
 * `lax.fori_loop`, `lax.scan`): the user functions are traced into graphs once per call and
 * bound as higher-order primitives, so they work on traced values inside `jit`, `grad` and
 * `vmap`, where JS `if` and `for` over tensor values cannot. Operands and carries are pytrees.
 * @module
 */

import { isFloat } from "../dtype.ts";
import { Graph, Var } from "../graph.ts";
import { asTensor, astype } from "../numpy/convert.ts";
import { add, less, notEqual } from "../numpy/elementwise.ts";
import type { Aval } from "../primitive.ts";
import * as C from "../prims/control.ts";
import { fmtAvalShort, sameType, stage } from "../prims/control_graphs.ts";
import { Tensor } from "../tensor.ts";
import { bind, scalarTensor } from "../trace.ts";
import { flatten, fmtTreeDef, type TreeDef, treeDefEqual, unflatten } from "../tree.ts";

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

/**
 * The type of a pytree once its leaves are tensors (JS numbers and booleans become
 * tensors): what the loop functions receive and return.
 */
export type Tensorize<T> = T extends Tensor | number | boolean ? Tensor
  : T extends null | undefined ? T
  : T extends readonly unknown[] ? { [K in keyof T]: Tensorize<T[K]> }
  : T extends Record<string, unknown> ? { [K in keyof T]: Tensorize<T[K]> }
  : T;

type LooseScan = (f: AnyFn, init: unknown, xs: unknown, options: ScanOptions) => unknown;
type LooseWhile = (condFn: AnyFn, bodyFn: AnyFn, init: unknown) => unknown;

/** Options of {@link scan}. */
export interface ScanOptions {
  /** The number of iterations; required when `xs` is null, else checked against it. */
  length?: number;
  /** Scan from the last slice of xs to the first (ys are still stacked in xs order). */
  reverse?: boolean;
}

function leafTensors(op: string, what: string, tree: unknown): [Tensor[], TreeDef] {
  let leaves, def;
  try {
    [leaves, def] = flatten(tree);
  } catch (e) {
    throw new TypeError(`${op}: ${what}: ${(e as Error).message}`);
  }
  return [leaves.map((l) => asTensor(l)), def];
}

function checkFn(op: string, what: string, fn: unknown): void {
  if (typeof fn !== "function") {
    throw new TypeError(`${op}: ${what} must be a function, got ${typeof fn}`);
  }
}

const fmtAvals = (avals: readonly Aval[]) => `(${avals.map(fmtAvalShort).join(", ")})`;

/** A user function traced into a graph over its leaves, closed-over values hoisted. */
interface Traced {
  graph: Graph;
  consts: Tensor[];
  outDef: TreeDef;
  outAvals: Aval[];
}

// Traces fn(...unflatten(argsDef, inputs)); `post` turns the result into output leaves.
function traceUser(
  op: string,
  fn: AnyFn,
  argsDef: TreeDef,
  avals: readonly Aval[],
  post: (out: unknown) => unknown = (out) => out,
): Traced {
  let outDef: TreeDef = { kind: "none", value: undefined };
  const { graph, consts } = stage(op, avals, (ins) => {
    const out = post(fn(...unflatten<unknown[]>(argsDef, ins)));
    const [leaves, def] = leafTensors(op, "the function's result", out);
    outDef = def;
    return leaves;
  }, true);
  return { graph, consts, outDef, outAvals: graph.outputs.map((o) => o.aval) };
}

// Branch graphs over [...all branches' consts, ...operands]: each branch ignores the others'.
function joinConsts(traced: Traced[]): Graph[] {
  return traced.map((t, k) => {
    const own = t.graph.inputs.slice(0, t.consts.length);
    const ops = t.graph.inputs.slice(t.consts.length);
    const inputs = traced.flatMap((u, j) => j === k ? own : u.consts.map((c) => new Var(c.aval)));
    return new Graph([...inputs, ...ops], t.graph.eqns, t.graph.outputs);
  });
}

function switchImpl(
  op: string,
  index: Tensor,
  branches: AnyFn[],
  names: string[],
  operands: unknown[],
): unknown {
  const [leaves, argsDef] = leafTensors(op, "operands", operands);
  const avals = leaves.map((l) => l.aval);
  const traced = branches.map((fn, k) => traceUser(`${op} ${names[k]}`, fn, argsDef, avals));
  const first = traced[0];
  traced.forEach((t, k) => {
    if (
      !treeDefEqual(t.outDef, first.outDef) || t.outAvals.length !== first.outAvals.length ||
      t.outAvals.some((a, j) => !sameType(a, first.outAvals[j]))
    ) {
      throw new TypeError(
        `${op}: the branches must return the same structure, shapes and dtypes: ${
          names[0]
        } returns ${fmtTreeDef(first.outDef)} ${fmtAvals(first.outAvals)}, ${names[k]} returns ${
          fmtTreeDef(t.outDef)
        } ${fmtAvals(t.outAvals)}`,
      );
    }
  });
  const consts = traced.flatMap((t) => t.consts);
  const outs = bind(C.cond, [index, ...consts, ...leaves], { branches: joinConsts(traced) });
  return unflatten(first.outDef, outs);
}

/**
 * JAX's `lax.cond`: `cond(pred, trueFn, falseFn, ...operands)` returns `trueFn(...operands)`
 * when `pred` is true, else `falseFn(...operands)`. Both branches are traced and must return
 * the same structure, shapes and dtypes. `pred` is a scalar bool or number (nonzero is true),
 * a tensor or a JS value; traced predicates work (under `jit`, `grad`, `vmap`: a batched
 * predicate evaluates both branches and selects). Differentiable in forward and reverse mode.
 *
 * ```ts
 * const y = lax.cond(x.sum().gt(0), (v) => v.mul(2), (v) => v.neg(), x);
 * ```
 */
export function cond<Out = unknown>(
  pred: Tensor | boolean | number,
  trueFn: (...operands: never[]) => Out,
  falseFn: (...operands: never[]) => Out,
  ...operands: unknown[]
): Out {
  const op = "lax.cond";
  checkFn(op, "trueFn", trueFn);
  checkFn(op, "falseFn", falseFn);
  let index: Tensor;
  if (typeof pred === "boolean" || typeof pred === "number") {
    index = scalarTensor(pred ? 1 : 0, "int32", false);
  } else if (pred instanceof Tensor) {
    if (pred.ndim !== 0) {
      throw new TypeError(
        `${op}: the predicate must be a scalar (bool or number), got ${fmtAvalShort(pred.aval)}`,
      );
    }
    index = astype(pred.dtype === "bool" ? pred : notEqual(pred, 0), "int32");
  } else {
    throw new TypeError(
      `${op}: the predicate must be a scalar tensor, boolean or number, got ${typeof pred}`,
    );
  }
  return switchImpl(op, index, [falseFn, trueFn], ["falseFn", "trueFn"], operands) as Out;
}

/**
 * JAX's `lax.switch` (`switch` is reserved in JS): `switchCase(index, branches,
 * ...operands)` returns `branches[index](...operands)`, the index clamped to the valid range.
 * `index` is an integer scalar (tensor or JS number); every branch is traced and must return
 * the same structure, shapes and dtypes.
 */
export function switchCase<Out = unknown>(
  index: Tensor | number,
  branches: readonly ((...operands: never[]) => Out)[],
  ...operands: unknown[]
): Out {
  const op = "lax.switchCase";
  if (!Array.isArray(branches) || branches.length === 0) {
    throw new TypeError(`${op}: branches must be a non-empty array of functions`);
  }
  branches.forEach((b, k) => checkFn(op, `branches[${k}]`, b));
  const n = branches.length;
  let idx: Tensor;
  if (typeof index === "number") {
    if (!Number.isInteger(index)) {
      throw new TypeError(`${op}: the index must be an integer, got ${index}`);
    }
    idx = scalarTensor(Math.min(Math.max(index, 0), n - 1), "int32", false);
  } else if (index instanceof Tensor) {
    if (index.ndim !== 0 || isFloat(index.dtype) || index.dtype === "bool") {
      throw new TypeError(
        `${op}: the index must be an integer scalar, got ${fmtAvalShort(index.aval)}`,
      );
    }
    idx = astype(index, "int32");
  } else {
    throw new TypeError(
      `${op}: the index must be an integer tensor or number, got ${typeof index}`,
    );
  }
  const names = branches.map((_, k) => `branches[${k}]`);
  return switchImpl(op, idx, [...branches], names, operands) as Out;
}

/** JAX's name for {@link switchCase}. */
export const switch_ = switchCase;

/**
 * JAX's `lax.while_loop`: `whileLoop(condFn, bodyFn, initVal)` runs
 * `val = bodyFn(val)` while `condFn(val)` is true and returns the last value. `condFn` must
 * return a scalar bool; `bodyFn` must return the structure, shapes and dtypes of `initVal` (a
 * pytree). Works under `jit` and `vmap` (a batched predicate runs until every example is
 * done) and forward-mode differentiation; as in JAX, reverse mode (`grad`) is not supported:
 * use {@link scan} or {@link forLoop} with concrete bounds.
 *
 * ```ts
 * const [i, v] = lax.whileLoop(([i, v]) => v.sum().lt(100), ([i, v]) => [add(i, 1), v.mul(2)], [0, x]);
 * ```
 */
export function whileLoop<const T>(
  condFn: (val: Tensorize<T>) => Tensor | boolean,
  bodyFn: (val: Tensorize<T>) => Tensorize<T>,
  initVal: T,
): Tensorize<T> {
  const op = "lax.whileLoop";
  checkFn(op, "condFn", condFn);
  checkFn(op, "bodyFn", bodyFn);
  const [leaves, def] = leafTensors(op, "initVal", initVal);
  const avals = leaves.map((l) => l.aval);
  const condT = traceUser(`${op} condFn`, condFn, { kind: "array", children: [def] }, avals);
  const pred = condT.outAvals;
  if (
    condT.outDef.kind !== "leaf" || pred.length !== 1 || pred[0].dtype !== "bool" ||
    pred[0].shape.length !== 0
  ) {
    throw new TypeError(
      `${op}: condFn must return a scalar bool, got ${fmtTreeDef(condT.outDef)} ${fmtAvals(pred)}`,
    );
  }
  const bodyT = traceUser(`${op} bodyFn`, bodyFn, { kind: "array", children: [def] }, avals);
  if (
    !treeDefEqual(bodyT.outDef, def) || bodyT.outAvals.some((a, i) => !sameType(a, avals[i]))
  ) {
    throw new TypeError(
      `${op}: bodyFn must return the structure, shapes and dtypes of initVal: initVal is ${
        fmtTreeDef(def)
      } ${fmtAvals(avals)}, bodyFn returned ${fmtTreeDef(bodyT.outDef)} ${
        fmtAvals(bodyT.outAvals)
      }`,
    );
  }
  const outs = bind(C.whileLoop, [...condT.consts, ...bodyT.consts, ...leaves], {
    cond: condT.graph,
    body: bodyT.graph,
    condConsts: condT.consts.length,
    bodyConsts: bodyT.consts.length,
  });
  return unflatten<Tensorize<T>>(def, outs);
}

/**
 * JAX's `lax.scan`: `scan(f, init, xs)` runs `[carry, y] = f(carry, x)` for each slice x of
 * xs along axis 0 and returns `[finalCarry, ys]`, ys the y's stacked along a new axis 0.
 * `init`, `xs` and `y` are pytrees; xs may be null with `{ length }` given. The carry
 * returned by f must match init's structure, shapes and dtypes. Differentiable in forward and
 * reverse mode (an RNN over time steps is a scan), and batched by vmap.
 */
export function scan<const C, X, Y>(
  f: (carry: Tensorize<C>, x: Tensorize<X>) => [Tensorize<C>, Y],
  init: C,
  xs: X,
  options: ScanOptions = {},
): [Tensorize<C>, Tensorize<Y>] {
  const op = "lax.scan";
  checkFn(op, "f", f);
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${op}: options must be an object`);
  }
  const { length, reverse = false } = options;
  if (length !== undefined && (!Number.isInteger(length) || length < 0)) {
    throw new RangeError(`${op}: length must be a non-negative integer, got ${length}`);
  }
  if (typeof reverse !== "boolean") throw new TypeError(`${op}: reverse must be a boolean`);
  const [carry, carryDef] = leafTensors(op, "init", init);
  const [xLeaves, xDef] = leafTensors(op, "xs", xs);
  let n = length ?? null;
  xLeaves.forEach((x, i) => {
    if (x.ndim === 0) {
      throw new RangeError(`${op}: xs leaf ${i} is a scalar; xs must have a leading axis to scan`);
    }
    if (n === null) n = x.shape[0];
    else if (x.shape[0] !== n) {
      throw new RangeError(
        `${op}: xs leaf ${i} has leading axis ${x.shape[0]}, expected ${n} ${
          length === undefined ? "(the other leaves')" : "(length)"
        }`,
      );
    }
  });
  if (n === null) throw new TypeError(`${op}: length must be given when xs is null or empty`);
  const carryAvals = carry.map((c) => c.aval);
  const sliceAvals = xLeaves.map((x) => ({ ...x.aval, shape: x.shape.slice(1) }));
  let yDef: TreeDef = { kind: "none", value: null };
  let newCarryDef: TreeDef = carryDef;
  const argsDef: TreeDef = { kind: "array", children: [carryDef, xDef] };
  const traced = traceUser(op, f, argsDef, [...carryAvals, ...sliceAvals], (out) => {
    if (!Array.isArray(out) || out.length !== 2) {
      throw new TypeError(`${op}: f must return [carry, y]`);
    }
    newCarryDef = flatten(out[0])[1];
    yDef = flatten(out[1])[1];
    return out;
  });
  const nK = carry.length;
  const newCarry = traced.outAvals.slice(0, nK);
  if (
    !treeDefEqual(newCarryDef, carryDef) || newCarry.some((a, i) => !sameType(a, carryAvals[i]))
  ) {
    throw new TypeError(
      `${op}: f must return a carry with the structure, shapes and dtypes of init: init is ${
        fmtTreeDef(carryDef)
      } ${fmtAvals(carryAvals)}, f returned ${fmtTreeDef(newCarryDef)} ${
        fmtAvals(traced.outAvals.slice(0, Math.min(nK, traced.outAvals.length)))
      }`,
    );
  }
  const outs = bind(C.scan, [...traced.consts, ...carry, ...xLeaves], {
    body: traced.graph,
    numConsts: traced.consts.length,
    numCarry: nK,
    length: n,
    reverse,
  });
  return [
    unflatten<Tensorize<C>>(carryDef, outs.slice(0, nK)),
    unflatten<Tensorize<Y>>(yDef, outs.slice(nK)),
  ];
}

/**
 * JAX's `lax.fori_loop`: `forLoop(lower, upper, bodyFn, initVal)` runs
 * `val = bodyFn(i, val)` for i from lower to upper - 1 (an int32 scalar) and returns val.
 * With concrete bounds it is a {@link scan} (differentiable in reverse mode); with traced
 * bounds, a {@link whileLoop}.
 */
export function forLoop<const T>(
  lower: Tensor | number,
  upper: Tensor | number,
  bodyFn: (i: Tensor, val: Tensorize<T>) => Tensorize<T>,
  initVal: T,
): Tensorize<T> {
  const op = "lax.forLoop";
  checkFn(op, "bodyFn", bodyFn);
  const bound = (b: Tensor | number, what: string): Tensor => {
    const t = asTensor(b as number);
    if (t.ndim !== 0 || isFloat(t.dtype) || t.dtype === "bool") {
      throw new TypeError(`${op}: ${what} must be an integer scalar, got ${fmtAvalShort(t.aval)}`);
    }
    return t.dtype === "int32" ? t : astype(t, "int32", t.aval.weak);
  };
  const lo = bound(lower, "lower"), hi = bound(upper, "upper");
  if (lo.isConcrete && hi.isConcrete) {
    const length = Math.max(0, Number(hi.item()) - Number(lo.item()));
    const [[, out]] = (scan as unknown as LooseScan)(
      ([i, val]: [Tensor, unknown]) => [[add(i, 1), bodyFn(i, val as Tensorize<T>)], null],
      [lo, initVal],
      null,
      { length },
    ) as [[Tensor, unknown], null];
    return out as Tensorize<T>;
  }
  const [, , out] = (whileLoop as unknown as LooseWhile)(
    ([i, u]: Tensor[]) => less(i, u),
    ([i, u, val]: [Tensor, Tensor, unknown]) => [add(i, 1), u, bodyFn(i, val as Tensorize<T>)],
    [lo, hi, initVal],
  ) as [Tensor, Tensor, unknown];
  return out as Tensorize<T>;
}
