/**
 * Foundation figures: matmul, sum, elementwise, per-call overhead, conv2d.
 * @module
 */

import { getDevice, lax, np } from "../mod.ts";
import { MEMORY_GBS, PEAK_GFLOPS, report, timeBest } from "./util.ts";

/** Runs the foundation benchmarks. */
export function benchFoundation(): void {
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
  report(
    "add f32 16M (fresh output)",
    (N * 12) / timeBest(() => np.add(big, big2)) / 1e6,
    "GB/s",
    MEMORY_GBS,
  );
  report(
    "exp f32 16M (fresh output)",
    (N * 8) / timeBest(() => np.exp(big)) / 1e6,
    "GB/s",
    MEMORY_GBS,
  );
  const one = np.array([1]), two = np.array([2]);
  for (let i = 0; i < 20000; i++) np.add(one, two);
  const calls = 200000;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) np.add(one, two);
  report("np.add 1-element", ((performance.now() - t0) * 1000) / calls, "µs/call");
  const x = np.ones([32, 32, 56, 56]).mul(0.1), w = np.ones([64, 32, 3, 3]).mul(0.01);
  report("conv2d 3x3 N32 32->64 56x56", timeBest(() => lax.conv(x, w, [1, 1], "SAME"), 3), "ms");
}
