/**
 * CUDA C for one fused loop kernel of the CPU planner's plan (`jit/cpu/plan.ts`): the same
 * roots, the same DAG of elementwise primitives, the same affine index maps for views, the
 * same scalar expressions (`jit/cpu/scalar_ops.ts`); only the loop structure is the GPU's.
 *
 * Kernel axes (the output's non-unit axes, or merged groups of them) each get a scope while the
 * DAG is generated, and every value is a `const` temporary placed in the innermost scope it
 * depends on, as in the C generator (the scaffolding both share: `jit/kernel_scopes.ts`).
 * Rendering then maps the scopes onto one of two shapes:
 *
 * - flat: a grid-stride loop over the output elements, one thread per element; reductions (if
 *   any) run serially in each thread. Used for elementwise kernels and for reductions whose
 *   output is the whole kernel and that do not reduce the operand's contiguous axis (column
 *   sums: adjacent threads then read adjacent elements).
 * - block: the first B kernel axes ("rows") are spread over blocks (a grid-stride loop over
 *   rows), the rest over the threads of a block. Reductions, all hoisted to the row level,
 *   are computed cooperatively: each thread folds a strided part, then a block reduction
 *   combines them and every thread receives the result for the row's epilogue (softmax: max,
 *   sum of exp, and the normalized outputs in one kernel). A kernel of one row whose lone
 *   reduction is long (a global sum or mean) becomes a grid reduction instead: every block
 *   folds a strided share, and the last block to finish combines the partials (module-scope
 *   `__device__` arrays, its count reset for the next launch) and runs the epilogue.
 * @module
 */

import type { DType } from "../../core/dtype.ts";
import type { Var } from "../../core/graph.ts";
import { sizeOf, stridesOf } from "../../core/shape.ts";
import { type Affine, constant, formKey, linear, single, viewOperandIndex } from "../index_map.ts";
import {
  indent,
  KernelScopes,
  RED_OPS,
  reduceIdentity,
  type ScopeLines,
  type Value,
} from "../kernel_scopes.ts";
import type { Buf, PlanContext } from "../cpu/plan.ts";
import { accumulatorType, cudaType, REDUCE_FUNCTOR } from "./prelude.ts";

/** How a kernel is laid out on the GPU. */
export interface KernelLayout {
  /** Block axes (rows) for the block shape; null for the flat shape. */
  blockAxes: number | null;
  /** Contiguous groups of output axes merged into one kernel axis (flat shape only). */
  merge: number[][] | null;
}

/** A reduction hoisted to a kernel scope (not nested in another reduction's loop). */
export interface ReductionInfo {
  v: Var;
  /** The scope its result lives in: the number of leading kernel axes it depends on. */
  level: number;
  /** Whether it leaves the operand's last non-unit axis alone (a column reduction). */
  column: boolean;
  /** Number of terms per result. */
  extent: number;
}

/** The generated kernel and what it touched. */
export interface CudaKernelCode {
  /**
   * The `__global__` function; `@TABLE@` stands for the pointer table's type and `@DECLS@`
   * for the buffer pointer declarations.
   */
  text: string;
  shape: "flat" | "block";
  /** Work items: output elements (flat) or rows (block). */
  items: number;
  /** Threads per block. */
  threads: number;
  loads: Map<Buf, Set<string>>;
  storeForm: string;
  forms: Affine[];
  ops: string[];
  reductions: ReductionInfo[];
  /** One row's lone reduction spread over the grid (launched flat over its terms). */
  gridReduction: boolean;
}

/** A kernel axis (one var) or a reduction's axes (one flattened counter). */
interface Scope extends ScopeLines {
  vars: number[];
  extents: number[];
}

/** Index arithmetic in 32 bits when every extent and buffer is below this many elements. */
const INT32_INDEX_LIMIT = 2 ** 30;
/** A kernel of one row whose lone reduction has this many terms spreads it over the grid. */
const GRID_REDUCTION_MIN = 1 << 16;
/** The most blocks a grid reduction launches (its partials array; `launchGrid` caps it). */
export const GRID_REDUCTION_MAX_BLOCKS = 8192;

