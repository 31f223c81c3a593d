/**
 * Control flow (`lax.cond`, `lax.switchCase`, `lax.whileLoop`, `lax.forLoop`, `lax.scan`):
 * values against unrolled JS loops, derivatives against unrolled versions and finite
 * differences (both the unrolled and the staged differentiation paths), vmap against loops,
 * and errors that name the op.
 */

import { grad as gradAny, jvp, lax, np, type Tensor, vmap } from "../mod.ts";
import { controlConfig } from "../core/prims/control.ts";
import { assert, assertClose, rng } from "./helpers.ts";

const f64 = { dtype: "float64" } as const;

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;
/** `grad` with tensor-typed results. */
const grad = (f: AnyFn, options?: { argnums?: number | number[] }) => (...args: unknown[]) =>
  (gradAny as (f: AnyFn, o?: object) => AnyFn)(f, options)(...args) as Tensor;

function randn(r: () => number, shape: number[], scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: n }, () => (r() * 2 - 1) * scale);
  return np.reshape(np.array(data, f64), shape);
}

/** Central finite difference of a scalar function along direction `dir`. */
function finiteDiff(f: (x: Tensor) => Tensor, x: Tensor, dir: Tensor, eps = 1e-6): number {
  const hi = f(x.add(dir.mul(eps))).item() as number;
  const lo = f(x.sub(dir.mul(eps))).item() as number;
  return (hi - lo) / (2 * eps);
}

/** Runs `fn` twice: differentiating control flow unrolled, then through staged primitives. */
async function bothPaths(t: Deno.TestContext, name: string, fn: () => void): Promise<void> {
  for (const unroll of [true, false]) {
    await t.step(`${name} (${unroll ? "unrolled" : "staged"})`, () => {
      controlConfig.unrollConcrete = unroll;
      try {
        fn();
      } finally {
        controlConfig.unrollConcrete = true;
      }
    });
  }
}

const piecewise = (x: Tensor) =>
  lax.cond(x.sum().gt(0), (v: Tensor) => np.sin(v).mul(v), (v: Tensor) => v.mul(v).mul(3), x);
/** The branch piecewise takes at a concrete x, as a function (to differentiate). */
const branchAt = (x: Tensor) =>
  (x.sum().item() as number) > 0 ? (v: Tensor) => np.sin(v).mul(v) : (v: Tensor) => v.mul(v).mul(3);
const piecewiseRef = (x: Tensor) => branchAt(x)(x);

Deno.test("lax.cond and lax.switchCase", async (t) => {
  await t.step("picks the branch, tensor and JS predicates", () => {
    const x = np.array([1, -2, 3]);
    assertClose(piecewise(x), piecewiseRef(x));
    assertClose(piecewise(x.neg()), piecewiseRef(x.neg()));
    assertClose(lax.cond(true, (v: Tensor) => v.add(1), (v: Tensor) => v, x), [2, -1, 4]);
    assertClose(lax.cond(0, (v: Tensor) => v.add(1), (v: Tensor) => v, x), [1, -2, 3]);
    assertClose(lax.cond(np.array(2.5), () => np.array(1), () => np.array(0)), 1);
  });
  await t.step("pytree operands and outputs, several operands, closures", () => {
    const w = np.array([10, 20]);
    const out = lax.cond(
      np.array(false),
      (p: { a: Tensor; b: Tensor }, s: Tensor) => ({ y: p.a.mul(s), z: [p.b] }),
      (p: { a: Tensor; b: Tensor }, s: Tensor) => ({ y: p.a.add(w), z: [p.b.mul(s)] }),
      { a: np.array([1, 2]), b: np.array(3) },
      np.array(2),
    );
    assertClose(out.y, [11, 22]);
    assertClose(out.z[0], 6);
  });
  await t.step("switchCase clamps the index", () => {
    const branches = [
      (v: Tensor) => v.add(1),
      (v: Tensor) => v.mul(10),
      (v: Tensor) => v.neg(),
    ];
    const x = np.array([1, 2]);
    assertClose(lax.switchCase(0, branches, x), [2, 3]);
    assertClose(lax.switchCase(np.array(1, { dtype: "int32" }), branches, x), [10, 20]);
    assertClose(lax.switchCase(7, branches, x), [-1, -2]);
    assertClose(lax.switchCase(np.array(-3, { dtype: "int32" }), branches, x), [2, 3]);
    assert.equal(lax.switch_, lax.switchCase);
  });
  await bothPaths(t, "grad through cond against the branches and finite differences", () => {
    const r = rng(1);
    for (const sign of [1, -1]) {
      const x = randn(r, [4]).abs().mul(sign);
      const loss = (v: Tensor) => piecewise(v).sum();
      const g = grad(loss)(x);
      assertClose(g, grad((v: Tensor) => branchAt(x)(v).sum())(x), { rtol: 1e-9, atol: 1e-12 });
      const dir = randn(r, [4]);
      assertClose(np.sum(g.mul(dir)), finiteDiff(loss, x, dir), { rtol: 1e-6, atol: 1e-8 });
    }
  });
  await bothPaths(t, "grad w.r.t. a value the branches close over", () => {
    const x = np.array([1, 2], f64);
    const f = (w: Tensor) =>
      lax.cond(w.gt(0), (v: Tensor) => v.mul(w).mul(w), (v: Tensor) => v.sub(w), x).sum();
    assertClose(grad(f)(np.array(1.5, f64)), 2 * 1.5 * 3);
    assertClose(grad(f)(np.array(-1.5, f64)), -2);
  });
  await bothPaths(t, "jvp through cond", () => {
    const x = np.array([0.5, 1.5], f64), dx = np.array([1, -2], f64);
    const [y, dy] = jvp(piecewise, [x], [dx]);
    const [yr, dyr] = jvp(branchAt(x), [x], [dx]);
    assertClose(y, yr);
    assertClose(dy, dyr, { rtol: 1e-9 });
  });
  await t.step("second derivative through cond", () => {
    const f = (x: Tensor) => lax.cond(x.gt(0), (v: Tensor) => v.mul(v).mul(v), np.sin, x);
    assertClose(grad(grad(f))(np.array(2, f64)), 12);
    assertClose(grad(grad(f))(np.array(-1, f64)), -Math.sin(-1), { rtol: 1e-9 });
  });
});

