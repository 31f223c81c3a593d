/**
 * C code for one fused loop kernel: a loop nest over the output shape evaluating a DAG of
 * elementwise primitives. Leaves are loads from buffers through affine index maps (so
 * broadcast, transpose, slice, rev, reshape-of-a-buffer and iota are index arithmetic), and
 * reductions are nodes with their own inner loops. Every value is a `const` temporary placed
 * in the outermost loop it depends on, so loop-invariant work is hoisted: a row reduction
 * that feeds an elementwise epilogue (softmax) runs once per row inside the same kernel.
 * The scope stack, value cache and the walk of non-reduction ops are shared with the CUDA
 * generator (`jit/kernel_scopes.ts`); the loop nest, OpenMP pragmas and reductions are C's.
 * @module
 */

import type { DType } from "../../core/dtype.ts";
import { type Atom, Literal, type Var } from "../../core/graph.ts";
import { sizeOf, stridesOf } from "../../core/shape.ts";
import { type Affine, constant, formKey, linear, single, viewOperandIndex } from "../index_map.ts";
import {
  indent,
  KernelScopes,
  RED_OPS,
  reduceIdentity,
  Refuse,
  type ScopeLines,
  type Value,
} from "../kernel_scopes.ts";
import { CTYPE, EXPENSIVE } from "./scalar_ops.ts";
import type { Buf, PlanContext } from "./plan.ts";

// the planners (cpu steps, cuda program) catch it from here
export { Refuse };

interface Scope extends ScopeLines {
  loopVar: number; // -1 for the preamble
  extent: number;
}

/** The generated kernel and what it touched. */
export interface LoopKernelCode {
  /** The C function (buffer pointers are declared by {@link declareBuffers}). */
  body: string;
  /** Buffers read, with the set of index forms of their loads (donation checks). */
  loads: Map<Buf, Set<string>>;
  /** Index form of the stores. */
  storeForm: string;
  /** Summary of the fused ops, for groups(). */
  ops: string[];
  /** Whether it contains reduction loops. */
  hasReduce: boolean;
  /** Every index form generated (used to merge contiguous axes). */
  forms: Affine[];
}

/** Generates one loop kernel storing `roots` (all of one shape) into their buffers. */
export class LoopGen extends KernelScopes<Scope> {
  private readonly kernelVars: number[] = [];
  private hasReduce = false;
  private work = 0;
  private expensive = false;
  /** Inside a row reduction: expensive values are kept in a row buffer for the epilogue. */
  private capture: { rv: number; kv: number; extent: number; scope: number } | null = null;
  private readonly rowValues = new Map<string, string>();
  /** Representative axis of each kernel axis when contiguous axes are merged. */
  private rep: number[] = [];

  /** `merge`: contiguous output axes merged into one loop each (see {@link mergeGroups}). */
  constructor(
    ctx: PlanContext,
    name: string,
    roots: Var[],
    private readonly merge: number[][] | null,
  ) {
    super(ctx, name, roots, { loopVar: -1, extent: 1, lines: [] });
  }

