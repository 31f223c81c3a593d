/**
 * The `nn` functions: activations against float64 closed forms (large magnitudes included),
 * softmax and friends, gradients against finite differences, and losses by hand.
 */

import { grad, np, type Tensor } from "../mod.ts";
import * as nn from "../nn/index.ts";
import { assert, assertClose } from "./helpers.ts";
import { randData, randn } from "./nn_helpers.ts";

// erf by Simpson's rule on exp(-t²) (2000 panels): ~1e-13 accurate for |x| <= 10
const erf = (x: number): number => {
  const n = 2000, h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return (2 / Math.sqrt(Math.PI)) * (h / 3) * s;
};
const sig = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const softplusRef = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

Deno.test("nn activations match float64 closed forms", async (t) => {
  const data = [...randData(1, 200, 4), ...randData(2, 50, 60), -1000, -80, -30, 0, 30, 80, 1000];
  const x = np.array(data, { dtype: "float64" });
  const cases: [string, (x: Tensor) => Tensor, (v: number) => number][] = [
    ["relu", nn.relu, (v) => Math.max(v, 0)],
    ["relu6", nn.relu6, (v) => Math.min(Math.max(v, 0), 6)],
    ["leakyRelu", (x) => nn.leakyRelu(x), (v) => (v >= 0 ? v : 0.01 * v)],
    ["elu", (x) => nn.elu(x), (v) => (v > 0 ? v : Math.expm1(v))],
    ["sigmoid", nn.sigmoid, sig],
    ["logSigmoid", nn.logSigmoid, (v) => -softplusRef(-v)],
    ["softplus", nn.softplus, softplusRef],
    ["silu", nn.silu, (v) => v * sig(v)],
    [
      "gelu (tanh)",
      (x) => nn.gelu(x),
      (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
    ],
    [
      "gelu (exact)",
      (x) => nn.gelu(x, { approximate: false }),
      (v) => (Math.abs(v) > 10 ? Math.max(v, 0) : 0.5 * v * (1 + erf(v / Math.SQRT2))),
    ],
  ];
  for (const [name, f, ref] of cases) {
    await t.step(name, () => {
      const y = f(x);
      assert.equal(y.dtype, "float64");
      assertClose(y, data.map(ref), { rtol: 1e-9, atol: 1e-12 }, name);
      // float32 stays float32 and finite where the reference is
      const y32 = f(x.astype("float32"));
      assert.equal(y32.dtype, "float32");
      assertClose(y32, data.map(ref), { rtol: 2e-6, atol: 1e-6 }, `${name} f32`);
    });
  }
  await t.step("integer inputs are promoted to float32", () => {
    const y = nn.sigmoid(np.array([0, 1], { dtype: "int32" }));
    assert.equal(y.dtype, "float32");
    assertClose(y, [0.5, sig(1)]);
  });
});

Deno.test("nn softmax, logSoftmax, logsumexp, oneHot", async (t) => {
  await t.step("stable at large magnitudes", () => {
    assertClose(nn.softmax(np.array([1000, 1000])), [0.5, 0.5]);
    assertClose(nn.softmax(np.array([-1000, -1000])), [0.5, 0.5]);
    assertClose(nn.softmax(np.array([1000, 0])), [1, 0]);
    assertClose(nn.logSoftmax(np.array([1000, 1000])), [-Math.LN2, -Math.LN2]);
    assertClose(nn.logSoftmax(np.array([1000, 0])), [0, -1000], { rtol: 1e-6 });
    assertClose(nn.logsumexp(np.array([1000, 1000])), 1000 + Math.LN2, { rtol: 1e-7 });
    assertClose(nn.logsumexp(np.array([-Infinity, -Infinity])), -Infinity);
  });
  await t.step("random rows vs float64 closed form, any axis", () => {
    const x = randn(3, [4, 5, 6], 30);
    const v = Array.from(x.dataSync());
    for (const axis of [0, 1, -1]) {
      const ax = axis < 0 ? 3 + axis : axis;
      const shape = [4, 5, 6];
      const strides = [30, 6, 1];
      const sm = new Array(v.length), lsm = new Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const idx = [Math.floor(i / 30), Math.floor(i / 6) % 5, i % 6];
        const row: number[] = [];
        for (let k = 0; k < shape[ax]; k++) {
          row.push(v[i + (k - idx[ax]) * strides[ax]]);
        }
        const m = Math.max(...row);
        const s = row.reduce((a, r) => a + Math.exp(r - m), 0);
        lsm[i] = v[i] - m - Math.log(s);
        sm[i] = Math.exp(lsm[i]);
      }
      assertClose(nn.softmax(x, { axis }), sm, { rtol: 1e-9, atol: 1e-15 });
      assertClose(nn.logSoftmax(x, { axis }), lsm, { rtol: 1e-9, atol: 1e-12 });
    }
    const s = nn.softmax(x, { axis: [1, 2] }).sum([1, 2]);
    assertClose(s, [1, 1, 1, 1], { rtol: 1e-12 });
    assertClose(nn.logsumexp(x, { axis: -1 }), np.logsumexp(x, -1));
    assert.deepEqual(nn.logsumexp(x, { axis: 1, keepdims: true }).shape, [4, 1, 6]);
  });
  await t.step("oneHot", () => {
    const y = nn.oneHot(np.array([0, 2, 1, 5, -1], { dtype: "int32" }), 3);
    assert.equal(y.dtype, "float32");
    assert.deepEqual(y.toArray(), [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0]]);
    const z = nn.oneHot(np.array([[0, 1]], { dtype: "int32" }), 2, { axis: 0, dtype: "int32" });
    assert.deepEqual(z.shape, [2, 1, 2]);
    assert.deepEqual(z.toArray(), [[[1, 0]], [[0, 1]]]);
    // float ids compare exactly, as JAX 0.10.2's one_hot([0.5], 2) == [[0, 0]]
    assert.deepEqual(nn.oneHot(np.array([0.5, 1]), 2).toArray(), [[0, 0], [0, 1]]);
    assert.throws(() => nn.oneHot(np.array([true]), 2), /nn\.oneHot: ids must be numbers/);
  });
  await t.step("errors", () => {
    assert.throws(() => nn.softmax(np.array([1, 2]), { axis: 3 }), /nn\.softmax/);
    assert.throws(
      () => nn.gelu(np.array(1), { approx: true } as never),
      /nn\.gelu: invalid options/,
    );
  });
});

