/**
 * Kiln side by side with NumPy and PyTorch on common operations: each case runs in Kiln eager
 * (the default `cpu` device), Kiln `jit` where fusion matters, NumPy (`python3`) and PyTorch
 * (`/usr/bin/python3`, 2 threads), one Python process per library running every case
 * (`bench/compare_ref.py`). Printed per case: best ms per call and Kiln / best of the others
 * (below 1 means Kiln is faster). `--filter=text` keeps the cases whose name contains `text`.
 *
 *     deno task bench compare
 *     deno task bench compare --filter=sum
 *     deno run -A --v8-flags=--expose-gc bench/main.ts compare   # steadier: a GC between cases
 *
 * Kiln's figures include allocating each result (a fresh zeroed ArrayBuffer), as NumPy's and
 * PyTorch's include theirs (PyTorch's caching allocator hands back cache-hot blocks).
 * @module
 */

import { jit, np, type Tensor } from "../mod.ts";
import { type Case, compareCases, type Input } from "./compare_cases.ts";
import { results } from "./util.ts";

// A small deterministic generator, so every run times the same values.
function fillValues(n: number, fill: string, seed: number): Float32Array | Int32Array {
  let state = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  if (fill.startsWith("index:")) {
    const bound = Number(fill.slice(6));
    return Int32Array.from({ length: n }, () => Math.floor(next() * bound));
  }
  const lo = fill === "positive" ? 0.5 : -1, hi = fill === "positive" ? 2 : 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

function kilnInput(spec: Input, seed: number): Tensor {
  const fill = spec.fill ?? "uniform";
  const n = spec.shape.reduce((p, d) => p * d, 1);
  let t = np.array(fillValues(n, fill, seed)).reshape(spec.shape);
  if (fill === "bool") t = np.greater(t, 0);
  if (spec.dtype === "float64") t = t.astype("float64");
  return t;
}

/** Best ms per call: a loop calibrated to ~2 ms per sample, best of `samples` samples. */
export function timePerCall(fn: () => unknown, samples = 7): number {
  fn();
  let reps = 1, dt = 0;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    dt = performance.now() - t0;
    if (dt > 2 || reps >= 1 << 16) break;
    reps *= 4;
  }
  let best = dt / reps;
  for (let s = 1; s < samples; s++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    best = Math.min(best, (performance.now() - t0) / reps);
  }
  return best;
}

function runReference(python: string, library: string, cases: Case[]): Record<string, number> {
  const spec = cases.map((c) => ({
    name: c.name,
    inputs: c.inputs.map((i) => ({
      shape: i.shape,
      dtype: i.dtype ?? "float32",
      fill: i.fill ?? "uniform",
    })),
    numpy: c.numpy,
    torch: c.torch,
  }));
  const script = new URL("./compare_ref.py", import.meta.url).pathname;
  const tmp = Deno.makeTempFileSync({ suffix: ".json" });
  Deno.writeTextFileSync(tmp, JSON.stringify(spec));
  const result = new Deno.Command("sh", {
    args: ["-c", `"${python}" "${script}" ${library} < "${tmp}"`],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  Deno.removeSync(tmp);
  if (!result.success) {
    console.log(`${library}: failed: ${new TextDecoder().decode(result.stderr).slice(-400)}`);
    return {};
  }
  return JSON.parse(new TextDecoder().decode(result.stdout)).ms;
}

const fmtMs = (ms: number | undefined) =>
  ms === undefined ? "-" : ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(4);

/** Runs the comparison and prints one line per case. */
export function benchCompare(): void {
  const filter = Deno.args.find((a) => a.startsWith("--filter="))?.slice("--filter=".length);
  const cases = compareCases().filter((c) => filter === undefined || c.name.includes(filter));
  const numpyMs = runReference("python3", "numpy", cases);
  const torchMs = runReference("/usr/bin/python3", "torch", cases);
  console.log(
    `${"case".padEnd(34)} ${"kiln".padStart(9)} ${"jit".padStart(9)} ${"numpy".padStart(9)} ` +
      `${"torch".padStart(9)}  kiln/best  jit/best   (ms per call)`,
  );
  // with --v8-flags=--expose-gc, each case starts without the previous cases' garbage
  const collect = (globalThis as { gc?: () => void }).gc;
  for (const c of cases) {
    collect?.();
    const inputs = c.inputs.map((spec, i) => kilnInput(spec, i + 1));
    const eager = timePerCall(() => c.kiln(...inputs));
    let jitted: number | undefined;
    if (c.jit) {
      const f = jit(c.kiln);
      jitted = timePerCall(() => f(...inputs));
    }
    const others = [numpyMs[c.name], torchMs[c.name]].filter((v) => v !== undefined);
    const best = others.length > 0 ? Math.min(...others) : undefined;
    const ratio = (v: number | undefined) =>
      v === undefined || best === undefined ? "-" : (v / best).toFixed(2);
    results[`compare ${c.name} kiln/best`] = best === undefined ? NaN : eager / best;
    console.log(
      `${c.name.padEnd(34)} ${fmtMs(eager).padStart(9)} ${fmtMs(jitted).padStart(9)} ` +
        `${fmtMs(numpyMs[c.name]).padStart(9)} ${fmtMs(torchMs[c.name]).padStart(9)}  ` +
        `${ratio(eager).padStart(9)} ${ratio(jitted).padStart(9)}`,
    );
  }
}