  /** Generates the kernel. */
  generate(): LoopKernelCode {
    const shape = this.roots[0].aval.shape;
    const n = shape.length;
    // kernel axes: one loop per non-unit axis (or per merged group)
    const idx: Affine[] = shape.map(() => constant(0));
    const groups = this.merge ?? shape.map((_, i) => [i]).filter(([i]) => shape[i] !== 1);
    this.rep = new Array(n).fill(-1);
    for (const g of groups) {
      const v = this.nextVar++;
      this.kernelVars.push(v);
      const extent = g.reduce((a, k) => a * shape[k], 1);
      this.pushLoop(v, extent);
      // within a group, axis k's index is (v / inner) % D: only the sum over the group is
      // used, and it is affine in v when the axes merge (checked by the caller)
      const last = g[g.length - 1];
      idx[last] = single(v);
      for (const k of g) this.rep[k] = last;
    }
    this.work = sizeOf(shape);
    const storeForm = linear(idx, stridesOf(shape));
    this.forms.push(storeForm);
    const stores: string[] = [];
    for (const root of this.roots) {
      const value = this.genEqnOutput(root, idx);
      const buf = this.ctx.bufOf(root)!;
      stores.push(`${buf.name}[${this.render(storeForm)}] = ${value.code};`);
    }
    this.scopes[this.scopes.length - 1].lines.push(...stores);
    // render the loop nest from the innermost scope out
    const threshold = this.expensive ? 1 << 16 : 1 << 17;
    const parallel = this.work > threshold && groups.length > 0;
    let text = "";
    for (let s = this.scopes.length - 1; s >= 1; s--) {
      const scope = this.scopes[s];
      const inner = [...scope.lines, text].filter((l) => l !== "").join("\n");
      const simd = s === this.scopes.length - 1 && !inner.includes("for (");
      const outer = s === 1;
      const pragma = outer && parallel
        ? `#pragma omp parallel for${simd ? " simd" : ""} schedule(static)\n`
        : simd
        ? "#pragma omp simd\n"
        : "";
      const v = `i${scope.loopVar}`;
      text = `${pragma}for (int64_t ${v} = 0; ${v} < ${scope.extent}; ${v}++) {\n${
        indent(inner)
      }\n}`;
    }
    const body = [...this.scopes[0].lines, text].filter((l) => l !== "").join("\n");
    return {
      body: `static void ${this.name}(void* const* P) {\n@DECLS@\n${indent(body)}\n}`,
      loads: this.loads,
      storeForm: formKey(storeForm),
      ops: this.ops,
      hasReduce: this.hasReduce,
      forms: this.forms,
    };
  }

  /** Opens the loop of `loopVar` over `extent`, nested in the innermost one. */
  private pushLoop(loopVar: number, extent: number): void {
    this.pushScope({ loopVar, extent, lines: [] }, [loopVar]);
  }

  protected elementType(dtype: DType): string {
    return CTYPE[dtype];
  }

  protected unsupported(op: string, dtype: DType): Error {
    return new Error(`jit cpu: no C lowering of ${op} on ${dtype}`);
  }

  protected genEqnOutput(v: Var, idx: Affine[]): Value {
    const key = this.valueKey(v, idx);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const row = this.rowValues.get(key);
    if (row !== undefined) {
      const kv = this.kernelVars[this.kernelVars.length - 1];
      return this.emit(CTYPE[v.aval.dtype], `${row}[i${kv}]`, this.depsOf(...idx), key);
    }
    const eqn = this.ctx.producer(v)!;
    const name = eqn.prim.name;
    const x = eqn.inputs[0];
    const T = CTYPE[v.aval.dtype];
    let value: Value;
    const view = viewOperandIndex(eqn, idx);
    if (view !== undefined) {
      const broadcast = name === "broadcast_in_dim" && sizeOf(x.aval.shape) < sizeOf(v.aval.shape);
      if (broadcast) this.checkRecompute(x, view);
      value = this.gen(x, view);
    } else if (Object.hasOwn(RED_OPS, name)) value = this.genReduce(v, idx, key);
    else {
      value = this.genScalarOp(eqn, v, idx, key);
      if (EXPENSIVE.has(name)) this.expensive = true;
    }
    this.cache.set(key, { ...value, scope: this.scopeFor(value.deps) });
    const c = this.capture;
    if (c && EXPENSIVE.has(name) && value.deps.has(c.rv)) {
      // keep it for the epilogue, which reads it at the kernel's innermost index
      const buf = `row${this.nextTemp++}`;
      this.scopes[c.scope].lines.push(`${T} ${buf}[${c.extent}];`);
      this.scopes[this.scopes.length - 1].lines.push(`${buf}[i${c.rv}] = ${value.code};`);
      const sub = (f: Affine): Affine => {
        const t = new Map(f.t);
        const co = t.get(c.rv);
        if (co !== undefined) {
          t.delete(c.rv);
          t.set(c.kv, (t.get(c.kv) ?? 0) + co);
        }
        return { c: f.c, t };
      };
      this.rowValues.set(this.valueKey(v, idx.map(sub)), buf);
    }
    return value;
  }

