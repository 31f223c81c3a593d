/**
 * A graph rendered for CUDA: the CPU back end's plan (`jit/cpu/plan.ts`: what fuses, which
 * values live in buffers, the arena) with every loop step rendered as a CUDA kernel, in one
 * self-contained source for NVRTC.
 *
 * Fusion decisions are the C generator's: each loop step is first generated as C, whose
 * refusals (a reshape of a fused value, a reduction that cannot be hoisted, a broadcast of an
 * expensive value) materialize values, so both back ends see the same steps. The CUDA
 * renderer adds one refusal of its own: a reduction hoisted above the kernel's row level would
 * be recomputed by every block, so it becomes a kernel of its own.
 *
 * Kernels take one argument, the pointer table `P` passed by value (a struct of `void* p[N]`,
 * laid out as the C back end's table: inputs, outputs, the constant blob, the arena): the
 * driver copies it at launch, so a call needs no copy to the device and no synchronization.
 * @module
 */

import { type DType, STORAGE, type TypedArray } from "../../core/dtype.ts";
import { sizeOf } from "../../core/shape.ts";
import { type Atom, type Eqn, fmtAval, type Graph, Literal, type Var } from "../../core/graph.ts";
import type { Aval } from "../../core/primitive.ts";
import { placeArena } from "../cpu/steps.ts";
import type { DotLayout } from "../cpu/library.ts";
import { hasHalfFloats, normalizeHalfFloats } from "../float_normalize.ts";
import { optimize } from "../passes.ts";
import { renderMatmulKernel } from "./matmul.ts";
import { hasLibraryKernel, renderLibraryKernels } from "./library_kernels.ts";
import { LoopGen, mergeGroups, Refuse } from "../cpu/loop_codegen.ts";
import { type Buf, Planner, type Step } from "../cpu/plan.ts";
import { type CudaKernelCode, CudaLoopGen, GRID_REDUCTION_MAX_BLOCKS } from "./kernel_codegen.ts";
import { CUDA_PRELUDE, cudaType } from "./prelude.ts";

/** A rendered kernel and how to launch it. */
export interface CudaKernelStep {
  kind: "kernel";
  /** The kernel's `extern "C"` name. */
  name: string;
  /** Flat (one thread per output element) or block (one block per row). */
  shape: "flat" | "block";
  /** Output elements (flat) or rows (block): see {@linkcode launchGrid}. */
  items: number;
  /** Threads per block (the kernel's `__launch_bounds__`). */
  threads: number;
  describe: string;
  reads: Set<Buf>;
  writes: Set<Buf>;
  /** For a dot_general: its matmul, which the back end may run through cuBLAS instead. */
  matmul?: CudaMatmul;
  /** A loop kernel's loads (the index forms of each buffer it reads), for donation. */
  loads?: Map<Buf, Set<string>>;
  /** A loop kernel's store index form, for donation. */
  storeForm?: string;
}

/** A dot_general as a batched matmul on buffers (the planner's layout). */
export interface CudaMatmul {
  layout: DotLayout;
  dtype: DType;
  a: Buf;
  b: Buf;
  out: Buf;
  /** cuBLAS may use TF32 tensor cores (a float32 product of precision "default" or "high"). */
  tf32: boolean;
}

/** A step that is not a generated kernel (matmul and other library calls, control flow). */
export interface CudaHostStep {
  kind: "call" | "control" | "eager";
  eqn: Eqn;
  describe: string;
  reads: Set<Buf>;
  writes: Set<Buf>;
}

/** One step of a {@linkcode CudaProgram}. */
export type CudaStep = CudaKernelStep | CudaHostStep;