Deno.test("lax.whileLoop", async (t) => {
  await t.step("the issue's example", () => {
    const x = np.array([1, 2, 3]);
    const [i, v] = lax.whileLoop(
      ([_i, v]) => v.sum().lt(100),
      ([i, v]) => [i.add(1), v.mul(2)],
      [0, x],
    );
    let ref = [1, 2, 3], n = 0;
    while (ref.reduce((a, b) => a + b) < 100) {
      ref = ref.map((e) => e * 2);
      n++;
    }
    assert.equal(i.item(), n);
    assert.equal(i.dtype, "int32");
    assertClose(v, ref);
  });
  await t.step("pytree carry, zero iterations, closures", () => {
    const limit = np.array(5);
    const out = lax.whileLoop(
      (s) => s.n.lt(limit),
      (s) => ({ n: s.n.add(1), acc: s.acc.add(s.n) }),
      { n: np.array(0), acc: np.array(0) },
    );
    assertClose(out.acc, 0 + 1 + 2 + 3 + 4);
    const none = lax.whileLoop((v) => v.gt(10), (v) => v.add(1), np.array(3));
    assertClose(none, 3);
  });
  await t.step("jvp against the unrolled loop and finite differences", () => {
    const f = (x: Tensor) => lax.whileLoop((v) => v.sum().lt(10), (v) => v.mul(v).add(1), x);
    const x = np.array([0.5, 1.25], f64), dx = np.array([1, 0.5], f64);
    const [y, dy] = jvp(f, [x], [dx]);
    let trips = 0;
    for (let v = x; (v.sum().item() as number) < 10; v = v.mul(v).add(1)) trips++;
    const unrolled = (v: Tensor) => {
      for (let i = 0; i < trips; i++) v = v.mul(v).add(1);
      return v;
    };
    const [yr, dyr] = jvp(unrolled, [x], [dx]);
    assertClose(y, yr);
    assertClose(dy, dyr, { rtol: 1e-9 });
    assertClose(np.sum(dy), finiteDiff((v) => f(v).sum(), x, dx), { rtol: 1e-5 });
  });
  await t.step("reverse mode is a clear error", () => {
    const f = (x: Tensor) => lax.whileLoop((v) => v.lt(10), (v) => v.mul(2), x);
    assert.throws(() => grad(f)(np.array(1.5)), /whileLoop.*reverse-mode/);
  });
});

