/**
 * The differentiation API against closed forms and hand-written backward passes, its
 * composition (higher order, grad vs vjp vs jacrev), the custom-rule transforms, pytrees, and
 * its errors.
 */

import {
  checkpoint,
  customJvp,
  customVjp,
  grad,
  hessian,
  jacfwd,
  jacrev,
  jvp,
  linearize,
  np,
  stopGradient,
  type Tensor,
  tree,
  valueAndGrad,
  vjp,
  vjpWithAux,
} from "../mod.ts";
import { assert, assertClose, rng } from "./helpers.ts";

function randn(seed: number, shape: number[], scale = 1): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return np.array(Array.from({ length: n }, () => scale * (2 * r() - 1)), { dtype: "float64" })
    .reshape(shape);
}

Deno.test("the lecture's f(x, y) = x*y^3 + x + 1 at (4, 2)", () => {
  const f = (x: Tensor, y: Tensor) => x.mul(y.pow(3)).add(x).add(1);
  const [gx, gy] = grad(f, { argnums: [0, 1] })(np.array(4), np.array(2)) as Tensor[];
  assertClose(gx, 9);
  assertClose(gy, 48);
  const [value, g] = valueAndGrad(f)(np.array(4), np.array(2));
  assertClose(value as Tensor, 37);
  assertClose(g as Tensor, 9);
});

Deno.test("jvp and linearize of elementwise chains", () => {
  const x = randn(1, [5]);
  const f = (x: Tensor) => np.sin(x).mul(np.exp(x));
  const v = randn(2, [5]);
  const [y, t] = jvp(f, [x], [v]);
  const xs = x.dataSync(), vs = v.dataSync();
  assertClose(y, Array.from(xs, (a) => Math.sin(a) * Math.exp(a)), { rtol: 1e-12 });
  assertClose(t, Array.from(xs, (a, i) => (Math.cos(a) + Math.sin(a)) * Math.exp(a) * vs[i]), {
    rtol: 1e-12,
  });
  const [y2, fLin] = linearize(f, x);
  assertClose(y2, y);
  assertClose(fLin(v), t, { rtol: 1e-12 });
  assertClose(fLin(v.mul(2)), t.mul(2), { rtol: 1e-12 });
});

Deno.test("softmax cross-entropy gradient is softmax minus one-hot", () => {
  const logits = randn(3, [4, 6], 3);
  const labels = np.array([0, 5, 2, 2], { dtype: "int32" });
  const onehot = np.equal(np.arange(6).reshape([1, 6]), labels.reshape([4, 1])).astype("float64");
  const loss = (z: Tensor) =>
    np.mean(np.sum(onehot.mul(z.sub(np.logsumexp(z, 1, { keepdims: true }))), 1).neg());
  const g = grad(loss)(logits) as Tensor;
  const softmax = np.exp(logits.sub(np.logsumexp(logits, 1, { keepdims: true })));
  assertClose(g, softmax.sub(onehot).div(4), { rtol: 1e-10, atol: 1e-12 });
});

Deno.test("two-layer MLP gradient equals a hand-written backward pass", () => {
  const X = randn(4, [8, 5]), Y = randn(5, [8, 3]);
  const params = {
    w1: randn(6, [5, 7]),
    b1: randn(7, [7]),
    w2: randn(8, [7, 3]),
    b2: randn(9, [3]),
  };
  type P = typeof params;
  const loss = (p: P, x: Tensor, y: Tensor) => {
    const h = np.maximum(x.matmul(p.w1).add(p.b1), 0);
    return np.mean(np.square(h.matmul(p.w2).add(p.b2).sub(y)));
  };
  const [l, g] = valueAndGrad(loss)(params, X, Y) as [Tensor, P];
  // by hand
  const pre = X.matmul(params.w1).add(params.b1);
  const h = np.maximum(pre, 0);
  const out = h.matmul(params.w2).add(params.b2);
  const dOut = out.sub(Y).mul(2 / (8 * 3));
  const dW2 = h.T.matmul(dOut), dB2 = dOut.sum(0);
  const dH = dOut.matmul(params.w2.T).mul(pre.gt(0).astype("float64"));
  const dW1 = X.T.matmul(dH), dB1 = dH.sum(0);
  assertClose(l, np.mean(np.square(out.sub(Y))), { rtol: 1e-12 });
  assertClose(g.w1, dW1, { rtol: 1e-10, atol: 1e-12 });
  assertClose(g.b1, dB1, { rtol: 1e-10, atol: 1e-12 });
  assertClose(g.w2, dW2, { rtol: 1e-10, atol: 1e-12 });
  assertClose(g.b2, dB2, { rtol: 1e-10, atol: 1e-12 });
  assert.deepEqual(Object.keys(g), ["w1", "b1", "w2", "b2"]);
});

