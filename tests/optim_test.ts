/**
 * The optimizers against closed-form updates computed elementwise in float64 JS, the schedules
 * against their formulas (on numbers, on count tensors and under jit), a jitted and donated
 * training loop, and hyperparameter errors.
 */

import { grad, jit, np, type Tensor } from "../mod.ts";
import * as optim from "../optim/index.ts";
import { assert, assertClose } from "./helpers.ts";

type P = { w: Tensor; b: Tensor[] };

const W0 = [1, -2, 0.5, 3], B0 = [0.25, -0.75];
// three steps of gradients, fixed in advance (the updates don't depend on the loss)
const GW = [[0.1, -0.4, 2, 0], [-0.3, 0.2, 1.5, 0.05], [0.7, -0.1, -1, 0.2]];
const GB = [[1, -0.5], [0.5, 0.25], [-2, 1]];

function params(dtype: "float32" | "float64" = "float64"): P {
  return { w: np.array(W0, { dtype }).reshape([2, 2]), b: [np.array(B0, { dtype })] };
}
function grads(t: number, dtype: "float32" | "float64" = "float64"): P {
  return { w: np.array(GW[t], { dtype }).reshape([2, 2]), b: [np.array(GB[t], { dtype })] };
}

/** Runs `opt` for three steps eagerly and returns the final params. */
function run3(opt: optim.GradientTransformation, dtype: "float32" | "float64" = "float64"): P {
  let p = params(dtype);
  let s = opt.init(p);
  for (let t = 0; t < 3; t++) {
    const [u, s2] = opt.update(grads(t, dtype), s, p);
    p = optim.applyUpdates(p, u);
    s = s2;
  }
  return p;
}

/**
 * The reference: every element follows the scalar recurrence `step(p, g, t, st) -> update`,
 * where st is that element's private state object.
 */
function reference(
  step: (p: number, g: number, t: number, st: Record<string, number>) => number,
): { w: number[]; b: number[] } {
  const one = (p0: number[], gs: number[][]) =>
    p0.map((p, i) => {
      const st: Record<string, number> = {};
      for (let t = 0; t < 3; t++) p += step(p, gs[t][i], t, st);
      return p;
    });
  return { w: one(W0, GW), b: one(B0, GB) };
}

function check(p: P, ref: { w: number[]; b: number[] }, tol = { rtol: 1e-12, atol: 1e-13 }) {
  assert.deepEqual(p.w.shape, [2, 2]);
  assertClose(p.w, ref.w, tol, "w");
  assertClose(p.b[0], ref.b, tol, "b");
}

