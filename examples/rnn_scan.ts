/**
 * A recurrent network with `lax.scan`: h_t = tanh(W h_{t-1} + U x_t), trained to predict the
 * running mean of its input sequence. The whole sequence loop is one jitted call (a native
 * loop in the generated C), and its gradient flows back through the scan.
 *
 *     deno run --allow-all examples/rnn_scan.ts
 */

import { grad, jit, lax, np, optim, random, type Tensor } from "../mod.ts";

const hidden = 16, steps = 20, batch = 32;
const keys = random.split(random.key(1), 4);
let params = {
  W: random.normal(keys.slice(0), [hidden, hidden]).mul(0.2),
  U: random.normal(keys.slice(1), [1, hidden]).mul(0.5),
  V: random.normal(keys.slice(2), [hidden, 1]).mul(0.2),
};
type P = typeof params;
const xs = random.uniform(keys.slice(3), [steps, batch, 1], { minval: -1, maxval: 1 });
const targets = np.cumsum(xs, 0).div(np.arange(1, steps + 1).reshape([steps, 1, 1]));

function loss(p: P, xs: Tensor, ys: Tensor): Tensor {
  const h0 = np.zeros([batch, hidden]);
  const [, hs] = lax.scan(
    (h: Tensor, x: Tensor) => {
      const next = np.tanh(h.matmul(p.W).add(x.matmul(p.U)));
      return [next, next];
    },
    h0,
    xs,
  ) as [Tensor, Tensor];
  const preds = hs.matmul(p.V);
  return np.mean(np.square(preds.sub(ys)));
}

const opt = optim.adam(1e-2);
let state = opt.init(params);
const step = jit((p: P, s: unknown, xs: Tensor, ys: Tensor) => {
  const g = grad(loss)(p, xs, ys);
  const [updates, s2] = opt.update(g, s, p);
  return [optim.applyUpdates(p, updates), s2, loss(p, xs, ys)];
});
const first = loss(params, xs, targets).item() as number;
let last = first;
for (let i = 0; i < 200; i++) {
  const out = step(params, state, xs, targets) as [P, unknown, Tensor];
  [params, state] = out;
  last = out[2].item() as number;
}
console.log(
  `loss ${first.toFixed(4)} -> ${last.toFixed(4)} after 200 jitted steps through lax.scan`,
);
