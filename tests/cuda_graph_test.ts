/**
 * CUDA graphs for jitted calls (`jit/cuda/graph_replay.ts`) and asynchronous read-back: a
 * replayed graph computes what kernel-by-kernel launches compute, picks the graph of the
 * call's own buffers, and falls back to direct launches when capturing fails; `data()` reads a
 * tensor as it was when called, without blocking.
 *
 * These need a CUDA device: a GPU, or the CPU emulation (`cuda_emulated_test.ts` runs this file
 * under the fake driver, which records and replays captures). Without one, each test skips.
 */

import {
  defaultDevice,
  devicePut,
  jit,
  np,
  setDefaultDevice,
  type Tensor,
  valueAndGrad,
} from "../mod.ts";
import { parseArgs, train } from "../cli/train.ts";
import { cudaDriver, cudaStatus } from "../ffi/cuda.ts";
import { allocateCudaBuffer, type CudaBuffer } from "../ffi/cuda_device.ts";
import { cudaGraphStats, GraphReplay } from "../jit/cuda/graph_replay.ts";
import { assert, assertClose, rng } from "./helpers.ts";

const status = cudaStatus();
const skipped = (what: string) => {
  console.log(`  skipped ${what}: ${status.reason}`);
};
const random = (shape: number[], seed: number, scale = 1) => {
  const r = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return np.array(Array.from({ length: size }, () => scale * (2 * r() - 1))).reshape(shape);
};
const statsNow = () => ({ ...cudaGraphStats });
const graphsHere = () => status.available && cudaDriver().supportsGraphs;

type Params = { w: Tensor; b: Tensor }[];

/** An MLP's SGD step: dozens of kernels (several fused groups per layer, forward and back). */
function mlpStep(params: Params, x: Tensor, labels: Tensor) {
  const loss = (ps: Params) => {
    let h = x;
    ps.forEach(({ w, b }, i) => {
      h = np.matmul(h, w).add(b);
      if (i < ps.length - 1) h = np.maximum(h, 0);
    });
    const logp = h.sub(np.log(np.sum(np.exp(h), -1, { keepdims: true })));
    return np.mean(np.takeAlongAxis(logp, labels.reshape([-1, 1]), 1)).neg();
  };
  const [value, grads] = valueAndGrad(loss)(params);
  const next = params.map((p, i) => ({
    w: p.w.sub(grads[i].w.mul(0.3)),
    b: p.b.sub(grads[i].b.mul(0.3)),
  }));
  return [value, next] as const;
}

Deno.test("cuda graphs: a training loop that disposes replays graphs, with cpu's numbers", () => {
  if (!status.available) return skipped("CUDA graph replay");
  const sizes = [10, 24, 16, 5];
  const x = random([40, 10], 1);
  const labels = np.argmax(np.matmul(x, random([10, 5], 2)), 1);
  const train = (device: "cpu" | "cuda") => {
    const step = jit(mlpStep, { device });
    let params: Params = devicePut(
      sizes.slice(1).map((n, i) => ({ w: random([sizes[i], n], 5 + i, 0.5), b: np.zeros([n]) })),
      device,
    );
    const [xd, ld] = devicePut([x, labels], device);
    const losses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const [value, next] = step(params, xd, ld);
      losses.push(Number(value.item()));
      value.dispose();
      // as a training loop that frees what it replaces: the blocks come back, so tables recur
      params.forEach((p) => (p.w.dispose(), p.b.dispose()));
      params = next;
    }
    return { losses, params };
  };
  const cpu = train("cpu");
  const before = statsNow();
  const cuda = train("cuda");
  assertClose(cuda.losses, cpu.losses, { rtol: 1e-4, atol: 1e-5 });
  cuda.params.forEach((p, i) => {
    assertClose(p.w, cpu.params[i].w, { rtol: 1e-4, atol: 1e-5 });
    assertClose(p.b, cpu.params[i].b, { rtol: 1e-4, atol: 1e-5 });
  });
  if (graphsHere()) {
    const after = statsNow();
    assert.ok(after.captured > before.captured, "no CUDA graph was captured");
    assert.ok(
      after.replayed >= before.replayed + 4,
      `replays: ${after.replayed - before.replayed}`,
    );
    assert.equal(after.failedCaptures, before.failedCaptures);
  }
});

Deno.test("cuda: donated arguments are updated in place, with cpu's numbers", () => {
  if (!status.available) return skipped("donation");
  const sizes = [6, 8, 3];
  const x = random([12, 6], 31);
  const labels = np.argmax(np.matmul(x, random([6, 3], 32)), 1);
  const init = () =>
    sizes.slice(1).map((n, i) => ({ w: random([sizes[i], n], 33 + i, 0.5), b: random([n], 40) }));
  const want = jit(mlpStep)(init(), x, labels);
  const step = jit(mlpStep, { device: "cuda", donateArgnums: 0 });
  const params = devicePut(init(), "cuda");
  const addressOf = (t: Tensor) => (t.buffer("test") as CudaBuffer).pointer;
  const before = params.map((p) => [addressOf(p.w), addressOf(p.b)]);
  const [xd, ld] = devicePut([x, labels], "cuda");
  const [value, next] = step(params, xd, ld);
  assertClose(value, want[0], { rtol: 1e-5, atol: 1e-6 });
  next.forEach((p, i) => {
    assertClose(p.w, want[1][i].w, { rtol: 1e-5, atol: 1e-6 });
    assertClose(p.b, want[1][i].b, { rtol: 1e-5, atol: 1e-6 });
    // the update w - lr·g reads w only where it writes: written into w's memory
    assert.deepEqual([addressOf(p.w), addressOf(p.b)], before[i], `layer ${i} not in place`);
  });
  assert.ok(params.every((p) => p.w.isDisposed && p.b.isDisposed), "donated inputs deleted");
  assert.throws(() => params[0].w.dataSync(), /disposed/);
  // the same buffer passed twice, donated: the output gets memory of its own
  const twice = jit((a: Tensor, b: Tensor) => a.add(b), { device: "cuda", donateArgnums: [0, 1] });
  const v = devicePut(random([5], 41), "cuda");
  const expected = v.to("cpu").mul(2);
  assertClose(twice(v, v), expected, { rtol: 0, atol: 0 });
});

