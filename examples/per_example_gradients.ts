/**
 * Per-example gradients with `vmap(grad(loss))`: the gradient of each example's loss in one
 * batched computation (no JS loop), checked against a loop of `grad` calls.
 *
 *     deno run --allow-all examples/per_example_gradients.ts
 */

import { grad, jit, nn, np, random, type Tensor, vmap } from "../mod.ts";

const keys = random.split(random.key(0), 3);
const params = { w: random.normal(keys.slice(0), [20, 3]).mul(0.3), b: np.zeros([3]) };
const x = random.normal(keys.slice(1), [64, 20]);
const y = random.randint(keys.slice(2), [64], 0, 3);
type P = typeof params;

const loss = (p: P, xi: Tensor, yi: Tensor) =>
  nn.softmaxCrossEntropy(xi.matmul(p.w).add(p.b).reshape([1, 3]), yi.reshape([1])).sum();

const perExample = jit(vmap(grad(loss), { inAxes: [null, 0, 0] }));
const g = perExample(params, x, y) as P;
console.log("per-example gradient shapes:", g.w.shape, g.b.shape);

const g7 = grad(loss)(params, x.slice(7), y.slice(7)) as P;
const diff = np.max(np.abs(g.w.slice(7).sub(g7.w))).item() as number;
console.log(`example 7 matches a single grad call: max |difference| = ${diff.toExponential(2)}`);
const norms = np.sqrt(np.sum(np.square(g.w), [1, 2]));
console.log(
  "gradient norms of the first 5 examples:",
  Array.from(norms.slice(np.s(0, 5)).dataSync()).map((v) => v.toFixed(3)),
);
