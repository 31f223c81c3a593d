/**
 * What the fused-kernel generators (C: `jit/cpu/loop_codegen.ts`, CUDA:
 * `jit/cuda/kernel_codegen.ts`) share: a stack of scopes (one per loop level, the preamble
 * first), every value a `const` temporary placed in the innermost scope its loop variables
 * allow (so loop-invariant work is hoisted), a cache of values by var and index forms, and the
 * parts of the DAG walk that read the same in both languages: literals, buffer loads, views,
 * reshapes of buffers, iota, converts, selects and elementwise ops. How scopes become loops
 * (and how reductions are laid out) is each generator's own.
 * @module
 */

import type { DType } from "../core/dtype.ts";
import { type Atom, type Eqn, Literal, type Var } from "../core/graph.ts";
import { stridesOf } from "../core/shape.ts";
import { type Affine, constant, formKey, linear, single } from "./index_map.ts";
import type { Buf, PlanContext } from "./cpu/plan.ts";
import { binaryC, convertC, literalC, unaryC } from "./cpu/scalar_ops.ts";

/** Thrown when a value should be materialized instead of fused; the planner retries. */
export class Refuse extends Error {
  /** `v`: the value to materialize; `why`: for the message. */
  constructor(readonly v: Var, why: string) {
    super(`refuse fusing: ${why}`);
  }
}

/** A generated value: its expression (a temporary or a literal) and the loop vars it uses. */
export interface Value {
  code: string;
  deps: Set<number>;
}

/** A scope's own statements; generators add what their loops need (vars, extents). */
export interface ScopeLines {
  lines: string[];
}

/** The reduction primitives and their operators. */
export type ReduceOp = "+" | "*" | "max" | "min";
/** The operator of each reduction primitive. */
export const RED_OPS: Record<string, ReduceOp> = {
  reduce_sum: "+",
  reduce_prod: "*",
  reduce_max: "max",
  reduce_min: "min",
};

/** The C literal a reduction's accumulator starts from (the operator's identity on `dtype`). */
export function reduceIdentity(op: ReduceOp, dtype: DType): string {
  if (op === "+") return "0";
  if (op === "*") return "1";
  const isF = dtype === "float32" || dtype === "float64";
  return literalC(
    op === "max"
      ? (isF ? -Infinity : dtype === "int32" ? -2147483648 : 0)
      : (isF ? Infinity : dtype === "int32" ? 2147483647 : dtype === "uint32" ? 4294967295 : 1),
    dtype,
  );
}

/** The loop vars any of `values` depends on. */
export function union(...values: Value[]): Set<number> {
  const s = new Set<number>();
  for (const v of values) for (const d of v.deps) s.add(d);
  return s;
}

/** Indents every non-empty line by two spaces. */
export function indent(text: string): string {
  return text.split("\n").map((l) => (l ? "  " + l : l)).join("\n");
}

/** The scaffolding of a kernel generator storing `roots` (all of one shape) into buffers. */
export abstract class KernelScopes<S extends ScopeLines> {
  /** Scope 0 is the preamble (outside every loop); scope s > 0 is nested in s - 1. */
  protected readonly scopes: S[];
  /** The scope of each live loop var. */
  protected readonly scopeOfVar = new Map<number, number>();
  /** Values by key (a var or buffer and its index forms), with the scope they live in. */
  protected readonly cache = new Map<string, Value & { scope: number }>();
  protected nextVar = 0;
  protected nextTemp = 0;
  /** Buffers read, with the set of index forms of their loads (donation checks). */
  protected readonly loads = new Map<Buf, Set<string>>();
  /** Every index form generated. */
  protected readonly forms: Affine[] = [];
  /** Summary of the fused ops. */
  protected readonly ops: string[] = [];

  /** `preamble`: the scope outside every loop. */
  constructor(
    protected readonly ctx: PlanContext,
    protected readonly name: string,
    protected readonly roots: Var[],
    preamble: S,
  ) {
    this.scopes = [preamble];
  }

  /** The value of `v` (the output of an equation) at index forms `idx`. */
  protected abstract genEqnOutput(v: Var, idx: Affine[]): Value;
  /** The element type of `dtype` in the target language; throws if it has none. */
  protected abstract elementType(dtype: DType, what: string): string;
  /** The error for an elementwise op with no lowering on `dtype`. */
  protected abstract unsupported(op: string, dtype: DType): Error;

  /** Opens a scope nested in the innermost one, binding loop vars `vars` to it. */
  protected pushScope(scope: S, vars: readonly number[]): void {
    this.scopes.push(scope);
    for (const v of vars) this.scopeOfVar.set(v, this.scopes.length - 1);
  }

  /** Closes scopes `base..`: their loop vars and the values cached in them are gone. */
  protected dropScopes(base: number): void {
    for (const [k, e] of this.cache) if (e.scope >= base) this.cache.delete(k);
    for (const [v, s] of this.scopeOfVar) if (s >= base) this.scopeOfVar.delete(v);
    this.scopes.length = base;
  }

  /** Whether loop var `v` is bound (kernel vars that are not a group's last never are). */
  protected isLive(v: number): boolean {
    return this.scopeOfVar.has(v);
  }

  /** An index form as an expression of the loop vars `iN`. */
  protected render(f: Affine): string {
    const parts: string[] = [];
    for (const [v, c] of f.t) {
      if (c === 0 || !this.isLive(v)) continue;
      parts.push(c === 1 ? `i${v}` : `${c} * i${v}`);
    }
    if (f.c !== 0 || parts.length === 0) parts.unshift(String(f.c));
    return parts.join(" + ");
  }

