/**
 * Shared benchmark plumbing: best-of timing, and reports as ratios to the machine's limits and
 * to the previous recorded figure (bench/previous.json, written by `deno task bench --save`).
 * @module
 */

/** FMA peak of the 2-core development machine named in the issues (GFLOP/s). */
export const PEAK_GFLOPS = 345;
/** Middle of the measured 23–33 GB/s memory bandwidth. */
export const MEMORY_GBS = 28;

/** Best time in ms of `reps` runs after one warm-up. */
export function timeBest(fn: () => unknown, reps = 5): number {
  fn();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

let previous: Record<string, number> = {};
try {
  previous = JSON.parse(Deno.readTextFileSync(new URL("./previous.json", import.meta.url)));
} catch {
  // first run: no previous figures
}

/** This run's figures by name. */
export const results: Record<string, number> = {};

/** Prints one figure with its ratio to a limit and to the previous run. */
export function report(name: string, value: number, unit: string, limit?: number): void {
  results[name] = value;
  const ofLimit = limit ? ` (${((100 * value) / limit).toFixed(0)}% of ${limit} ${unit})` : "";
  const prev = previous[name] ? `, ${(value / previous[name]).toFixed(2)}x previous` : "";
  console.log(`${name.padEnd(40)} ${value.toFixed(2).padStart(9)} ${unit}${ofLimit}${prev}`);
}

/** Writes this run's figures as the new previous ones. */
export function savePrevious(): void {
  Deno.writeTextFileSync(
    new URL("./previous.json", import.meta.url),
    JSON.stringify(results, null, 2) + "\n",
  );
}
