/**
 * The two models `deno task train` offers, as pure init/apply pairs over explicit params.
 * @module
 */

import { nn, np, random, type Tensor } from "../mod.ts";

/** A model: parameters from a key, logits from parameters and a batch. */
export interface Model {
  init(key: Tensor): unknown;
  apply(params: unknown, x: Tensor): Tensor;
}

// He-normal weights (fan-in scaling, as PyTorch's kaiming init for ReLU nets), zero biases
function dense(key: Tensor, fanIn: number, fanOut: number) {
  const w = random.normal(key, [fanIn, fanOut]).mul(Math.sqrt(2 / fanIn));
  return { w, b: np.zeros([fanOut]) };
}

function convParams(key: Tensor, outC: number, inC: number, k: number) {
  const fanIn = inC * k * k;
  return {
    w: random.normal(key, [outC, inC, k, k]).mul(Math.sqrt(2 / fanIn)),
    b: np.zeros([outC]),
  };
}

type Dense = { w: Tensor; b: Tensor };

/** MLP 784-512-512-10 with ReLU. */
const mlp: Model = {
  init(key) {
    const keys = random.split(key, 3);
    return {
      l1: dense(keys.slice(0), 784, 512),
      l2: dense(keys.slice(1), 512, 512),
      l3: dense(keys.slice(2), 512, 10),
    };
  },
  apply(p, x) {
    const params = p as { l1: Dense; l2: Dense; l3: Dense };
    const h0 = x.reshape([x.shape[0], 784]);
    const h1 = nn.relu(h0.matmul(params.l1.w).add(params.l1.b));
    const h2 = nn.relu(h1.matmul(params.l2.w).add(params.l2.b));
    return h2.matmul(params.l3.w).add(params.l3.b);
  },
};

/** A small CNN: conv(32, 3×3) → pool → conv(64, 3×3) → pool → dense(128) → dense(10). */
const cnn: Model = {
  init(key) {
    const keys = random.split(key, 4);
    return {
      c1: convParams(keys.slice(0), 32, 1, 3),
      c2: convParams(keys.slice(1), 64, 32, 3),
      d1: dense(keys.slice(2), 64 * 7 * 7, 128),
      d2: dense(keys.slice(3), 128, 10),
    };
  },
  apply(p, x) {
    const params = p as { c1: Dense; c2: Dense; d1: Dense; d2: Dense };
    const n = x.shape[0];
    let h = x.reshape([n, 1, 28, 28]);
    h = nn.relu(nn.conv2d(params.c1, h, { padding: "SAME" }));
    h = nn.maxPool2d(h, [2, 2], { strides: [2, 2] });
    h = nn.relu(nn.conv2d(params.c2, h, { padding: "SAME" }));
    h = nn.maxPool2d(h, [2, 2], { strides: [2, 2] });
    h = nn.relu(h.reshape([n, 64 * 7 * 7]).matmul(params.d1.w).add(params.d1.b));
    return h.matmul(params.d2.w).add(params.d2.b);
  },
};

/** The model called `name`. */
export function buildModel(name: "mlp" | "cnn"): Model {
  return name === "mlp" ? mlp : cnn;
}
