/**
 * The CUDA back end of the JIT: a graph rendered by `program.ts`, compiled by NVRTC (cached on
 * disk) for the device's compute capability, loaded once, and run on device buffers: a call
 * launches the kernels in order on the default stream, each with the pointer table as its
 * argument (replayed as a CUDA graph once the call's buffers recur: `graph_replay.ts`), and
 * returns the output buffers without waiting for them (a read-back waits).
 *
 * Also the eager path of the `cuda` device: one primitive is a one-equation graph, compiled
 * once per primitive, shapes and params ({@linkcode runEagerOnCuda}).
 *
 * Matmuls run through cuBLAS when it is found (`ffi/cublas.ts`), else as the rendered tiled
 * kernel; the CPU's other library calls have CUDA kernels (`library_kernels.ts`). Steps
 * without one (sorts, control flow) run on the host, correct but synchronizing
 * ({@linkcode hostAction}). Outputs may be written into donated inputs
 * (`donateArgnums`): the output takes over the input's memory.
 * @module
 */

import { debug } from "../../core/debug.ts";
import { ITEMSIZE, STORAGE } from "../../core/dtype.ts";
import { type Atom, type Eqn, fmtAval, Graph, Literal, Var } from "../../core/graph.ts";
import type { Aval, Primitive } from "../../core/primitive.ts";
import { type CudaDriver, cudaDriver, KernelArguments } from "../../ffi/cuda.ts";
import {
  adoptCudaBuffer,
  allocateCudaBuffer,
  type CudaBuffer,
  setCudaExecutor,
} from "../../ffi/cuda_device.ts";
import { compileCuda, nvrtc } from "../../ffi/nvrtc.ts";
import { Cublas, cublas, cublasStatus } from "../../ffi/cublas.ts";
import type { Backend, CompiledGraph, CompileOptions } from "../backend.ts";
import type { Buf } from "../cpu/plan.ts";
import { runEquationOnHost } from "../host_step.ts";
import { donate } from "../donation.ts";
import { GraphReplay } from "./graph_replay.ts";
import {
  constantBlob,
  type CudaHostStep,
  type CudaMatmul,
  type CudaProgram,
  launchGrid,
  pointerSlot,
  renderCudaProgram,
} from "./program.ts";

