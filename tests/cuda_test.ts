/**
 * The CUDA device and renderer. Three layers, each running where it can:
 *
 * - always: the error path (CUDA unavailable says why and never crashes: no driver library,
 *   no device, no --allow-ffi), and the rendered kernels' structure against the CPU plan;
 * - with a compiler (NVRTC, found as `ffi/nvrtc.ts` documents, or `nvcc`): every rendered
 *   program compiles for sm_90;
 * - with a GPU: jitted and eager results on `cuda` agree with `cpu`.
 *
 * Whatever is missing is skipped with a printed reason.
 */

import { devicePut, jit, np, trace } from "../mod.ts"; // mod.ts registers cuda
import type { Tensor } from "../core/tensor.ts";
import { getDevice } from "../core/device.ts";
import { optimize } from "../jit/passes.ts";
import { cpuBackend } from "../jit/cpu/backend.ts";
import { cudaStatus } from "../ffi/cuda.ts";
import { CachingAllocator } from "../ffi/cuda_device.ts";
import { compileCuda, nvrtc } from "../ffi/nvrtc.ts";
import { cudaBackend } from "../jit/cuda/backend.ts";
import { CUDA_PRELUDE } from "../jit/cuda/prelude.ts";
import { type CudaKernelStep, type CudaProgram, renderCudaProgram } from "../jit/cuda/program.ts";
import { buildEmulator, realNvrtcStatus, staged } from "./cuda_emulator.ts";
import { type Case, CASES, layer, randomInts, randomTensor } from "./cuda_cases.ts";
import { assert, assertClose } from "./helpers.ts";

const status = cudaStatus();
const skip = (what: string, reason: string) => console.log(`  skipped ${what}: ${reason}`);

const graphOf = (c: Case) => staged(c.fn, c.args()).graph;
const kernelSteps = (steps: { kind: string }[]) =>
  steps.filter((s): s is CudaKernelStep => s.kind === "kernel");

Deno.test("cuda: cudaStatus says why CUDA is unavailable and never throws", () => {
  const again = cudaStatus();
  assert.equal(again.available, status.available);
  assert.equal(again.reason, status.reason);
  assert.ok(status.reason.length > 0);
  if (status.available) {
    console.log(`  CUDA available: ${status.reason}`);
    return;
  }
  console.log(`  ${status.reason}`);
  assert.match(status.reason, /^CUDA is unavailable: /);
});

