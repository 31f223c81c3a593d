/**
 * vmap figures: a matmul-shaped per-example function over a batch of 128, against the same
 * computation written batched by hand, and per-example gradients against a loop of grads.
 * @module
 */

import { grad, np, type Tensor, vmap } from "../mod.ts";
import { report, timeBest } from "./util.ts";

function init(seed: number, shape: number[]): Tensor {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 4294967296 - 0.5;
  }
  return np.array(data).reshape(shape);
}

/** Runs the vmap benchmarks. */
export function benchVmap(): void {
  const w = init(1, [256, 512]), b = init(2, [256]);
  const xs = init(3, [128, 512]);
  const perExample = (x: Tensor) => np.tanh(np.matmul(w, x).add(b));
  const batched = vmap(perExample);
  const byHand = (xs: Tensor) => np.tanh(np.matmul(xs, w.T).add(b));
  const tv = timeBest(() => batched(xs), 20);
  const th = timeBest(() => byHand(xs), 20);
  report("vmap(tanh(W x + b)), batch 128", tv, "ms");
  report("hand-batched tanh(X W^T + b)", th, "ms");
  report("vmap / hand-batched", tv / th, "x");

  const loss = (w: Tensor, x: Tensor) => np.sum(np.square(np.tanh(np.matmul(w, x))));
  const small = xs.slice(np.s(0, 32));
  const tg = timeBest(() => vmap(grad(loss), { inAxes: [null, 0] })(w, small), 5);
  const tl = timeBest(() => {
    for (let i = 0; i < 32; i++) grad(loss)(w, small.slice(i));
  }, 3);
  report("per-example grads, vmap (32 examples)", tg, "ms");
  report("per-example grads, JS loop (32 examples)", tl, "ms");
}
