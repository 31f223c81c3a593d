/**
 * The JIT's front end: jit equals eager for composed programs, caching (signatures, static
 * arguments, re-created closures), donation, the graph printout and `lower`, and errors.
 * Runs on every device with a registered back end (cpu) and on the interpreter (js).
 */

import {
  grad,
  jit,
  np,
  setDefaultDevice,
  type Tensor,
  trace,
  tree,
  valueAndGrad,
  vmap,
} from "../mod.ts";
import { jitStats } from "../jit/index.ts";
import { assert, assertClose, rng } from "./helpers.ts";

function randn(seed: number, shape: number[], dtype: "float32" | "float64" = "float64"): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return np.array(Array.from({ length: n }, () => 2 * r() - 1), { dtype }).reshape(shape);
}

const mlpLoss = (p: { w: Tensor; b: Tensor; v: Tensor }, x: Tensor, y: Tensor) => {
  const h = np.maximum(x.matmul(p.w).add(p.b), 0);
  const logits = h.matmul(p.v);
  return np.mean(np.logsumexp(logits, 1).sub(np.sum(logits.mul(y), 1)));
};

for (const device of ["cpu", "js"]) {
  Deno.test(`jit equals eager for composed programs (${device})`, async (t) => {
    setDefaultDevice(device);
    try {
      const params = { w: randn(1, [5, 8]), b: randn(2, [8]), v: randn(3, [8, 3]) };
      const x = randn(4, [6, 5]);
      const y = np.equal(
        np.arange(3).reshape([1, 3]),
        np.array([0, 2, 1, 1, 0, 2], { dtype: "int32" }).reshape([6, 1]),
      )
        .astype("float64");
      await t.step("jit(f)", () => {
        assertClose(jit(mlpLoss)(params, x, y), mlpLoss(params, x, y), { rtol: 1e-12 });
      });
      await t.step("jit(grad(f)) and grad(jit(f))", () => {
        const g = grad(mlpLoss)(params, x, y) as typeof params;
        const g1 = jit(grad(mlpLoss))(params, x, y) as typeof params;
        const g2 = grad(jit(mlpLoss))(params, x, y) as typeof params;
        for (const k of ["w", "b", "v"] as const) {
          assertClose(g1[k], g[k], { rtol: 1e-10, atol: 1e-12 }, k);
          assertClose(g2[k], g[k], { rtol: 1e-10, atol: 1e-12 }, k);
        }
      });
      await t.step("jit(vmap(grad(f))) and vmap(jit(f))", () => {
        const f = (w: Tensor, xi: Tensor) => np.sum(np.tanh(xi.matmul(w)));
        const w = randn(5, [5, 4]);
        const eager = vmap(grad(f), { inAxes: [null, 0] })(w, x) as Tensor;
        const jitted = jit(vmap(grad(f), { inAxes: [null, 0] }))(w, x) as Tensor;
        assertClose(jitted, eager, { rtol: 1e-10, atol: 1e-12 });
        const vj = vmap(jit(f), { inAxes: [null, 0] })(w, x) as Tensor;
        assertClose(vj, vmap(f, { inAxes: [null, 0] })(w, x) as Tensor, { rtol: 1e-12 });
      });
      await t.step("jit of jit, closures over constants, numbers as outputs", () => {
        const c = randn(6, [4]);
        const inner = jit((a: Tensor) => a.mul(c).add(1));
        const outer = jit((a: Tensor) => [inner(a).sum(), 3]);
        const [s, three] = outer(randn(7, [4])) as [Tensor, Tensor];
        assertClose(s, randn(7, [4]).mul(c).add(1).sum(), { rtol: 1e-12 });
        assertClose(three, 3);
      });
      await t.step("SGD step with donated params (the issue's example)", () => {
        const step = jit((p: typeof params, xb: Tensor, yb: Tensor) => {
          const g = grad(mlpLoss)(p, xb, yb);
          return tree.map((a, b) => (a as Tensor).sub((b as Tensor).mul(0.1)), p, g);
        }, { donateArgnums: [0] });
        let p = tree.map((a) => (a as Tensor).add(0), params) as typeof params;
        const first = mlpLoss(p, x, y).item() as number;
        const old = p;
        for (let i = 0; i < 20; i++) p = step(p, x, y) as typeof params;
        assert.ok((mlpLoss(p, x, y).item() as number) < first, "the loss decreases");
        assert.throws(() => old.w.add(1), /disposed/);
        assert.equal(step.cacheSize(), 1);
      });
    } finally {
      setDefaultDevice("cpu");
    }
  });
}

