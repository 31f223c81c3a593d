/**
 * CUDA graphs for jitted calls: a compiled graph's kernel sequence (with its cuBLAS calls)
 * captured once and replayed with one `cuGraphLaunch`, so a call costs one driver call instead
 * of one per kernel, and the GPU runs the kernels back to back.
 *
 * A captured graph bakes in its kernels' arguments: the pointer table, i.e. the addresses of
 * the call's input and output buffers (the constants and the arena are the compiled graph's
 * own and never move). So graphs are kept per table: a call whose table matches a kept graph
 * replays it; a table seen once before is captured; other calls launch kernel by kernel. In a
 * training loop that disposes what it no longer needs, the caching allocator hands the same
 * blocks back, so the tables recur (typically two, alternating) and every call after the
 * first few replays a graph. For that, each output asks the allocator for a block it had in a
 * remembered table ({@linkcode GraphReplay.preferredOutput}): then a loop that frees what it
 * replaces alternates between two tables, whatever order it frees in. A replay does exactly
 * what the direct launches of the same table would, so this changes speed only.
 *
 * If capturing fails (a driver without graphs, a call the capture refuses), the compiled
 * graph falls back to direct launches for good. `KILN_CUDA_GRAPHS=0` turns graphs off.
 * @module
 */

import { debug } from "../../core/debug.ts";
import type { CudaDriver } from "../../ffi/cuda.ts";

/** How many graphs (distinct tables) one compiled graph keeps, and tables it remembers. */
const KEPT_GRAPHS = 8;
const REMEMBERED_TABLES = 8;

/** Counts of how jitted CUDA calls were launched (for tests and `KILN_DEBUG`). */
export const cudaGraphStats = { captured: 0, replayed: 0, direct: 0, failedCaptures: 0 };

let enabled: boolean | undefined;

/** Whether CUDA graphs are on (`KILN_CUDA_GRAPHS` is not `0`), read once. */
export function cudaGraphsEnabled(): boolean {
  if (enabled === undefined) {
    let raw: string | undefined;
    try {
      raw = Deno.env.get("KILN_CUDA_GRAPHS");
    } catch {
      raw = undefined; // no --allow-env: on
    }
    enabled = raw !== "0";
  }
  return enabled;
}

/** Turns CUDA graphs on or off from the next call on (tests, benchmarks). */
export function setCudaGraphsEnabled(on: boolean): void {
  enabled = on;
}

/** The stream captures are recorded on (created on first use, kept for the process). */
let captureStream: Deno.PointerValue = null;

/** Executable graphs to destroy once their compiled graph is garbage collected. */
const reclaim = new FinalizationRegistry<{ driver: CudaDriver; graphs: Deno.PointerValue[] }>(
  ({ driver, graphs }) => {
    for (const graph of graphs) {
      try {
        driver.destroyGraph(graph);
      } catch {
        // the context is gone at exit: nothing to free
      }
    }
  },
);

/**
 * The launcher of one compiled graph: replays kept graphs, captures recurring tables, and
 * otherwise launches directly.
 */
export class GraphReplay {
  /** Kept graphs, least recently used first. */
  private readonly kept: { table: BigUint64Array; graph: Deno.PointerValue }[] = [];
  /** Tables seen once, oldest first. */
  private readonly seen: BigUint64Array[] = [];
  /** The executable graphs, shared with the finalizer. */
  private readonly owned: { driver: CudaDriver; graphs: Deno.PointerValue[] };
  private failed = false;
  /** Per output: the addresses it has in the kept and remembered tables. */
  private preferred: Set<bigint>[] = [];

  /**
   * @param driver the CUDA driver
   * @param queue queues the compiled graph's kernels and library calls on a stream, reading
   * the current pointer table (the direct launch path uses the legacy stream, `null`)
   * @param outputs where the outputs' addresses are in the table: `count` slots from `first`
   */
  constructor(
    private readonly driver: CudaDriver,
    private readonly queue: (stream: Deno.PointerValue) => void,
    private readonly outputs: { first: number; count: number },
  ) {
    this.owned = { driver, graphs: [] };
    reclaim.register(this, this.owned);
  }