  /** Generates operands, those containing reductions first (their rows may be captured). */
  protected override genArgs(inputs: Atom[], idx: Affine[]): Value[] {
    const out = new Array<Value>(inputs.length);
    const order = inputs.map((_, i) => i);
    order.sort((a, b) => this.ctx.reduceDepth(inputs[b]) - this.ctx.reduceDepth(inputs[a]));
    for (const i of order) out[i] = this.gen(inputs[i], idx);
    return out;
  }

  /**
   * A broadcast re-reads its operand at the same index many times; that is free for a load
   * but not for an expensive fused expression unless the value is hoisted (computed once
   * per distinct index).
   */
  private checkRecompute(x: Atom, xi: Affine[]): void {
    if (x instanceof Literal || this.ctx.bufOf(x) !== undefined) return;
    if (this.evaluatedOnce(xi, sizeOf(x.aval.shape))) return;
    if (this.ctx.isExpensive(x)) throw new Refuse(x, "broadcast of an expensive value");
  }

  /** Whether a value at these index forms is computed once per element (hoisted). */
  private evaluatedOnce(forms: Affine[], size: number): boolean {
    const deps = this.depsOf(...forms);
    for (const d of deps) if (!this.kernelVars.includes(d)) return false;
    const level = this.scopeFor(deps);
    let count = 1;
    for (let s = 1; s <= level; s++) count *= this.scopes[s].extent;
    return count === size;
  }

  /**
   * A sum or product over outer axes of an operand whose last axis is the kernel's innermost
   * (contiguous) axis, e.g. the column sums of bias gradients. Reducing one output element
   * at a time would walk the operand with a large stride; instead the whole row of
   * accumulators is kept in an array and the operand is read row by row, contiguously and
   * vectorized, once per iteration of the enclosing kernel loops. Each accumulator still adds
   * its terms in index order. Returns undefined when the pattern does not apply.
   */
  private genColumnReduce(
    v: Var,
    idx: Affine[],
    key: string,
    level: number,
    op: string,
    accT: string,
    init: string,
  ): Value | undefined {
    const eqn = this.ctx.producer(v)!;
    const x = eqn.inputs[0];
    const axes = (eqn.params as { axes: number[] }).axes;
    const shape = x.aval.shape, last = shape.length - 1;
    const k = this.kernelVars.length;
    if (k === 0 || level !== k || this.scopes.length !== k + 1 || this.capture) return undefined;
    if (last < 1 || axes.includes(last) || !axes.some((a) => shape[a] > 1)) return undefined;
    const kv = this.kernelVars[k - 1];
    const extent = this.scopes[k].extent;
    const lastForm = idx[idx.length - 1];
    if (extent !== shape[last] || extent > COLUMN_ACC_MAX || lastForm.c !== 0) return undefined;
    if ([...lastForm.t].some(([u, c]) => c !== 0 && (u !== kv || c !== 1))) return undefined;
    if (idx.slice(0, -1).some((f) => (f.t.get(kv) ?? 0) !== 0)) return undefined;
    this.hasReduce = true;
    const T = CTYPE[x.aval.dtype];
    const acc = `a${this.nextTemp++}`;
    const outer = this.scopes[k - 1].lines;
    outer.push(`${accT} ${acc}[${extent}];`);
    outer.push(`#pragma omp simd\nfor (int64_t j = 0; j < ${extent}; j++) ${acc}[j] = ${init};`);
    // the innermost kernel loop steps aside while the reduction loops are generated
    const inner = this.scopes.splice(k);
    this.scopeOfVar.delete(kv);
    const base = this.scopes.length;
    let terms = 1;
    const xi = this.reducedIndex(idx, shape, axes, (rv, d) => {
      this.pushLoop(rv, d);
      terms *= d;
    });
    const cv = this.nextVar++;
    this.pushLoop(cv, extent);
    xi[last] = single(cv);
    let count = 1;
    for (let s = 1; s < k; s++) count *= this.scopes[s].extent;
    this.work += count * extent * terms;
    const val = this.gen(x, xi);
    const vcode = accT === T ? val.code : `(${accT})${val.code}`;
    this.scopes[this.scopes.length - 1].lines.push(`${acc}[i${cv}] ${op}= ${vcode};`);
    let text = "";
    for (let s = this.scopes.length - 1; s >= base; s--) {
      const scope = this.scopes[s];
      const body = [...scope.lines, text].filter((l) => l !== "").join("\n");
      const lv = `i${scope.loopVar}`;
      text = `${
        s === this.scopes.length - 1 ? "#pragma omp simd\n" : ""
      }for (int64_t ${lv} = 0; ${lv} < ${scope.extent}; ${lv}++) {\n${indent(body)}\n}`;
    }
    this.dropScopes(base);
    outer.push(text);
    this.scopes.push(...inner);
    this.scopeOfVar.set(kv, k);
    this.ops.push(eqn.prim.name.replace("reduce_", "r"));
    const resT = CTYPE[v.aval.dtype];
    return this.emit(resT, `(${resT})${acc}[i${kv}]`, this.depsOf(...idx), key);
  }