Deno.test("optimizers match closed-form updates for three steps", async (t) => {
  const lr = 0.1;
  await t.step("sgd", () => {
    check(run3(optim.sgd(lr)), reference((_p, g) => -lr * g));
  });
  await t.step("sgd with momentum", () => {
    check(
      run3(optim.sgd(lr, { momentum: 0.9 })),
      reference((_p, g, _t, st) => {
        st.m = g + 0.9 * (st.m ?? 0);
        return -lr * st.m;
      }),
    );
  });
  await t.step("sgd with Nesterov momentum", () => {
    check(
      run3(optim.sgd(lr, { momentum: 0.9, nesterov: true })),
      reference((_p, g, _t, st) => {
        st.m = g + 0.9 * (st.m ?? 0);
        return -lr * (g + 0.9 * st.m);
      }),
    );
  });
  const adamRef = (b1: number, b2: number, eps: number, epsRoot: number, wd = 0) =>
    reference((p, g, t, st) => {
      st.m = (1 - b1) * g + b1 * (st.m ?? 0);
      st.v = (1 - b2) * g * g + b2 * (st.v ?? 0);
      const mh = st.m / (1 - b1 ** (t + 1)), vh = st.v / (1 - b2 ** (t + 1));
      return -lr * (mh / (Math.sqrt(vh + epsRoot) + eps) + wd * p);
    });
  await t.step("adam (defaults)", () => {
    check(run3(optim.adam(lr)), adamRef(0.9, 0.999, 1e-8, 0));
  });
  await t.step("adam with custom b1, b2, eps, epsRoot", () => {
    check(
      run3(optim.adam(lr, { b1: 0.5, b2: 0.8, eps: 1e-3, epsRoot: 1e-4 })),
      adamRef(0.5, 0.8, 1e-3, 1e-4),
    );
  });
  await t.step("adam with Nesterov (NAdam)", () => {
    const b1 = 0.9, b2 = 0.999;
    check(
      run3(optim.adam(lr, { nesterov: true })),
      reference((_p, g, t, st) => {
        st.m = (1 - b1) * g + b1 * (st.m ?? 0);
        st.v = (1 - b2) * g * g + b2 * (st.v ?? 0);
        const mh = b1 * st.m / (1 - b1 ** (t + 2)) + (1 - b1) * g / (1 - b1 ** (t + 1));
        return -lr * mh / (Math.sqrt(st.v / (1 - b2 ** (t + 1))) + 1e-8);
      }),
    );
  });
  await t.step("adamw: decoupled decay, default and masked", () => {
    check(run3(optim.adamw(lr)), adamRef(0.9, 0.999, 1e-8, 0, 1e-4));
    check(run3(optim.adamw(lr, { weightDecay: 0.5 })), adamRef(0.9, 0.999, 1e-8, 0, 0.5));
    const masked = run3(optim.adamw(lr, { weightDecay: 0.5, mask: { w: true, b: [false] } }));
    assertClose(masked.w, adamRef(0.9, 0.999, 1e-8, 0, 0.5).w, { rtol: 1e-12 });
    assertClose(masked.b[0], adamRef(0.9, 0.999, 1e-8, 0, 0).b, { rtol: 1e-12 });
    const byFn = run3(
      optim.adamw(lr, {
        weightDecay: 0.5,
        mask: (p) => ({ w: false, b: (p as P).b.map(() => true) }),
      }),
    );
    assertClose(byFn.w, adamRef(0.9, 0.999, 1e-8, 0, 0).w, { rtol: 1e-12 });
    assertClose(byFn.b[0], adamRef(0.9, 0.999, 1e-8, 0, 0.5).b, { rtol: 1e-12 });
  });
  await t.step("rmsprop, plain, centered and with momentum", () => {
    const d = 0.9, eps = 1e-8;
    check(
      run3(optim.rmsprop(lr)),
      reference((_p, g, _t, st) => {
        st.v = (1 - d) * g * g + d * (st.v ?? 0);
        return -lr * g / Math.sqrt(st.v + eps);
      }),
    );
    check(
      run3(optim.rmsprop(lr, { centered: true, decay: 0.8, eps: 1e-2 })),
      reference((_p, g, _t, st) => {
        st.m = 0.2 * g + 0.8 * (st.m ?? 0);
        st.v = 0.2 * g * g + 0.8 * (st.v ?? 0);
        return -lr * g / Math.sqrt(st.v - st.m * st.m + 1e-2);
      }),
    );
    check(
      run3(optim.rmsprop(lr, { momentum: 0.5, initialScale: 1 })),
      reference((_p, g, _t, st) => {
        st.v = (1 - d) * g * g + d * (st.v ?? 1);
        st.tr = -lr * g / Math.sqrt(st.v + eps) + 0.5 * (st.tr ?? 0);
        return st.tr;
      }),
    );
  });
  await t.step("adagrad", () => {
    check(
      run3(optim.adagrad(lr)),
      reference((_p, g, _t, st) => {
        st.s = g * g + (st.s ?? 0.1);
        return -lr * g / Math.sqrt(st.s + 1e-7);
      }),
    );
  });
  await t.step("a schedule as the learning rate is read at the count before each step", () => {
    const sched = optim.piecewiseConstantSchedule(0.5, { 1: 0.1, 2: 3 });
    const lrs = [0.5, 0.05, 0.15];
    check(run3(optim.sgd(sched)), reference((_p, g, t) => -lrs[t] * g), {
      rtol: 1e-6,
      atol: 1e-7,
    });
  });
  await t.step("float32 params stay float32 and agree to float32 precision", () => {
    const p = run3(optim.adam(lr, { b1: 0.8 }), "float32");
    assert.equal(p.w.dtype, "float32");
    assert.equal(p.b[0].dtype, "float32");
    check(p, adamRef(0.8, 0.999, 1e-8, 0), { rtol: 1e-5, atol: 1e-6 });
  });
});