Deno.test("lax.scan and lax.forLoop", async (t) => {
  await t.step("scan against a JS loop, forward and reverse", () => {
    const xs = np.array([1, 2, 3, 4]);
    const f = (c: Tensor, x: Tensor): [Tensor, Tensor] => [c.mul(0.5).add(x), c.mul(x)];
    for (const reverse of [false, true]) {
      const [c, ys] = lax.scan(f, np.array(1), xs, { reverse });
      let cr = 1;
      const ysr = [0, 0, 0, 0];
      for (let s = 0; s < 4; s++) {
        const i = reverse ? 3 - s : s;
        const x = i + 1;
        ysr[i] = cr * x;
        cr = cr * 0.5 + x;
      }
      assertClose(c, cr);
      assertClose(ys, ysr);
    }
  });
  await t.step("pytrees, xs null with length, ys null, empty scan", () => {
    const [c, ys] = lax.scan(
      (carry, x: { a: Tensor; b: Tensor }) => [
        { s: carry.s.add(x.a.sum()) },
        { p: x.a.mul(x.b), q: x.b },
      ],
      { s: np.array(0) },
      { a: np.array([[1, 2], [3, 4], [5, 6]]), b: np.array([1, 2, 3]) },
    );
    assertClose(c.s, 21);
    assertClose(ys.p, [[1, 2], [6, 8], [15, 18]]);
    assertClose(ys.q, [1, 2, 3]);
    const [n, none] = lax.scan((k) => [k.mul(2), null], np.array(1), null, { length: 5 });
    assertClose(n, 32);
    assert.equal(none, null);
    const [c0, ys0] = lax.scan(
      (k, x: Tensor) => [k.add(x.sum()), x],
      np.array(7),
      np.zeros([0, 2]),
    );
    assertClose(c0, 7);
    assert.deepEqual(ys0.shape, [0, 2]);
  });
  await t.step("forLoop against a JS loop, empty range", () => {
    const out = lax.forLoop(2, 6, (i, v) => v.mul(i).add(1), np.array(1));
    let ref = 1;
    for (let i = 2; i < 6; i++) ref = ref * i + 1;
    assertClose(out, ref);
    assertClose(lax.forLoop(3, 1, (i, v) => v.add(i), np.array(4)), 4);
    const pair = lax.forLoop(0, 3, (i, [a, b]) => [a.add(i), b.mul(2)], [0, np.array([1, 2])]);
    assertClose(pair[0], 3);
    assertClose(pair[1], [8, 16]);
  });
  await bothPaths(t, "grad of scan against unrolled and finite differences", () => {
    const r = rng(2);
    const xs = randn(r, [5, 3]);
    const loss = (w: Tensor) => {
      const [c, ys] = lax.scan(
        (c, x: Tensor) => {
          const n = np.sin(c.mul(w)).add(x);
          return [n, n.mul(n)];
        },
        np.zeros([3], f64),
        xs,
      );
      return c.sum().add(ys.sum());
    };
    const unrolled = (w: Tensor) => {
      let c = np.zeros([3], f64), total = np.array(0, f64);
      for (let i = 0; i < 5; i++) {
        c = np.sin(c.mul(w)).add(xs.slice(i));
        total = total.add(c.mul(c).sum());
      }
      return c.sum().add(total);
    };
    const w = randn(r, [3]);
    assertClose(loss(w), unrolled(w), { rtol: 1e-12 });
    const g = grad(loss)(w);
    assertClose(g, grad(unrolled)(w), { rtol: 1e-9, atol: 1e-12 });
    const dir = randn(r, [3]);
    assertClose(np.sum(g.mul(dir)), finiteDiff(loss, w, dir), { rtol: 1e-6, atol: 1e-8 });
  });
  await bothPaths(t, "grad w.r.t. xs and init of a reverse scan", () => {
    const f = (init: Tensor, xs: Tensor) =>
      lax.scan((c, x: Tensor) => [c.mul(x), c.add(x)], init, xs, { reverse: true })[1].sum();
    const ref = (init: Tensor, xs: Tensor) => {
      let c = init, total = np.array(0, f64);
      for (let i = 2; i >= 0; i--) {
        total = total.add(c.add(xs.slice(i)));
        c = c.mul(xs.slice(i));
      }
      return total;
    };
    const init = np.array(1.5, f64), xs = np.array([0.5, 2, -1], f64);
    const [gi, gx] = grad(f, { argnums: [0, 1] })(init, xs) as unknown as Tensor[];
    const [ri, rx] = grad(ref, { argnums: [0, 1] })(init, xs) as unknown as Tensor[];
    assertClose(gi, ri, { rtol: 1e-12 });
    assertClose(gx, rx, { rtol: 1e-12 });
  });
  await bothPaths(t, "scan RNN: gradient w.r.t. W against the unrolled RNN", () => {
    const r = rng(3);
    const W = randn(r, [4, 4], 0.5), U = randn(r, [4, 2]), xs = randn(r, [6, 2]);
    const h0 = randn(r, [4]);
    const rnn = (W: Tensor) => {
      const [h, hs] = lax.scan(
        (h, x: Tensor) => {
          const n = np.tanh(np.matmul(W, h).add(np.matmul(U, x)));
          return [n, n];
        },
        h0,
        xs,
      );
      return h.sum().add(hs.mul(hs).mean());
    };
    const unrolled = (W: Tensor) => {
      let h = h0;
      const hs: Tensor[] = [];
      for (let t = 0; t < 6; t++) {
        h = np.tanh(np.matmul(W, h).add(np.matmul(U, xs.slice(t))));
        hs.push(h);
      }
      const stacked = np.stack(hs);
      return h.sum().add(stacked.mul(stacked).mean());
    };
    assertClose(rnn(W), unrolled(W), { rtol: 1e-12 });
    assertClose(grad(rnn)(W), grad(unrolled)(W), { rtol: 1e-9, atol: 1e-12 });
  });
  await bothPaths(t, "grad of forLoop against unrolled", () => {
    const f = (x: Tensor) => lax.forLoop(0, 4, (i, v) => np.cos(v).mul(i.add(1)), x).sum();
    const ref = (x: Tensor) => {
      for (let i = 0; i < 4; i++) x = np.cos(x).mul(i + 1);
      return x.sum();
    };
    const x = np.array([0.3, -0.7], f64);
    assertClose(f(x), ref(x), { rtol: 1e-12 });
    assertClose(grad(f)(x), grad(ref)(x), { rtol: 1e-9 });
  });
  await bothPaths(t, "jvp of scan", () => {
    const f = (x: Tensor) => lax.scan((c, e: Tensor) => [c.mul(e), np.exp(c)], np.array(1, f64), x);
    const x = np.array([0.5, 2, 1.5], f64), dx = np.array([1, 1, -1], f64);
    const [[c, ys], [dc, dys]] = jvp(f, [x], [dx]);
    assertClose(c, 1.5);
    assertClose(ys, [Math.exp(1), Math.exp(0.5), Math.exp(1)], { rtol: 1e-12 });
    // c = x0 x1 x2: dc = x1 x2 dx0 + x0 x2 dx1 + x0 x1 dx2
    assertClose(dc, 2 * 1.5 + 0.5 * 1.5 - 0.5 * 2, { rtol: 1e-12 });
    // ys = [e^1, e^x0, e^(x0 x1)]
    assertClose(dys, [0, Math.exp(0.5), Math.exp(1) * (2 * 1 + 0.5 * 1)], { rtol: 1e-12 });
  });
});