/** A graph rendered to CUDA. */
export interface CudaProgram {
  graph: Graph;
  /** The planner, holding the buffers (inputs, outputs, constants, arena) of the steps. */
  planner: Planner;
  steps: CudaStep[];
  /** The complete source for NVRTC (prelude and kernels). */
  source: string;
  /** The table struct and the kernels (to concatenate programs after one prelude). */
  kernels: string;
  /** The name of the pointer table's struct type, the kernels' one parameter. */
  tableType: string;
  /** Bytes of the arena holding intermediate buffers. */
  arenaBytes: number;
  /** Bytes of the constant blob. */
  constBytes: number;
  /**
   * The steps without a CUDA kernel yet, described (empty when all are kernels): the back end
   * runs them on the host, between a download of their operands and an upload of their results.
   */
  hostSteps: string[];
}

/** Options of {@linkcode renderCudaProgram}. */
export interface RenderOptions {
  /** Prefix of the kernel names (default `kiln_`), to keep names unique across programs. */
  prefix?: string;
}

/** Kernels whose rows are at least this many run flat when their reductions allow it. */
const FLAT_REDUCTION_MIN_ROWS = 1024;
/** A reduction this short runs serially in one thread even over a contiguous axis. */
const SERIAL_REDUCTION_MAX = 32;
/** Pointers in a kernel's parameter table: 4 KiB of parameters, the limit before CUDA 12.1. */
export const MAX_TABLE_SLOTS = 500;
/** Kernels with fewer rows than this and an epilogue larger than LARGE_EPILOGUE are split. */
const FEW_ROWS = 64;
const LARGE_EPILOGUE = 1 << 16;

/**
 * Renders `graph` (already optimized by the JIT's passes) as a CUDA program.
 *
 * @throws Error naming the primitive and dtype the renderer cannot express.
 */
export function renderCudaProgram(original: Graph, options: RenderOptions = {}): CudaProgram {
  const prefix = options.prefix ?? "kiln_";
  // 16-bit floats compute in float32 between casts, as on the CPU; matmuls keep them (they
  // load 16-bit operands, accumulate in float32 and round once, as cuBLAS does)
  const graph = hasHalfFloats(original)
    ? optimize(normalizeHalfFloats(original, { keep: (e) => e.prim.name === "dot_general" }))
    : original;
  const planner = new Planner(graph);
  let steps: CudaStep[] | undefined;
  const codes = new Map<CudaKernelStep, { text: string }>();
  for (let attempt = 0; steps === undefined; attempt++) {
    const planned = planner.plan();
    codes.clear();
    try {
      steps = planned.flatMap((step, i): CudaStep | CudaStep[] => {
        if (step.kind === "call" && step.eqn.prim.name === "dot_general") {
          const kernel = matmulStep(planner, `${prefix}k${i}`, step.eqn, step.layout!);
          codes.set(kernel.step, kernel.code);
          return kernel.step;
        }
        if (step.kind === "call" && hasLibraryKernel(step.eqn)) {
          return libraryKernelSteps(planner, `${prefix}k${i}`, step.eqn).map(({ step, code }) => {
            codes.set(step, code);
            return step;
          });
        }
        if (step.kind !== "loop") return hostStep(planner, step);
        const name = `${prefix}k${i}`;
        const code = generateKernel(planner, name, step.roots);
        const kernel: CudaKernelStep = {
          kind: "kernel",
          name,
          shape: code.shape,
          items: code.items,
          threads: code.threads,
          describe: describeKernel(step.roots[0].aval, code),
          reads: new Set(code.loads.keys()),
          writes: new Set(step.roots.map((r) => planner.bufOf(r)!)),
          loads: code.loads,
          storeForm: code.storeForm,
        };
        codes.set(kernel, code);
        return kernel;
      });
    } catch (error) {
      if (!(error instanceof Refuse) || planner.forced.has(error.v) || attempt > 10000) throw error;
      planner.forced.add(error.v);
    }
  }
  const arenaBytes = placeArena(steps);
  const nIn = graph.inputs.length, nOut = graph.outputs.length;
  const slots = nIn + nOut + 2;
  if (slots > MAX_TABLE_SLOTS) {
    throw new Error(
      `cuda jit: ${nIn} inputs and ${nOut} outputs exceed the ${MAX_TABLE_SLOTS - 2} buffers a ` +
        `kernel's parameter table holds`,
    );
  }
  const table = `${prefix}Table`;
  const kernels = [
    `struct ${table} { void* p[${slots}]; };`,
    ...[...codes].map(([step, code]) =>
      code.text.replace("@TABLE@", table).replace("@DECLS@", declarations(step, nIn, nOut))
    ),
  ].join("\n\n");
  const hostSteps = steps.filter((s) => s.kind !== "kernel").map((s) => s.describe);
  return {
    graph,
    planner,
    steps,
    source: `${CUDA_PRELUDE}\n${kernels}\n`,
    kernels,
    tableType: table,
    arenaBytes,
    constBytes: planner.constBytes,
    hostSteps,
  };
}

