/**
 * The `nn` layers: conv/pools against naive loops, linear and embedding, normalization
 * statistics, dropout, initializer variances, shape errors naming the layer, a small MLP that
 * trains, and composition with jit and vmap.
 */

import { grad, jit, np, type Tensor, vmap } from "../mod.ts";
import * as nn from "../nn/index.ts";
import * as random from "../random/index.ts";
import { assert, assertClose, rng } from "./helpers.ts";
import { randn } from "./nn_helpers.ts";

function naiveConv(
  x: number[],
  xs: number[],
  w: number[],
  ws: number[],
  s: number[],
  pad: number[][],
  d: number[],
  groups: number,
): { out: number[]; shape: number[] } {
  const [N, C, H, W] = xs, [O, I, KH, KW] = ws;
  const OH = Math.floor((H + pad[0][0] + pad[0][1] - (d[0] * (KH - 1) + 1)) / s[0]) + 1;
  const OW = Math.floor((W + pad[1][0] + pad[1][1] - (d[1] * (KW - 1) + 1)) / s[1]) + 1;
  const out: number[] = [];
  const og = O / groups;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / og);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let acc = 0;
          for (let i = 0; i < I; i++) {
            const c = g * I + i;
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                const h = oh * s[0] - pad[0][0] + kh * d[0], ww = ow * s[1] - pad[1][0] + kw * d[1];
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                acc += x[((n * C + c) * H + h) * W + ww] * w[((o * I + i) * KH + kh) * KW + kw];
              }
            }
          }
          out.push(acc);
        }
      }
    }
  }
  void C;
  return { out, shape: [N, O, OH, OW] };
}

function naivePool(
  x: number[],
  xs: number[],
  k: number[],
  s: number[],
  pad: number[][],
  kind: "max" | "avg",
  countIncludePad = true,
): number[] {
  const [N, C, H, W] = xs;
  const OH = Math.floor((H + pad[0][0] + pad[0][1] - k[0]) / s[0]) + 1;
  const OW = Math.floor((W + pad[1][0] + pad[1][1] - k[1]) / s[1]) + 1;
  const out: number[] = [];
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let m = -Infinity, sum = 0, cnt = 0;
        for (let a = 0; a < k[0]; a++) {
          for (let b = 0; b < k[1]; b++) {
            const h = oh * s[0] - pad[0][0] + a, w = ow * s[1] - pad[1][0] + b;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            const v = x[(nc * H + h) * W + w];
            m = Math.max(m, v);
            sum += v;
            cnt++;
          }
        }
        out.push(kind === "max" ? m : sum / (countIncludePad ? k[0] * k[1] : cnt));
      }
    }
  }
  return out;
}