Deno.test("hessian of a quadratic form is A + A^T", () => {
  const A = randn(10, [4, 4]);
  const f = (x: Tensor) => x.matmul(A).matmul(x);
  const H = hessian(f)(randn(11, [4])) as Tensor;
  assertClose(H, A.add(A.T), { rtol: 1e-10, atol: 1e-12 });
});

Deno.test("grad equals vjp and jacrev; jacfwd equals jacrev", () => {
  const x = randn(12, [3]);
  const f = (x: Tensor) => np.sum(np.tanh(x).mul(x));
  const g = grad(f)(x) as Tensor;
  const [, pull] = vjp(f, x);
  assertClose(pull(np.array(1, { dtype: "float64" }))[0] as Tensor, g, { rtol: 1e-12 });
  assertClose(jacrev(f)(x) as Tensor, g, { rtol: 1e-12 });
  const h = (x: Tensor) => np.sin(x).mul(x.sum());
  const jf = jacfwd(h)(x) as Tensor, jr = jacrev(h)(x) as Tensor;
  assert.deepEqual(jf.shape, [3, 3]);
  assertClose(jf, jr, { rtol: 1e-12 });
  const xs = Array.from(x.dataSync()), s = xs.reduce((a, b) => a + b, 0);
  const expected = [0, 1, 2].flatMap((i) =>
    [0, 1, 2].map((j) => (i === j ? Math.cos(xs[i]) * s : 0) + Math.sin(xs[i]))
  );
  assertClose(jf, expected, { rtol: 1e-12 });
});

Deno.test("higher order: third derivative of sin, grad of grad", () => {
  const d = (f: (x: Tensor) => Tensor) => grad(f) as (x: Tensor) => Tensor;
  const x = np.array(0.7, { dtype: "float64" });
  assertClose(d(np.sin)(x), Math.cos(0.7), { rtol: 1e-12 });
  assertClose(d(d(np.sin))(x), -Math.sin(0.7), { rtol: 1e-12 });
  assertClose(d(d(d(np.sin)))(x), -Math.cos(0.7), { rtol: 1e-12 });
  const g = (x: Tensor) => x.mul(x).mul(x).mul(x); // x^4
  assertClose(d(d(g))(np.array(2, { dtype: "float64" })), 48, { rtol: 1e-12 });
  const J = jacfwd(jacrev(np.sin))(np.array([0.1, 0.2], { dtype: "float64" })) as Tensor;
  assert.deepEqual(J.shape, [2, 2, 2]);
});

Deno.test("pytrees: tree utilities and grad over nested structures", () => {
  const params = { layers: [{ w: np.ones([2]) }, { w: np.ones([2]).mul(2) }], scale: np.array(3) };
  const leaves = tree.leaves(params);
  assert.equal(leaves.length, 3);
  const doubled = tree.map((x) => (x as Tensor).mul(2), params) as typeof params;
  assertClose(doubled.layers[1].w, [4, 4]);
  const [l, def] = tree.flatten(params);
  assert.deepEqual(tree.unflatten(def, l), params);
  const loss = (p: typeof params) => np.sum(p.layers[0].w.mul(p.layers[1].w)).mul(p.scale);
  const g = grad(loss)(params) as typeof params;
  assertClose(g.layers[0].w, [6, 6]);
  assertClose(g.layers[1].w, [3, 3]);
  assertClose(g.scale, 4);
  const [gAux, aux] = grad((x: Tensor) => [np.sum(x.mul(x)), x.mul(10)], { hasAux: true })(
    np.array([1, 2]),
  ) as Tensor[];
  assertClose(gAux, [2, 4]);
  assertClose(aux, [10, 20]);
  const [out, pull, aux2] = vjpWithAux(
    (x: Tensor) => [x.mul(3), "note"] as [Tensor, string],
    np.array([1, 2]),
  );
  assertClose(out, [3, 6]);
  assertClose(pull(np.ones([2]))[0] as Tensor, [3, 3]);
  assert.equal(aux2, "note");
});