/** Compiles `graph` for the CUDA device. */
function compileForCuda(
  original: Graph,
  options: CompileOptions,
  { graphs = true }: { graphs?: boolean } = {},
): CompiledGraph {
  const driver = cudaDriver();
  const program = renderCudaProgram(original);
  // outputs written in place into donated inputs: only the pointer table changes
  donate(program.steps, program.planner, options.donated);
  // the graph the program was planned from (16-bit floats normalized): its outputs' buffers
  const graph = program.graph;
  const [major, minor] = driver.info.computeCapability;
  const target = nvrtc().target(major * 10 + minor);
  const image = compileCuda(program.source, { arch: target.arch, target: target.kind });
  const module = driver.loadModule(image.image);
  const nIn = graph.inputs.length, nOut = graph.outputs.length;
  const blas = cublasStatus().available ? cublas() : undefined;
  // every kernel takes the pointer table by value: one argument of nIn + nOut + 2 words
  const args = new KernelArguments([nIn + nOut + 2]);
  const table = args.words;
  // the steps in order, each queued on a given stream: a kernel launch, a cuBLAS call (on the
  // stream cuBLAS is bound to), or a step run on the host (only on the legacy stream)
  type Action = (stream: Deno.PointerValue) => void;
  const actions = program.steps.flatMap((step): Action[] => {
    if (step.kind !== "kernel") {
      debug(1, () => `cuda jit: host step (no CUDA kernel yet): ${step.describe}`);
      return [hostAction(step, program, table, driver)];
    }
    if (step.items === 0) return [];
    const gemm = blas && step.matmul ? gemmOf(step.matmul, nIn, nOut) : undefined;
    if (gemm) return [() => blas!.gemm(gemm(table))];
    const fn = module.getFunction(step.name);
    const grid: [number, number, number] = [launchGrid(step, driver.info.multiprocessors), 1, 1];
    const block: [number, number, number] = [step.threads, 1, 1];
    return [(stream) => driver.launch(fn, grid, block, args, 0, stream)];
  });
  const queue = (stream: Deno.PointerValue) => {
    if (stream !== null && blas) blas.onStream(stream, () => actions.forEach((a) => a(stream)));
    else for (const action of actions) action(stream);
  };
  // several launches and no host step: replay them as CUDA graphs (see graph_replay.ts)
  const replay = graphs && actions.length > 1 && program.hostSteps.length === 0
    ? new GraphReplay(driver, queue, { first: nIn, count: nOut }, {
      ...stagingSlots(program),
      launches: actions.length,
    })
    : undefined;
  // constants and the arena live as long as the compiled graph; calls are ordered on one
  // stream, so they can share them
  const constants = allocateCudaBuffer(program.constBytes, driver);
  driver.upload(constants.pointer, constantBlob(program).subarray(0, program.constBytes));
  const arena = allocateCudaBuffer(program.arenaBytes, driver);
  const outBuf = graph.outputs.map((o, j) => {
    const b = o instanceof Var ? program.planner.bufOf(o) : undefined;
    return b && b.kind === "out" && graph.outputs.indexOf(o) === j ? b : undefined;
  });

  // where an output that no kernel writes is copied from, given the outputs of a run
  const copiedFrom = graph.outputs.map((o, j) => {
    if (outBuf[j] || o instanceof Literal) return undefined;
    const first = graph.outputs.indexOf(o);
    if (first !== j) return (outs: CudaBuffer[]) => outs[first].pointer;
    // an input passed through, or a view of one (a reshape, an identity transpose)
    const b = program.planner.bufOf(o);
    if (!b) throw new Error(`cuda jit: output ${j} (${fmtAval(o.aval)}) has no buffer`);
    const address = addressOf(b, nIn, nOut);
    return () => address(table);
  });

  return {
    kernelCount: program.steps.filter((s) => s.kind === "kernel" && s.items > 0).length,
    source: () => program.source,
    groups: () => program.steps.map((s) => s.describe),
    run(inputs) {
      const ins = inputs as unknown as CudaBuffer[];
      if (ins.length !== nIn) throw new Error(`cuda jit: ${ins.length} inputs for ${nIn}`);
      ins.forEach((b, i) => (table[i] = b.pointer));
      const outs: CudaBuffer[] = graph.outputs.map((o, j) => {
        const b = outBuf[j];
        if (!b) return undefined!;
        // a donated input's memory becomes the output's (unless the call passes that buffer
        // as another input too: then the output gets memory of its own, equally correct)
        const donor = b.alias ? ins[b.alias.index] : undefined;
        if (donor && ins.indexOf(donor) === ins.lastIndexOf(donor)) return adoptCudaBuffer(donor);
        return allocateCudaBuffer(bytesOf(o.aval), driver, replay?.preferredOutput(j));
      });
      outs.forEach((b, j) => (table[nIn + j] = b ? b.pointer : 0n));
      table[nIn + nOut] = constants.pointer;
      table[nIn + nOut + 1] = arena.pointer;
      if (replay) replay.run(table);
      else queue(null);
      // outputs no kernel writes: copies of literals, inputs, views of inputs, earlier outputs
      graph.outputs.forEach((o, j) => {
        if (outBuf[j]) return;
        const bytes = bytesOf(o.aval);
        const out = outs[j] = allocateCudaBuffer(bytes, driver);
        if (o instanceof Literal) driver.upload(out.pointer, o.value.dataSync());
        else driver.copy(out.pointer, copiedFrom[j]!(outs), bytes);
      });
      return outs as never;
    },
  };
}

/**
 * The sizes of a program's input and output buffers (in table order) and which of them a CUDA
 * graph may stage: not an input written in place, nor the output written into it (they are
 * one buffer, the donated input's).
 */
function stagingSlots(program: CudaProgram): { bytes: number[]; stageable: boolean[] } {
  const { graph, planner } = program;
  const aliased = new Set<number>();
  graph.outputs.forEach((o, j) => {
    const alias = o instanceof Var ? planner.bufOf(o)?.alias : undefined;
    if (alias) aliased.add(alias.index).add(graph.inputs.length + j);
  });
  const values = [...graph.inputs, ...graph.outputs];
  return {
    bytes: values.map((v) => bytesOf(v.aval)),
    stageable: values.map((_, i) => !aliased.has(i)),
  };
}