  /** The live loop vars the forms use. */
  protected depsOf(...forms: Affine[]): Set<number> {
    const deps = new Set<number>();
    for (const f of forms) for (const [v, c] of f.t) if (c !== 0 && this.isLive(v)) deps.add(v);
    return deps;
  }

  /** The innermost scope any of `deps` is bound in (0 when none). */
  protected scopeFor(deps: Set<number>): number {
    let s = 0;
    for (const v of deps) s = Math.max(s, this.scopeOfVar.get(v)!);
    return s;
  }

  /** `const type tN = expr;` in the scope `deps` allow, cached under `key` when given. */
  protected emit(type: string, expr: string, deps: Set<number>, key?: string): Value {
    const scope = this.scopeFor(deps);
    const name = `t${this.nextTemp++}`;
    this.scopes[scope].lines.push(`const ${type} ${name} = ${expr};`);
    const value = { code: name, deps };
    if (key !== undefined) this.cache.set(key, { ...value, scope });
    return value;
  }

  /** The cache key of var `v` at index forms `idx`. */
  protected valueKey(v: Var, idx: Affine[]): string {
    return `v${v.id}@${idx.map(formKey).join(",")}`;
  }

  /** The value of an atom at index forms `idx`: a literal, a load, or a fused expression. */
  protected gen(atom: Atom, idx: Affine[]): Value {
    if (atom instanceof Literal) {
      const uniform = this.ctx.uniformValue(atom);
      if (uniform !== undefined) {
        this.elementType(atom.aval.dtype, "a constant");
        return { code: literalC(uniform, atom.aval.dtype), deps: new Set() };
      }
      const addr = linear(idx, stridesOf(atom.aval.shape));
      return this.load(this.ctx.constBuf(atom), atom.aval.dtype, addr);
    }
    const buf = this.ctx.bufOf(atom);
    // a root of this kernel is computed here, never read back before its store
    if (buf !== undefined && !this.roots.includes(atom)) {
      return this.load(buf, atom.aval.dtype, linear(idx, stridesOf(atom.aval.shape)));
    }
    return this.genEqnOutput(atom, idx);
  }

  /** A load of `buf` at flat index `addr` (one per buffer and index form). */
  protected load(buf: Buf, dtype: DType, addr: Affine): Value {
    this.forms.push(addr);
    const key = `${buf.name}@${formKey(addr)}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let set = this.loads.get(buf);
    if (!set) this.loads.set(buf, set = new Set());
    set.add(formKey(addr));
    const T = this.elementType(dtype, "a load");
    return this.emit(T, `${buf.name}[${this.render(addr)}]`, this.depsOf(addr), key);
  }

  /** The operands of an elementwise op, each at `idx`. */
  protected genArgs(inputs: Atom[], idx: Affine[]): Value[] {
    return inputs.map((input) => this.gen(input, idx));
  }

  /**
   * The operand index of a reduction's operand: kept axes read `idx`, reduced unit axes 0,
   * and each other reduced axis a new loop var, passed to `bind` with its extent in order.
   */
  protected reducedIndex(
    idx: Affine[],
    shape: readonly number[],
    axes: readonly number[],
    bind: (loopVar: number, extent: number) => void,
  ): Affine[] {
    const xi: Affine[] = [];
    let kept = 0;
    shape.forEach((d, i) => {
      if (!axes.includes(i)) xi.push(idx[kept++]);
      else if (d === 1) xi.push(constant(0));
      else {
        const rv = this.nextVar++;
        bind(rv, d);
        xi.push(single(rv));
      }
    });
    return xi;
  }

  /**
   * The value of `v` (output of `eqn`) when `eqn` is neither a view nor a reduction: a reshape
   * of a buffer (reinterpreted row-major), iota, stop_gradient, a convert, a select, or an
   * elementwise op.
   */
  protected genScalarOp(eqn: Eqn, v: Var, idx: Affine[], key: string): Value {
    const name = eqn.prim.name;
    const x = eqn.inputs[0];
    const dtype = v.aval.dtype;
    const T = this.elementType(dtype, name);
    switch (name) {
      case "reshape": {
        // not a unit reshape: the operand is a buffer (the planner guarantees it)
        const flat = linear(idx, stridesOf(v.aval.shape));
        if (x instanceof Literal && this.ctx.uniformValue(x) !== undefined) return this.gen(x, []);
        const buf = x instanceof Literal ? this.ctx.constBuf(x) : this.ctx.bufOf(x);
        if (!buf) throw new Refuse(x as Var, "reshape of a fused value");
        return this.load(buf, dtype, flat);
      }
      case "iota": {
        const f = idx[(eqn.params as { dimension: number }).dimension];
        this.forms.push(f);
        return this.emit(T, `(${T})(${this.render(f)})`, this.depsOf(f), key);
      }
      case "stop_gradient":
        return this.gen(x, idx);
      case "convert_element_type": {
        const a = this.gen(x, idx);
        this.elementType(x.aval.dtype, name);
        this.ops.push("convert");
        return this.emit(T, convertC(x.aval.dtype, dtype, a.code), a.deps, key);
      }
      case "select": {
        const [c, a, b] = this.genArgs(eqn.inputs, idx);
        this.ops.push("select");
        return this.emit(T, `(${c.code} ? ${a.code} : ${b.code})`, union(c, a, b), key);
      }
    }
    const args = this.genArgs(eqn.inputs, idx);
    const inT = x.aval.dtype;
    this.elementType(inT, name);
    const expr = args.length === 1
      ? unaryC(name, inT, args[0].code)
      : binaryC(name, inT, args[0].code, args[1].code);
    if (expr === undefined) throw this.unsupported(name, inT);
    this.ops.push(name);
    return this.emit(T, expr, union(...args), key);
  }
}
