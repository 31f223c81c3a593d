/**
 * The lecture's linear regression, in Kiln's idiom: predict application latency from CPU
 * utilization with `latency ≈ w * util + b`. TensorFlow's placeholders, variables and session
 * become a pure loss function, `grad`, and a jitted SGD step over the parameters.
 *
 *     deno run --allow-all examples/linear_regression.ts [data-file]
 *
 * Without a data file it writes a synthetic `system_cpuutil_applatency.txt` (100,000 rows of
 * "util latency", latency = 3.2 * util + 15 + noise) into a temporary folder and uses that.
 */

import { grad, jit, np, type Tensor } from "../mod.ts";

/** Writes the synthetic data file and returns its path. */
function writeSyntheticData(rows: number): string {
  const dir = Deno.makeTempDirSync({ prefix: "kiln-linreg-" });
  const path = `${dir}/system_cpuutil_applatency.txt`;
  let seed = 42;
  const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const util = 100 * uniform();
    const noise = 4 * (uniform() + uniform() + uniform() - 1.5);
    lines.push(`${util.toFixed(3)} ${(3.2 * util + 15 + noise).toFixed(3)}`);
  }
  Deno.writeTextFileSync(path, lines.join("\n") + "\n");
  return path;
}

/** Reads "util latency" rows into two float32 tensors. */
function readData(path: string): { x: Tensor; y: Tensor } {
  const rows = Deno.readTextFileSync(path).trim().split("\n").map((line, i) => {
    const values = line.trim().split(/[\s,]+/).map(Number);
    if (values.length !== 2 || values.some((v) => !Number.isFinite(v))) {
      throw new Error(`${path}:${i + 1}: expected two numbers, got ${JSON.stringify(line)}`);
    }
    return values;
  });
  return { x: np.array(rows.map((r) => r[0])), y: np.array(rows.map((r) => r[1])) };
}

const path = Deno.args[0] ?? writeSyntheticData(100_000);
const { x, y } = readData(path);
// utilization is in percent: scale it to [0, 1] so plain SGD converges quickly
const scale = 100;
const xs = x.div(scale);

type Params = { w: Tensor; b: Tensor };
const loss = (p: Params, xb: Tensor, yb: Tensor) =>
  np.mean(np.square(yb.sub(xb.mul(p.w).add(p.b))));
const step = jit((p: Params, xb: Tensor, yb: Tensor) => {
  const g = grad(loss)(p, xb, yb);
  return { w: p.w.sub(g.w.mul(0.5)), b: p.b.sub(g.b.mul(0.5)) };
});

let params: Params = { w: np.array(0), b: np.array(0) };
const batch = 1000, n = x.size;
for (let epoch = 0; epoch < 20; epoch++) {
  for (let start = 0; start + batch <= n; start += batch) {
    params = step(
      params,
      xs.slice(np.s(start, start + batch)),
      y.slice(np.s(start, start + batch)),
    );
  }
}
const w = (params.w.item() as number) / scale, b = params.b.item() as number;
console.log(
  `w = ${w.toFixed(3)}, b = ${b.toFixed(3)}, mse = ${
    (loss(params, xs, y).item() as number).toFixed(3)
  }`,
);