/** The device address of a buffer of the program, given the pointer table of a run. */
function addressOf(b: Buf, nIn: number, nOut: number): (table: BigUint64Array) => bigint {
  const slot = pointerSlot(b, nIn, nOut);
  const offset = BigInt(b.kind === "const" || b.kind === "arena" ? b.offset : 0);
  return (table) => table[slot] + offset;
}

/**
 * A step without a CUDA kernel, run on the host: its operands are downloaded (which waits for
 * the kernels before it), the cpu device runs the equation, and its results are uploaded into
 * the step's buffers. Correct, but a synchronization and two copies: KILN_DEBUG=1 names each.
 */
function hostAction(
  step: CudaHostStep,
  program: CudaProgram,
  table: BigUint64Array,
  driver: CudaDriver,
): () => void {
  const { planner, graph } = program;
  const nIn = graph.inputs.length, nOut = graph.outputs.length;
  const bufOf = (a: Atom) => (a instanceof Literal ? planner.constBuf(a) : planner.bufOf(a)!);
  const operands = step.eqn.inputs.map((a) => {
    const b = bufOf(a);
    return { address: addressOf(b, nIn, nOut), dtype: b.dtype, size: b.size };
  });
  const results = step.eqn.outputs.map((o) => addressOf(planner.bufOf(o)!, nIn, nOut));
  return () => {
    const inputs = operands.map(({ address, dtype, size }) => {
      const host = new STORAGE[dtype](size);
      driver.download(host, address(table));
      return host;
    });
    runEquationOnHost(step.eqn, inputs).forEach((r, i) => driver.upload(results[i](table), r));
  };
}

/**
 * The cuBLAS call of a matmul step, given the pointer table of a run; undefined when cuBLAS
 * does not take it (integers, k = 0, sizes past int32: the rendered kernel runs).
 */
function gemmOf(mm: CudaMatmul, nIn: number, nOut: number) {
  const { batch, m, n, k, operands } = mm.layout;
  const shape = { dtype: mm.dtype, batch, m, n, k, transA: operands[0].trans === 1 };
  const call = { ...shape, transB: operands[1].trans === 1, tf32: mm.tf32 };
  if (!Cublas.supports(call)) return undefined;
  const [a, b, out] = [mm.a, mm.b, mm.out].map((x) => addressOf(x, nIn, nOut));
  return (table: BigUint64Array) => ({ ...call, a: a(table), b: b(table), out: out(table) });
}

const bytesOf = (aval: Aval) => aval.shape.reduce((a, b) => a * b, 1) * ITEMSIZE[aval.dtype];

/** The CUDA JIT back end (register it for the `cuda` device). */
export const cudaBackend: Backend = { compile: compileForCuda };

const eagerCache = new Map<string, CompiledGraph>();

/**
 * Runs one primitive on CUDA buffers as a one-equation graph, compiled on first use for its
 * primitive, operand types and params.
 *
 * @throws Error when the primitive has no CUDA rendering yet (naming it).
 */
export function runEagerOnCuda(
  prim: Primitive,
  inputs: CudaBuffer[],
  inAvals: Aval[],
  params: Record<string, unknown>,
  outAvals: Aval[],
): CudaBuffer[] {
  let paramKey: string;
  try {
    paramKey = JSON.stringify(params);
  } catch {
    throw new Error(`cuda device: cannot run ${prim.name} eagerly (its params are not plain data)`);
  }
  const key = `${prim.name}|${JSON.stringify(inAvals)}|${paramKey}`;
  let compiled = eagerCache.get(key);
  if (!compiled) {
    const ins = inAvals.map((a) => new Var(a));
    const outs = outAvals.map((a) => new Var(a));
    const eqn: Eqn = { prim, inputs: ins, params, outputs: outs };
    try {
      // not through the JIT's passes: constant folding would run an operand-free equation
      // (iota) eagerly on the default device, which may be this one
      const graph = new Graph(ins, [eqn], outs);
      // no CUDA graphs: an eager op's buffers change every call, so a graph would need
      // copies around a launch or two
      compiled = compileForCuda(graph, { donated: ins.map(() => false) }, { graphs: false });
    } catch (error) {
      throw new Error(`cuda device: ${prim.name}: ${(error as Error).message}`, { cause: error });
    }
    eagerCache.set(key, compiled);
  }
  return compiled.run(inputs as never) as unknown as CudaBuffer[];
}

/** Makes the cuda device run eager primitives through this back end. */
export function installCudaEagerExecutor(): void {
  setCudaExecutor(runEagerOnCuda);
}