  /** The blocks output `j` had in the tables kept or remembered (to allocate it again). */
  preferredOutput(j: number): ReadonlySet<bigint> | undefined {
    return this.preferred[j];
  }

  private updatePreferred(): void {
    const { first, count } = this.outputs;
    const tables = [...this.kept.map((k) => k.table), ...this.seen];
    this.preferred = Array.from(
      { length: count },
      (_, j) => new Set(tables.map((t) => t[first + j])),
    );
  }

  /** Queues one call whose pointer table is `table` (already filled in). */
  run(table: BigUint64Array): void {
    if (!cudaGraphsEnabled()) {
      this.queue(null);
      cudaGraphStats.direct++;
      return;
    }
    const kept = this.kept.findIndex((k) => sameTable(k.table, table));
    if (kept >= 0) {
      const entry = this.kept.splice(kept, 1)[0];
      this.kept.push(entry);
      this.driver.launchGraph(entry.graph);
      cudaGraphStats.replayed++;
      return;
    }
    const seen = this.failed ? -1 : this.seen.findIndex((t) => sameTable(t, table));
    if (seen < 0) {
      if (!this.failed) {
        this.seen.push(table.slice());
        if (this.seen.length > REMEMBERED_TABLES) this.seen.shift();
        this.updatePreferred();
      }
      this.queue(null);
      cudaGraphStats.direct++;
      return;
    }
    this.seen.splice(seen, 1);
    this.updatePreferred();
    const graph = this.capture();
    if (graph === null) {
      this.queue(null);
      cudaGraphStats.direct++;
      return;
    }
    try {
      this.driver.launchGraph(graph);
    } catch (error) {
      // not launched: run this call directly, and launch directly from now on
      this.driver.destroyGraph(graph);
      this.giveUp(error);
      this.queue(null);
      cudaGraphStats.direct++;
      return;
    }
    this.keep(table, graph);
    cudaGraphStats.captured++;
  }

  /** Captures the sequence on a stream of its own; null (and no more tries) on failure. */
  private capture(): Deno.PointerValue | null {
    const driver = this.driver;
    let error: unknown;
    let graph: Deno.PointerValue | null = null;
    try {
      if (!driver.supportsGraphs) throw new Error("the driver has no CUDA graph calls");
      // captures never overlap (they are synchronous): one stream serves them all
      captureStream ??= driver.createStream(true);
      driver.beginCapture(captureStream);
      try {
        this.queue(captureStream);
      } catch (queueError) {
        error = queueError;
      }
      // end the capture even after a failure, so the stream is usable again
      graph = driver.endCapture(captureStream);
    } catch (captureError) {
      error ??= captureError;
    }
    if (error === undefined) return graph;
    if (graph !== null) driver.destroyGraph(graph);
    this.giveUp(error);
    return null;
  }

  /** Launches directly from now on (a capture or a graph launch failed). */
  private giveUp(error: unknown): void {
    this.failed = true;
    this.seen.length = 0;
    this.updatePreferred();
    cudaGraphStats.failedCaptures++;
    debug(1, () => `cuda jit: no CUDA graph, launching kernel by kernel: ${String(error)}`);
  }

  private keep(table: BigUint64Array, graph: Deno.PointerValue): void {
    this.kept.push({ table: table.slice(), graph });
    this.owned.graphs.push(graph);
    if (this.kept.length <= KEPT_GRAPHS) return this.updatePreferred();
    const evicted = this.kept.shift()!;
    this.owned.graphs.splice(this.owned.graphs.indexOf(evicted.graph), 1);
    // a launch still queued keeps its executable alive: destroying it here is safe
    this.driver.destroyGraph(evicted.graph);
    this.updatePreferred();
  }
}

function sameTable(a: BigUint64Array, b: BigUint64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