Deno.test("control flow composes", async (t) => {
  const xs = np.array([0.3, -0.2, 0.5], f64);
  const f = (w: Tensor) =>
    lax.scan((c, x: Tensor) => [np.sin(c.mul(w)).add(x), c], np.array(0.4, f64), xs)[0];
  const fr = (w: Tensor) => {
    let c = np.array(0.4, f64);
    for (let i = 0; i < 3; i++) c = np.sin(c.mul(w)).add(xs.slice(i));
    return c;
  };
  await bothPaths(t, "second derivative of scan", () => {
    const w = np.array(0.7, f64);
    assertClose(grad(grad(f))(w), grad(grad(fr))(w), { rtol: 1e-9 });
  });
  await bothPaths(t, "cond inside scan: grad, and vmap of grad", () => {
    const h = (w: Tensor) =>
      lax.scan(
        (c, x: Tensor) => [
          lax.cond(x.gt(0), (a: Tensor) => a.mul(w), (a: Tensor) => a.add(w), c),
          c,
        ],
        np.array(1, f64),
        xs,
      )[0];
    // ((1 * w) + w) * w = 2 w^2: derivative 4 w
    assertClose(grad(h)(np.array(2, f64)), 8);
    assertClose(vmap(grad(h))(np.array([2, 3], f64)), [8, 12]);
  });
  await bothPaths(t, "grad of vmap of cond and scan", () => {
    const gv = grad((w: Tensor) =>
      vmap((x: Tensor) => lax.cond(x.gt(0), (a: Tensor) => a.mul(w), (a: Tensor) => a.sub(w), x))(
        xs,
      ).sum()
    );
    assertClose(gv(np.array(2, f64)), 0.3 + 0.5 - 1, { rtol: 1e-12 });
    const gs = grad((w: Tensor) => vmap((x: Tensor) => f(w.add(x)))(xs).sum());
    const gsr = grad((w: Tensor) => np.stack([0, 1, 2].map((i) => fr(w.add(xs.slice(i))))).sum());
    assertClose(gs(np.array(0.7, f64)), gsr(np.array(0.7, f64)), { rtol: 1e-9 });
  });
  await t.step("vmap of jvp through cond and whileLoop", () => {
    const one = np.array(1, f64);
    const vj = vmap((x: Tensor) =>
      jvp((a: Tensor) => lax.cond(a.gt(0), np.sin, np.cos, a), [x], [one])[1]
    );
    assertClose(vj(xs), [Math.cos(0.3), -Math.sin(-0.2), Math.cos(0.5)], { rtol: 1e-12 });
    const vw = vmap((x: Tensor) =>
      jvp((a: Tensor) => lax.whileLoop((v) => v.lt(10), (v) => v.mul(v), a), [x], [one])[1]
    );
    // 2 -> 4 -> 16 (x^4), 3 -> 9 -> 81 (x^4)
    assertClose(vw(np.array([2, 3], f64)), [32, 108]);
  });
});

