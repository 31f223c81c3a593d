/**
 * The CUDA back end of the JIT: a graph rendered by `program.ts`, compiled by NVRTC (cached on
 * disk) for the device's compute capability, loaded once, and run on device buffers: a call
 * launches the kernels in order on the default stream, each with the pointer table as its
 * argument, and returns the output buffers without waiting for them (a read-back waits).
 *
 * Also the eager path of the `cuda` device: one primitive is a one-equation graph, compiled
 * once per primitive, shapes and params ({@linkcode runEagerOnCuda}).
 *
 * Matmuls run through cuBLAS when it is found (`ffi/cublas.ts`), else as the rendered tiled
 * kernel. Not yet: other library calls (convolutions, gathers), control flow and donation;
 * such graphs fail to compile with an error naming the step.
 * @module
 */

import { ITEMSIZE } from "../../core/dtype.ts";
import { type Eqn, Graph, Literal, Var } from "../../core/graph.ts";
import type { Aval, Primitive } from "../../core/primitive.ts";
import { cudaDriver, KernelArguments } from "../../ffi/cuda.ts";
import { allocateCudaBuffer, type CudaBuffer, setCudaExecutor } from "../../ffi/cuda_device.ts";
import { compileCuda, nvrtc } from "../../ffi/nvrtc.ts";
import { Cublas, cublas, cublasStatus } from "../../ffi/cublas.ts";
import type { Backend, CompiledGraph, CompileOptions } from "../backend.ts";
import {
  constantBlob,
  type CudaKernelStep,
  type CudaMatmul,
  launchGrid,
  pointerSlot,
  renderCudaProgram,
} from "./program.ts";

/** Compiles `graph` for the CUDA device. */
function compileForCuda(graph: Graph, _options: CompileOptions): CompiledGraph {
  const driver = cudaDriver();
  const program = renderCudaProgram(graph);
  if (program.unsupported.length > 0) {
    throw new Error(
      `cuda jit: cannot run these steps on cuda yet: ${program.unsupported.join("; ")}`,
    );
  }
  const [major, minor] = driver.info.computeCapability;
  const target = nvrtc().target(major * 10 + minor);
  const image = compileCuda(program.source, { arch: target.arch, target: target.kind });
  const module = driver.loadModule(image.image);
  const nIn = graph.inputs.length, nOut = graph.outputs.length;
  const blas = cublasStatus().available ? cublas() : undefined;
  const kernels = program.steps.filter((s): s is CudaKernelStep => s.kind === "kernel")
    .filter((s) => s.items > 0)
    .map((step) => ({
      fn: module.getFunction(step.name),
      grid: launchGrid(step, driver.info.multiprocessors),
      threads: step.threads,
      gemm: blas && step.matmul ? gemmOf(step.matmul, nIn, nOut) : undefined,
    }));
  // constants and the arena live as long as the compiled graph; calls are ordered on one
  // stream, so they can share them
  const constants = allocateCudaBuffer(program.constBytes, driver);
  driver.upload(constants.pointer, constantBlob(program).subarray(0, program.constBytes));
  const arena = allocateCudaBuffer(program.arenaBytes, driver);
  // every kernel takes the pointer table by value: one argument of nIn + nOut + 2 words
  const args = new KernelArguments([nIn + nOut + 2]);
  const table = args.words;
  const outBuf = graph.outputs.map((o, j) => {
    const b = o instanceof Var ? program.planner.bufOf(o) : undefined;
    return b && b.kind === "out" && graph.outputs.indexOf(o) === j ? b : undefined;
  });

  return {
    kernelCount: kernels.length,
    source: () => program.source,
    groups: () => program.steps.map((s) => s.describe),
    run(inputs) {
      const ins = inputs as unknown as CudaBuffer[];
      const outs: CudaBuffer[] = graph.outputs.map((o, j) =>
        outBuf[j] ? allocateCudaBuffer(bytesOf(o.aval), driver) : undefined!
      );
      if (ins.length !== nIn) throw new Error(`cuda jit: ${ins.length} inputs for ${nIn}`);
      ins.forEach((b, i) => (table[i] = b.pointer));
      outs.forEach((b, j) => (table[nIn + j] = b ? b.pointer : 0n));
      table[nIn + nOut] = constants.pointer;
      table[nIn + nOut + 1] = arena.pointer;
      for (const k of kernels) {
        if (k.gemm) blas!.gemm(k.gemm(table));
        else driver.launch(k.fn, [k.grid, 1, 1], [k.threads, 1, 1], args);
      }
      // outputs no kernel writes: inputs passed through, literals, repeated outputs
      graph.outputs.forEach((o, j) => {
        if (outBuf[j]) return;
        const bytes = bytesOf(o.aval);
        const out = outs[j] = allocateCudaBuffer(bytes, driver);
        const first = graph.outputs.indexOf(o);
        if (o instanceof Literal) driver.upload(out.pointer, o.value.dataSync());
        else {
          const source = first !== j ? outs[first] : ins[graph.inputs.indexOf(o)];
          driver.copy(out.pointer, source.pointer, bytes);
        }
      });
      return outs as never;
    },
  };
}

/**
 * The cuBLAS call of a matmul step, given the pointer table of a run; undefined when cuBLAS
 * does not take it (integers, k = 0, sizes past int32: the rendered kernel runs).
 */
function gemmOf(mm: CudaMatmul, nIn: number, nOut: number) {
  const { batch, m, n, k, operands } = mm.layout;
  const shape = { dtype: mm.dtype, batch, m, n, k, transA: operands[0].trans === 1 };
  const call = { ...shape, transB: operands[1].trans === 1 };
  if (!Cublas.supports(call)) return undefined;
  const address = (b: CudaMatmul["a"]) => {
    const slot = pointerSlot(b, nIn, nOut);
    const offset = BigInt(b.kind === "const" || b.kind === "arena" ? b.offset : 0);
    return (table: BigUint64Array) => table[slot] + offset;
  };
  const [a, b, out] = [address(mm.a), address(mm.b), address(mm.out)];
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
      compiled = compileForCuda(new Graph(ins, [eqn], outs), { donated: ins.map(() => false) });
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
