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
 * replaces alternates between two tables, whatever order it frees in. Buffers that still
 * change from call to call (the batches of a data pipeline, parameters not updated in place)
 * are staged ({@linkcode SlotStaging}): the graph reads and writes buffers of the replay's own,
 * with a copy in before it (inputs) or out after it (outputs), when they are small enough for
 * the copies to cost less than the launches they save. A replay does exactly what the direct
 * launches of the same table would, so this changes speed only.
 *
 * If capturing fails (a driver without graphs, a call the capture refuses), the compiled
 * graph falls back to direct launches for good. `KILN_CUDA_GRAPHS=0` turns graphs off.
 * @module
 */

import { debug } from "../../core/debug.ts";
import type { CudaDriver } from "../../ffi/cuda.ts";
import { allocateCudaBuffer, type CudaBuffer } from "../../ffi/cuda_device.ts";

/** How many graphs (distinct tables) one compiled graph keeps, and tables it remembers. */
const KEPT_GRAPHS = 8;
const REMEMBERED_TABLES = 8;
/** Most bytes of varying buffers copied per call (about 20 µs at an H100's bandwidth). */
const STAGED_BYTES_MAX = 32 << 20;

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

  private readonly staging: SlotStaging;

  /**
   * @param driver the CUDA driver
   * @param queue queues the compiled graph's kernels and library calls on a stream, reading
   * the current pointer table (the direct launch path uses the legacy stream, `null`)
   * @param outputs where the outputs' addresses are in the table: `count` slots from `first`
   * @param slots the sizes of the inputs' and outputs' buffers (the table's first slots),
   * which may be staged (not an input written in place, nor the output written into it), and
   * the launches per call (staging pays only while its copies are fewer than half of them)
   */
  constructor(
    private readonly driver: CudaDriver,
    private readonly queue: (stream: Deno.PointerValue) => void,
    private readonly outputs: { first: number; count: number },
    slots: { bytes: number[]; stageable: boolean[]; launches: number },
  ) {
    this.owned = { driver, graphs: [] };
    this.staging = new SlotStaging(driver, slots, outputs.first);
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
    // the table a graph sees: varying buffers replaced by the staging buffers
    const staged = this.failed ? [] : this.staging.observe(table);
    const key = staged.length > 0 ? this.staging.graphTable(table, staged) : table;
    const kept = this.kept.findIndex((k) => sameTable(k.table, key));
    if (kept >= 0) {
      const entry = this.kept.splice(kept, 1)[0];
      this.kept.push(entry);
      this.staging.copyIn(table, staged);
      this.driver.launchGraph(entry.graph);
      this.staging.copyOut(table, staged);
      cudaGraphStats.replayed++;
      return;
    }
    const seen = this.failed ? -1 : this.seen.findIndex((t) => sameTable(t, key));
    if (seen < 0) {
      if (!this.failed) {
        this.seen.push(key.slice());
        if (this.seen.length > REMEMBERED_TABLES) this.seen.shift();
        this.updatePreferred();
      }
      this.queue(null);
      cudaGraphStats.direct++;
      return;
    }
    this.seen.splice(seen, 1);
    this.updatePreferred();
    // the launches are recorded with the graph's table, then the call's is put back
    const own = table.slice();
    table.set(key);
    const graph = this.capture();
    table.set(own);
    if (graph === null) {
      this.queue(null);
      cudaGraphStats.direct++;
      return;
    }
    try {
      this.staging.copyIn(table, staged);
      this.driver.launchGraph(graph);
      this.staging.copyOut(table, staged);
    } catch (error) {
      // not launched: run this call directly, and launch directly from now on
      this.driver.destroyGraph(graph);
      this.giveUp(error);
      this.queue(null);
      cudaGraphStats.direct++;
      return;
    }
    this.keep(key, graph);
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

/**
 * Buffers whose addresses change between calls, replaced in the graph's table by buffers of
 * their own: inputs copied in before the graph, outputs copied out after it. A slot counts as
 * varying once its address has changed; staging applies while the varying slots total at most
 * `STAGED_BYTES_MAX` and their copies are fewer than half the launches a graph replaces.
 */
class SlotStaging {
  private last: BigUint64Array | undefined;
  private readonly varying = new Set<number>();
  private readonly buffers = new Map<number, CudaBuffer>();

  constructor(
    private readonly driver: CudaDriver,
    private readonly slots: { bytes: number[]; stageable: boolean[]; launches: number },
    /** The first output slot: slots before it are inputs. */
    private readonly firstOutput: number,
  ) {}

  /** Notes this call's addresses; returns the slots to stage (maybe none). */
  observe(table: BigUint64Array): number[] {
    const n = this.slots.bytes.length;
    if (this.last) {
      for (let i = 0; i < n; i++) {
        if (table[i] !== this.last[i] && this.slots.stageable[i]) this.varying.add(i);
      }
    }
    this.last = table.slice(0, n);
    const staged = [...this.varying].sort((a, b) => a - b);
    const bytes = staged.reduce((sum, i) => sum + this.slots.bytes[i], 0);
    const worth = bytes <= STAGED_BYTES_MAX && 2 * staged.length < this.slots.launches;
    return worth ? staged : [];
  }

  /** `table` with the staged slots pointing at the staging buffers (allocated once). */
  graphTable(table: BigUint64Array, staged: number[]): BigUint64Array {
    const key = table.slice();
    for (const i of staged) {
      let buffer = this.buffers.get(i);
      if (!buffer) {
        this.buffers.set(i, buffer = allocateCudaBuffer(this.slots.bytes[i], this.driver));
      }
      key[i] = buffer.pointer;
    }
    return key;
  }

  /** Queues the copies of this call's staged inputs into their buffers (before the graph). */
  copyIn(table: BigUint64Array, staged: number[]): void {
    for (const i of staged) {
      if (i >= this.firstOutput) continue;
      this.driver.copy(this.buffers.get(i)!.pointer, table[i], this.slots.bytes[i]);
    }
  }

  /** Queues the copies of the staged outputs into this call's buffers (after the graph). */
  copyOut(table: BigUint64Array, staged: number[]): void {
    for (const i of staged) {
      if (i < this.firstOutput) continue;
      this.driver.copy(table[i], this.buffers.get(i)!.pointer, this.slots.bytes[i]);
    }
  }
}

function sameTable(a: BigUint64Array, b: BigUint64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
