/**
 * Control flow (`lax.scan`, `lax.forLoop`, `lax.whileLoop`, `lax.cond`, `lax.switchCase`)
 * under `jit` on the CPU back end: lowered natively (body graphs compiled into C functions of
 * the same translation unit, the loop in C) and equal to eager evaluation; bodies the back end
 * cannot compile fall back to an eager step for the whole primitive.
 */

import { grad as gradAny, jit, lax as laxTyped, np, type Tensor } from "../mod.ts";
import { assert, assertClose, rng } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;
/** lax with loose signatures: the bodies here destructure carries as plain arrays. */
const lax = laxTyped as unknown as Record<
  "scan" | "forLoop" | "whileLoop" | "cond" | "switchCase",
  AnyFn
>;
const grad = (f: AnyFn, options?: { argnums?: number | number[] }) => (...args: unknown[]) =>
  (gradAny as (f: AnyFn, o?: object) => AnyFn)(f, options)(...args) as Tensor | Tensor[];

function randn(r: () => number, shape: number[], dtype: "float32" | "float64" = "float64") {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: n }, () => r() * 2 - 1);
  return np.reshape(np.array(data, { dtype }), shape);
}

function leaves(v: unknown): Tensor[] {
  if (Array.isArray(v)) return v.flatMap(leaves);
  if (v === null || v === undefined) return [];
  return [v as Tensor];
}

/** jit(f)(...args) equals f(...args), and the compiled plan has no eager step. */
function checkJit(f: AnyFn, args: unknown[], tol = { rtol: 1e-9, atol: 1e-9 }, native = true) {
  const jf = jit(f);
  const want = leaves(f(...args));
  const got = leaves(jf(...args));
  assert.equal(got.length, want.length);
  got.forEach((g, i) => {
    assert.equal(g.dtype, want[i].dtype, `output ${i} dtype`);
    assertClose(g, want[i], tol, `output ${i}`);
  });
  const groups = (jf.lower as AnyFn)(...args).groups() as string[];
  const eager = groups.filter((g) => g.startsWith("eager"));
  if (native) assert.equal(eager.length, 0, `eager steps: ${groups.join("; ")}`);
  else assert.ok(eager.length > 0, `expected an eager fallback: ${groups.join("; ")}`);
  return groups;
}

const f32tol = { rtol: 1e-5, atol: 1e-5 };

/** A tanh RNN over xs [T, B, I]: returns the final hidden state and every step's output. */
function rnn(w: Tensor, u: Tensor, b: Tensor, h0: Tensor, xs: Tensor) {
  return lax.scan(
    (h: Tensor, x: Tensor) => {
      const hn = np.tanh(np.matmul(h, w).add(np.matmul(x, u)).add(b));
      return [hn, hn.sum(-1)];
    },
    h0,
    xs,
  );
}

