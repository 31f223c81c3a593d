/** `tidy` scopes and `keep`: which tensors a scope disposes, on the cpu device. */

import { grad, jit, keep, np, type Tensor, tidy, vmap } from "../mod.ts";
import { assert, assertClose } from "./helpers.ts";

Deno.test("tidy disposes what fn made, except what it returns or keeps", async (t) => {
  const x = np.arange(4);
  await t.step("intermediates end, results (in a pytree) and outside tensors live", () => {
    let intermediate: Tensor | undefined;
    const result = tidy(() => {
      intermediate = x.add(1);
      return { sum: intermediate.sum(), parts: [intermediate.mul(2)] };
    });
    assert.ok(intermediate!.isDisposed);
    assert.throws(() => intermediate!.dataSync(), /disposed/);
    assert.equal(result.sum.item(), 10);
    assertClose(result.parts[0], [2, 4, 6, 8]);
    assert.ok(!x.isDisposed);
  });
  await t.step("nested: an inner result belongs to the outer scope", () => {
    let inner: Tensor | undefined;
    const outer = tidy(() => {
      inner = tidy(() => x.mul(3));
      assert.ok(!inner.isDisposed);
      return inner.add(1);
    });
    assert.ok(inner!.isDisposed);
    assertClose(outer, [1, 4, 7, 10]);
  });
  await t.step("keep exempts a tensor; a throw still disposes", () => {
    let kept: Tensor | undefined, dropped: Tensor | undefined;
    assert.throws(
      () =>
        tidy(() => {
          kept = keep(x.neg());
          dropped = x.neg();
          throw new Error("boom");
        }),
      /boom/,
    );
    assert.ok(!kept!.isDisposed && dropped!.isDisposed);
    assertClose(kept!, [0, -1, -2, -3]);
  });
  await t.step("constants staged by jit inside a scope outlive it", () => {
    const f = jit((v: Tensor) => v.mul(np.array(5)).add(np.ones([4])));
    tidy(() => f(x));
    assertClose(f(x), [1, 6, 11, 16]);
  });
  await t.step("inside vmap and grad a scope collects nothing (tracers hold the values)", () => {
    const f = (v: Tensor) => tidy(() => np.tanh(v.mul(v)).sum());
    const xs = np.arange(6).reshape([2, 3]).astype("float32").div(4);
    const batched = vmap(f)(xs);
    assertClose(batched, [0, 1].map((i) => f(xs.slice(i)).item() as number), { rtol: 1e-6 });
    const g = grad(f)(x.astype("float32"));
    const want = x.astype("float32").mul(2).mul(
      np.tanh(x.astype("float32").square()).square()
        .neg().add(1),
    );
    assertClose(g, want, { rtol: 1e-5 });
  });
  await t.step("an async fn is refused", () => {
    assert.throws(() => tidy(() => Promise.resolve(1)), /tidy: fn returned a Promise/);
  });
});