Deno.test("nn conv2d and pools match naive loops", async (t) => {
  const xs = [2, 4, 7, 6];
  const x = randn(10, xs);
  const xv = Array.from(x.dataSync());
  const configs: { ws: number[]; s: number[]; pad: number[][]; d: number[]; g: number }[] = [
    { ws: [3, 4, 3, 3], s: [1, 1], pad: [[0, 0], [0, 0]], d: [1, 1], g: 1 },
    { ws: [6, 2, 3, 2], s: [2, 1], pad: [[1, 1], [0, 2]], d: [1, 2], g: 2 },
    { ws: [4, 1, 3, 3], s: [1, 2], pad: [[1, 1], [1, 1]], d: [1, 1], g: 4 },
  ];
  for (const [ci, c] of configs.entries()) {
    await t.step(`conv2d config ${ci}`, () => {
      const w = randn(20 + ci, c.ws);
      const b = randn(30 + ci, [c.ws[0]]);
      const y = nn.conv2d({ w, b }, x, {
        strides: c.s as [number, number],
        padding: c.pad as [[number, number], [number, number]],
        dilation: c.d as [number, number],
        groups: c.g,
      });
      const ref = naiveConv(xv, xs, Array.from(w.dataSync()), c.ws, c.s, c.pad, c.d, c.g);
      assert.deepEqual(y.shape, ref.shape);
      const bv = b.dataSync();
      const hw = ref.shape[2] * ref.shape[3];
      const withBias = ref.out.map((v, i) => v + bv[Math.floor(i / hw) % c.ws[0]]);
      assertClose(y, withBias, { rtol: 1e-10, atol: 1e-12 });
    });
  }
  await t.step("conv2d int padding and SAME", () => {
    const w = randn(40, [2, 4, 3, 3]);
    const y = nn.conv2d({ w }, x, { padding: 1 });
    assert.deepEqual(y.shape, [2, 2, 7, 6]);
    const ref = naiveConv(
      xv,
      xs,
      Array.from(w.dataSync()),
      [2, 4, 3, 3],
      [1, 1],
      [[1, 1], [1, 1]],
      [1, 1],
      1,
    );
    assertClose(y, ref.out, { rtol: 1e-10, atol: 1e-12 });
    assertClose(nn.conv2d({ w }, x, { padding: "SAME" }), y, { rtol: 1e-12, atol: 1e-12 });
  });
  await t.step("maxPool2d / avgPool2d", () => {
    const cases: { k: number[]; s?: number[]; pad?: number[][] }[] = [
      { k: [2, 2] },
      { k: [3, 2], s: [2, 1] },
      { k: [3, 3], s: [2, 2], pad: [[1, 1], [1, 1]] },
    ];
    for (const c of cases) {
      const s = c.s ?? c.k, pad = c.pad ?? [[0, 0], [0, 0]];
      const opts = {
        strides: s as [number, number],
        padding: pad as [[number, number], [number, number]],
      };
      assertClose(
        nn.maxPool2d(x, c.k as [number, number], opts),
        naivePool(xv, xs, c.k, s, pad, "max"),
      );
      assertClose(
        nn.avgPool2d(x, c.k as [number, number], opts),
        naivePool(xv, xs, c.k, s, pad, "avg"),
        { rtol: 1e-12, atol: 1e-12 },
      );
      assertClose(
        nn.avgPool2d(x, c.k as [number, number], { ...opts, countIncludePad: false }),
        naivePool(xv, xs, c.k, s, pad, "avg", false),
        { rtol: 1e-12, atol: 1e-12 },
      );
    }
    assert.deepEqual(nn.maxPool2d(x, 2).shape, [2, 4, 3, 3]);
  });
  await t.step("shape errors name the layer", () => {
    assert.throws(
      () => nn.conv2d({ w: np.ones([3, 5, 3, 3]) }, x),
      /nn\.conv2d: x float64\(2, 4, 7, 6\) has 4 channels but w float32\(3, 5, 3, 3\)/,
    );
    assert.throws(
      () => nn.conv2d({ w: np.ones([3, 4, 3, 3]) }, np.ones([4, 7, 6])),
      /nn\.conv2d: x must be 4-d/,
    );
    assert.throws(
      () => nn.conv2d({ w: np.ones([3, 4, 3, 3]), b: np.ones([4]) }, x),
      /nn\.conv2d: b/,
    );
    assert.throws(
      () => nn.conv2d({ w: np.ones([3, 4, 3, 3]) }, x, { stride: 2 } as never),
      /nn\.conv2d: invalid options/,
    );
    assert.throws(() => nn.maxPool2d(np.ones([3]), 2), /nn\.maxPool2d/);
    assert.throws(() => nn.avgPool2d(x, 0), /nn\.avgPool2d: window/);
  });
});

