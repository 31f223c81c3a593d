/**
 * float16 and bfloat16 on the CUDA back end, without a GPU: the rendered conversions (bit
 * manipulation, no `__half`) run under the CPU emulation of CUDA and must give the bit
 * patterns of `core/float16.ts` and of the CPU JIT on rounding ties, subnormals, overflow,
 * NaN and double-rounding traps; 16-bit elementwise code and matmuls (16-bit operands, float32
 * accumulation, one rounding) agree with the CPU JIT.
 */

import { jit, np } from "../mod.ts";
import type { Tensor } from "../core/tensor.ts";
import { decodeBf16, float32ToBf16Bits, numberToBf16Bits } from "../core/float16.ts";
import { nvrtc } from "../ffi/nvrtc.ts";
import { renderCudaProgram } from "../jit/cuda/program.ts";
import { buildEmulator, realNvrtcStatus, staged } from "./cuda_emulator.ts";
import { assert, assertClose, rng } from "./helpers.ts";

const bitsOf = (
  a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number },
) => [...new Uint16Array(a.buffer, a.byteOffset, a.length)];

/** Values around every rounding case of both formats (as float64; float32 copies are made). */
function edgeValues(): number[] {
  const tiny = [2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 3 * 2 ** -25, 2 ** -14, 2 ** -14 - 2 ** -25];
  const ties = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 2049, 2051];
  const big = [65504, 65519, 65520, 65536, 1e10, 3.4e38, Infinity];
  // just above a tie in float64, exactly a tie once rounded to float32: double rounding
  const traps = [1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -8 + 2 ** -40, 2 ** -14 + 2 ** -25 + 2 ** -60];
  const r = rng(7);
  const random = Array.from({ length: 40 }, () => (r() - 0.5) * 2 ** (Math.floor(r() * 40) - 20));
  const all = [0, 1, 1 / 3, ...tiny, ...ties, ...big, ...traps, ...random, 1e-30, 1e-300];
  return [...all, ...all.map((v) => -v), NaN];
}

const convert = (x32: Tensor, x64: Tensor) => [
  x32.astype("float16"),
  x64.astype("float16"),
  x32.astype("bfloat16"),
  x64.astype("bfloat16"),
  x32.astype("float16").astype("float32"),
  x32.astype("bfloat16").astype("float32"),
];
const chain = (a: Tensor, b: Tensor) => [
  np.tanh(a.mul(2)).add(a),
  b.mul(b).sub(1),
  np.max(a, 1),
  a.astype("float32").add(b.astype("float32")),
];
const matmul = (a: Tensor, b: Tensor) => np.matmul(a, b);

function randomHalf(shape: number[], seed: number, dtype: "float16" | "bfloat16") {
  const r = rng(seed);
  const data = Array.from({ length: shape[0] * shape[1] }, () => 2 * r() - 1);
  return np.array(data, { dtype }).reshape(shape);
}

Deno.test("cuda half: conversions, 16-bit elementwise code and matmuls (emulated)", async (t) => {
  const values = edgeValues();
  const x32 = np.array(values, { dtype: "float32" });
  const x64 = np.array(values, { dtype: "float64" });
  const a16 = randomHalf([33, 70], 1, "float16"), bbf = randomHalf([33, 70], 2, "bfloat16");
  const matmuls = [
    [randomHalf([33, 65], 3, "bfloat16"), randomHalf([65, 17], 4, "bfloat16")],
    [randomHalf([7, 40], 5, "float16"), randomHalf([40, 66], 6, "float16")],
  ];
  const cases: [string, (...x: Tensor[]) => unknown, Tensor[]][] = [
    ["conversions", convert, [x32, x64]],
    ["16-bit elementwise and reductions", chain, [a16, bbf]],
    ["bfloat16 matmul", matmul, matmuls[0]],
    ["float16 matmul", matmul, matmuls[1]],
  ];
  const programs = cases.map(([, fn, args], i) =>
    renderCudaProgram(staged(fn as never, args).graph, { prefix: `h${i}_` })
  );
  const emulator = buildEmulator(programs);
  const run = (i: number) =>
    emulator.run(
      programs[i],
      staged(cases[i][1] as never, cases[i][2]).inputs.map((a) => a.storageSync()),
    );

  await t.step("conversions give core/float16.ts's bit patterns", () => {
    const [h32, h64, b32, b64, back16, backBf] = run(0) as Float32Array[];
    const f32 = new Float32Array(values);
    assert.deepEqual(bitsOf(h32), bitsOf(new Float16Array(f32)), "float32 -> float16");
    assert.deepEqual(bitsOf(h64), bitsOf(new Float16Array(values)), "float64 -> float16");
    assert.deepEqual(bitsOf(b32), [...f32].map(float32ToBf16Bits), "float32 -> bfloat16");
    assert.deepEqual(bitsOf(b64), values.map(numberToBf16Bits), "float64 -> bfloat16");
    assertClose(back16, new Float32Array(new Float16Array(f32)), { rtol: 0, atol: 0 });
    const want = jit(convert)(x32, x64) as Tensor[];
    want.forEach((w, i) => {
      const got = [h32, h64, b32, b64, back16, backBf][i];
      if (w.dtype === "float32") assertClose(got, w.dataSync(), { rtol: 0, atol: 0 });
      else assert.deepEqual(bitsOf(got), bitsOf(w.storageSync() as Uint16Array), `output ${i}`);
    });
  });

  await t.step("16-bit elementwise code and reductions agree with the cpu", () => {
    const got = run(1);
    const want = jit(chain)(a16, bbf) as Tensor[];
    want.forEach((w, i) => {
      assert.equal(got[i].constructor, w.storageSync().constructor, `output ${i} storage`);
      if (w.dtype === "float32") assertClose(got[i], w.dataSync(), { rtol: 1e-6, atol: 0 });
      else assert.deepEqual(bitsOf(got[i] as Uint16Array), bitsOf(w.storageSync() as Uint16Array));
    });
  });

  for (const i of [2, 3]) {
    await t.step(cases[i][0], () => {
      assert.ok(programs[i].steps.some((s) => s.kind === "kernel" && s.matmul), "a matmul step");
      const [got] = run(i);
      const want = jit(matmul)(...(cases[i][2] as [Tensor, Tensor]));
      // float32 sums in another order may round to the neighbouring 16-bit value
      const decoded = want.dtype === "bfloat16"
        ? decodeBf16(got as Uint16Array)
        : Float32Array.from(got as Float16Array);
      assertClose(decoded, want.astype("float32").dataSync(), { rtol: 1e-2, atol: 1e-2 });
    });
  }

  await t.step("the 16-bit programs compile with NVRTC for sm_90", () => {
    const found = realNvrtcStatus();
    if (!found.available) return console.log(`  skipped: ${found.reason}`);
    for (const program of programs) {
      const image = nvrtc().compile(program.source, { arch: 90, name: "half.cu" });
      assert.equal(image.log, "", image.log);
    }
  });
});