Deno.test("clipByGlobalNorm, addDecayedWeights, chain and applyUpdates", () => {
  const g = grads(0);
  const norm = Math.sqrt([...GW[0], ...GB[0]].reduce((a, x) => a + x * x, 0));
  assertClose(optim.globalNorm(g), norm, { rtol: 1e-12 });
  const clip = optim.clipByGlobalNorm(1);
  const [u] = clip.update(g, clip.init(params()));
  assertClose(u.w, GW[0].map((x) => x / norm), { rtol: 1e-12 });
  assertClose(optim.globalNorm(u), 1, { rtol: 1e-12 });
  // under the threshold nothing changes
  const [same] = optim.clipByGlobalNorm(100).update(g, {});
  assertClose(same.b[0], GB[0]);
  // decay needs the params, and adds wd * p
  const wd = optim.addDecayedWeights(0.1);
  assert.throws(() => wd.update(g, {}), /optim\.addDecayedWeights: update needs the params/);
  const [d] = wd.update(g, {}, params());
  assertClose(d.w, GW[0].map((x, i) => x + 0.1 * W0[i]), { rtol: 1e-12 });
  // chain threads the updates and keeps one state per transform
  const opt = optim.chain(optim.clipByGlobalNorm(1), optim.scaleByLearningRate(0.5));
  const s = opt.init(params());
  assert.equal(s.length, 2);
  const [c] = opt.update(g, s);
  assertClose(c.w, GW[0].map((x) => -0.5 * x / norm), { rtol: 1e-12 });
  // applyUpdates keeps the params' dtypes
  const p32 = { a: np.array([1, 2], { dtype: "float32" }) };
  const out = optim.applyUpdates(p32, { a: np.array([0.5, 0.25], { dtype: "float64" }) });
  assert.equal(out.a.dtype, "float32");
  assertClose(out.a, [1.5, 2.25]);
  assert.throws(
    () => optim.chain(optim.sgd(1)).update(g, [] as unknown[]),
    /optim\.chain: expected a state array of 1/,
  );
});

