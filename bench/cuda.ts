/**
 * CUDA figures for an H100 (issue 7's targets), measured in one process on the same card:
 *
 * - device-to-device copy bandwidth of 256M float32 (the memory roof), and the fused
 *   elementwise chain `tanh(2x + 1) x - exp(-x)` on the same data (one read, one write);
 * - matmul n = 8192 in float32 and bfloat16 (TFLOP/s; cuBLAS through PyTorch is measured by
 *   `tools/gpu-check.sh` beside it);
 * - the jitted SGD step of the MLP 784-512-512-10 (softmax cross-entropy) at batch 128 and
 *   4096 (ms per step; JAX's jit is measured by `tools/gpu-check.sh`): replaying CUDA graphs,
 *   kernel by kernel, and with TF32 matmuls (precision "default", JAX's default on a GPU).
 *
 * Each figure is the best of several timed runs after a warm-up (compilation), with the device
 * synchronized around each. `--tsv` prints `name<TAB>value<TAB>unit<TAB>note` rows (for
 * gpu-check's table); without a GPU it prints why and exits 0.
 *
 * Run: `deno run -A bench/cuda.ts [--tsv] [bandwidth] [matmul] [mlp]`
 * @module
 */

import {
  devicePut,
  jit,
  np,
  setDefaultMatmulPrecision,
  type Tensor,
  tree,
  valueAndGrad,
} from "../mod.ts";
import { cudaDriver, cudaStatus } from "../ffi/cuda.ts";
import { allocateCudaBuffer, freeCudaBuffer } from "../ffi/cuda_device.ts";
import { cublasStatus } from "../ffi/cublas.ts";
import { setCudaGraphsEnabled } from "../jit/cuda/graph_replay.ts";

const tsv = Deno.args.includes("--tsv");
/** Parts named on the command line (bandwidth, matmul, mlp); none named: all. */
const only = Deno.args.filter((a) => !a.startsWith("--"));
const rows: [string, string, string, string][] = [];
const row = (name: string, value: number | string, unit: string, note = "") => {
  const text = typeof value === "number" ? value.toFixed(value >= 100 ? 0 : 2) : value;
  rows.push([name, text, unit, note]);
  if (!tsv) console.log(`${name.padEnd(34)} ${text.padStart(9)} ${unit.padEnd(8)} ${note}`);
};

/** Best wall time in seconds of `reps` runs of `fn`, each ended by a device synchronization. */
function timeGpu(fn: () => unknown, reps: number): number {
  const driver = cudaDriver();
  fn();
  driver.synchronize();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    driver.synchronize();
    best = Math.min(best, performance.now() - t0);
  }
  return best / 1e3;
}

/** Deterministic values in [-scale/2, scale/2) (a linear congruential generator). */
function pattern(n: number, seed: number, scale = 1): Float32Array {
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = scale * (s / 4294967296 - 0.5);
  }
  return data;
}

function benchBandwidth(): void {
  const n = 256 * 2 ** 20, bytes = 4 * n;
  const driver = cudaDriver();
  const src = allocateCudaBuffer(bytes), dst = allocateCudaBuffer(bytes);
  const copy = timeGpu(() => driver.copy(dst.pointer, src.pointer, bytes), 10);
  freeCudaBuffer(src);
  freeCudaBuffer(dst);
  const copyGBs = (2 * bytes) / copy / 1e9;
  row("d2d copy 256M f32", copyGBs, "GB/s", "read+write");
  const x = np.array(pattern(n, 1, 4), { device: "cuda" });
  const chain = jit((v: Tensor) => np.tanh(v.mul(2).add(1)).mul(v).sub(np.exp(v.neg())));
  const t = timeGpu(() => chain(x).dispose(), 10);
  const chainGBs = (2 * bytes) / t / 1e9;
  row("fused chain 256M f32", chainGBs, "GB/s", `${(t * 1e3).toFixed(2)} ms`);
  row("fused chain / copy", (100 * chainGBs) / copyGBs, "%", "target >= 80 %");
  x.dispose();
}

