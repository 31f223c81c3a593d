/**
 * The lecture's first graph, `h = ReLU(Wx + b)`, in Kiln's idiom. TensorFlow builds the graph
 * and runs it in a session; Kiln traces a plain function once (`jit`), prints the graph, and
 * each later call runs the compiled code — the `sess.run(h, {x: ...})` analogue.
 *
 *     deno run --allow-all examples/relu_layer.ts
 */

import { jit, np, type Tensor, trace } from "../mod.ts";

let seed = 1;
const uniform = (lo: number, hi: number, shape: number[]): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    data[i] = lo + (hi - lo) * (seed / 4294967296);
  }
  return np.array(data).reshape(shape);
};

// the variables: b = zeros(100), W = uniform(-1, 1) of shape (784, 100)
const b = np.zeros([100]);
const W = uniform(-1, 1, [784, 100]);

// the graph, as a function of the placeholder x
const layer = (x: Tensor) => np.maximum(np.matmul(x, W).add(b), 0);

const x = uniform(0, 1, [64, 784]); // np.random.random((64, 784))
console.log(trace(layer)(x).toString());
const run = jit(layer);
const h = run(x); // sess.run(h, {x: ...})
console.log("h:", h.shape, h.dtype, "mean", (np.mean(h).item() as number).toFixed(4));
const t0 = performance.now();
for (let i = 0; i < 100; i++) run(x);
console.log(`one compiled call: ${((performance.now() - t0) / 100).toFixed(3)} ms`);
console.log("fusion groups:", run.lower(x).groups());