Deno.test("schedules at given steps, on numbers, count tensors and under jit", async (t) => {
  const at = (s: optim.Schedule, steps: number[], expected: number[], rtol = 1e-12) => {
    const nums = steps.map((n) => s(n));
    nums.forEach((v) => assert.equal(typeof v, "number"));
    assertClose(nums, expected, { rtol, atol: 1e-12 });
    const tensors = steps.map((n) => s(np.array(n, { dtype: "int32" })));
    tensors.forEach((v) => assert.equal(v.dtype, "float32"));
    assertClose(tensors.map((v) => v.item() as number), expected, { rtol: 1e-6, atol: 1e-7 });
    const jitted = jit((c: Tensor) => s(c));
    assertClose(
      steps.map((n) => jitted(np.array(n, { dtype: "int32" })).item() as number),
      expected,
      { rtol: 1e-6, atol: 1e-7 },
    );
  };
  await t.step("constant", () => at(optim.constantSchedule(0.3), [0, 5, 1000], [0.3, 0.3, 0.3]));
  await t.step("exponential decay, smooth, staircase, delayed, clipped", () => {
    const steps = [0, 1, 5, 10, 25];
    at(optim.exponentialDecay(1, 10, 0.5), steps, steps.map((n) => 0.5 ** (n / 10)));
    at(
      optim.exponentialDecay(2, 10, 0.5, { staircase: true }),
      steps,
      steps.map((n) => 2 * 0.5 ** Math.floor(n / 10)),
    );
    at(
      optim.exponentialDecay(1, 4, 0.1, { transitionBegin: 3, endValue: 0.05 }),
      steps,
      steps.map((n) => n <= 3 ? 1 : Math.max(0.1 ** ((n - 3) / 4), 0.05)),
    );
    at(
      optim.exponentialDecay(1, 4, 2, { endValue: 3 }),
      steps,
      steps.map((n) => Math.min(2 ** (n / 4), 3)),
    );
  });
  await t.step("cosine decay", () => {
    const steps = [0, 1, 50, 99, 100, 150];
    const f = (n: number, a: number) =>
      0.1 * ((1 - a) * 0.5 * (1 + Math.cos(Math.PI * Math.min(n, 100) / 100)) + a);
    at(optim.cosineDecaySchedule(0.1, 100), steps, steps.map((n) => f(n, 0)));
    at(optim.cosineDecaySchedule(0.1, 100, 0.2), steps, steps.map((n) => f(n, 0.2)));
  });
  await t.step("warmup cosine", () => {
    const s = optim.warmupCosineDecaySchedule({
      initValue: 0,
      peakValue: 1,
      warmupSteps: 10,
      decaySteps: 110,
      endValue: 0.1,
    });
    const f = (n: number) => {
      if (n < 10) return n / 10;
      const c = Math.min(n - 10, 100);
      return 1 * (0.9 * 0.5 * (1 + Math.cos(Math.PI * c / 100)) + 0.1);
    };
    const steps = [0, 1, 5, 9, 10, 11, 60, 110, 500];
    at(s, steps, steps.map(f));
    assertClose(s(0), 0);
    assertClose(s(10), 1);
    assertClose(s(110), 0.1, { rtol: 1e-12 });
  });
  await t.step("piecewise constant", () => {
    const s = optim.piecewiseConstantSchedule(1, { 20: 0.5, 5: 0.1 });
    at(s, [0, 4, 5, 6, 19, 20, 100], [1, 1, 0.1, 0.1, 0.1, 0.05, 0.05]);
    at(optim.piecewiseConstantSchedule(2, [[3, 4]]), [2, 3], [2, 8]);
  });
  await t.step("linear and polynomial", () => {
    at(optim.linearSchedule(1, 0, 10, 2), [0, 2, 7, 12, 20], [1, 1, 0.5, 0, 0]);
    at(optim.polynomialSchedule(1, 0, 2, 10), [0, 5, 10], [1, 0.25, 0]);
  });
});