Deno.test("nn linear and embedding", async (t) => {
  await t.step("linear", () => {
    const x = randn(50, [5, 3]), w = randn(51, [3, 2]), b = np.array([1, -1], { dtype: "float64" });
    assertClose(nn.linear({ w, b }, x), np.matmul(x, w).add(b), { rtol: 1e-12 });
    assertClose(nn.linear({ w }, x), np.matmul(x, w), { rtol: 1e-12 });
    assert.throws(
      () => nn.linear({ w }, np.ones([5, 4])),
      /nn\.linear: x float32\(5, 4\) does not match w float64\(3, 2\)/,
    );
    assert.throws(() => nn.linear({ w, b: np.ones([3]) }, x), /nn\.linear: b float32\(3,\)/);
  });
  await t.step("embedding", () => {
    const table = randn(52, [4, 3]);
    const ids = np.array([[3, 0], [1, 1]], { dtype: "int32" });
    const y = nn.embedding({ table }, ids);
    assert.deepEqual(y.shape, [2, 2, 3]);
    const tv = table.toArray() as number[][];
    assert.deepEqual(y.toArray(), [[tv[3], tv[0]], [tv[1], tv[1]]]);
    assert.throws(
      () => nn.embedding({ table }, np.array([0.5])),
      /nn\.embedding: ids must be integers/,
    );
    assert.throws(
      () => nn.embedding({ table }, np.array([4], { dtype: "int32" })),
      /nn\.embedding/,
    );
    // gradient scatters into the rows used
    const g = grad((tb: Tensor) => nn.embedding({ table: tb }, ids).sum())(table) as Tensor;
    assertClose(g, [[1, 1, 1], [2, 2, 2], [0, 0, 0], [1, 1, 1]]);
  });
});

Deno.test("nn layerNorm and batchNorm statistics", async (t) => {
  const x = randn(60, [8, 3, 4, 5], 3).add(2);
  await t.step("layerNorm normalizes the given axes", () => {
    const y = nn.layerNorm({}, x, { axis: [-2, -1], eps: 0 });
    assertClose(y.mean([2, 3]), np.zeros([8, 3]), { atol: 1e-12 });
    assertClose(y.var([2, 3]), np.ones([8, 3]), { rtol: 1e-10 });
    const p = nn.init.layerNorm(5, "float64");
    const z = nn.layerNorm({ scale: p.scale.mul(2), bias: p.bias.add(1) }, x);
    assertClose(z.mean(-1), np.ones([8, 3, 4]), { atol: 1e-12 });
    assertClose(
      z.var(-1),
      np.full([8, 3, 4], 4 / (1 + 1e-5 / (x.var(-1).min().item() as number))),
      {
        rtol: 1e-4,
      },
    );
    assert.throws(
      () => nn.layerNorm({ scale: np.ones([4]) }, x),
      /nn\.layerNorm: params\.scale float32\(4,\) must have the normalized-axes shape \(5,\)/,
    );
  });
  await t.step("batchNorm training and eval", () => {
    const { params, state } = nn.init.batchNorm(3, "float64");
    const [y, s1] = nn.batchNorm(params, state, x, { training: true, momentum: 0.8, eps: 0 });
    assertClose(y.mean([0, 2, 3]), np.zeros([3]), { atol: 1e-12 });
    assertClose(y.var([0, 2, 3]), np.ones([3]), { rtol: 1e-10 });
    const bm = x.mean([0, 2, 3]), bv = x.var([0, 2, 3]);
    assertClose(s1.mean, bm.mul(0.2), { rtol: 1e-12 });
    assertClose(s1.var, bv.mul(0.2).add(0.8), { rtol: 1e-12 });
    const [ye, s2] = nn.batchNorm(params, s1, x, { eps: 0 });
    assert.equal(s2, s1);
    const expected = x.sub(s1.mean.reshape([1, 3, 1, 1])).div(s1.var.reshape([1, 3, 1, 1]).sqrt());
    assertClose(ye, expected, { rtol: 1e-10, atol: 1e-12 });
    // (N, F) input, feature axis 1
    const [y2] = nn.batchNorm({}, nn.init.batchNorm(4).state, randn(61, [16, 4]), {
      training: true,
    });
    assert.deepEqual(y2.shape, [16, 4]);
    assert.throws(
      () => nn.batchNorm(params, state, np.ones([2, 4])),
      /nn\.batchNorm: state\.mean float64\(3,\) must have shape \(4,\)/,
    );
  });
});

