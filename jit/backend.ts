/**
 * The contract between the JIT's front end (tracing, caching, the `jit_call` primitive) and a
 * device's compiler back end. A back end turns an optimized {@link Graph} into something that
 * runs it on that device's buffers.
 * @module
 */

import type { TypedArray } from "../core/dtype.ts";
import type { Graph } from "../core/graph.ts";

/** Options a back end compiles with. */
export interface CompileOptions {
  /**
   * For each graph input, whether its buffer is donated: the compiled code may overwrite it
   * (for example to write an output of the same size and dtype in place).
   */
  donated: boolean[];
}

/** A graph compiled for one device. */
export interface CompiledGraph {
  /**
   * Runs the graph: `inputs` are the buffers of the graph's inputs in order; returns one
   * freshly owned buffer per graph output (or a donated input's buffer, reused in place).
   */
  run(inputs: TypedArray[]): TypedArray[];
  /** The generated source (C for cpu), for `jit(f).lower(...).source()`. */
  source(): string;
  /** A readable description of the fusion groups, one entry per kernel or step. */
  groups(): string[];
  /** Number of native kernels launched per call (pinned by the fusion tests). */
  readonly kernelCount: number;
}

/** A device's compiler. */
export interface Backend {
  /** Compiles `graph` (already simplified by the front end's passes). */
  compile(graph: Graph, options: CompileOptions): CompiledGraph;
}
