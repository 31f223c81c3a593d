/**
 * The `cuda` device as a user meets it, compared with `cpu`: every primitive eagerly, control
 * flow, vmap and grad under jit, MLP training, transfers, `tidy` and out-of-memory errors.
 *
 * These need a CUDA device: a GPU, or the CPU emulation (`cuda_emulated_test.ts` runs this file
 * under the fake libcuda/NVRTC of `cuda_emulator/`). Without one, each test says why it skips.
 */

import {
  defaultDevice,
  devicePut,
  jit,
  keep,
  lax,
  np,
  primitives,
  random as prng,
  setDefaultDevice,
  type Tensor,
  tidy,
  valueAndGrad,
  vmap,
} from "../mod.ts";
import { cudaDriver, cudaStatus } from "../ffi/cuda.ts";
import { cublasStatus } from "../ffi/cublas.ts";
import { allocateCudaBuffer } from "../ffi/cuda_device.ts";
import { bind } from "../core/trace.ts";
import { samplers, tolerance, toTensor } from "./conformance_samplers.ts";
import { assert, assertClose, fc, rng } from "./helpers.ts";

const status = cudaStatus();
const skipped = (what: string) => {
  console.log(`  skipped ${what}: ${status.reason}`);
};
const onCuda = <T>(x: T): T => devicePut(x, "cuda");
const random = (shape: number[], seed: number, scale = 1) => {
  const r = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return np.array(Array.from({ length: size }, () => scale * (2 * r() - 1))).reshape(shape);
};

Deno.test("cuda device: every primitive agrees with cpu on random inputs", async (t) => {
  if (!status.available) return skipped("the primitive sweep");
  for (const [name, prim] of primitives) {
    const sampler = samplers[name];
    if (!sampler || prim.rules.run) continue; // higher-order primitives: tested through jit below
    await t.step(name, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 2 ** 30 }), (seed) => {
          const c = sampler(rng(seed));
          const want = bind(prim, c.inputs.map((i) => toTensor(i, "cpu")), c.params);
          const got = bind(prim, c.inputs.map((i) => toTensor(i, "cuda")), c.params);
          assert.equal(got.length, want.length);
          got.forEach((g, i) => {
            // (with no operands, as iota, a primitive runs on the default device)
            if (c.inputs.length > 0) assert.equal(g.device, "cuda", `${name} ran on ${g.device}`);
            assert.equal(g.dtype, want[i].dtype);
            const tol = tolerance(want[i].dtype, name);
            assertClose(g, want[i], tol, `${name} seed ${seed} output ${i}`);
          });
        }),
        { numRuns: 2 },
      );
    });
  }
});

Deno.test("cuda device: control flow, vmap and grad under jit agree with cpu", async (t) => {
  if (!status.available) return skipped("jitted control flow, vmap and grad");
  const check = (fn: (...xs: Tensor[]) => unknown, args: Tensor[], tol = 1e-5) => {
    const want = [jit(fn)(...args)].flat() as Tensor[];
    const got = [jit(fn, { device: "cuda" })(...args.map(onCuda))].flat() as Tensor[];
    got.forEach((g, i) => {
      assert.equal(g.device, "cuda");
      assertClose(g, want[i], { rtol: tol, atol: tol });
    });
  };
  const x = random([5, 3], 1);
  await t.step("scan, while, cond", () => {
    check(
      (xs: Tensor) => lax.scan((c: Tensor, v: Tensor) => [c.add(v), c.mul(v)], np.zeros([3]), xs),
      [x],
    );
    check(
      (v: Tensor) =>
        lax.whileLoop((s) => s[0].lt(4), (s) => [s[0].add(1), s[1].mul(1.5)], [
          np.array(0),
          v,
        ])[1],
      [x],
    );
    check(
      (v: Tensor) => lax.cond(v.sum().gt(0), (a: Tensor) => a.exp(), (a: Tensor) => a.neg(), v),
      [x],
    );
  });
  await t.step("vmap of grad (per-example gradients)", () => {
    const loss = (w: Tensor, row: Tensor) => np.tanh(np.matmul(row, w)).square().sum();
    const w = random([3, 4], 2);
    check((ww: Tensor, xs: Tensor) => vmap(valueAndGrad(loss), { inAxes: [null, 0] })(ww, xs), [
      w,
      x,
    ]);
  });
});