/** Generates one CUDA kernel storing `roots` (all of one shape) into their buffers. */
export class CudaLoopGen extends KernelScopes<Scope> {
  private readonly reductions: ReductionInfo[] = [];
  private axes = 0;
  private cooperative = false;
  private cooperativeExtent = 1;
  /** The cooperative reductions' accumulators (a lone one may become a grid reduction). */
  private readonly cooperativeReductions: {
    acc: string;
    accT: string;
    functor: string;
    identity: string;
  }[] = [];
  /** Whether renderBlock made the kernel a grid reduction (many blocks, then the last). */
  private gridReduction = false;
  private largest = 1;

  /** `layout`: flat or block, and the merged axes (chosen by the program renderer). */
  constructor(
    ctx: PlanContext,
    name: string,
    roots: Var[],
    private readonly layout: KernelLayout,
  ) {
    super(ctx, name, roots, { vars: [], extents: [], lines: [] });
  }

  /** Generates the kernel. */
  generate(): CudaKernelCode {
    const shape = this.roots[0].aval.shape;
    const idx: Affine[] = shape.map(() => constant(0));
    const groups = this.layout.merge ??
      shape.map((_, i) => [i]).filter(([i]) => shape[i] !== 1);
    for (const g of groups) {
      const v = this.nextVar++;
      const extent = g.reduce((a, k) => a * shape[k], 1);
      this.pushScope({ vars: [v], extents: [extent], lines: [] }, [v]);
      idx[g[g.length - 1]] = single(v);
    }
    const axes = this.axes = this.scopes.length - 1;
    const storeForm = linear(idx, stridesOf(shape));
    this.forms.push(storeForm);
    const stores = this.roots.map((root) => {
      const value = this.genEqnOutput(root, idx);
      return `${this.ctx.bufOf(root)!.name}[${this.render(storeForm)}] = ${value.code};`;
    });
    this.largest = Math.max(this.largest, sizeOf(shape));
    const B = this.layout.blockAxes;
    const text = B === null ? this.renderFlat(axes, stores) : this.renderBlock(B, axes, stores);
    // a grid reduction launches like a flat kernel over its reduction's terms
    const items = B === null
      ? this.extentOf(1, axes)
      : this.gridReduction
      ? this.cooperativeExtent
      : this.extentOf(1, B);
    // 32-bit index arithmetic when every extent and buffer stays below 2^30 elements
    const index = this.largest < INT32_INDEX_LIMIT ? "int" : "int64_t";
    return {
      text: text.text.replaceAll("@I@", index),
      shape: B === null || this.gridReduction ? "flat" : "block",
      gridReduction: this.gridReduction,
      items,
      threads: text.threads,
      loads: this.loads,
      storeForm: formKey(storeForm),
      forms: this.forms,
      ops: this.ops,
      reductions: this.reductions,
    };
  }

  private extentOf(from: number, to: number): number {
    let n = 1;
    for (let s = from; s <= to; s++) n *= this.scopes[s].extents[0];
    return n;
  }

  private renderFlat(axes: number, stores: string[]): { text: string; threads: number } {
    const I = "@I@", n = this.extentOf(1, axes);
    const body = [
      ...this.decompose("e", 1, axes),
      ...this.linesOf(1, axes),
      ...stores,
    ];
    const loop =
      `for (${I} e = (${I})blockIdx.x * (${I})blockDim.x + (${I})threadIdx.x; e < ${n}; ` +
      `e += (${I})gridDim.x * (${I})blockDim.x) {\n${indent(body.join("\n"))}\n}`;
    return { text: this.kernel(256, [...this.scopes[0].lines, loop]), threads: 256 };
  }

