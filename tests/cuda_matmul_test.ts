/**
 * Matmuls (dot_general) on the CUDA back end without a GPU: the rendered tiled kernel is run
 * under the CPU emulation of CUDA (`cuda_emulator.ts`) on odd sizes, transposed operands,
 * batches, k = 0, float64 and integers, and a whole `jit(valueAndGrad(mlp loss))` program and
 * a few SGD steps run kernel by kernel under it against the CPU JIT. The rendered sources also
 * compile with NVRTC where it is installed, and on a GPU the same matmuls and SGD steps run on
 * `cuda` (through cuBLAS when found) against `cpu`; what is missing is skipped with the reason.
 */

import { devicePut, jit, lax, np, tree, valueAndGrad } from "../mod.ts";
import type { Tensor } from "../core/tensor.ts";
import { flatten } from "../core/tree.ts";
import { nvrtc } from "../ffi/nvrtc.ts";
import { cudaStatus } from "../ffi/cuda.ts";
import { cublasStatus } from "../ffi/cublas.ts";
import { CUDA_PRELUDE } from "../jit/cuda/prelude.ts";
import { type CudaKernelStep, type CudaProgram, renderCudaProgram } from "../jit/cuda/program.ts";
import { buildEmulator, type Emulator, realNvrtcStatus, staged } from "./cuda_emulator.ts";
import { assert, assertClose, rng } from "./helpers.ts";

type Fn = (...xs: never[]) => unknown;

function randomTensor(shape: number[], seed: number, dtype = "float32") {
  const r = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const values = Array.from(
    { length: size },
    () => dtype === "int32" || dtype === "uint32" ? Math.floor(9 * r()) : 2 * r() - 1,
  );
  return np.array(values, { dtype: dtype as "float32" }).reshape(shape);
}

/** A matmul case: a function of two operands and their shapes. */
interface Case {
  name: string;
  fn: (a: Tensor, b: Tensor) => Tensor;
  shapes: [number[], number[]];
  dtype?: string;
}

const mm = (a: Tensor, b: Tensor) => np.matmul(a, b);
const CASES: Case[] = [
  { name: "1x1 @ 1x1", fn: mm, shapes: [[1, 1], [1, 1]] },
  { name: "7x5 @ 5x3", fn: mm, shapes: [[7, 5], [5, 3]] },
  { name: "33x65 @ 65x17", fn: mm, shapes: [[33, 65], [65, 17]] },
  { name: "65x33 @ 33x70", fn: mm, shapes: [[65, 33], [33, 70]] },
  { name: "k = 0", fn: mm, shapes: [[5, 0], [0, 4]] },
  { name: "matrix-vector", fn: mm, shapes: [[33, 20], [20]] },
  { name: "batched 3x7x33 @ 3x33x9", fn: mm, shapes: [[3, 7, 33], [3, 33, 9]] },
  {
    name: "transposed lhs (a^T b)",
    fn: (a, b) => lax.dotGeneral(a, b, [[[0], [0]], [[], []]]),
    shapes: [[65, 33], [65, 7]],
  },
  {
    name: "transposed rhs (a b^T)",
    fn: (a, b) => lax.dotGeneral(a, b, [[[1], [1]], [[], []]]),
    shapes: [[33, 40], [66, 40]],
  },
  {
    name: "both transposed, batch last",
    fn: (a, b) => lax.dotGeneral(a, b, [[[0], [2]], [[2], [0]]]),
    shapes: [[17, 9, 2], [2, 5, 17]],
  },
  { name: "float64 65x33 @ 33x70", fn: mm, shapes: [[65, 33], [33, 70]], dtype: "float64" },
  { name: "int32 7x33 @ 33x65", fn: mm, shapes: [[7, 33], [33, 65]], dtype: "int32" },
  { name: "uint32 9x4 @ 4x66", fn: mm, shapes: [[9, 4], [4, 66]], dtype: "uint32" },
];

const argsOf = (c: Case, i: number) =>
  c.shapes.map((s, j) => randomTensor(s, 100 * i + j, c.dtype ?? "float32"));

/** Runs `program` (rendered from `fn` at `args`) under `emulator`; compares with the CPU JIT. */
function checkEmulated(
  emulator: Emulator,
  program: CudaProgram,
  fn: Fn,
  args: unknown[],
  name: string,
): { got: ArrayLike<number>[]; want: Tensor[] } {
  const got = emulator.run(program, staged(fn, args).inputs.map((a) => a.storageSync()));
  const want = flatten(jit(fn as (...xs: unknown[]) => unknown)(...args))[0] as Tensor[];
  assert.equal(got.length, want.length);
  want.forEach((w, i) => {
    const tol = w.dtype === "float64"
      ? { rtol: 1e-12, atol: 1e-12 }
      : w.dtype === "float32"
      ? { rtol: 1e-4, atol: 1e-5 }
      : { rtol: 0, atol: 0 };
    assertClose(got[i], w.dataSync(), tol, `${name} output ${i}`);
  });
  return { got: got as ArrayLike<number>[], want };
}

const kernels = (p: CudaProgram) => p.steps.filter((s): s is CudaKernelStep => s.kind === "kernel");

// ---- the MLP of the JIT tests, with a softmax cross-entropy loss ----