function benchMatmul(): void {
  const n = 8192;
  const mm = jit((a: Tensor, b: Tensor) => np.matmul(a, b));
  for (const dtype of ["float32", "bfloat16"] as const) {
    const a = np.array(pattern(n * n, 2), { device: "cuda" }).reshape([n, n]).astype(dtype);
    const b = np.array(pattern(n * n, 3), { device: "cuda" }).reshape([n, n]).astype(dtype);
    const t = timeGpu(() => mm(a, b).dispose(), 5);
    row(
      `kiln matmul 8192 ${dtype === "float32" ? "float32" : "bfloat16"}`,
      2 * n ** 3 / t / 1e12,
      "TFLOP/s",
      `${(t * 1e3).toFixed(1)} ms`,
    );
    a.dispose();
    b.dispose();
  }
}

function benchMlp(): void {
  const sizes = [784, 512, 512, 10];
  const init = (i: number, shape: number[], scale: number) =>
    np.array(pattern(shape[0] * (shape[1] ?? 1), 10 + i, scale)).reshape(shape);
  const params = {
    w1: init(1, [784, 512], 0.1),
    b1: np.zeros([512]),
    w2: init(2, [512, 512], 0.1),
    b2: np.zeros([512]),
    w3: init(3, [512, 10], 0.1),
    b3: np.zeros([10]),
  };
  type P = typeof params;
  const loss = (p: P, x: Tensor, y: Tensor) => {
    const h1 = np.maximum(x.matmul(p.w1).add(p.b1), 0);
    const h2 = np.maximum(h1.matmul(p.w2).add(p.b2), 0);
    const logits = h2.matmul(p.w3).add(p.b3);
    const logp = logits.sub(np.logsumexp(logits, 1, { keepdims: true }));
    return np.mean(np.sum(logp.mul(y), 1)).neg();
  };
  const step = jit((p: P, x: Tensor, y: Tensor) => {
    const [value, g] = valueAndGrad(loss)(p, x, y) as [Tensor, P];
    return [value, tree.map((w, d) => (w as Tensor).sub((d as Tensor).mul(0.01)), p, g)];
  });
  for (const batch of [128, 4096]) {
    const x = np.array(pattern(batch * sizes[0], 4), { device: "cuda" }).reshape([batch, 784]);
    const labels = np.arange(batch).mod(10);
    const onehot = np.equal(np.arange(10).reshape([1, 10]), labels.reshape([batch, 1]))
      .astype("float32");
    const y = devicePut(onehot, "cuda");
    let p = devicePut(params, "cuda");
    // a training loop that frees what it replaces, so a call's buffers recur (CUDA graphs)
    const tenSteps = () => {
      for (let i = 0; i < 10; i++) {
        const [value, next] = step(p, x, y) as [Tensor, P];
        value.dispose();
        tree.leaves(p).forEach((w) => (w as Tensor).dispose());
        p = next;
      }
    };
    const t = timeGpu(tenSteps, 5) / 10;
    row(`kiln jit MLP step batch ${batch}`, t * 1e3, "ms", "784-512-512-10 SGD");
    setCudaGraphsEnabled(false);
    const direct = timeGpu(tenSteps, 5) / 10;
    setCudaGraphsEnabled(true);
    row(`kiln jit MLP step batch ${batch}, no graphs`, direct * 1e3, "ms", "kernel by kernel");
    // JAX's default on a GPU: TF32 matmuls (the step retraces: precision is in jit's key)
    setDefaultMatmulPrecision("default");
    const tf32 = timeGpu(tenSteps, 5) / 10;
    setDefaultMatmulPrecision("highest");
    row(`kiln jit MLP step batch ${batch} (TF32)`, tf32 * 1e3, "ms", 'precision "default"');
  }
}

const status = cudaStatus();
if (!status.available) {
  row("kiln cuda bench", "skipped", "", status.reason);
} else {
  if (!tsv) console.log(`${status.reason}; ${cublasStatus().reason}`);
  row("kiln matmul path", cublasStatus().available ? "cuBLAS" : "rendered", "", "");
  for (
    const [name, part] of [["bandwidth", benchBandwidth], ["matmul", benchMatmul], [
      "mlp",
      benchMlp,
    ]] as const
  ) {
    if (only.length > 0 && !only.includes(name)) continue;
    try {
      part();
    } catch (error) {
      row(`kiln ${name}`, "failed", "", (error as Error).message.split("\n")[0].slice(0, 160));
    }
  }
}
if (tsv) { for (const r of rows) console.log(r.join("\t")); }