Deno.test("cuda device: a jitted MLP trains as on cpu", () => {
  if (!status.available) return skipped("MLP training");
  const sizes = [12, 16, 16, 4];
  const init = () =>
    sizes.slice(1).map((n, i) => ({ w: random([sizes[i], n], 10 + i, 0.5), b: np.zeros([n]) }));
  type Params = { w: Tensor; b: Tensor }[];
  const loss = (params: Params, x: Tensor, labels: Tensor) => {
    let h = x;
    params.forEach(({ w, b }, i) => {
      h = np.matmul(h, w).add(b);
      if (i < params.length - 1) h = np.maximum(h, 0);
    });
    const logp = h.sub(np.log(np.sum(np.exp(h), -1, { keepdims: true })));
    return np.mean(np.takeAlongAxis(logp, labels.reshape([-1, 1]), 1)).neg();
  };
  const step = (params: Params, x: Tensor, labels: Tensor) => {
    const [value, grads] = valueAndGrad(loss)(params, x, labels);
    const next = params.map((p, i) => ({
      w: p.w.sub(grads[i].w.mul(0.5)),
      b: p.b.sub(grads[i].b.mul(0.5)),
    }));
    return [value, next] as const;
  };
  const x = random([32, 12], 3);
  const labels = np.argmax(np.matmul(x, random([12, 4], 4)), 1);
  const train = (device: "cpu" | "cuda") => {
    const jitted = jit(step, { device });
    let params = devicePut(init(), device);
    const [xd, ld] = devicePut([x, labels], device);
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const [value, next] = tidy(() => jitted(params, xd, ld));
      losses.push(Number(value.item()));
      params = next;
    }
    return { losses, params };
  };
  const cpu = train("cpu"), cuda = train("cuda");
  assert.ok(cuda.losses[11] < 0.7 * cuda.losses[0], `loss ${cuda.losses[0]} -> ${cuda.losses[11]}`);
  assertClose(cuda.losses, cpu.losses, { rtol: 1e-4, atol: 1e-5 });
  cuda.params.forEach((p, i) => {
    assert.equal(p.w.device, "cuda");
    assertClose(p.w, cpu.params[i].w, { rtol: 1e-4, atol: 1e-5 });
  });
});

Deno.test("cuda device: long reductions to one value are spread over the grid", () => {
  if (!status.available) return skipped("grid reductions");
  const n = 150_000;
  const x = random([n], 23, 3);
  const ints = np.arange(n, undefined, 1, { dtype: "int32" }).mul(40_000); // sums wrap
  const withNaN = x.at(np.s(n - 5)).set(NaN);
  const cases: [string, (v: Tensor) => Tensor, Tensor][] = [
    ["sum", (v) => np.sum(v), x],
    ["mean, then an epilogue", (v) => np.exp(np.mean(v.mul(v))).add(1), x],
    ["max", (v) => np.max(v), x],
    ["min of a NaN", (v) => np.min(v), withNaN],
    ["int32 sum (wrapping)", (v) => np.sum(v), ints],
  ];
  for (const [name, f, arg] of cases) {
    const g = jit(f, { device: "cuda" });
    assert.ok(g.lower(onCuda(arg)).groups().some((s) => s.startsWith("grid reduction")), name);
    // several calls on other data into fresh outputs: each launch counts its blocks from 0
    // (a stale count or partial would show), and later calls replay a CUDA graph
    const outputs: Tensor[] = [];
    for (let call = 0; call < 4; call++) {
      const input = arg.add(call);
      const got = g(onCuda(input));
      assertClose(got, jit(f)(input), { rtol: 1e-5, atol: 1e-6 }, `${name}, call ${call}`);
      outputs.push(got);
    }
  }
});