function finiteDiff(f: (x: Tensor) => Tensor, x: Tensor, eps = 1e-6): number[] {
  const v = Array.from(x.dataSync());
  return v.map((_, i) => {
    const up = v.slice(), dn = v.slice();
    up[i] += eps;
    dn[i] -= eps;
    const fu = f(np.array(up, { dtype: "float64" }).reshape(x.shape)).item() as number;
    const fd = f(np.array(dn, { dtype: "float64" }).reshape(x.shape)).item() as number;
    return (fu - fd) / (2 * eps);
  });
}

Deno.test("nn gradients match finite differences", async (t) => {
  const x = randn(5, [3, 4], 3);
  const w = randn(6, [3, 4]);
  const fns: [string, (x: Tensor) => Tensor][] = [
    ["gelu", (x) => nn.gelu(x).mul(w).sum()],
    ["silu", (x) => nn.silu(x).mul(w).sum()],
    ["softplus", (x) => nn.softplus(x).mul(w).sum()],
    ["softmax", (x) => nn.softmax(x).mul(w).sum()],
    ["logSoftmax", (x) => nn.logSoftmax(x, { axis: 0 }).mul(w).sum()],
    [
      "softmaxCrossEntropy (int)",
      (x) => nn.softmaxCrossEntropy(x, np.array([0, 3, 2], { dtype: "int32" })).sum(),
    ],
    [
      "sigmoidBinaryCrossEntropy",
      (x) => nn.sigmoidBinaryCrossEntropy(x, np.array(w.gt(0)).astype("float64")).sum(),
    ],
    [
      "layerNorm",
      (x) => nn.layerNorm({ scale: np.ones([4], { dtype: "float64" }) }, x).mul(w).sum(),
    ],
  ];
  for (const [name, f] of fns) {
    await t.step(name, () => {
      assertClose(grad(f)(x) as Tensor, finiteDiff(f, x), { rtol: 1e-5, atol: 1e-7 }, name);
    });
  }
  await t.step("relu's gradient at 0 is 0 (as JAX)", () => {
    assertClose(grad((x: Tensor) => nn.relu(x).sum())(np.array([-1, 0, 2])) as Tensor, [0, 0, 1]);
  });
});