Deno.test("nn dropout rate and scaling", () => {
  const key = random.key(0);
  const x = np.ones([100000]);
  const y = nn.dropout(key, x, 0.3);
  const v = y.dataSync();
  let zeros = 0;
  for (const e of v) {
    if (e === 0) zeros++;
    else assert.ok(Math.abs(e - 1 / 0.7) < 1e-6);
  }
  assert.ok(Math.abs(zeros / v.length - 0.3) < 0.01, `dropped ${zeros / v.length}`);
  assertClose(nn.dropout(key, x, 0.3), y); // same key, same mask
  assert.notDeepEqual(Array.from(nn.dropout(random.key(1), x, 0.3).dataSync()), Array.from(v));
  assert.equal(nn.dropout(key, x, 0.3, { deterministic: true }), x);
  assertClose(nn.dropout(key, np.ones([4]), 1), [0, 0, 0, 0]);
  assert.throws(() => nn.dropout(key, x, 1.5), /nn\.dropout: rate must be in \[0, 1\]/);
});

Deno.test("nn initializers have the stated variance", async (t) => {
  const key = random.key(42);
  const shape = [400, 250]; // 100k samples; fan_in 400, fan_out 250
  const cases: [string, nn.init.Initializer, number][] = [
    ["glorotUniform", nn.init.glorotUniform(), 2 / 650],
    ["glorotNormal", nn.init.glorotNormal(), 2 / 650],
    ["heUniform", nn.init.heUniform(), 2 / 400],
    ["heNormal", nn.init.heNormal(), 2 / 400],
    ["lecunUniform", nn.init.lecunUniform(), 1 / 400],
    ["lecunNormal", nn.init.lecunNormal(), 1 / 400],
    [
      "varianceScaling(3, fan_out, normal)",
      nn.init.varianceScaling(3, "fan_out", "normal"),
      3 / 250,
    ],
  ];
  for (const [name, init, variance] of cases) {
    await t.step(name, () => {
      const w = init(key, shape);
      assert.deepEqual(w.shape, shape);
      assert.equal(w.dtype, "float32");
      const v = w.astype("float64").var().item() as number;
      assert.ok(Math.abs(v / variance - 1) < 0.1, `${name}: variance ${v} vs ${variance}`);
      assert.ok(Math.abs(w.mean().item() as number) < 0.05 * Math.sqrt(variance) * 10);
      if (name.includes("Uniform")) {
        const lim = Math.sqrt(3 * variance);
        assert.ok((w.abs().max().item() as number) <= lim * (1 + 1e-6));
      }
    });
  }
  await t.step("fans of a conv kernel (OIHW) and float64", () => {
    assert.deepEqual(nn.init.computeFans([8, 4, 3, 3], 1, 0), [36, 72]);
    assert.deepEqual(nn.init.computeFans([3, 3, 4, 8]), [36, 72]);
    const w = nn.init.heNormal({ inAxis: 1, outAxis: 0 })(key, [64, 50, 5, 5], "float64");
    assert.equal(w.dtype, "float64");
    const v = w.var().item() as number;
    assert.ok(Math.abs(v / (2 / 1250) - 1) < 0.1, `conv heNormal variance ${v}`);
  });
  await t.step("layer params", () => {
    const p = nn.init.linear(key, 300, 200);
    assert.deepEqual(p.w.shape, [300, 200]);
    assert.deepEqual(p.b!.toArray(), new Array(200).fill(0));
    assert.ok(Math.abs((p.w.astype("float64").var().item() as number) * 300 - 1) < 0.1);
    assert.equal(nn.init.linear(key, 3, 2, { bias: false }).b, undefined);
    const c = nn.init.conv2d(key, 8, 16, 3, { groups: 2 });
    assert.deepEqual(c.w.shape, [16, 4, 3, 3]);
    assert.deepEqual(c.b!.shape, [16]);
    const y = nn.conv2d(c, np.ones([1, 8, 5, 5]), { groups: 2, padding: 1 });
    assert.deepEqual(y.shape, [1, 16, 5, 5]);
    const e = nn.init.embedding(key, 10, 4);
    assert.deepEqual(e.table.shape, [10, 4]);
    assert.throws(() => nn.init.conv2d(key, 6, 4, 3, { groups: 4 }), /nn\.init\.conv2d/);
    assert.throws(() => nn.init.linear(key, 0, 3), /nn\.init\.linear: inFeatures/);
    assert.throws(
      () => nn.init.varianceScaling(1, "fan_x" as never, "normal"),
      /nn\.init\.varianceScaling/,
    );
  });
});

