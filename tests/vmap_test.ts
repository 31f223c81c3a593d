/**
 * vmap: registry-driven (every primitive batched equals a JS loop over examples, for random
 * in/out axes, negative and null included, batch sizes 0, 1 and 3, on cpu and js), then
 * composition with grad and itself, per-example gradients, and errors.
 */

import {
  grad,
  jacfwd,
  jacrev,
  np,
  primitives,
  setDefaultDevice,
  type Tensor,
  vmap,
} from "../mod.ts";
import { isFloat, STORAGE } from "../core/dtype.ts";
import { bind, fromHostData } from "../core/trace.ts";
import { type Input, samplers } from "./conformance_samplers.ts";
import { assert, assertClose, rng } from "./helpers.ts";

function tensorOf(inp: Input): Tensor {
  const storage = new STORAGE[inp.dtype](inp.data.length);
  storage.set(inp.data);
  return fromHostData(storage, inp.shape, inp.dtype, false);
}

// Another example like `inp`: fresh floats, ints drawn from the range the sampler used.
function variant(inp: Input, r: () => number): Input {
  if (isFloat(inp.dtype)) return { ...inp, data: inp.data.map(() => 4 * r() - 2) };
  if (inp.dtype === "bool") return { ...inp, data: inp.data.map(() => (r() < 0.5 ? 0 : 1)) };
  const lo = Math.min(...inp.data), hi = Math.max(...inp.data);
  return { ...inp, data: inp.data.map(() => lo + Math.floor(r() * (hi - lo + 1))) };
}

const HIGHER_ORDER = new Set(
  [...primitives.values()].filter((p) => p.rules.run).map((p) => p.name),
);

for (const device of ["cpu", "js"]) {
  Deno.test(`every primitive under vmap equals a loop over examples (${device})`, async (t) => {
    setDefaultDevice(device);
    try {
      for (const prim of primitives.values()) {
        if (!(prim.name in samplers) || HIGHER_ORDER.has(prim.name)) continue;
        await t.step(prim.name, () => {
          assert.ok(prim.rules.batch, `${prim.name} has no batch rule`);
          for (let seed = 1; seed <= 12; seed++) {
            const r = rng(seed * 31);
            const c = samplers[prim.name](r);
            if (c.inputs.length === 0) continue; // iota: nothing to batch
            const size = [0, 1, 3][seed % 3];
            // which inputs are batched, and where
            let batched = c.inputs.map(() => r() < 0.6);
            if (!batched.some((b) => b)) batched = batched.map((_, i) => i === 0);
            const examples = Array.from(
              { length: size },
              (_, b) => c.inputs.map((inp, i) => (batched[i] && b > 0 ? variant(inp, r) : inp)),
            );
            const axes = c.inputs.map((inp, i) => {
              if (!batched[i]) return null;
              const nd = inp.shape.length + 1;
              const a = Math.floor(r() * nd);
              return r() < 0.3 ? a - nd : a;
            });
            const outAxis = r() < 0.5 ? 0 : -1;
            const args = c.inputs.map((inp, i) => {
              if (!batched[i]) return tensorOf(inp);
              const perExample = examples.map((ex) => tensorOf(ex[i]));
              const stacked = size === 0
                ? np.zeros([0, ...inp.shape], { dtype: inp.dtype })
                : np.stack(perExample, 0);
              return np.moveaxis(stacked, 0, axes[i]!);
            });
            const f = (...xs: Tensor[]) => bind(prim, xs, c.params);
            const got = vmap(f, { inAxes: axes, outAxes: outAxis })(...args) as Tensor[];
            if (size === 0) {
              const single = f(...c.inputs.map(tensorOf));
              got.forEach((g, j) => {
                const shape = [...single[j].shape];
                shape.splice(outAxis === 0 ? 0 : shape.length, 0, 0);
                assert.deepEqual(g.shape, shape, `${prim.name}: empty batch shape`);
              });
              continue;
            }
            const loops = examples.map((ex) => f(...ex.map(tensorOf)));
            got.forEach((g, j) => {
              const expected = np.stack(loops.map((o) => o[j]), outAxis);
              assert.equal(g.dtype, expected.dtype, `${prim.name} output ${j} dtype`);
              const tol = g.dtype === "float32"
                ? { rtol: 1e-4, atol: 1e-4 }
                : { rtol: 1e-9, atol: 1e-9 };
              assertClose(
                g,
                expected,
                tol,
                `${prim.name} seed ${seed} axes ${JSON.stringify(axes)} out ${outAxis}`,
              );
            });
          }
        });
      }
    } finally {
      setDefaultDevice("cpu");
    }
  });
}

function randn(seed: number, shape: number[]): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return np.array(Array.from({ length: n }, () => 2 * r() - 1), { dtype: "float64" }).reshape(
    shape,
  );
}