  private genReduce(v: Var, idx: Affine[], key: string): Value {
    if (this.merge) throw new Error("jit cpu: reductions are not generated with merged axes");
    const eqn = this.ctx.producer(v)!;
    const x = eqn.inputs[0];
    const axes = (eqn.params as { axes: number[] }).axes;
    if (!this.evaluatedOnce(idx, sizeOf(v.aval.shape))) {
      throw new Refuse(v, "reduction not hoistable");
    }
    this.hasReduce = true;
    const op = RED_OPS[eqn.prim.name];
    const dtype = x.aval.dtype, T = CTYPE[dtype];
    const isF = dtype === "float32" || dtype === "float64";
    const accT = isF && (op === "+" || op === "*")
      ? "double"
      : dtype === "int32" && (op === "+" || op === "*")
      ? "uint32_t"
      : T;
    const init = reduceIdentity(op, dtype);
    const level = this.scopeFor(this.depsOf(...idx));
    if (op === "+" || op === "*") {
      const column = this.genColumnReduce(v, idx, key, level, op, accT, init);
      if (column) return column;
    }
    const acc = `a${this.nextTemp++}`;
    const nan = `n${acc}`;
    const outer = this.scopes[level].lines;
    outer.push(`${accT} ${acc} = ${init};`);
    if (isF && (op === "max" || op === "min")) outer.push(`int ${nan} = 0;`);
    // loops over the reduced axes (unit axes are index 0)
    const base = this.scopes.length;
    let extent = 1;
    const xi = this.reducedIndex(idx, x.aval.shape, axes, (rv, d) => {
      this.pushLoop(rv, d);
      extent *= d;
    });
    const count = (() => {
      let c = 1;
      for (let s = 1; s <= level; s++) c *= this.scopes[s].extent;
      return c;
    })();
    this.work += count * extent;
    const pushed = this.scopes.length - base;
    const kScopes = this.kernelVars.length;
    const saved = this.capture;
    const lastExtent = kScopes > 0 ? this.scopes[kScopes].extent : 0;
    this.capture = pushed === 1 && level === kScopes - 1 && extent === lastExtent && extent <= 16384
      ? { rv: this.scopes[base].loopVar, kv: this.kernelVars[kScopes - 1], extent, scope: level }
      : null;
    const val = this.gen(x, xi);
    this.capture = saved;
    const vcode = accT === T ? val.code : `(${accT})${val.code}`;
    // float32 sums: the innermost loop adds blocks in float (vector lanes), each block's sum
    // is then added to the double accumulator (see SUM_BLOCK)
    const blocked = dtype === "float32" && op === "+" && this.scopes.length > base;
    const part = `${acc}f`;
    let update: string;
    let clause: string;
    if (blocked) {
      update = `${part} += ${val.code};`;
      clause = `reduction(+:${acc})`;
    } else if (op === "+" || op === "*") {
      update = `${acc} ${op}= ${vcode};`;
      clause = `reduction(${op}:${acc})`;
    } else {
      const cmp = op === "max" ? ">" : "<";
      update = `${acc} = ${val.code} ${cmp} ${acc} ? ${val.code} : ${acc};`;
      clause = `reduction(${op}:${acc})`;
      if (isF) {
        update += ` ${nan} |= ${val.code} != ${val.code};`;
        clause += ` reduction(|:${nan})`;
      }
    }
    const target = this.scopes.length > base ? this.scopes.length - 1 : level;
    this.scopes[target].lines.push(update);
    // close the reduction loops, innermost first
    const parallel = level === 0 && count * extent > (1 << 17);
    let text = "";
    for (let s = this.scopes.length - 1; s >= base; s--) {
      const scope = this.scopes[s];
      const inner = [...scope.lines, text].filter((l) => l !== "").join("\n");
      const innermost = s === this.scopes.length - 1;
      const pragmas: string[] = [];
      if (s === base && parallel) pragmas.push(`#pragma omp parallel for ${clause}`);
      if (innermost) pragmas.push(`#pragma omp simd ${clause}`);
      if (s === base && parallel && innermost) {
        pragmas.splice(0, 2, `#pragma omp parallel for simd ${clause}`);
      }
      const lv = `i${scope.loopVar}`;
      if (blocked && innermost) {
        text = blockedSum(lv, scope.extent, inner, acc, part, s === base && parallel ? clause : "");
        continue;
      }
      text = `${
        pragmas.map((p) => p + "\n").join("")
      }for (int64_t ${lv} = 0; ${lv} < ${scope.extent}; ${lv}++) {\n${indent(inner)}\n}`;
    }
    this.dropScopes(base);
    if (text) outer.push(text);
    this.ops.push(eqn.prim.name.replace("reduce_", "r"));
    const result = isF && (op === "max" || op === "min")
      ? `(${nan} ? (${T})NAN : ${acc})`
      : `(${T})${acc}`;
    return this.emit(T, result, this.depsOf(...idx), key);
  }
}