Deno.test("jit control flow: scan", async (t) => {
  const r = rng(11);
  await t.step("multiple carries and ys", () => {
    const xs = randn(r, [7, 3]);
    const ys = randn(r, [7]);
    const f = (xs: Tensor, ys: Tensor) =>
      lax.scan(
        ([s, p]: Tensor[], [x, y]: Tensor[]) => [[s.add(x), p.mul(y.add(2))], [s.mul(x), y.neg()]],
        [np.zeros([3], { dtype: "float64" }), np.ones([], { dtype: "float64" })],
        [xs, ys],
      );
    const groups = checkJit(f, [xs, ys]);
    assert.ok(groups.some((g) => g.startsWith("scan x7")), groups.join("; "));
  });
  await t.step("reverse", () => {
    const xs = randn(r, [5, 2, 3]);
    const f = (xs: Tensor) =>
      lax.scan(
        (c: Tensor, x: Tensor) => [c.mul(0.5).add(x), c.sum()],
        np.zerosLike(xs.sum(0)),
        xs,
        {
          reverse: true,
        },
      );
    checkJit(f, [xs]);
  });
  await t.step("xs null with length; carry passed through and swapped", () => {
    const a = randn(r, [4]), b = randn(r, [4]);
    const f = (a: Tensor, b: Tensor) =>
      lax.scan(([x, y, k]: Tensor[]) => [[y, x.add(k), k], x], [a, b, np.array(1.5)], null, {
        length: 6,
      });
    checkJit(f, [a, b]);
  });
  await t.step("length 0 and integer carries", () => {
    const xs = np.arange(0, 0, 1, { dtype: "int32" }).reshape([0]);
    const f = (xs: Tensor) =>
      lax.scan((c: Tensor, x: Tensor) => [c.add(x), c], np.array(3, { dtype: "int32" }), xs);
    checkJit(f, [xs]);
    const g = (n: Tensor) =>
      lax.scan((c: Tensor) => [c.mul(3).add(n), c.gt(10)], np.array(1, { dtype: "int32" }), null, {
        length: 5,
      });
    checkJit(g, [np.array(2, { dtype: "int32" })]);
  });
  await t.step("RNN (float32, closed-over weights)", () => {
    const [B, I, H, T] = [2, 3, 8, 10];
    const w = randn(r, [H, H], "float32").mul(0.5), u = randn(r, [I, H], "float32");
    const b = randn(r, [H], "float32");
    const xs = randn(r, [T, B, I], "float32"), h0 = randn(r, [B, H], "float32");
    checkJit((h0: Tensor, xs: Tensor) => rnn(w, u, b, h0, xs), [h0, xs], f32tol);
    checkJit(rnn, [w, u, b, h0, xs], f32tol);
  });
  await t.step("jit(grad(scan RNN))", () => {
    const [B, I, H, T] = [2, 3, 5, 6];
    const w = randn(r, [H, H]).mul(0.5), u = randn(r, [I, H]), b = randn(r, [H]);
    const xs = randn(r, [T, B, I]), h0 = randn(r, [B, H]);
    const loss = (w: Tensor, u: Tensor, b: Tensor, h0: Tensor, xs: Tensor) => {
      const [h, ys] = rnn(w, u, b, h0, xs) as unknown as [Tensor, Tensor];
      return h.mul(h).sum().add(ys.mul(ys).sum().mul(0.1));
    };
    checkJit(grad(loss, { argnums: [0, 1, 2, 3, 4] }), [w, u, b, h0, xs], {
      rtol: 1e-8,
      atol: 1e-10,
    });
  });
});

Deno.test("jit control flow: forLoop and whileLoop", async (t) => {
  const r = rng(12);
  await t.step("forLoop with concrete bounds (a scan)", () => {
    const x = randn(r, [4]);
    const f = (x: Tensor) =>
      lax.forLoop(0, 10, (i: Tensor, v: Tensor) => v.mul(0.9).add(i.astype("float64")), x);
    checkJit(f, [x]);
  });
  await t.step("forLoop with traced bounds (a while loop)", () => {
    const x = randn(r, [4]);
    const f = (lo: Tensor, hi: Tensor, x: Tensor) =>
      lax.forLoop(lo, hi, (i: Tensor, v: Tensor) => v.add(i.astype("float64").mul(v)), x);
    const groups = checkJit(f, [
      np.array(2, { dtype: "int32" }),
      np.array(7, { dtype: "int32" }),
      x,
    ]);
    assert.ok(groups.some((g) => g.startsWith("while")), groups.join("; "));
    checkJit(f, [np.array(5, { dtype: "int32" }), np.array(1, { dtype: "int32" }), x]);
  });
  await t.step("forLoop indexing with the loop counter (dynamic slices, native)", () => {
    const xs = randn(r, [6, 3]);
    const f = (xs: Tensor) =>
      lax.forLoop(0, 6, (i: Tensor, [acc, out]: Tensor[]) => {
        const row = laxTyped.dynamicIndexInDim(xs, i, 0, false);
        const next = acc.mul(0.5).add(row);
        return [next, laxTyped.dynamicUpdateIndexInDim(out, next.sum(), i.sub(1), 0)];
      }, [np.zeros([3], { dtype: "float64" }), np.zeros([6], { dtype: "float64" })]);
    checkJit(f, [xs]);
  });
  await t.step("the issue's whileLoop", () => {
    const f = (x: Tensor) =>
      lax.whileLoop(
        ([_i, v]: Tensor[]) => v.sum().lt(100),
        ([i, v]: Tensor[]) => [i.add(1), v.mul(2)],
        [0, x],
      );
    checkJit(f, [np.array([1, 2, 3], { dtype: "float32" })], f32tol);
    checkJit(f, [np.array([100, 2, 3], { dtype: "float32" })], f32tol);
  });
  await t.step("while with consts in cond and body, bool carry", () => {
    const x = randn(r, [3]), limit = np.array(50.0);
    const f = (x: Tensor, limit: Tensor) =>
      lax.whileLoop(
        ([go, v]: Tensor[]) => np.logicalAnd(go, v.abs().sum().lt(limit)),
        ([_go, v]: Tensor[]) => [v.max().lt(limit.mul(0.5)), v.mul(2).add(x.abs()).add(1)],
        [np.array(true), x],
      );
    checkJit(f, [x, limit]);
  });
});