type Params = { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor };
const mlpLoss = (p: Params, x: Tensor, labels: Tensor) => {
  const h = np.maximum(np.matmul(x, p.w1).add(p.b1), 0);
  const logits = np.matmul(h, p.w2).add(p.b2);
  const logp = logits.sub(np.logsumexp(logits, 1, { keepdims: true }));
  return np.mean(np.sum(logp.mul(labels), 1)).neg();
};
const sgdStep = (p: Params, x: Tensor, labels: Tensor) => {
  const [loss, g] = valueAndGrad(mlpLoss)(p, x, labels) as [Tensor, Params];
  return [loss, tree.map((w, d) => (w as Tensor).sub((d as Tensor).mul(0.5)), p, g) as Params];
};
function mlpData(batch: number, sizes: [number, number, number]) {
  const [d, hidden, classes] = sizes;
  const params: Params = {
    w1: randomTensor([d, hidden], 1).mul(0.5),
    b1: randomTensor([hidden], 2).mul(0.1),
    w2: randomTensor([hidden, classes], 3).mul(0.5),
    b2: randomTensor([classes], 4).mul(0.1),
  };
  const x = randomTensor([batch, d], 5);
  const r = rng(6);
  const classOf = Array.from({ length: batch }, () => Math.floor(r() * classes));
  const labels = np.array(
    Array.from(
      { length: batch * classes },
      (_, i) => (classOf[Math.floor(i / classes)] === i % classes ? 1 : 0),
    ),
  ).reshape([batch, classes]);
  return { params, x, labels };
}

Deno.test("cuda matmul: the rendered kernel computes the cpu's results (emulated)", async (t) => {
  const programs = CASES.map((c, i) => {
    const { graph } = staged(c.fn as Fn, argsOf(c, i));
    return renderCudaProgram(graph, { prefix: `mm${i}_` });
  });
  const emulator = buildEmulator(programs);
  for (let i = 0; i < CASES.length; i++) {
    const c = CASES[i];
    await t.step(c.name, () => {
      const program = programs[i];
      assert.deepEqual(program.hostSteps, []);
      assert.ok(kernels(program).some((k) => k.matmul !== undefined), program.source);
      checkEmulated(emulator, program, c.fn as Fn, argsOf(c, i), c.name);
    });
  }
});

Deno.test("cuda matmul: jit(valueAndGrad(mlp)) and SGD steps run as CUDA kernels (emulated)", () => {
  const { params, x, labels } = mlpData(37, [20, 33, 10]);
  const program = renderCudaProgram(staged(sgdStep as Fn, [params, x, labels]).graph, {
    prefix: "mlp_",
  });
  assert.deepEqual(program.hostSteps, []);
  // forward 2, backward 3 (the input's gradient is not needed): every dot_general a matmul
  assert.equal(
    kernels(program).filter((k) => k.matmul).length,
    5,
    program.steps.map((s) => s.describe).join("; "),
  );
  const emulator = buildEmulator([program]);
  // three steps, each fed the emulated step's own parameters, compared with the CPU JIT
  let p = params;
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) {
    const { got, want } = checkEmulated(
      emulator,
      program,
      sgdStep as Fn,
      [p, x, labels],
      `step ${step}`,
    );
    losses.push(got[0][0]);
    const [, def] = flatten(p);
    const leaves = want.slice(1).map((w, i) =>
      np.array(got[1 + i] as Float32Array).reshape(w.shape)
    );
    p = tree.unflatten(def, leaves) as Params;
  }
  assert.ok(losses[2] < losses[0], `loss does not fall: ${losses.join(", ")}`);
});

Deno.test("cuda matmul: rendered matmuls compile with NVRTC for sm_90", () => {
  const found = realNvrtcStatus();
  if (!found.available) {
    return console.log(`  skipped NVRTC compilation: ${found.reason}`);
  }
  const bodies = CASES.map((c, i) =>
    renderCudaProgram(staged(c.fn as Fn, argsOf(c, i)).graph, { prefix: `mm${i}_` }).kernels
  );
  const image = nvrtc().compile(`${CUDA_PRELUDE}\n${bodies.join("\n\n")}\n`, {
    arch: 90,
    name: "matmuls.cu",
  });
  assert.equal(image.log, "", image.log);
  assert.ok(image.image.length > 1000);
});

Deno.test("cuda matmul: on the GPU, matmuls and the MLP's SGD steps agree with cpu", async (t) => {
  const status = cudaStatus();
  if (!status.available) return console.log(`  skipped GPU matmuls: ${status.reason}`);
  const blas = cublasStatus();
  console.log(
    `  matmuls through ${blas.available ? blas.reason : `the rendered kernel (${blas.reason})`}`,
  );
  for (let i = 0; i < CASES.length; i++) {
    const c = CASES[i];
    await t.step(c.name, () => {
      const args = argsOf(c, i);
      const got = jit(c.fn, { device: "cuda" })(...(args as [Tensor, Tensor]));
      assert.equal(got.device, "cuda");
      const tol = c.dtype === "float64" ? 1e-12 : c.dtype ? 0 : 1e-4;
      assertClose(got.dataSync(), jit(c.fn)(...(args as [Tensor, Tensor])).dataSync(), {
        rtol: tol,
        atol: tol,
      });
    });
  }
  await t.step("jit(valueAndGrad(mlp)) and three SGD steps", () => {
    const { params, x, labels } = mlpData(128, [784, 512, 10]);
    const onGpu = jit(sgdStep, { device: "cuda" }), onCpu = jit(sgdStep);
    let pg = devicePut(params, "cuda"), pc = params;
    for (let step = 0; step < 3; step++) {
      const [lg, ng] = onGpu(pg, devicePut(x, "cuda"), devicePut(labels, "cuda")) as [
        Tensor,
        Params,
      ];
      const [lc, nc] = onCpu(pc, x, labels) as [Tensor, Params];
      assertClose(lg.dataSync(), lc.dataSync(), { rtol: 1e-4, atol: 1e-5 }, `loss ${step}`);
      assertClose(ng.w1.dataSync(), nc.w1.dataSync(), { rtol: 1e-3, atol: 1e-5 }, `w1 ${step}`);
      [pg, pc] = [ng, nc];
    }
  });
});
