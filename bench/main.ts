/**
 * Kiln's benchmarks, printed as ratios to the machine's limits (and to the figure recorded in
 * bench/previous.json when present). Not tests: nothing here gates CI.
 *
 *     deno task bench
 */

import { np } from "../mod.ts";
import { lax } from "../mod.ts";
import { getDevice } from "../mod.ts";

const PEAK_GFLOPS = 345; // FMA peak of the 2-core development machine
const MEMORY_GBS = 28; // middle of the measured 23–33 GB/s

/** Best time in ms of `reps` runs after one warm-up. */
function timeBest(fn: () => unknown, reps = 5): number {
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
const results: Record<string, number> = {};

function report(name: string, value: number, unit: string, limit?: number) {
  results[name] = value;
  const ofLimit = limit ? ` (${((100 * value) / limit).toFixed(0)}% of ${limit} ${unit})` : "";
  const prev = previous[name] ? `, ${(value / previous[name]).toFixed(2)}x previous` : "";
  console.log(`${name.padEnd(34)} ${value.toFixed(2).padStart(9)} ${unit}${ofLimit}${prev}`);
}

const cpu = getDevice("cpu") as unknown as { blasLoaded: boolean };
console.log(`cpu device, BLAS ${cpu.blasLoaded ? "loaded" : "not loaded"}`);

for (const n of [1024, 2048]) {
  const a = np.ones([n, n]).mul(0.5), b = np.ones([n, n]).mul(0.25);
  const ms = timeBest(() => np.matmul(a, b), n === 2048 ? 3 : 5);
  report(`matmul f32 n=${n}`, (2 * n ** 3) / ms / 1e6, "GFLOP/s", PEAK_GFLOPS);
}

const N = 16 * 1024 * 1024;
const big = np.linspace(-1, 1, N), big2 = np.linspace(1, 2, N);
report("sum f32 16M", (N * 4) / timeBest(() => np.sum(big)) / 1e6, "GB/s", MEMORY_GBS);
report("add f32 16M", (N * 12) / timeBest(() => np.add(big, big2)) / 1e6, "GB/s", MEMORY_GBS);
report("exp f32 16M", (N * 8) / timeBest(() => np.exp(big)) / 1e6, "GB/s", MEMORY_GBS);

const one = np.array([1]), two = np.array([2]);
for (let i = 0; i < 20000; i++) np.add(one, two);
const calls = 200000;
const t0 = performance.now();
for (let i = 0; i < calls; i++) np.add(one, two);
report("np.add 1-element", ((performance.now() - t0) * 1000) / calls, "µs/call");

const x = np.ones([32, 32, 56, 56]).mul(0.1), w = np.ones([64, 32, 3, 3]).mul(0.01);
report("conv2d 3x3 N32 32->64 56x56", timeBest(() => lax.conv(x, w, [1, 1], "SAME"), 3), "ms");

if (Deno.args.includes("--save")) {
  Deno.writeTextFileSync(
    new URL("./previous.json", import.meta.url),
    JSON.stringify(results, null, 2) + "\n",
  );
}
