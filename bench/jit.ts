/**
 * Benchmarks of the CPU JIT back end: a fused elementwise chain, row softmax, an MLP training
 * step, a scan RNN (lowered to a C loop) against eager, per-call overhead and first-compile time.
 * @module
 */

import "../mod.ts";
import { jit, lax, np, valueAndGrad } from "../mod.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import type { Graph } from "../core/graph.ts";
import { StagingTrace } from "../core/staging.ts";
import type { Tensor } from "../core/tensor.ts";
import { getCurrentTrace, withTrace } from "../core/trace.ts";
import { cpuBackend } from "../jit/cpu/backend.ts";
import { report, timeBest } from "./util.ts";

type Aval = { shape: number[]; dtype: DType };

function traceGraph(f: (...xs: Tensor[]) => Tensor[], avals: Aval[]): Graph {
  const st = new StagingTrace(getCurrentTrace(), "jit");
  const ins = avals.map((a) => st.newInput({ ...a, weak: false }));
  const outs = withTrace(st, () => f(...ins));
  st.valid = false;
  return st.toGraph(ins, outs);
}

function random(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

function mlpGraph(sizes: number[], batch: number): { graph: Graph; avals: Aval[] } {
  const avals: Aval[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    avals.push({ shape: [sizes[i], sizes[i + 1]], dtype: "float32" });
    avals.push({ shape: [sizes[i + 1]], dtype: "float32" });
  }
  avals.push({ shape: [batch, sizes[0]], dtype: "float32" });
  avals.push({ shape: [batch, sizes[sizes.length - 1]], dtype: "float32" });
  const nParams = avals.length - 2;
  const loss = (params: Tensor[], x: Tensor, y: Tensor) => {
    let h = x;
    for (let i = 0; i < params.length; i += 2) {
      h = np.add(np.matmul(h, params[i]), params[i + 1]);
      if (i + 2 < params.length) h = np.maximum(h, 0);
    }
    const m = np.max(h, -1, { keepdims: true });
    const lse = np.add(np.log(np.sum(np.exp(np.subtract(h, m)), -1, { keepdims: true })), m);
    return np.mean(np.sum(np.multiply(np.subtract(lse, h), y), -1));
  };
  const graph = traceGraph((...xs) => {
    const params = xs.slice(0, nParams);
    const [l, grads] = valueAndGrad(loss)(params, xs[nParams], xs[nParams + 1]) as [
      Tensor,
      Tensor[],
    ];
    return [l, ...params.map((p, i) => np.subtract(p, np.multiply(grads[i], 0.01)))];
  }, avals);
  return { graph, avals };
}

/** Runs the JIT benchmarks and prints them with `report`. */
export function benchJit(): void {
  const n = 1 << 24;
  const chain = traceGraph(
    (x) => [np.add(np.multiply(np.tanh(np.add(np.multiply(x, 2), 1)), x), np.exp(np.negative(x)))],
    [{ shape: [n], dtype: "float32" }],
  );
  const chainC = cpuBackend.compile(chain, { donated: [false] });
  const x = random(n);
  const tChain = timeBest(() => chainC.run([x]), 10);
  report("jit: tanh(x*2+1)*x+exp(-x) 16M f32", (8 * n) / tChain / 1e6, "GB/s");

  const [r, c] = [4096, 1024];
  const softmax = traceGraph((a) => {
    const e = np.exp(np.subtract(a, np.max(a, -1, { keepdims: true })));
    return [np.divide(e, np.sum(e, -1, { keepdims: true }))];
  }, [{ shape: [r, c], dtype: "float32" }]);
  const softmaxC = cpuBackend.compile(softmax, { donated: [false] });
  const s = random(r * c, 2);
  const tSoftmax = timeBest(() => softmaxC.run([s]), 10);
  report("jit: row softmax 4096x1024 f32", (8 * r * c) / tSoftmax / 1e6, "GB/s");

  // first compile of the training step: a fresh source (different batch) misses every cache
  const batch = 128;
  const { graph, avals } = mlpGraph([784, 512, 512, 10], batch);
  const cacheDir = Deno.makeTempDirSync({ prefix: "kiln-bench-cache-" });
  const saved = Deno.env.get("KILN_CACHE_DIR");
  Deno.env.set("KILN_CACHE_DIR", cacheDir);
  const t0 = performance.now();
  let step;
  try {
    step = cpuBackend.compile(graph, { donated: avals.map(() => false) });
  } finally {
    if (saved === undefined) Deno.env.delete("KILN_CACHE_DIR");
    else Deno.env.set("KILN_CACHE_DIR", saved);
  }
  const tCompile = performance.now() - t0;
  const data: TypedArray[] = avals.map((a, i) =>
    random(a.shape.reduce((p, q) => p * q, 1), 10 + i).map((v) => v * 0.1)
  );
  const tStep = timeBest(() => step.run(data), 20);
  report("jit: MLP 784-512-512-10 train step b128", tStep, "ms");

  // a tanh RNN over 100 steps, hidden 64 (batch 8, input 32): one C loop vs the eager scan
  const [rb, ri, rh, rt] = [8, 32, 64, 100];
  const t32 = (shape: number[], seed: number, scale: number) =>
    np.reshape(
      np.array(random(shape.reduce((p, q) => p * q, 1), seed).map((v) => v * scale)),
      shape,
    );
  const [w, u, b] = [t32([rh, rh], 30, 0.3), t32([ri, rh], 31, 0.5), t32([rh], 32, 0.1)];
  const h0 = t32([rb, rh], 33, 1), xs = t32([rt, rb, ri], 34, 1);
  const rnn = (w: Tensor, u: Tensor, b: Tensor, h0: Tensor, xs: Tensor) =>
    lax.scan(
      (h: Tensor, x: Tensor) => {
        const hn = np.tanh(np.add(np.add(np.matmul(h, w), np.matmul(x, u)), b));
        return [hn, hn] as [Tensor, Tensor];
      },
      h0,
      xs,
    );
  const rnnJit = jit(rnn);
  rnnJit(w, u, b, h0, xs);
  const tRnnJit = timeBest(() => rnnJit(w, u, b, h0, xs)[1].dataSync(), 20);
  const tRnnEager = timeBest(() => rnn(w, u, b, h0, xs)[1].dataSync(), 5);
  report("jit: scan RNN h64 x100 steps b8, jitted", tRnnJit, "ms");
  report("jit: scan RNN h64 x100 steps b8, eager", tRnnEager, "ms");

  const one = traceGraph((a) => [np.add(a, 1)], [{ shape: [4], dtype: "float32" }]);
  const oneC = cpuBackend.compile(one, { donated: [false] });
  const small = new Float32Array(4);
  const calls = 100000;
  const tCall = timeBest(() => {
    for (let i = 0; i < calls; i++) oneC.run([small]);
  }, 3);
  report("jit: per-call overhead, one small op", (tCall * 1000) / calls, "µs");
  report("jit: first compile of the MLP step", tCompile, "ms");
  Deno.removeSync(cacheDir, { recursive: true });
}

if (import.meta.main) benchJit();