Deno.test("jit control flow: cond and switchCase", async (t) => {
  const r = rng(13);
  await t.step("cond with a traced predicate", () => {
    const f = (x: Tensor) =>
      lax.cond(
        x.sum().gt(0),
        (v: Tensor) => [v.mul(2), v.sum()],
        (v: Tensor) => [v.neg(), v.max()],
        x,
      );
    const x = randn(r, [2, 3]);
    const groups = checkJit(f, [x]);
    assert.ok(groups.some((g) => g.startsWith("cond")), groups.join("; "));
    checkJit(f, [x.neg()]);
    checkJit(f, [x.abs()]);
  });
  await t.step("switchCase: index clamped, branches returning operands and constants", () => {
    const f = (k: Tensor, x: Tensor, y: Tensor) =>
      lax.switchCase(
        k,
        [
          (a: Tensor, _b: Tensor) => [a, np.array(1.0, { dtype: "float64" })],
          (a: Tensor, b: Tensor) => [a.mul(b), b.sum()],
          (_a: Tensor, b: Tensor) => [np.exp(b), np.array(3.0, { dtype: "float64" })],
        ],
        x,
        y,
      );
    const x = randn(r, [4]), y = randn(r, [4]);
    for (const k of [-3, 0, 1, 2, 9]) checkJit(f, [np.array(k, { dtype: "int32" }), x, y]);
  });
});

Deno.test("jit control flow: nesting and fallback", async (t) => {
  const r = rng(14);
  await t.step("cond inside scan", () => {
    const xs = randn(r, [8, 3]);
    const f = (xs: Tensor) =>
      lax.scan(
        (c: Tensor, x: Tensor) => {
          const n = lax.cond(x.sum().gt(0), (a: Tensor) => a.add(x), (a: Tensor) => a.mul(x), c);
          return [n, n.sum()];
        },
        np.ones([3], { dtype: "float64" }),
        xs,
      );
    checkJit(f, [xs]);
  });
  await t.step("while inside scan inside forLoop", () => {
    const xs = randn(r, [4, 2]);
    const f = (xs: Tensor) =>
      lax.forLoop(0, 3, (_i: Tensor, acc: Tensor) => {
        const [c] = lax.scan(
          (c: Tensor, x: Tensor) => {
            const [_k, v] = lax.whileLoop(
              ([k, _v]: Tensor[]) => k.lt(3),
              ([k, v]: Tensor[]) => [k.add(1), v.mul(0.5).add(x)],
              [0, c],
            );
            return [v, null];
          },
          acc,
          xs,
        );
        return c;
      }, np.zeros([2], { dtype: "float64" }));
    checkJit(f, [xs]);
  });
  await t.step("a body the back end cannot compile runs the primitive eagerly", () => {
    const xs = randn(r, [5, 4]);
    const f = (xs: Tensor) =>
      lax.scan(
        (c: Tensor, x: Tensor) => [c.add(np.sort(x)), c],
        np.zeros([4], { dtype: "float64" }),
        xs,
      );
    checkJit(f, [xs], undefined, false);
  });
});

Deno.test("jit control flow: graphs differing only in a body do not share an executable", () => {
  const x = np.array([1, 2, 3], { dtype: "float64" });
  const make = (step: (c: Tensor, x: Tensor) => Tensor) =>
    jit((x: Tensor) =>
      lax.scan((c: Tensor, xi: Tensor) => [step(c, xi), c], x, np.stack([x, x], 0))[0] as Tensor
    );
  assertClose(make((c, xi) => c.add(xi))(x), [3, 6, 9]);
  assertClose(make((c, xi) => c.mul(xi))(x), [1, 8, 27]);
  assertClose(make((c, xi) => c.add(xi.mul(3)))(x), [7, 14, 21]);
});