Deno.test("integer and bool values get zero tangents", () => {
  const f = (x: Tensor) => x.mul(np.arange(3)).add(x.gt(0).astype("float32"));
  assertClose(grad((x: Tensor) => np.sum(f(x)))(np.ones([3])) as Tensor, [0, 1, 2]);
  const [, t] = jvp((x: Tensor) => np.argmax(x), [np.array([1, 3, 2])], [np.ones([3])]);
  assert.equal(t.dtype, "int32");
  assertClose(t, 0);
});

Deno.test("stopGradient, customJvp, customVjp, checkpoint", () => {
  const x = np.array([0.5, 1.5], { dtype: "float64" });
  assertClose(grad((x: Tensor) => np.sum(x.mul(stopGradient(x))))(x) as Tensor, x);
  // a numerically stable log1pexp with a hand-written derivative
  const softplus = customJvp((x: Tensor) => np.log1p(np.exp(x)));
  softplus.defjvp(([x], [t]) => [np.log1p(np.exp(x)), t.mul(np.sigmoid(x))]);
  const big = np.array([1000], { dtype: "float64" });
  assertClose(grad((x: Tensor) => np.sum(softplus(x)))(big) as Tensor, [1]);
  const [, tOut] = jvp(softplus, [x], [np.ones([2], { dtype: "float64" })]);
  assertClose(tOut, np.sigmoid(x), { rtol: 1e-12 });
  // a custom VJP that clips the gradient
  const clipGrad = customVjp((x: Tensor) => x.mul(1));
  clipGrad.defvjp(
    (x: Tensor) => [x.mul(1), null],
    (_res: never, ct: Tensor) => [np.clip(ct, -1, 1)],
  );
  assertClose(grad((x: Tensor) => np.sum(clipGrad(x).mul(5)))(x) as Tensor, [1, 1]);
  assert.throws(() => jvp(clipGrad, [x], [x]), /customVjp: forward-mode differentiation/);
  // checkpoint changes nothing numerically, also at second order
  const g = (x: Tensor) => np.sin(np.cos(x)).mul(x);
  const plain = grad((x: Tensor) => np.sum(g(x)))(x) as Tensor;
  const remat = grad((x: Tensor) => np.sum(checkpoint(g)(x)))(x) as Tensor;
  assertClose(remat, plain, { rtol: 1e-12 });
  const h1 = hessian((x: Tensor) => np.sum(g(x)))(x) as Tensor;
  const h2 = hessian((x: Tensor) => np.sum(checkpoint(g)(x)))(x) as Tensor;
  assertClose(h2, h1, { rtol: 1e-10 });
});

Deno.test("differentiation errors are clear", async (t) => {
  await t.step("non-scalar output names the shape", () => {
    assert.throws(
      () => grad((x: Tensor) => x.mul(2))(np.ones([3])),
      /grad: the function must return a float scalar \(shape \(\)\), got float32\(3,\)/,
    );
  });
  await t.step("integer input", () => {
    assert.throws(
      () => grad((x: Tensor) => np.sum(x))(np.arange(3)),
      /grad requires floating-point inputs, but argument 0 has a int32 leaf/,
    );
  });
  await t.step("escaped tracer names the transform", () => {
    let leaked: Tensor | null = null;
    grad((x: Tensor) => {
      leaked = x;
      return np.sum(x);
    })(np.ones([2]));
    assert.throws(() => leaked!.add(1), /escaped tracer.*created inside grad/);
  });
  await t.step("tracer in JS control flow", () => {
    assert.throws(
      () => grad((x: Tensor) => ((x as unknown as number) > 0 ? x : x.neg()))(np.array(1)),
      /JS control flow .* use np\.where or lax\.cond/,
    );
  });
  await t.step("bad options and argnums", () => {
    assert.throws(
      () => grad((x: Tensor) => x, { argnum: 1 } as never),
      /grad|valueAndGrad: invalid options/,
    );
    assert.throws(
      () => grad((x: Tensor) => np.sum(x), { argnums: 2 })(np.ones([2])),
      /argnums \[2\] out of range/,
    );
    assert.throws(
      () => jvp((x: Tensor) => x, [np.ones([2])], [np.ones([3])]),
      /jvp: tangent 0 has float32\(3,\)/,
    );
  });
});