/**
 * Generates one loop step: first as C (whose refusals decide fusion), then a flat probe of the
 * CUDA kernel that finds its reductions, then the kernel in its final shape.
 */
function generateKernel(planner: Planner, name: string, roots: Var[]): CudaKernelCode {
  new LoopGen(planner, name, roots, null).generate();
  const probe = new CudaLoopGen(planner, name, roots, { blockAxes: null, merge: null }).generate();
  const shape = roots[0].aval.shape;
  const axes = shape.filter((d) => d !== 1).length;
  if (probe.reductions.length === 0) {
    const groups = axes > 1 ? mergeGroups(shape, probe.forms) : [];
    if (groups.length === 0 || groups.length === axes) return probe;
    return new CudaLoopGen(planner, name, roots, { blockAxes: null, merge: groups }).generate();
  }
  const rowLevel = Math.max(...probe.reductions.map((r) => r.level));
  const below = probe.reductions.find((r) => r.level < rowLevel);
  if (below) {
    throw new Refuse(below.v, "cuda: reduction above the row level would run in every block");
  }
  const rows = shape.filter((d) => d !== 1).slice(0, rowLevel).reduce((a, b) => a * b, 1);
  if (rows < FEW_ROWS && sizeOf(shape) > LARGE_EPILOGUE) {
    // a few blocks would compute the whole elementwise epilogue: reduce in a kernel of its own
    throw new Refuse(probe.reductions[0].v, "cuda: large epilogue of few rows");
  }
  const flat = rowLevel === axes && probe.items >= FLAT_REDUCTION_MIN_ROWS &&
    probe.reductions.every((r) => r.column || r.extent <= SERIAL_REDUCTION_MAX);
  if (flat) return probe;
  return new CudaLoopGen(planner, name, roots, { blockAxes: rowLevel, merge: null }).generate();
}

function describeKernel(aval: Aval, code: CudaKernelCode): string {
  const kind = code.reductions.length === 0
    ? "loop"
    : code.gridReduction
    ? "grid reduction"
    : code.shape === "block"
    ? "block reduction"
    : "fused reduction";
  return `${kind} ${fmtAval(aval)}: ${code.ops.join(", ") || "copy"}`;
}

/** A dot_general as the rendered matmul kernel (see `matmul.ts`). */
function matmulStep(planner: Planner, name: string, eqn: Eqn, layout: DotLayout) {
  const bufOf = (a: Atom) => (a instanceof Literal ? planner.constBuf(a) : planner.bufOf(a)!);
  const [a, b] = eqn.inputs.map(bufOf);
  const out = planner.bufOf(eqn.outputs[0])!;
  const dtype = eqn.inputs[0].aval.dtype;
  const code = renderMatmulKernel(name, layout, dtype, { a: a.name, b: b.name, out: out.name });
  const step: CudaKernelStep = {
    kind: "kernel",
    name,
    shape: "block",
    items: code.items,
    threads: code.threads,
    describe: `matmul ${
      fmtAval(eqn.outputs[0].aval)
    }: batch ${layout.batch}, ${layout.m}x${layout.k}${
      layout.operands[0].trans ? "^T" : ""
    } @ ${layout.k}x${layout.n}${layout.operands[1].trans ? "^T" : ""}`,
    reads: new Set([a, b]),
    writes: new Set([out]),
    // TF32 where the product allows it (a precision below "highest"); cuBLAS only
    matmul: { layout, dtype, a, b, out, tf32: dtype === "float32" && "precision" in eqn.params },
  };
  return { step, code };
}