Deno.test("nn end to end: a small MLP trains on separable data", () => {
  const keys = random.split(random.key(7), 2);
  let params = {
    l1: nn.init.linear(keys.slice(0), 2, 16, { dtype: "float64" }),
    l2: nn.init.linear(keys.slice(1), 16, 2, { dtype: "float64" }),
  };
  const r = rng(3);
  const pts = Array.from({ length: 64 }, () => [2 * r() - 1, 2 * r() - 1]);
  const x = np.array(pts, { dtype: "float64" });
  const y = np.array(pts.map(([a, b]) => (a * b > 0 ? 1 : 0)), { dtype: "int32" });
  const model = (p: typeof params, x: Tensor) => nn.linear(p.l2, nn.gelu(nn.linear(p.l1, x)));
  const loss = (p: typeof params) => nn.softmaxCrossEntropy(model(p, x), y).mean();
  const first = loss(params).item() as number;
  for (let i = 0; i < 300; i++) {
    const g = grad(loss)(params) as typeof params;
    const upd = (a: Tensor, b: Tensor) => a.sub(b.mul(0.5));
    params = {
      l1: { w: upd(params.l1.w, g.l1.w), b: upd(params.l1.b!, g.l1.b!) },
      l2: { w: upd(params.l2.w, g.l2.w), b: upd(params.l2.b!, g.l2.b!) },
    };
  }
  const last = loss(params).item() as number;
  assert.ok(last < first / 3, `loss ${first} -> ${last}`);
  assert.ok((nn.accuracy(model(params, x), y).item() as number) >= 0.9);
});

Deno.test("nn composes with jit and vmap", () => {
  const k = random.key(0);
  const p = nn.init.linear(k, 4, 3);
  const x = random.normal(random.key(1), [5, 4]);
  const y = np.array([0, 1, 2, 0, 1], { dtype: "int32" });
  const loss = (p: nn.LinearParams, x: Tensor, y: Tensor) =>
    nn.softmaxCrossEntropy(nn.gelu(nn.linear(p, x)), y).mean();
  const g1 = grad(loss)(p, x, y) as nn.LinearParams;
  const g2 = jit(grad(loss))(p, x, y) as nn.LinearParams;
  assertClose(g2.w, g1.w, { rtol: 1e-5, atol: 1e-7 });
  assertClose(g2.b!, g1.b!, { rtol: 1e-5, atol: 1e-7 });
  const c = nn.init.conv2d(k, 2, 3, 3);
  const xi = random.normal(k, [2, 2, 6, 6]);
  const f = (p: nn.Conv2dParams, x: Tensor) =>
    nn.avgPool2d(nn.maxPool2d(nn.relu(nn.conv2d(p, x, { padding: 1 })), 2), 3, { strides: 1 })
      .sum();
  const a = grad(f)(c, xi) as nn.Conv2dParams, b = jit(grad(f))(c, xi) as nn.Conv2dParams;
  assertClose(b.w, a.w, { rtol: 1e-5, atol: 1e-6 });
  const ln = (x: Tensor) => nn.layerNorm({}, x).mul(np.arange(4)).sum();
  const per = vmap(grad(ln))(x);
  assertClose(per.slice(1), grad(ln)(x.slice(1)) as Tensor, { rtol: 1e-5, atol: 1e-6 });
  const dj = jit((k: Tensor, x: Tensor) => nn.dropout(k, x, 0.5));
  assertClose(dj(k, np.ones([64])) as Tensor, nn.dropout(k, np.ones([64]), 0.5));
});