Deno.test("vmap of control flow against loops", async (t) => {
  const r = rng(4);
  await t.step("cond with a batched predicate", () => {
    const xs = randn(r, [5, 3]);
    const got = vmap(piecewise)(xs);
    const want = np.stack([0, 1, 2, 3, 4].map((i) => piecewiseRef(xs.slice(i))));
    assertClose(got, want);
  });
  await t.step("cond with an unbatched predicate and batched operands", () => {
    const xs = randn(r, [4, 2]), w = np.array([1, -1], f64);
    const f = (x: Tensor) => lax.cond(w.sum().ge(0), (v: Tensor) => v.mul(w), np.exp, x);
    assertClose(vmap(f)(xs), np.stack([0, 1, 2, 3].map((i) => f(xs.slice(i)))));
  });
  await t.step("switchCase with a batched index", () => {
    const idx = np.array([0, 2, 1, 5, -1], { dtype: "int32" });
    const x = np.array([1, 2, 3, 4, 5]);
    const branches = [(v: Tensor) => v.add(100), (v: Tensor) => v.mul(10), (v: Tensor) => v.neg()];
    const got = vmap((i: Tensor, v: Tensor) => lax.switchCase(i, branches, v))(idx, x);
    assertClose(got, [101, -2, 30, -4, 105]);
  });
  await t.step("whileLoop with a batched predicate", () => {
    const x = np.array([1, 30, 200, 7]);
    const f = (v: Tensor) =>
      lax.whileLoop(([_i, v]) => v.lt(100), ([i, v]) => [i.add(1), v.mul(2)], [0, v]);
    const [i, v] = vmap(f)(x);
    const ref = [1, 30, 200, 7].map((e) => {
      let n = 0;
      while (e < 100) [e, n] = [e * 2, n + 1];
      return [n, e];
    });
    assertClose(i, ref.map((p) => p[0]));
    assertClose(v, ref.map((p) => p[1]));
  });
  await t.step("whileLoop with an unbatched predicate and a batched carry", () => {
    const x = np.array([[1, 2], [3, 4]]);
    const f = (v: Tensor) =>
      lax.whileLoop(([i]) => i.lt(3), ([i, v]) => [i.add(1), v.mul(v)], [0, v])[1];
    assertClose(vmap(f)(x), [[1, 256], [6561, 65536]]);
  });
  await t.step("forLoop with a batched (traced) upper bound", () => {
    const uppers = np.array([0, 3, 5], { dtype: "int32" });
    const f = (u: Tensor) => lax.forLoop(0, u, (i, v) => v.add(i), np.array(0));
    assertClose(vmap(f)(uppers), [0, 3, 10]);
  });
  await t.step("scan with batched xs, init and closed-over values", () => {
    const xs = randn(r, [3, 4, 2]), inits = randn(r, [3, 2]), ws = randn(r, [3, 2]);
    const f = (init: Tensor, x: Tensor, w: Tensor) =>
      lax.scan((c, e: Tensor) => [np.tanh(c.mul(w).add(e)), c.sum()], init, x);
    const [c, ys] = vmap(f)(inits, xs, ws);
    for (let b = 0; b < 3; b++) {
      const [cr, ysr] = f(inits.slice(b), xs.slice(b), ws.slice(b));
      assertClose(c.slice(b), cr, { rtol: 1e-12 });
      assertClose(ys.slice(b), ysr, { rtol: 1e-12 });
    }
    // xs batched on axis 1 (inAxes), init unbatched
    const [c2] = vmap((x: Tensor) => f(inits.slice(0), x, ws.slice(0)), { inAxes: 1 })(
      np.moveaxis(xs, 0, 1),
    );
    assertClose(c2.slice(1), f(inits.slice(0), xs.slice(1), ws.slice(0))[0], { rtol: 1e-12 });
  });
  await t.step("vmap of grad through cond and scan (staged derivative, transposed)", () => {
    const xs = randn(r, [4, 3]);
    const g = vmap(grad((v: Tensor) => piecewise(v).sum()))(xs);
    const want = np.stack(
      [0, 1, 2, 3].map((i) => grad((v: Tensor) => branchAt(xs.slice(i))(v).sum())(xs.slice(i))),
    );
    assertClose(g, want, { rtol: 1e-9 });
    const seq = randn(r, [5]);
    const loss = (w: Tensor) =>
      lax.scan((c, e: Tensor) => [np.sin(c.mul(w).add(e)), c], np.array(0.2, f64), seq)[0];
    const ws = randn(r, [3]);
    assertClose(vmap(grad(loss))(ws), np.stack([0, 1, 2].map((i) => grad(loss)(ws.slice(i)))), {
      rtol: 1e-9,
    });
  });
});