Deno.test("the issue's example: a batch of x against one w", () => {
  const predict = (w: Tensor, x: Tensor) => np.tanh(np.dot(w, x));
  const w = randn(1, [3, 4]), xs = randn(2, [5, 4]);
  const batched = vmap(predict, { inAxes: [null, 0] })(w, xs) as Tensor;
  assert.deepEqual(batched.shape, [5, 3]);
  assertClose(batched, np.tanh(xs.matmul(w.T)), { rtol: 1e-12 });
});

Deno.test("per-example gradients of an MLP equal a loop of grad calls", () => {
  const params = {
    w1: randn(3, [4, 6]),
    b1: randn(4, [6]),
    w2: randn(5, [6, 2]),
    b2: randn(6, [2]),
  };
  type P = typeof params;
  const loss = (p: P, x: Tensor, y: Tensor) => {
    const h = np.tanh(x.matmul(p.w1).add(p.b1));
    return np.sum(np.square(h.matmul(p.w2).add(p.b2).sub(y)));
  };
  const X = randn(7, [5, 4]), Y = randn(8, [5, 2]);
  const perExample = vmap(grad(loss), { inAxes: [null, 0, 0] })(params, X, Y) as P;
  for (let i = 0; i < 5; i++) {
    const gi = grad(loss)(params, X.slice(i), Y.slice(i)) as P;
    for (const k of Object.keys(params) as (keyof P)[]) {
      assertClose(perExample[k].slice(i), gi[k], { rtol: 1e-10, atol: 1e-12 }, k);
    }
  }
});

Deno.test("composition: grad of vmap, vmap of vmap, vmap of jacrev", () => {
  const f = (x: Tensor) => np.sin(x).mul(x.sum());
  const xs = randn(9, [3, 4]);
  const gv = grad((xs: Tensor) => np.sum(vmap(f)(xs) as Tensor))(xs) as Tensor;
  const loop = np.stack(
    [0, 1, 2].map((i) => grad((x: Tensor) => np.sum(f(x)))(xs.slice(i)) as Tensor),
  );
  assertClose(gv, loop, { rtol: 1e-12 });
  const g = (a: Tensor, b: Tensor) => a.mul(b).sum();
  const A = randn(10, [2, 3, 4]), B = randn(11, [3, 4]);
  const vv = vmap(vmap(g, { inAxes: [0, 0] }), { inAxes: [0, null] })(A, B) as Tensor;
  assertClose(vv, A.mul(B).sum(-1), { rtol: 1e-12 });
  const jr = vmap(jacrev(f))(xs) as Tensor;
  assert.deepEqual(jr.shape, [3, 4, 4]);
  for (let i = 0; i < 3; i++) {
    assertClose(jr.slice(i), jacfwd(f)(xs.slice(i)) as Tensor, { rtol: 1e-12 });
  }
});

Deno.test("inAxes and outAxes: pytrees, negative axes, null, axisSize", () => {
  const f = (p: { a: Tensor; b: Tensor }, s: Tensor) => p.a.add(p.b).mul(s);
  const a = randn(12, [4, 3]), b = randn(13, [4]), s = randn(14, [3]);
  // example j: (a[:, j] + b) * s[j], stacked along output axis 1
  const out = vmap(f, { inAxes: [{ a: -1, b: null }, 0], outAxes: 1 })({ a, b }, s) as Tensor;
  assert.deepEqual(out.shape, [4, 3]);
  assertClose(out, a.add(b.reshape([4, 1])).mul(s.reshape([1, 3])), { rtol: 1e-12 });
  const c = vmap(() => np.ones([2]), { axisSize: 3 })() as Tensor;
  assert.deepEqual(c.shape, [3, 2]);
  const empty = vmap((x: Tensor) => x.mul(2))(np.zeros([0, 5])) as Tensor;
  assert.deepEqual(empty.shape, [0, 5]);
});

Deno.test("vmap errors name the argument", () => {
  const f = (x: Tensor, y: Tensor) => x.add(y);
  assert.throws(
    () => vmap(f)(np.ones([3, 2]), np.ones([4, 2])),
    /vmap: mapped axes have different sizes: argument leaf 1 has size 4/,
  );
  assert.throws(
    () => vmap(f, { inAxes: [2, 0] })(np.ones([3, 2]), np.ones([3, 2])),
    /vmap: inAxes 2 is out of range for argument leaf 0 of shape \(3, 2\)/,
  );
  assert.throws(
    () => vmap(f, { inAxes: [0] })(np.ones([3]), np.ones([3])),
    /vmap: inAxes \[0\] does not match the structure/,
  );
  assert.throws(() => vmap(() => np.ones([2]))(), /no argument is mapped; pass axisSize/);
  assert.throws(() => vmap(f, { inAxes: "x" } as never), /vmap: invalid options/);
});