/** The kernels of a library call (`library_kernels.ts`), as flat steps. */
function libraryKernelSteps(planner: Planner, name: string, eqn: Eqn) {
  const bufOf = (a: Atom) => (a instanceof Literal ? planner.constBuf(a) : planner.bufOf(a)!);
  const inputs = eqn.inputs.map(bufOf);
  const out = planner.bufOf(eqn.outputs[0])!;
  const what = `${eqn.prim.name} ${fmtAval(eqn.outputs[0].aval)}`;
  const codes = renderLibraryKernels(name, eqn, inputs.map((b) => b.name), out.name);
  return codes.map((code) => {
    const step: CudaKernelStep = {
      kind: "kernel",
      name: code.name,
      shape: "flat",
      items: code.items,
      threads: code.threads,
      describe: code.part ? `${what} (${code.part})` : what,
      reads: new Set(
        code.reads ? code.reads.map((r) => (r === "out" ? out : inputs[r])) : inputs,
      ),
      writes: new Set([out]),
    };
    return { step, code };
  });
}

function hostStep(planner: Planner, step: Step & { kind: "call" | "control" | "eager" }) {
  const eqn = step.eqn;
  const bufOf = (a: Atom) => (a instanceof Literal ? planner.constBuf(a) : planner.bufOf(a)!);
  const out = eqn.outputs[0]?.aval;
  return {
    kind: step.kind,
    eqn,
    describe: `${step.kind} ${eqn.prim.name}${out ? ` -> ${fmtAval(out)}` : ""}`,
    reads: new Set(eqn.inputs.map(bufOf)),
    writes: new Set(eqn.outputs.map((o) => planner.bufOf(o)!)),
  } satisfies CudaHostStep;
}

/** Slot of a buffer in the pointer table: inputs, outputs, constants, arena. */
export function pointerSlot(b: Buf, nIn: number, nOut: number): number {
  return b.kind === "in"
    ? b.index
    : b.kind === "out"
    ? nIn + b.index
    : b.kind === "const"
    ? nIn + nOut
    : nIn + nOut + 1;
}

function declarations(step: CudaKernelStep, nIn: number, nOut: number): string {
  const all = new Set([...step.reads, ...step.writes]);
  return [...all].map((b) => {
    const T = cudaType(b.dtype, "a buffer");
    const q = step.writes.has(b) ? "" : "const ";
    const offset = b.kind === "const" || b.kind === "arena" ? b.offset : 0;
    return `  ${q}${T}* __restrict__ ${b.name} = ` +
      `(${q}${T}*)((${q}char*)P.p[${pointerSlot(b, nIn, nOut)}] + ${offset});`;
  }).join("\n");
}

/** The constant blob of a program (uploaded once; its buffers' offsets index into it). */
export function constantBlob(program: CudaProgram): Uint8Array {
  const blob = new Uint8Array(Math.max(64, program.constBytes));
  for (const [tensor, buf] of program.planner.consts) {
    const data = (tensor as { dataSync(): TypedArray }).dataSync();
    new STORAGE[buf.dtype](blob.buffer, buf.offset, buf.size).set(data as never);
  }
  return blob;
}

/** The grid size of a kernel step on a device with `multiprocessors` SMs. */
export function launchGrid(step: CudaKernelStep, multiprocessors: number): number {
  // enough blocks to fill the device a few times over; grid-stride loops cover the rest
  // (never more than a grid reduction's partials array holds)
  const cap = Math.min(Math.max(1, multiprocessors) * 32, GRID_REDUCTION_MAX_BLOCKS);
  const blocks = step.shape === "flat" ? Math.ceil(step.items / step.threads) : step.items;
  return Math.min(blocks, cap);
}