Deno.test("control flow errors name the op", async (t) => {
  const x = np.array([1, 2, 3]);
  await t.step("cond branches returning different shapes or structures", () => {
    assert.throws(
      () => lax.cond(true, (v: Tensor) => v, (v: Tensor) => v.sum(), x),
      /lax\.cond: the branches must return the same structure.*float32\(\).*float32\(3,\)/,
    );
    assert.throws(
      () => lax.cond(true, (v: Tensor) => [v], (v: Tensor) => ({ v }) as never, x),
      /lax\.cond: the branches must return the same structure/,
    );
    assert.throws(
      () => lax.switchCase(0, [(v: Tensor) => v, (v: Tensor) => v.astype("int32")], x),
      /lax\.switchCase: the branches/,
    );
  });
  await t.step("non-scalar predicate and bad index", () => {
    assert.throws(
      () => lax.cond(x.gt(1), (v: Tensor) => v, (v: Tensor) => v, x),
      /lax\.cond: the predicate must be a scalar.*bool\(3,\)/,
    );
    assert.throws(() => lax.switchCase(np.array(1.5), [(v: Tensor) => v], x), /lax\.switchCase/);
    assert.throws(() => lax.switchCase(0, [], x), /lax\.switchCase: branches/);
  });
  await t.step("while and scan carries", () => {
    assert.throws(
      () => lax.whileLoop((v) => v, (v) => v.add(1), np.array(1)),
      /lax\.whileLoop: condFn must return a scalar bool/,
    );
    assert.throws(
      () => lax.whileLoop((v) => v.sum().lt(3), (v) => v.sum(), x),
      /lax\.whileLoop: bodyFn must return the structure, shapes and dtypes of initVal/,
    );
    assert.throws(
      () => lax.scan((c, e: Tensor) => [c.add(e), null], np.array(0), np.zeros([3, 2])),
      /lax\.scan: f must return a carry/,
    );
    assert.throws(
      () => lax.scan((c) => [c, null], np.array(0), { a: np.zeros([3]), b: np.zeros([4]) }),
      /lax\.scan: xs leaf 1 has leading axis 4/,
    );
    assert.throws(() => lax.scan((c) => [c, null], np.array(0), null), /lax\.scan: length/);
    assert.throws(
      () => lax.scan((c) => c as never, np.array(0), null, { length: 2 }),
      /lax\.scan: f must return \[carry, y\]/,
    );
  });
  await t.step("JS control flow on traced values inside a branch", () => {
    assert.throws(
      () =>
        lax.cond(true, (v: Tensor) => ((v.sum() as unknown as number) > 0 ? v : v), (v) => v, x),
      /inside lax\.cond/,
    );
  });
});