  private renderBlock(
    B: number,
    axes: number,
    stores: string[],
  ): { text: string; threads: number } {
    const I = "@I@";
    const rows = this.extentOf(1, B), inner = this.extentOf(B + 1, axes);
    const work = Math.max(inner, this.cooperativeExtent);
    // one row with one long reduction: spread it over the grid instead of one block
    const grid = rows === 1 && this.cooperativeReductions.length === 1 &&
      this.cooperativeExtent >= GRID_REDUCTION_MIN;
    this.gridReduction = grid;
    const most = grid ? 256 : rows === 1 ? 1024 : 256;
    const threads = Math.min(most, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, work)))));
    const elements = `for (${I} e = (${I})threadIdx.x; e < ${inner}; e += (${I})blockDim.x) {\n${
      indent(
        [...this.decompose("e", B + 1, axes), ...this.linesOf(B + 1, axes), ...stores].join("\n"),
      )
    }\n}`;
    const rowIndex = this.decompose("row", 1, B);
    const rowBody = indent([...rowIndex, ...this.linesOf(1, B), elements].join("\n"));
    // a grid reduction's one row runs in every block up to the combination, then in the last
    const row = grid
      ? `{\n${rowIndex.length > 0 ? `  const ${I} row = 0;\n` : ""}${rowBody}\n}`
      : `for (${I} row = (${I})blockIdx.x; row < ${rows}; row += (${I})gridDim.x) {\n${rowBody}\n}`;
    const shared = this.cooperative ? ["__shared__ unsigned long long kc_red[32];"] : [];
    let text = this.kernel(threads, [...shared, ...this.scopes[0].lines, row]);
    text = text.replaceAll(
      "@COOP_START@",
      grid ? "(blockIdx.x * blockDim.x + threadIdx.x)" : "threadIdx.x",
    )
      .replaceAll("@COOP_STRIDE@", grid ? "(gridDim.x * blockDim.x)" : "blockDim.x");
    for (const r of this.cooperativeReductions) {
      text = text.replace(`@GRID_COMBINE_${r.acc}@`, grid ? this.gridCombine(r) : "");
    }
    if (grid) {
      const a = this.cooperativeReductions[0];
      text = `__device__ ${a.accT} ${this.name}_partial[${GRID_REDUCTION_MAX_BLOCKS}];\n` +
        `__device__ unsigned int ${this.name}_done;\n${text}`;
    }
    return { text, threads };
  }

  /**
   * A grid reduction's combination: each block publishes its partial, the last block to
   * finish (counted with an atomic) folds them all and goes on to the epilogue; the others
   * leave. The count returns to 0 for the next launch (launches are ordered on one stream).
   */
  private gridCombine(r: { acc: string; accT: string; functor: string; identity: string }) {
    const partial = `${this.name}_partial`, done = `${this.name}_done`;
    return `{
  __shared__ int kc_last;
  if (threadIdx.x == 0) {
    ${partial}[blockIdx.x] = ${r.acc};
    __threadfence(); /* the partial is visible before the count says so */
    kc_last = atomicAdd(&${done}, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!kc_last) return;
  __threadfence();
  ${r.acc} = ${r.identity};
  for (unsigned int b = threadIdx.x; b < gridDim.x; b += blockDim.x) {
    ${r.acc} = ${r.functor}::f(${r.acc}, ((volatile ${r.accT}*)${partial})[b]);
  }
  ${r.acc} = kc_block_reduce<${r.functor}>(${r.acc}, (${r.accT}*)kc_red);
  if (threadIdx.x == 0) ${done} = 0;
}`;
  }

  private kernel(threads: number, lines: string[]): string {
    return `extern "C" __global__ void __launch_bounds__(${threads}) ${this.name}(` +
      `const @TABLE@ P) {\n@DECLS@\n${indent(lines.join("\n"))}\n}`;
  }

  /** The lines of scopes `from..to`, in order (a valid order: deps point to lower scopes). */
  private linesOf(from: number, to: number): string[] {
    return this.scopes.slice(from, to + 1).flatMap((s) => s.lines);
  }

  /** `const I iV = (counter / stride) % extent;` for the (single) vars of scopes from..to. */
  private decompose(counter: string, from: number, to: number): string[] {
    const vars: number[] = [], extents: number[] = [];
    for (let s = from; s <= to; s++) {
      vars.push(...this.scopes[s].vars);
      extents.push(...this.scopes[s].extents);
    }
    return this.split(counter, vars, extents);
  }

  private split(counter: string, vars: number[], extents: number[]): string[] {
    const lines: string[] = [];
    let stride = 1;
    for (let k = vars.length - 1; k >= 0; k--) {
      const quotient = stride === 1 ? counter : `${counter} / ${stride}`;
      const value = k === 0
        ? quotient
        : `${stride === 1 ? counter : `(${quotient})`} % ${extents[k]}`;
      lines.unshift(`const @I@ i${vars[k]} = ${value};`);
      stride *= extents[k];
    }
    return lines;
  }

  protected elementType(dtype: DType, what: string): string {
    return cudaType(dtype, what);
  }

  protected unsupported(op: string, dtype: DType): Error {
    return new Error(`cuda jit: no CUDA lowering of ${op} on ${dtype}`);
  }

  protected override load(buf: Buf, dtype: DType, addr: Affine): Value {
    this.largest = Math.max(this.largest, buf.size);
    return super.load(buf, dtype, addr);
  }

  protected genEqnOutput(v: Var, idx: Affine[]): Value {
    const key = this.valueKey(v, idx);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const eqn = this.ctx.producer(v)!;
    const name = eqn.prim.name;
    cudaType(v.aval.dtype, name);
    const view = viewOperandIndex(eqn, idx);
    const value = view !== undefined
      ? this.gen(eqn.inputs[0], view)
      : Object.hasOwn(RED_OPS, name)
      ? this.genReduce(v, idx, key)
      : this.genScalarOp(eqn, v, idx, key);
    this.cache.set(key, { ...value, scope: this.scopeFor(value.deps) });
    return value;
  }

  /**
   * A reduction: an accumulator declared in the scope its result lives in, a loop over the
   * reduced axes (one flattened counter), and the result converted back to the element type.
   * Cooperative (strided over the block's threads, then a block reduction) when it sits at
   * the row level of a block-shaped kernel; serial in each thread otherwise.
   */
  private genReduce(v: Var, idx: Affine[], key: string): Value {
    const eqn = this.ctx.producer(v)!;
    const x = eqn.inputs[0];
    const axes = (eqn.params as { axes: number[] }).axes;
    const op = RED_OPS[eqn.prim.name];
    const dtype = x.aval.dtype, T = cudaType(dtype, eqn.prim.name);
    const accT = accumulatorType(dtype, op);
    const identity = reduceIdentity(op, dtype);
    const level = this.scopeFor(this.depsOf(...idx));
    const vars: number[] = [], extents: number[] = [];
    const xi = this.reducedIndex(idx, x.aval.shape, axes, (rv, d) => {
      vars.push(rv);
      extents.push(d);
    });
    const extent = extents.reduce((a, b) => a * b, 1);
    this.largest = Math.max(this.largest, sizeOf(x.aval.shape)); // the counters' range
    let last = -1;
    x.aval.shape.forEach((d, i) => (last = d !== 1 ? i : last));
    // a reduction hoisted to a kernel scope (not depending on an enclosing reduction's
    // counter) runs outside every reduction loop, where all threads of a block are together
    if (level <= this.axes) {
      this.reductions.push({ v, level, column: last >= 0 && !axes.includes(last), extent });
    }
    const B = this.layout.blockAxes;
    const cooperative = B !== null && level <= B && vars.length > 0;
    const base = this.scopes.length;
    this.pushScope({ vars, extents, lines: [] }, vars);
    const val = this.gen(x, xi);
    const body = this.scopes[base].lines;
    this.dropScopes(base);
    const acc = `a${this.nextTemp++}`;
    const functor = REDUCE_FUNCTOR[op];
    const update = `${acc} = ${functor}::f(${acc}, (${accT})${val.code});`;
    const lines = [`${accT} ${acc} = ${identity};`];
    if (vars.length === 0) lines.push(update);
    else {
      const I = "@I@", r = `r${acc}`;
      const inner = indent([...this.split(r, vars, extents), ...body, update].join("\n"));
      // a cooperative loop strides over the block's threads, or over the grid's when the
      // kernel becomes a grid reduction (see renderBlock): the markers are filled in there
      lines.push(
        cooperative
          ? `for (${I} ${r} = (${I})@COOP_START@; ${r} < ${extent}; ${r} += (${I})@COOP_STRIDE@) {\n${inner}\n}`
          : `for (${I} ${r} = 0; ${r} < ${extent}; ${r}++) {\n${inner}\n}`,
      );
      if (cooperative) {
        lines.push(`${acc} = kc_block_reduce<${functor}>(${acc}, (${accT}*)kc_red);`);
        lines.push(`@GRID_COMBINE_${acc}@`);
        this.cooperative = true;
        this.cooperativeExtent = Math.max(this.cooperativeExtent, extent);
        this.cooperativeReductions.push({ acc, accT, functor, identity });
      }
    }
    this.scopes[level].lines.push(...lines);
    this.ops.push(eqn.prim.name.replace("reduce_", "r"));
    return this.emit(T, `(${T})${acc}`, this.depsOf(...idx), key);
  }
}