Deno.test("nn losses match hand computation", async (t) => {
  const logits = np.array([[2, 1, 0.1], [0.5, 2.5, -1]], { dtype: "float64" });
  const lse = (r: number[]) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0));
  const rows = [[2, 1, 0.1], [0.5, 2.5, -1]];
  await t.step("softmaxCrossEntropy, one-hot and integer labels agree", () => {
    const ids = np.array([0, 2], { dtype: "int32" });
    const expected = [lse(rows[0]) - 2, lse(rows[1]) + 1];
    assertClose(nn.softmaxCrossEntropyWithIntegerLabels(logits, ids), expected, { rtol: 1e-12 });
    assertClose(nn.softmaxCrossEntropy(logits, ids), expected, { rtol: 1e-12 });
    assertClose(nn.softmaxCrossEntropy(logits, nn.oneHot(ids, 3, { dtype: "float64" })), expected, {
      rtol: 1e-12,
    });
    const soft = np.array([[0.2, 0.3, 0.5], [1, 0, 0]], { dtype: "float64" });
    assertClose(nn.softmaxCrossEntropy(logits, soft), [
      0.2 * (lse(rows[0]) - 2) + 0.3 * (lse(rows[0]) - 1) + 0.5 * (lse(rows[0]) - 0.1),
      lse(rows[1]) - 0.5,
    ], { rtol: 1e-12 });
    // huge logits stay finite
    assertClose(nn.softmaxCrossEntropy(np.array([[1000, 0]]), np.array([1], { dtype: "int32" })), [
      1000,
    ]);
  });
  await t.step("sigmoidBinaryCrossEntropy", () => {
    const l = [-3, 0, 2, 100, -100], y = [0, 1, 0.3, 1, 1];
    // the stable closed form: -y log σ(l) - (1 - y) log σ(-l), log σ(v) = -softplus(-v)
    const ref = l.map((v, i) => y[i] * softplusRef(-v) + (1 - y[i]) * softplusRef(v));
    assertClose(
      ref.slice(0, 3),
      [-3, 0, 2].map((v, i) => -y[i] * Math.log(sig(v)) - (1 - y[i]) * Math.log(1 - sig(v))),
      { rtol: 1e-12 },
    );
    const out = nn.sigmoidBinaryCrossEntropy(
      np.array(l, { dtype: "float64" }),
      np.array(y, { dtype: "float64" }),
    );
    assertClose(out, ref, { rtol: 1e-9, atol: 1e-12 });
  });
  await t.step("l2Loss, squaredError, mse", () => {
    const p = np.array([1, 2, 4]), q = np.array([0, 2, 1]);
    assertClose(nn.l2Loss(p, q), [0.5, 0, 4.5]);
    assertClose(nn.l2Loss(p), [0.5, 2, 8]);
    assertClose(nn.squaredError(p, q), [1, 0, 9]);
    assertClose(nn.mse(p, q), 10 / 3);
  });
  await t.step("accuracy", () => {
    const ids = np.array([0, 2], { dtype: "int32" });
    assertClose(nn.accuracy(logits, ids), 0.5);
    assertClose(nn.accuracy(logits, nn.oneHot(np.array([0, 1], { dtype: "int32" }), 3)), 1);
  });
  await t.step("shape errors name the loss", () => {
    assert.throws(
      () => nn.softmaxCrossEntropy(logits, np.array([0, 1, 2], { dtype: "int32" })),
      /nn\.softmaxCrossEntropy: integer labels int32\(3,\) must have the batch shape of logits float64\(2, 3\)/,
    );
    assert.throws(
      () => nn.softmaxCrossEntropy(logits, np.ones([2, 4])),
      /nn\.softmaxCrossEntropy: logits/,
    );
    assert.throws(() => nn.mse(np.ones([2]), np.ones([3])), /nn\.mse: predictions/);
    assert.throws(
      () => nn.sigmoidBinaryCrossEntropy(np.ones([2]), np.ones([3])),
      /nn\.sigmoidBinary/,
    );
    assert.throws(() => nn.accuracy(logits, np.array([1], { dtype: "int32" })), /nn\.accuracy/);
  });
});

// naive NCHW conv with OIHW kernel, explicit pads, strides, dilation and groups
