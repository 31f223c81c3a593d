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
 * reads it, if at all, only at the element it writes (the loop's store index form). Each input
 * takes at most one output. An output first takes the input at its own position when it can
 * (`step(params, state) -> [params', state']`: each leaf into its predecessor), so that a loop
 * feeding outputs back as inputs keeps every leaf in the same buffer; then any input that fits.
 */
export function donate(steps: readonly DonationStep[], planner: Planner, donated: boolean[]): void {
  const graph = planner.graph;
  const lastRead = new Map<Buf, number>();
  steps.forEach((c, s) => c.reads.forEach((b) => lastRead.set(b, s)));
  const used = new Set<Buf>();
  const canTake = (c: DonationStep, s: number, out: Buf, i: number): boolean => {
    const v = graph.inputs[i];
    if (out.alias || !donated[i] || graph.outputs.includes(v)) return false;
    const inBuf = planner.bufOf(v)!;
    if (used.has(inBuf) || inBuf.dtype !== out.dtype || inBuf.size !== out.size) return false;
    if ((lastRead.get(inBuf) ?? -1) > s) return false;
    if (!c.reads.has(inBuf)) return true;
    const forms = c.loads?.get(inBuf);
    // a loop kernel's roots all store at one index form: each element is read, then written
    return !!forms && [...forms].every((f) => f === c.storeForm);
  };
  const take = (out: Buf, i: number) => {
    const inBuf = planner.bufOf(graph.inputs[i])!;
    out.alias = inBuf;
    used.add(inBuf);
  };
  for (const samePosition of [true, false]) {
    steps.forEach((c, s) => {
      for (const out of c.writes) {
        if (out.kind !== "out" || out.alias) continue;
        if (samePosition) {
          if (out.index < graph.inputs.length && canTake(c, s, out, out.index)) {
            take(out, out.index);
          }
          continue;
        }
        const i = graph.inputs.findIndex((_, k) => canTake(c, s, out, k));
        if (i >= 0) take(out, i);
      }
    });
  }
}
