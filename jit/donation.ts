/**
 * Donation, shared by the back ends: which outputs a compiled graph writes into the buffers of
 * donated inputs (JAX's `donate_argnums`), decided on the planned steps.
 * @module
 */

import type { Buf, Planner } from "./cpu/plan.ts";

/** What donation needs to know of a step: its buffers, and a loop kernel's index forms. */
export interface DonationStep {
  reads: Set<Buf>;
  writes: Set<Buf>;
  /** A loop kernel's loads: the index forms of each buffer it reads. */
  loads?: Map<Buf, Set<string>>;
  /** A loop kernel's store index form. */
  storeForm?: string;
}

/**
 * Marks outputs to be written into donated inputs where that is safe (`Buf.alias`): the input
 * has the output's dtype and size, no later step reads it, and the step writing the output
 * reads it, if at all, only at the element it writes (its one store's index form). Each input
 * takes at most one output.
 */
export function donate(steps: readonly DonationStep[], planner: Planner, donated: boolean[]): void {
  const graph = planner.graph;
  const lastRead = new Map<Buf, number>();
  steps.forEach((c, s) => c.reads.forEach((b) => lastRead.set(b, s)));
  const used = new Set<Buf>();
  steps.forEach((c, s) => {
    for (const out of c.writes) {
      if (out.kind !== "out") continue;
      graph.inputs.forEach((v, i) => {
        if (out.alias || !donated[i] || graph.outputs.includes(v)) return;
        const inBuf = planner.bufOf(v)!;
        if (used.has(inBuf) || inBuf.dtype !== out.dtype || inBuf.size !== out.size) return;
        if ((lastRead.get(inBuf) ?? -1) > s) return;
        if (c.reads.has(inBuf)) {
          const forms = c.loads?.get(inBuf);
          if (!forms || c.writes.size !== 1 || [...forms].some((f) => f !== c.storeForm)) return;
        }
        out.alias = inBuf;
        used.add(inBuf);
      });
    }
  });
}