Deno.test("jit caches per signature and static arguments, and shares re-created closures", () => {
  const f = (x: Tensor, n: number) => x.mul(n).sum();
  const jf = jit(f, { staticArgnums: [1] });
  const traces0 = jitStats.traces;
  assertClose(jf(np.ones([3]), 2), 6);
  assertClose(jf(np.ones([3]).mul(2), 2), 12);
  assert.equal(jitStats.traces - traces0, 1, "same signature: traced once");
  assertClose(jf(np.ones([3]), 5), 15);
  assert.equal(jitStats.traces - traces0, 2, "new static value: traced again");
  jf(np.ones([4]), 5);
  assert.equal(jf.cacheSize(), 3, "new shape: traced again");
  const compiles0 = jitStats.compiles;
  const make = () => jit((x: Tensor) => np.sin(x).mul(3));
  make()(np.ones([7]));
  make()(np.ones([7]));
  assert.ok(
    jitStats.compiles - compiles0 <= 1,
    "a re-created closure with the same graph is not recompiled",
  );
});

Deno.test("trace prints the graph; lower exposes groups and source", () => {
  const f = (x: Tensor, y: Tensor) => np.tanh(x.mul(2).add(1)).mul(x).sub(np.exp(y.neg()));
  const g = trace(f)(np.ones([2, 3]), np.ones([3]));
  const text = g.toString();
  for (const op of ["mul", "add", "tanh", "exp", "neg", "broadcast_in_dim", "sub"]) {
    assert.match(text, new RegExp(op));
  }
  assert.match(text, /lambda a:f32\[2,3\] b:f32\[3\]|lambda [a-z]+:f32\[2,3\] [a-z]+:f32\[3\]/);
  const lowered = jit(f).lower(np.ones([2, 3]), np.ones([3]));
  assert.ok(lowered.groups().length >= 1);
  assert.ok(lowered.source().length > 0);
  assert.ok(lowered.kernelCount >= 1);
});

Deno.test("jit errors are clear", async (t) => {
  await t.step("JS control flow on a traced value", () => {
    const f = jit((x: Tensor) => ((x.sum() as unknown as number) > 0 ? x : x.neg()));
    assert.throws(
      () => f(np.ones([2])),
      /JS control flow .* np\.where or lax\.cond, or mark the argument static/,
    );
  });
  await t.step("escaped tracer", () => {
    let leaked: Tensor | null = null;
    jit((x: Tensor) => {
      leaked = x.mul(2);
      return x;
    })(np.ones([2]));
    assert.throws(() => leaked!.add(1), /escaped tracer.*jit/);
  });
  await t.step("bad options and static arguments", () => {
    assert.throws(
      () => jit((x: Tensor) => x, { staticArgs: [0] } as never),
      /jit: invalid options/,
    );
    assert.throws(
      () => jit((x: Tensor) => x, { staticArgnums: [3] })(np.ones([1])),
      /argnum 3 out of range/,
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(
      () => jit((x: Tensor, _c: unknown) => x, { staticArgnums: [1] })(np.ones([1]), cyclic),
      /static argument 1 must be JSON-serializable/,
    );
  });
  await t.step("valueAndGrad inside jit keeps working after many calls", () => {
    const f = jit(valueAndGrad((x: Tensor) => np.sum(np.square(x))));
    for (let i = 0; i < 3; i++) {
      const [v, g] = f(np.array([1, 2])) as [Tensor, Tensor];
      assertClose(v, 5);
      assertClose(g, [2, 4]);
    }
  });
});