Deno.test("cuda device: matmul precision below highest lets cuBLAS use TF32", () => {
  if (!status.available) return skipped("matmul precision");
  const a = random([40, 300], 21), b = random([300, 30], 22);
  const want = np.matmul(a, b);
  const [ac, bc] = [onCuda(a), onCuda(b)];
  const highest = np.matmul(ac, bc);
  assertClose(highest, want, { rtol: 1e-5, atol: 1e-5 });
  const tf32 = np.matmul(ac, bc, { precision: "default" });
  // TF32 keeps 10 mantissa bits of each input: errors near 2^-11 per product
  assertClose(tf32, want, { rtol: 2e-2, atol: 2e-2 });
  if (cublasStatus().available) {
    const gap = np.max(np.abs(tf32.to("cpu").sub(want))).item() as number;
    assert.ok(gap > 1e-5, `precision "default" computed as float32 (largest difference ${gap})`);
  }
});

Deno.test("cuda device: transfers, async reads, tidy and out-of-memory", async (t) => {
  if (!status.available) return skipped("transfers and memory");
  await t.step("every dtype round-trips exactly; data() reads asynchronously", async () => {
    for (
      const dtype of [
        "float32",
        "float64",
        "float16",
        "bfloat16",
        "int32",
        "uint32",
        "bool",
      ] as const
    ) {
      const x = random([3, 5], 5, 4).astype(dtype);
      const y = onCuda(x);
      assert.equal(y.device, "cuda");
      assert.equal(y.dtype, dtype);
      assert.deepEqual(y.to("cpu").dataSync(), x.dataSync());
      assert.deepEqual(await y.data(), x.dataSync());
    }
  });
  await t.step("ops that are views on cpu (identity transpose, reshape) copy on cuda", () => {
    // (the 16-bit ones once failed: their outputs were looked up in the unnormalized graph)
    const x = random([4], 12), m = random([2, 3], 13);
    const transpose = (v: Tensor, perm: number[]) =>
      bind(primitives.get("transpose")!, [v], { perm })[0]; // np.transpose returns v itself
    const views = [
      [transpose(onCuda(x), [0]), x],
      [onCuda(m).reshape([3, 2]), m.reshape([3, 2])],
      [transpose(onCuda(m), [0, 1]), m],
      // 16-bit floats are planned as a normalized graph, whose outputs are other variables
      [transpose(onCuda(x.astype("bfloat16")), [0]), x.astype("bfloat16")],
      [onCuda(m.astype("float16")).reshape([6]), m.astype("float16").reshape([6])],
    ] as const;
    for (const [got, want] of views) {
      assert.equal(got.device, "cuda");
      assertClose(got, want, { rtol: 0, atol: 0 });
    }
  });
  await t.step("with cuda the default device, operand-free ops run there", () => {
    // (an eager iota once recursed without end through constant folding)
    const previous = defaultDevice().name;
    setDefaultDevice("cuda");
    try {
      const made = [np.arange(5), np.zeros([2, 3]), prng.normal(prng.key(1), [4])];
      assert.ok(made.every((m) => m.device === "cuda"), made.map((m) => m.device).join());
      assertClose(made[0], [0, 1, 2, 3, 4], { rtol: 0, atol: 0 });
    } finally {
      setDefaultDevice(previous);
    }
  });
  await t.step("tidy returns a scope's device buffers at once", () => {
    const x = onCuda(random([64], 6));
    let inner: Tensor | undefined;
    const kept = tidy(() => {
      inner = x.mul(2);
      keep(inner);
      return np.exp(inner.add(1)).sum();
    });
    const scratch: Tensor[] = [];
    tidy(() => void scratch.push(x.add(1), x.sub(1)));
    assert.ok(scratch.every((s) => s.isDisposed) && !inner!.isDisposed && !x.isDisposed);
    assertClose(kept, np.exp(x.to("cpu").mul(2).add(1)).sum(), { rtol: 1e-5 });
  });
  await t.step("out-of-memory is an error naming the size, and the device still works", () => {
    const bytes = 2 * cudaDriver().info.totalMemoryBytes;
    assert.throws(
      () => allocateCudaBuffer(bytes),
      new RegExp(`cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY.*asked for ${bytes} bytes`),
    );
    assertClose(onCuda(np.arange(3)).add(1), [1, 2, 3]);
  });
});