/**
 * Elements per block of a float32 sum's innermost loop. A block is added in float, in the
 * vector lanes of `omp simd` (16 with AVX-512, so 64 terms per lane), and each block's sum goes
 * to a double accumulator: the relative error stays ~1e-7 however long the row, and the loop
 * needs no float-to-double conversions, which cost as much as the adds on AVX-512 (a float
 * accumulator doubles the lanes per instruction too).
 */
const SUM_BLOCK = 1024;

/**
 * The innermost loop of a blocked float32 sum: `body` adds its term to `part`, each block's
 * `part` is added to `acc`. `parallel` is the reduction clause when the loop is also the
 * parallel one.
 */
function blockedSum(
  lv: string,
  extent: number,
  body: string,
  acc: string,
  part: string,
  parallel: string,
): string {
  const simd = `#pragma omp simd reduction(+:${part})`;
  if (extent <= SUM_BLOCK && !parallel) {
    const loop = `for (int64_t ${lv} = 0; ${lv} < ${extent}; ${lv}++) {\n${indent(body)}\n}`;
    return `{\n  float ${part} = 0;\n${indent(`${simd}\n${loop}`)}\n  ${acc} += ${part};\n}`;
  }
  const b = `${lv}b`;
  const end = extent % SUM_BLOCK === 0
    ? `${b} + ${SUM_BLOCK}`
    : `(${b} + ${SUM_BLOCK} < ${extent} ? ${b} + ${SUM_BLOCK} : ${extent})`;
  const loop = `for (int64_t ${lv} = ${b}; ${lv} < ${end}; ${lv}++) {\n${indent(body)}\n}`;
  return `${
    parallel ? `#pragma omp parallel for ${parallel}\n` : ""
  }for (int64_t ${b} = 0; ${b} < ${extent}; ${b} += ${SUM_BLOCK}) {\n  float ${part} = 0;\n${
    indent(`${simd}\n${loop}`)
  }\n  ${acc} += ${part};\n}`;
}

/** The extent up to which a column reduction keeps its accumulators in a stack array. */
const COLUMN_ACC_MAX = 4096;

/** Contiguous groups of non-unit axes that every index form lets merge into one loop. */
export function mergeGroups(shape: readonly number[], forms: Affine[]): number[][] {
  // in a kernel generated without merging, non-unit axis k has loop var (its rank among them)
  const axes = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const groups: number[][] = [];
  axes.forEach((k, r) => {
    const g = groups[groups.length - 1];
    if (g && forms.every((f) => (f.t.get(r - 1) ?? 0) === (f.t.get(r) ?? 0) * shape[k])) g.push(k);
    else groups.push([k]);
  });
  return groups;
}
