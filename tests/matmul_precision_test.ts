/**
 * Matmul precision (JAX's `precision`): products carry it in their params, derived products
 * (gradients, batching) keep it, the default comes from `setDefaultMatmulPrecision` or
 * `KILN_MATMUL_PRECISION`, and on the CPU it changes no number. On `cuda` it selects TF32
 * (tested in `cuda_device_test.ts`).
 */

import {
  defaultMatmulPrecision,
  grad,
  jit,
  lax,
  np,
  setDefaultMatmulPrecision,
  type Tensor,
  trace,
  vmap,
} from "../mod.ts";
import type { Graph } from "../core/graph.ts";
import { assert, assertClose, rng } from "./helpers.ts";

const random = (shape: number[], seed: number) => {
  const r = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return np.array(Array.from({ length: size }, () => 2 * r() - 1)).reshape(shape);
};
/** The precision param of every dot_general in a graph (nested graphs not visited). */
const precisions = (graph: Graph) =>
  graph.eqns.filter((e) => e.prim.name === "dot_general")
    .map((e) => (e.params as { precision?: string }).precision ?? "highest");

const mlp = (w: Tensor, v: Tensor, x: Tensor) =>
  np.sum(np.tanh(np.matmul(np.tanh(np.matmul(x, w)), v)));

Deno.test("matmul precision: params, derived products and the default", async (t) => {
  const w = random([4, 5], 1), v = random([5, 3], 2), x = random([6, 4], 3);
  await t.step("the default is highest, and leaves params as they were", () => {
    assert.equal(defaultMatmulPrecision(), "highest");
    const g = trace((a: Tensor, b: Tensor) => np.matmul(a, b))(x, w);
    assert.deepEqual(precisions(g), ["highest"]);
    assert.ok(!("precision" in g.eqns.find((e) => e.prim.name === "dot_general")!.params));
  });
  await t.step("np.matmul and lax.dotGeneral take it per product", () => {
    const g = trace((a: Tensor, b: Tensor) => [
      np.matmul(a, b, { precision: "default" }),
      lax.dotGeneral(a, b, [[[1], [0]], [[], []]], { precision: "high" }),
    ])(x, w);
    assert.deepEqual(precisions(g), ["default", "high"]);
  });
  await t.step("gradients and vmap keep the precision of their product", () => {
    setDefaultMatmulPrecision("high");
    try {
      const dw = trace(grad(mlp, { argnums: [0, 1] }))(w, v, x);
      assert.ok(precisions(dw).length >= 5);
      assert.ok(precisions(dw).every((p) => p === "high"), precisions(dw).join(", "));
      const batched = trace(vmap(grad(mlp), { inAxes: [null, null, 0] }))(
        w,
        v,
        random([2, 6, 4], 4),
      );
      assert.ok(precisions(batched).every((p) => p === "high"), precisions(batched).join(", "));
    } finally {
      setDefaultMatmulPrecision("highest");
    }
  });
  await t.step("jit retraces when the default changes; the CPU's numbers do not", () => {
    const step = jit(grad(mlp));
    const want = step(w, v, x);
    setDefaultMatmulPrecision("default");
    try {
      // the default enters the traced graph, so it is part of jit's cache key (as in JAX)
      const got = step(w, v, x);
      assert.equal(step.cacheSize(), 2);
      assertClose(got, want, { rtol: 0, atol: 0 });
      assert.ok(precisions(step.lower(w, v, x).graph).every((p) => p === "default"));
    } finally {
      setDefaultMatmulPrecision("highest");
    }
  });
  await t.step("an unknown precision is an error naming the choices", () => {
    assert.throws(
      () => np.matmul(x, w, { precision: "fast" as never }),
      /np\.matmul: matmul precision must be one of default, high, highest, got "fast"/,
    );
    assert.throws(
      () => setDefaultMatmulPrecision("tf32" as never),
      /setDefaultMatmulPrecision: matmul precision must be one of/,
    );
  });
});