Deno.test("cuda: without --allow-ffi or with a bogus library, status is a reason, not a crash", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  const url = new URL("../ffi/", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { cudaStatus } from "${url}cuda.ts";\nimport { nvrtcStatus } from "${url}nvrtc.ts";\n` +
      `import { cublasStatus } from "${url}cublas.ts";\n` +
      `console.log(JSON.stringify([cudaStatus(), nvrtcStatus(), cublasStatus()]));\n`,
  );
  const run = async (permissions: string[], env: Record<string, string>) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-check", "--no-prompt", ...permissions, script],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout)) as {
      available: boolean;
      reason: string;
    }[];
  };
  try {
    const all = ["--allow-env", "--allow-read", "--allow-ffi"];
    const [noFfi, bogus, off] = await Promise.all([
      run(["--allow-env", "--allow-read"], {}),
      run(all, {
        KILN_LIBCUDA: script, // not a shared library
        KILN_NVRTC: `${script}.missing`,
        KILN_CUBLAS: `${script}.missing`,
      }),
      run(all, { KILN_CUBLAS: "0" }),
    ]);
    assert.equal(noFfi[0].available, false);
    assert.match(noFfi[0].reason, /--allow-ffi/);
    assert.equal(noFfi[1].available, false);
    assert.match(noFfi[1].reason, /--allow-ffi/);
    assert.equal(bogus[0].available, false);
    assert.ok(bogus[0].reason.includes(script), bogus[0].reason);
    assert.equal(bogus[1].available, false);
    assert.match(bogus[1].reason, /KILN_NVRTC/);
    assert.equal(noFfi[2].available, false);
    assert.match(bogus[2].reason, /^cuBLAS is unavailable: no libcublas could be opened/);
    assert.ok(bogus[2].reason.includes(`${script}.missing`), bogus[2].reason);
    assert.equal(off[2].reason, "cuBLAS is unavailable: turned off by KILN_CUBLAS=0");
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("cuda: a jitted function on a missing device fails with the reason", () => {
  if (status.available) return skip("the missing-device errors", "a CUDA device is present");
  const f = jit((x: Tensor) => x.mul(2), { device: "cuda" });
  assert.throws(() => f(np.ones([3])), /CUDA is unavailable: /);
  assert.throws(() => getDevice("cuda"), /CUDA is unavailable: /);
  assert.throws(() => np.ones([2], { device: "cuda" }), /CUDA is unavailable: /);
  assert.throws(() => devicePut(np.ones([2]), "cuda"), /CUDA is unavailable: /);
  assert.throws(() => np.ones([2]).to("cuda"), /CUDA is unavailable: /);
  assert.throws(() => np.array(np.ones([2]), { device: "cuda" }), /CUDA is unavailable: /);
  const graph = optimize(trace((x: Tensor) => x.add(1))(np.ones([2])));
  assert.throws(() => cudaBackend.compile(graph, { donated: [false] }), /CUDA is unavailable: /);
});

Deno.test("devicePut and x.to move pytrees between devices, keeping dtype and weak type", () => {
  // cpu <-> js runs everywhere; the same code path serves cuda
  const x = np.array([1.5, -2, 3], { dtype: "float16" });
  const w = np.asarray(2.5); // weak
  const moved = devicePut({ x, w, n: 3 }, "js");
  assert.equal(moved.x.device, "js");
  assert.equal(moved.x.dtype, "float16");
  assert.deepEqual([...moved.x.dataSync()], [1.5, -2, 3]);
  assert.equal(moved.w.aval.weak, true);
  assert.equal(moved.n, 3);
  const back = moved.x.to("cpu");
  assert.equal(back.device, "cpu");
  assert.deepEqual([...back.dataSync()], [1.5, -2, 3]);
  assert.equal(back.to("cpu"), back); // already there: the same tensor
  assert.throws(() => x.to("nowhere"), /nowhere/);
});

Deno.test("cuda: importing mod.ts opens no CUDA library; KILN_DEVICE=cuda says why", async () => {
  if (status.available) return skip("the KILN_DEVICE=cuda error", "a CUDA device is present");
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `import { np } from "${new URL("../mod.ts", import.meta.url).href}";\n` +
      `const maps = () => Deno.readTextFileSync("/proc/self/maps");\n` +
      `const opened = () => /libcuda|libnvrtc|libcublas/.test(maps());\n` +
      `const before = opened();\nlet message = "";\n` +
      `try { np.ones([2]).add(1); } catch (e) { message = e.message; }\n` +
      `console.log(JSON.stringify({ before, message }));\n`,
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-check", "-A", script],
      env: { KILN_DEVICE: "cuda" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const { before, message } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(before, false, "a CUDA library was opened at import");
    assert.match(message, /^CUDA is unavailable: /);
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("cuda: rendered kernels follow the CPU plan", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, () => {
      const graph = graphOf(c);
      const program = renderCudaProgram(graph);
      const kernels = kernelSteps(program.steps);
      assert.deepEqual(
        kernels.map((k) => k.shape),
        c.shapes,
        program.steps.map((s) => s.describe).join("; "),
      );
      assert.deepEqual(program.hostSteps, []);
      if (c.sameAsCpu) {
        const cpu = cpuBackend.compile(graph, { donated: graph.inputs.map(() => false) });
        assert.equal(program.steps.length, cpu.kernelCount, cpu.groups().join("; "));
      }
      assert.ok(!program.source.includes("#include"));
      for (const k of kernels) {
        assert.ok(k.threads % 32 === 0 && k.threads <= 1024);
        assert.ok(program.kernels.includes(`__launch_bounds__(${k.threads}) ${k.name}(`));
      }
    });
  }
  await t.step("a matmul is a kernel of its own", () => {
    const graph = optimize(
      trace(layer)(randomTensor([4, 8], 1), randomTensor([8, 5], 2), randomTensor([5], 3)),
    );
    const program = renderCudaProgram(graph);
    assert.deepEqual(program.hostSteps, []);
    const kernels = kernelSteps(program.steps);
    assert.deepEqual(kernels.map((k) => k.matmul !== undefined), [true, false]);
    assert.match(kernels[0].describe, /^matmul f32\[4,5\]: batch 1, 4x8 @ 8x5/);
  });
});

Deno.test("cuda: rendered kernels compute the cpu's results (CPU emulation of CUDA)", async (t) => {
  const graphs = CASES.map(graphOf);
  const programs = graphs.map((g, i) => renderCudaProgram(g, { prefix: `emu${i}_` }));
  const extra = [
    (x: Tensor) => np.max(x, 1), // NaN rows
    (x: Tensor) => np.sum(x, 0), // zero rows
    (x: Tensor) => [np.sum(x, 1), np.max(x, 1), np.min(x, 0)], // int32
    (x: Tensor) => np.exp(x.sub(np.max(x))), // a scalar max under a small epilogue
    // bool any/all, products, uint32 sums
    (
      x: Tensor,
    ) => [
      np.any(x.gt(1), 1),
      np.all(x.gt(-1.5), 0),
      np.prod(x, 1),
      np.sum(x.gt(0).astype("uint32"), 0),
    ],
  ];
  const extraArgs = [
    [np.array([[1, NaN, 3], [4, 5, 6], [-Infinity, -Infinity, -Infinity]])],
    [np.zeros([0, 5])],
    [randomInts([37, 300], 13)],
    [randomTensor([20, 30], 14)],
    [randomTensor([9, 40], 15)],
  ];
  const extraStaged = extra.map((f, i) => staged(f, extraArgs[i]));
  const extraPrograms = extraStaged.map((s, i) =>
    renderCudaProgram(s.graph, { prefix: `emx${i}_` })
  );
  const emulator = buildEmulator([...programs, ...extraPrograms]);
  const check = (
    name: string,
    program: CudaProgram,
    args: Tensor[],
    fn: (...x: Tensor[]) => unknown,
  ) => {
    const got = emulator.run(program, staged(fn, args).inputs.map((a) => a.dataSync()));
    const want = [jit(fn as (...x: Tensor[]) => Tensor)(...args)].flat() as Tensor[];
    assert.equal(got.length, want.length);
    want.forEach((w, i) => {
      const tol = w.dtype === "float32" ? { rtol: 2e-5, atol: 2e-6 } : { rtol: 1e-12, atol: 0 };
      assertClose(got[i], w.dataSync(), tol, `${name} output ${i}`);
    });
  };
  for (let i = 0; i < CASES.length; i++) {
    await t.step(
      CASES[i].name,
      () => check(CASES[i].name, programs[i], CASES[i].args(), CASES[i].fn),
    );
  }
  await t.step("NaN rows, empty axes, int32, bool and uint32 reductions, products", () => {
    extra.forEach((f, i) => check(`extra ${i}`, extraPrograms[i], extraArgs[i], f));
  });
});

Deno.test("cuda: the caching allocator recycles by size class and empties itself on OOM", () => {
  let next = 0x1000n, live = 0;
  const freed: bigint[] = [];
  const driver = {
    alloc(bytes: number) {
      if (live + bytes > 4 << 20) {
        throw new Error("CUDA: cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY");
      }
      live += bytes;
      return (next += 0x100000n);
    },
    free(pointer: bigint) {
      freed.push(pointer);
      live -= CachingAllocator.sizeClass(1 << 20); // every block of this test is 1 MiB
    },
  };
  assert.equal(CachingAllocator.sizeClass(1), 512);
  assert.equal(CachingAllocator.sizeClass(1000), 1024);
  assert.equal(CachingAllocator.sizeClass((1 << 20) + 1), 2 << 20);
  const pool = new CachingAllocator(driver);
  const a = pool.alloc(1 << 20);
  const address = a.pointer;
  assert.equal(a.capacity, 1 << 20);
  pool.recycle(a.release(), a.capacity);
  assert.throws(() => a.pointer, /after dispose/);
  const b = pool.alloc((1 << 20) - 100); // the same size class: the same block
  assert.equal(b.pointer, address);
  assert.equal(pool.cachedBytes, 0);
  const c = pool.alloc(1 << 20), d = pool.alloc(1 << 20), e = pool.alloc(1 << 20);
  for (const x of [c, d]) pool.recycle(x.release(), x.capacity);
  assert.equal(pool.cachedBytes, 2 << 20);
  // 4 MiB device: 2 MiB cached, 2 MiB live (b, e); a 2 MiB block fits only after emptying
  const f = pool.alloc(2 << 20);
  assert.equal(f.capacity, 2 << 20);
  assert.equal(freed.length, 2);
  assert.equal(pool.cachedBytes, 0);
  assert.ok(e.pointer > 0n);
  assert.throws(() => pool.alloc(4 << 20), /OUT_OF_MEMORY/);
});

/** nvcc from PATH, else the toolkit's usual place; undefined when neither runs. */
function findNvcc(): string | undefined {
  for (const nvcc of ["nvcc", "/usr/local/cuda/bin/nvcc"]) {
    try {
      if (
        new Deno.Command(nvcc, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
          .success
      ) {
        return nvcc;
      }
    } catch {
      // not there
    }
  }
  return undefined;
}

/** Every case rendered into one translation unit (one prelude, prefixed kernel names). */
function combinedSource(): string {
  const kernels = CASES.map((c, i) =>
    renderCudaProgram(graphOf(c), { prefix: `case${i}_` }).kernels
  );
  return `${CUDA_PRELUDE}\n${kernels.join("\n\n")}\n`;
}

Deno.test("cuda: rendered programs compile with NVRTC for sm_90", () => {
  const found = realNvrtcStatus();
  if (!found.available) return skip("NVRTC compilation", found.reason);
  console.log(`  ${found.reason}`);
  const source = combinedSource();
  const image = nvrtc().compile(source, { arch: 90, name: "cases.cu" });
  assert.equal(image.kind, nvrtc().info.cubin ? "cubin" : "ptx");
  assert.ok(image.image.length > 1000);
  assert.equal(image.log, "", image.log); // no warnings either
  // PTX for a virtual architecture, as for a device newer than the NVRTC
  const ptx = nvrtc().compile(source, { arch: 80, target: "ptx", name: "cases.cu" });
  const text = new TextDecoder().decode(ptx.image);
  for (let i = 0; i < CASES.length; i++) assert.ok(text.includes(`.entry case${i}_k0(`));
  // the disk cache returns the same image the second time
  const program = renderCudaProgram(graphOf(CASES[1]));
  const first = compileCuda(program.source, { arch: 90 });
  const second = compileCuda(program.source, { arch: 90 });
  assert.ok(second.cached);
  assert.deepEqual(second.image, first.image);
  assert.throws(
    () =>
      nvrtc().compile('extern "C" __global__ void k(float* x) { x[0] = y; }', {
        arch: 90,
        name: "bad.cu",
      }),
    /failed to compile bad\.cu for --gpu-architecture=sm_90: NVRTC_ERROR_COMPILATION[^]*identifier "y" is undefined/,
  );
});

Deno.test("cuda: rendered programs compile with nvcc for sm_90", async () => {
  const nvcc = findNvcc();
  if (!nvcc) return skip("nvcc compilation", "no nvcc on PATH or in /usr/local/cuda/bin");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/cases.cu`, combinedSource());
    const out = await new Deno.Command(nvcc, {
      args: [
        "-cubin",
        "-arch=sm_90",
        "-Werror",
        "all-warnings",
        "-o",
        `${dir}/cases.cubin`,
        `${dir}/cases.cu`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.ok((await Deno.stat(`${dir}/cases.cubin`)).size > 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cuda: jitted results on the GPU agree with cpu", async (t) => {
  if (!status.available) return skip("GPU results", status.reason);
  for (const c of CASES) {
    await t.step(c.name, () => {
      const args = c.args();
      const want = [jit(c.fn)(...args)].flat() as Tensor[];
      const got = [jit(c.fn, { device: "cuda" })(...args)].flat() as Tensor[];
      assert.equal(got.length, want.length);
      got.forEach((g, i) => {
        assert.equal(g.device, "cuda");
        assert.equal(g.dtype, want[i].dtype);
        const tol = g.dtype === "float32" ? { rtol: 2e-5, atol: 2e-6 } : { rtol: 1e-12, atol: 0 };
        assertClose(g.dataSync(), want[i].dataSync(), tol, `${c.name} output ${i}`);
      });
    });
  }
  await t.step("NaN propagates through max, sizes 0 and 1", () => {
    const x = np.array([[1, NaN, 3], [4, 5, 6]]);
    assertClose(jit((v: Tensor) => np.max(v, 1), { device: "cuda" })(x), [NaN, 6]);
    const empty = np.zeros([0, 5]);
    assertClose(jit((v: Tensor) => np.sum(v, 0), { device: "cuda" })(empty), [0, 0, 0, 0, 0]);
    assertClose(jit((v: Tensor) => v.add(1), { device: "cuda" })(np.zeros([1, 1])), [1]);
  });
  await t.step("eager ops on cuda", () => {
    const a = np.array([[1, 2, 3], [4, 5, 6]], { device: "cuda" });
    const b = a.mul(a).sub(1).sum(1);
    assert.equal(b.device, "cuda");
    assertClose(b, [11, 74]);
    a.dispose();
  });
});
