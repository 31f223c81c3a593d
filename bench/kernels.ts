// Quick benchmark of the native CPU kernels through FFI.
//
// Run: deno run --allow-all bench/kernels.ts [rounds]
// Prints GFLOP/s for f32 matmul (BLAS and the built-in blocked kernel), GB/s for a 16M-element
// f32 sum and add (bytes read + written), ms for a ResNet-style conv2d, and the cost of one
// FFI call on 1-element arrays. Every case is timed in each of several rounds (3 by default,
// interleaved, because the development VM has bursts of CPU steal) and the best time is kept.
// `KILN_BLAS=none` runs everything without BLAS.

import { loadCpuLibrary } from "../ffi/cpu_library.ts";

const lib = loadCpuLibrary();
const S = lib.symbols;
const rounds = Number(Deno.args[0] ?? 3);

/** Best wall time in seconds of `runs` calls of f, after one warm-up call. */
function best(f: () => void, runs: number): number {
  f();
  let min = Infinity;
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    f();
    min = Math.min(min, performance.now() - start);
  }
  return min / 1000;
}

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** A benchmark: a name, the timed call, how many calls per round, and how to show a time. */
interface Case {
  name: string;
  run: () => void;
  runs: number;
  show: (seconds: number) => string;
}
const cases: Case[] = [];

for (const n of [1024, 2048]) {
  const a = random(n * n), b = random(n * n), out = new Float32Array(n * n);
  const N = BigInt(n), flops = 2 * n ** 3, runs = n === 1024 ? 10 : 3;
  const show = (t: number) => `${(flops / t / 1e9).toFixed(1)} GFLOP/s`;
  if (lib.blasLoaded) {
    const run = () => S.kiln_matmul_f32(1n, N, N, N, a, 0, b, 0, out);
    cases.push({ name: `matmul f32 n=${n} (BLAS)`, run, runs, show });
  }
  const run = () => S.kiln_matmul_blocked_f32(1n, N, N, N, a, 0, b, 0, out);
  cases.push({ name: `matmul f32 n=${n} (built-in blocked)`, run, runs, show });
}

{
  const n = 16 * 1024 * 1024, N = BigInt(n);
  const x = random(n), y = random(n), out = new Float32Array(n), sum = new Float32Array(1);
  const rate = (bytes: number) => (t: number) =>
    `${(bytes / t / 1e9).toFixed(1)} GB/s (${(t * 1e3).toFixed(2)} ms)`;
  cases.push({
    name: "sum f32 16M",
    run: () => S.kiln_reduce_sum_f32(1n, N, 1n, x, sum),
    runs: 20,
    show: rate(4 * n),
  });
  cases.push({
    name: "add f32 16M (read 2 + write 1)",
    run: () => S.kiln_add_f32(N, x, y, out),
    runs: 10,
    show: rate(12 * n),
  });
  cases.push({
    name: "exp f32 16M",
    run: () => S.kiln_exp_f32(N, x, out),
    runs: 10,
    show: (t) => `${(n / t / 1e9).toFixed(2)} Gelem/s (${(t * 1e3).toFixed(2)} ms)`,
  });
}

{
  // ResNet-style layer: N=32, C=32 -> O=64, 56x56, 3x3, stride 1, pad 1.
  const [N, C, H, W, O, K] = [32, 32, 56, 56, 64, 3];
  const p = BigInt64Array.from([N, C, H, W, O, K, K, H, W, 1, 1, 1, 1, 1, 1, 1, 1, 1].map(BigInt));
  const x = random(N * C * H * W), w = random(O * C * K * K), out = new Float32Array(N * O * H * W);
  const flops = 2 * N * O * H * W * C * K * K;
  cases.push({
    name: `conv2d f32 32x32x56x56 -> 64, 3x3 (${lib.blasLoaded ? "BLAS loaded" : "no BLAS"})`,
    run: () => S.kiln_conv2d_f32(p, x, w, out),
    runs: 5,
    show: (t) => `${(t * 1e3).toFixed(1)} ms (${(flops / t / 1e9).toFixed(0)} GFLOP/s)`,
  });
}

{
  const a = new Float32Array(1), b = new Float32Array(1), out = new Float32Array(1);
  const calls = 1_000_000;
  cases.push({
    name: "add f32 n=1 (one FFI call)",
    run: () => {
      for (let i = 0; i < calls; i++) S.kiln_add_f32(1n, a, b, out);
    },
    runs: 2,
    show: (t) => `${(t / calls * 1e9).toFixed(0)} ns/call`,
  });
}

console.log(`BLAS: ${lib.blasLoaded ? lib.blasPath : "not loaded"}; best of ${rounds} rounds`);
const times = cases.map(() => Infinity);
for (let round = 0; round < rounds; round++) {
  cases.forEach((c, i) => (times[i] = Math.min(times[i], best(c.run, c.runs))));
}
cases.forEach((c, i) => console.log(`${c.name.padEnd(48)} ${c.show(times[i])}`));
