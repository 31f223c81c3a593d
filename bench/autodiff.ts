/**
 * Autodiff figures: eager valueAndGrad of the MLP 784-512-512-10 softmax-CE loss at batch 128
 * against its forward pass, and the trace machinery's overhead per primitive.
 * @module
 */

import { grad, np, type Tensor, valueAndGrad } from "../mod.ts";
import { report, timeBest } from "./util.ts";

function init(seed: number, shape: number[], scale: number): Tensor {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = scale * (s / 4294967296 - 0.5);
  }
  return np.array(data).reshape(shape);
}

/** Runs the autodiff benchmarks. */
export function benchAutodiff(): void {
  const params = {
    w1: init(1, [784, 512], 0.1),
    b1: np.zeros([512]),
    w2: init(2, [512, 512], 0.1),
    b2: np.zeros([512]),
    w3: init(3, [512, 10], 0.1),
    b3: np.zeros([10]),
  };
  const x = init(4, [128, 784], 1);
  const labels = np.arange(128).mod(10);
  const onehot = np.equal(np.arange(10).reshape([1, 10]), labels.reshape([128, 1])).astype(
    "float32",
  );
  type P = typeof params;
  const loss = (p: P, x: Tensor, y: Tensor) => {
    const h1 = np.maximum(x.matmul(p.w1).add(p.b1), 0);
    const h2 = np.maximum(h1.matmul(p.w2).add(p.b2), 0);
    const logits = h2.matmul(p.w3).add(p.b3);
    return np.mean(np.sum(y.mul(logits.sub(np.logsumexp(logits, 1, { keepdims: true }))), 1)).neg();
  };
  const fwd = timeBest(() => loss(params, x, onehot), 10);
  const both = timeBest(() => valueAndGrad(loss)(params, x, onehot), 10);
  report("MLP forward (eager, batch 128)", fwd, "ms");
  report("MLP valueAndGrad (eager, batch 128)", both, "ms");
  report("valueAndGrad / forward", both / fwd, "x");

  // overhead per primitive: a chain of 200 scalar ops, differentiated vs plain
  const chain = (v: Tensor) => {
    let y = v;
    for (let i = 0; i < 100; i++) y = y.mul(1.0001).add(0.5);
    return y;
  };
  const s = np.array(1);
  const plain = timeBest(() => chain(s), 20);
  const diff = timeBest(() => grad(chain)(s), 20);
  report("eager scalar op (plain)", (plain * 1000) / 200, "µs/prim");
  report("grad overhead per primitive", ((diff - plain) * 1000) / 200, "µs/prim");
}