Deno.test("a jitted, donated training loop converges on a quadratic", () => {
  const target = { w: np.array([[1, -2], [3, 0.5]]), b: np.array([-1, 2]) };
  type Q = { w: Tensor; b: Tensor };
  const loss = (p: Q) =>
    np.sum(np.square(p.w.sub(target.w))).add(np.sum(np.square(p.b.sub(target.b))));
  const opt = optim.chain(
    optim.clipByGlobalNorm(1),
    optim.adamw(
      optim.warmupCosineDecaySchedule({
        initValue: 0,
        peakValue: 0.1,
        warmupSteps: 10,
        decaySteps: 300,
        endValue: 0.001,
      }),
      { weightDecay: 0 },
    ),
  );
  let p: Q = { w: np.zeros([2, 2]), b: np.zeros([2]) };
  let s = opt.init(p);
  const step = jit((p: Q, s: unknown[]) => {
    const [u, s2] = opt.update(grad(loss)(p), s, p);
    return [optim.applyUpdates(p, u), s2] as [Q, unknown[]];
  }, { donateArgnums: [0, 1] });
  const first = loss(p).item() as number;
  for (let i = 0; i < 300; i++) [p, s] = step(p, s);
  assert.equal(step.cacheSize(), 1, "one compile for every step");
  const last = loss(p).item() as number;
  assert.ok(last < 1e-4 * first, `loss ${first} -> ${last}`);
  assertClose(p.w, target.w, { atol: 1e-2 });
  assert.equal(p.w.dtype, "float32");
  // the count lives in the state as an int32 scalar
  const adamState = (s[1] as { count: Tensor }[])[0];
  assert.equal(adamState.count.dtype, "int32");
  assert.equal(adamState.count.item(), 300);
  // jitted and eager steps agree
  const sgd = optim.sgd(0.1, { momentum: 0.9 });
  const sgdStep = jit((p: Q, s: unknown) => {
    const [u, s2] = sgd.update(grad(loss)(p), s, p);
    return [optim.applyUpdates(p, u), s2] as [Q, unknown];
  });
  let pj: Q = { w: np.zeros([2, 2]), b: np.zeros([2]) }, pe = pj;
  let sj = sgd.init(pj), se = sj;
  for (let i = 0; i < 5; i++) {
    [pj, sj] = sgdStep(pj, sj);
    const [u, s2] = sgd.update(grad(loss)(pe), se, pe);
    [pe, se] = [optim.applyUpdates(pe, u), s2];
  }
  assertClose(pj.w, pe.w, { rtol: 1e-5 });
});

Deno.test("bad hyperparameters are zod errors naming the function", () => {
  const bad: [() => unknown, RegExp][] = [
    [() => optim.sgd(-0.1), /optim\.sgd: invalid hyperparameters: learningRate/],
    [() => optim.adam(-1), /optim\.adam: invalid hyperparameters: learningRate/],
    [() => optim.adam(1e-3, { b1: 1 }), /optim\.adam: invalid hyperparameters: b1/],
    [() => optim.adam(1e-3, { b2: 1.5 }), /optim\.adam: .*b2/],
    [() => optim.adamw(1e-3, { b1: 1.2 }), /optim\.adamw: .*b1/],
    [() => optim.adamw(1e-3, { weightDecay: -1 }), /optim\.adamw: .*weightDecay/],
    [() => optim.rmsprop(1e-3, { decay: 1 }), /optim\.rmsprop: .*decay/],
    [() => optim.rmsprop(Number.NaN), /optim\.rmsprop: .*learningRate/],
    [() => optim.adagrad(0.1, { eps: -1 }), /optim\.adagrad: .*eps/],
    [() => optim.sgd(0.1, { momentum: -0.5 }), /optim\.sgd: .*momentum/],
    // deno-lint-ignore no-explicit-any
    [() => optim.sgd(0.1, { momentom: 0.5 } as any), /optim\.sgd: .*momentom/],
    [() => optim.clipByGlobalNorm(0), /optim\.clipByGlobalNorm/],
    [() => optim.exponentialDecay(1, 0, 0.5), /optim\.exponentialDecay: .*transitionSteps/],
    [() => optim.cosineDecaySchedule(1, -5), /optim\.cosineDecaySchedule: .*decaySteps/],
    [
      () =>
        optim.warmupCosineDecaySchedule({
          initValue: 0,
          peakValue: 1,
          warmupSteps: 10,
          decaySteps: 10,
        }),
      /optim\.warmupCosineDecaySchedule: .*decaySteps/,
    ],
    [() => optim.piecewiseConstantSchedule(1, { 5: -1 }), /optim\.piecewiseConstantSchedule/],
  ];
  for (const [f, re] of bad) {
    assert.throws(f, (e: Error) => e instanceof TypeError && re.test(e.message));
  }
  // a mask of the wrong structure is named too
  const opt = optim.adamw(0.1, { mask: { w: true } });
  const p = params();
  assert.throws(() => opt.update(grads(0), opt.init(p), p), /optim\.adamw: mask has structure/);
});