Deno.test("cuda graphs: inputs that change buffers are staged, each call its own numbers", () => {
  if (!status.available) return skipped("CUDA graph staging");
  // reductions along alternating axes between elementwise work: several kernels per call
  // (staging pays only while its copies are fewer than half the launches)
  const f = (v: Tensor) => {
    const centered = v.sub(np.mean(v, 1, { keepdims: true }));
    const scaled = centered.mul(np.max(centered, 0, { keepdims: true }));
    const spread = scaled.sub(np.min(scaled, 1, { keepdims: true }));
    return np.sum(spread.mul(spread), 1).add(np.max(spread, 0).sum());
  };
  const inputs = [random([6, 33], 7), random([6, 33], 8)];
  const want = inputs.map((v) => jit(f)(v));
  const g = jit(f, { device: "cuda" });
  const onCuda = inputs.map((v) => devicePut(v, "cuda"));
  const before = statsNow();
  const outputs: Tensor[] = [];
  const order = [0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0];
  for (const which of order) {
    const out = g(onCuda[which]);
    assertClose(out, want[which], { rtol: 1e-5, atol: 1e-5 }, `input ${which}`);
    // the first calls free their output (its block comes back); the later ones keep it, so
    // the output changes buffers too and is staged (copied out of the graph's own)
    if (outputs.length < 8) out.dispose();
    outputs.push(out);
  }
  // (kept outputs must not be overwritten by later calls)
  outputs.slice(8).forEach((out, i) => assertClose(out, want[order[8 + i]], { rtol: 1e-5 }));
  assert.ok(g.lower(onCuda[0]).kernelCount >= 5, `${g.lower(onCuda[0]).kernelCount} kernels`);
  if (graphsHere()) {
    // the input alternates: from the second call on it is copied into the graph's buffer, so
    // one graph serves both (captured at the third call; another once the output is staged)
    const after = statsNow();
    assert.equal(after.captured - before.captured, 2, "graphs captured");
    assert.ok(after.replayed - before.replayed >= 7, `${after.replayed - before.replayed} replays`);
  }
});

Deno.test("cuda graphs: a failed capture falls back to direct launches for good", () => {
  if (!status.available) return skipped("CUDA graph fallback");
  const driver = cudaDriver();
  const buffer = allocateCudaBuffer(4, driver);
  const table = new BigUint64Array([buffer.pointer]);
  const streams: (Deno.PointerValue)[] = [];
  let written = 0;
  const replay = new GraphReplay(
    driver,
    (stream) => {
      streams.push(stream);
      if (stream !== null) throw new Error("this step cannot be captured");
      driver.upload(buffer.pointer, new Float32Array([++written]));
    },
    { first: 1, count: 0 },
    { bytes: [4], stageable: [false], launches: 1 },
  );
  const before = statsNow();
  for (let i = 0; i < 4; i++) replay.run(table);
  const back = new Float32Array(1);
  driver.download(back, buffer.pointer);
  assert.equal(back[0], 4, "every call ran");
  assert.equal(written, 4);
  const after = statsNow();
  assert.equal(after.replayed, before.replayed);
  if (driver.supportsGraphs) {
    assert.equal(after.failedCaptures - before.failedCaptures, 1, "one try, then no more");
    assert.equal(streams.filter((s) => s !== null).length, 1);
  }
});

Deno.test("cuda: data() reads the tensor as it was when called, without blocking", async () => {
  if (!status.available) return skipped("asynchronous read-back");
  const values = random([1000], 11);
  const x = devicePut(values, "cuda");
  const pending = x.data();
  x.dispose();
  // the block is handed to the next allocation of its size and overwritten, after the read
  const y = devicePut(np.full([1000], 7), "cuda");
  const [got, again] = await Promise.all([pending, y.data()]);
  assertClose(np.array(Array.from(got)), values, { rtol: 0, atol: 0 });
  assert.ok(Array.from(again).every((v) => v === 7));
  const empty = await devicePut(np.zeros([0]), "cuda").data();
  assert.equal(empty.length, 0);
});

Deno.test("deno task train --device cuda: the MLP trains as on cpu", async () => {
  if (!status.available) return skipped("training on cuda");
  const previous = defaultDevice().name;
  const out = await Deno.makeTempDir();
  const quiet = console.log;
  try {
    console.log = () => {};
    const run = (device: "cpu" | "cuda") =>
      train(parseArgs([
        ...["--device", device, "--model", "mlp", "--epochs", "1", "--batch-size", "2000"],
        ...["--out", `${out}/${device}`],
      ]));
    const cpu = await run("cpu");
    const before = statsNow();
    const cuda = await run("cuda");
    assert.ok(Math.abs(cuda - cpu) <= 0.002, `test accuracy ${cuda} on cuda, ${cpu} on cpu`);
    // the step donates its parameters: every call after the first replays a graph
    if (graphsHere()) assert.ok(statsNow().replayed > before.replayed);
  } finally {
    console.log = quiet;
    setDefaultDevice(previous);
    await Deno.remove(out, { recursive: true });
  }
});
