/**
 * float16 and bfloat16: conversions bit for bit (known patterns, every 16-bit pattern, random
 * float32 patterns, cpu C kernels against JS), JAX's promotion table, XLA's CPU compute
 * semantics (float32 compute, one rounding per op) on both devices against golden values from
 * JAX 0.10 on CPU, jit against eager, grad, random draws bit-identical to JAX, creation and
 * printing.
 */

import { getDevice, grad, jit, lax, np, random, type Tensor, valueAndGrad } from "../mod.ts";
import { type DType, promoteTypes, type TypedArray, type TypeInfo } from "../core/dtype.ts";
import { float32ToBf16Bits, numberToBf16Bits } from "../core/float16.ts";
import { fromHostData } from "../core/trace.ts";
import { compileSharedLibrary } from "../ffi/compile.ts";
import kilnHeader from "../kernels/cpu/kiln.h" with { type: "text" };
import { assert, assertClose, rng } from "./helpers.ts";

type Half = "float16" | "bfloat16";
const HALVES: Half[] = ["float16", "bfloat16"];
const DEVICES = ["js", "cpu"];

/** The stored 16-bit patterns of a float16/bfloat16 tensor. */
function bitsOf(t: Tensor): number[] {
  const s = t.storageSync();
  return Array.from(new Uint16Array(s.buffer, s.byteOffset, s.length));
}

/** A tensor holding exactly these 16-bit patterns. */
function fromBits(bits: ArrayLike<number>, dtype: Half, device = "cpu"): Tensor {
  const u = Uint16Array.from(bits);
  const storage = dtype === "float16" ? new Float16Array(u.buffer) : u;
  return fromHostData(storage, [u.length], dtype, false, getDevice(device));
}

const hex = (bits: number[]) => bits.map((b) => "0x" + b.toString(16).padStart(4, "0"));

// [value, float16 bits, bfloat16 bits]: exact values, overflow, subnormals and ties to even
const TABLE: [number, number, number][] = [
  [1, 0x3c00, 0x3f80],
  [-2, 0xc000, 0xc000],
  [3, 0x4200, 0x4040],
  [0.1, 0x2e66, 0x3dcd],
  [-0, 0x8000, 0x8000],
  [65504, 0x7bff, 0x4780],
  [65519, 0x7bff, 0x4780], // below float16's overflow threshold
  [65520, 0x7c00, 0x4780], // float16's overflow threshold rounds to inf
  [Infinity, 0x7c00, 0x7f80],
  [-Infinity, 0xfc00, 0xff80],
  [2 ** -14, 0x0400, 0x3880], // smallest normal float16
  [2 ** -24, 0x0001, 0x3380], // smallest subnormal float16
  [2 ** -25, 0x0000, 0x3300], // half of it: a tie, to even (zero)
  [3 * 2 ** -25, 0x0002, 0x33c0], // 1.5 subnormal ulps: a tie, to even (2)
  [1 + 2 ** -11, 0x3c00, 0x3f80], // float16 tie between 1 and 1+2^-10: to even
  [1 + 3 * 2 ** -11, 0x3c02, 0x3f80], // tie between 0x3c01 and 0x3c02: to even
  [1 + 2 ** -8, 0x3c04, 0x3f80], // bfloat16 tie between 1 and 1+2^-7: to even
  [1 + 3 * 2 ** -8, 0x3c0c, 0x3f82], // bfloat16 tie to even (up)
  [1 + 2 ** -8 + 2 ** -20, 0x3c04, 0x3f81], // just above the bfloat16 tie
  // just above a tie only in float64: rounding through float32 first would give the tie (and
  // the wrong result: XLA on CPU does that, NumPy and Kiln round once)
  [1 + 2 ** -11 + 2 ** -40, 0x3c01, 0x3f80],
  [1 + 2 ** -8 + 2 ** -40, 0x3c04, 0x3f81],
  [3.4028234663852886e38, 0x7c00, 0x7f80], // float32 max: bfloat16 rounds it to inf
  [(2 - 2 ** -7) * 2 ** 127, 0x7c00, 0x7f7f], // bfloat16 max
  [2 ** -133, 0x0000, 0x0001], // smallest bfloat16 subnormal
];

Deno.test("float16/bfloat16 conversions", async (t) => {
  const values = TABLE.map((r) => r[0]);
  await t.step("known bit patterns from JS numbers and from float64, on js and cpu", () => {
    for (const [k, dtype] of HALVES.entries()) {
      const want = hex(TABLE.map((r) => r[k + 1]));
      for (const device of DEVICES) {
        assert.deepEqual(hex(bitsOf(np.array(values, { dtype, device }))), want, device);
        const f64 = np.array(values, { dtype: "float64", device });
        assert.deepEqual(hex(bitsOf(f64.astype(dtype))), want, `${device} float64 -> ${dtype}`);
      }
      const nan = np.array([NaN, -NaN], { dtype, device: "cpu" });
      assert.ok(Array.from(nan.dataSync()).every(Number.isNaN), "NaN stays NaN");
      assert.ok(np.isnan(np.array([NaN], { dtype: "float32" }).astype(dtype)).item());
    }
    assert.deepEqual(hex(TABLE.map((r) => numberToBf16Bits(r[0]))), hex(TABLE.map((r) => r[2])));
  });
  await t.step("int32 and uint32 round once (not through float32)", () => {
    // 2^24 + 2^16 + 1 is just above a bfloat16 tie; through float32 it would land on the tie
    const ints = [2 ** 24 + 2 ** 16 + 1, -(2 ** 24 + 2 ** 16 + 1), 65519, 65520, 7, -2147483648];
    for (const device of DEVICES) {
      const x = np.array(ints, { dtype: "int32", device });
      assert.deepEqual(hex(bitsOf(x.astype("bfloat16"))), hex(ints.map(numberToBf16Bits)));
      assert.deepEqual(
        Array.from(x.astype("float16").dataSync()),
        ints.map(Math.f16round),
        device,
      );
      const u = np.array([2 ** 32 - 1, 2 ** 24 + 2 ** 16 + 1], { dtype: "uint32", device });
      assert.deepEqual(bitsOf(u.astype("bfloat16")), [0x4f80, 0x4b81]);
    }
  });
  await t.step("every 16-bit pattern widens exactly and narrows back (cpu kernels vs JS)", () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    for (const dtype of HALVES) {
      const x = fromBits(all, dtype);
      const wide = x.astype("float32").dataSync();
      assert.deepEqual(Array.from(wide), Array.from(fromBits(all, dtype, "js").dataSync()));
      const back = bitsOf(np.array(wide, { dtype: "float32" }).astype(dtype));
      const f64 = bitsOf(x.astype("float64").astype(dtype));
      for (let i = 0; i < 65536; i++) {
        if (Number.isNaN(wide[i])) continue;
        assert.equal(back[i], i, `${dtype} 0x${i.toString(16)} via float32`);
        assert.equal(f64[i], i, `${dtype} 0x${i.toString(16)} via float64`);
      }
    }
  });
  await t.step("float32 and float64 to 16 bits: cpu kernels agree with JS rounding", () => {
    const r = rng(16);
    const words = Uint32Array.from({ length: 200_000 }, () => Math.floor(r() * 2 ** 32));
    const f32 = new Float32Array(words.buffer);
    const f64 = Float64Array.from(f32, (v, i) => v * (1 + (i % 7) * 2 ** -30)); // off the f32 grid
    for (const [src, data] of [["float32", f32], ["float64", f64]] as const) {
      const x = np.array(data, { dtype: src, device: "cpu" });
      const h = x.astype("float16").dataSync();
      const b = bitsOf(x.astype("bfloat16"));
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (Number.isNaN(v)) continue;
        if (!Object.is(h[i], Math.f16round(v))) assert.fail(`${src} ${v} -> float16 ${h[i]}`);
        const want = src === "float32" ? float32ToBf16Bits(v) : numberToBf16Bits(v);
        if (b[i] !== want) assert.fail(`${src} ${v} -> bfloat16 0x${b[i].toString(16)}`);
      }
    }
  });
  await t.step("kiln.h's software float16 (compilers without _Float16) matches F16C", () => {
    // the same conversions compiled with -DKILN_SOFT_F16, against the cpu device's kernels
    const source = `#define KILN_SOFT_F16 1
#include "kiln.h"
void soft_widen(int64_t n, const uint16_t* h, float* y) {
  for (int64_t i = 0; i < n; i++) y[i] = KILN_F16_TO_F32(h[i]);
}
void soft_narrow(int64_t n, const float* x, const double* d, uint16_t* y, uint16_t* z) {
  for (int64_t i = 0; i < n; i++) y[i] = KILN_F32_TO_F16(x[i]), z[i] = KILN_F64_TO_F16(d[i]);
}`;
    const path = compileSharedLibrary([{ name: "kiln.h", text: kilnHeader }, {
      name: "soft_f16.c",
      text: source,
    }]);
    const lib = Deno.dlopen(path, {
      soft_widen: { parameters: ["i64", "buffer", "buffer"], result: "void" },
      soft_narrow: {
        parameters: ["i64", "buffer", "buffer", "buffer", "buffer"],
        result: "void",
      },
    });
    try {
      const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
      const wide = new Float32Array(65536);
      lib.symbols.soft_widen(65536n, all, wide);
      const hard = fromBits(all, "float16").astype("float32").storageSync();
      assert.deepEqual(new Uint32Array(wide.buffer), new Uint32Array(hard.buffer));
      const r = rng(17);
      const f = Float32Array.from(
        { length: 100_000 },
        (_, i) => (i % 3 === 0 ? wide[i % 65536] : (r() - 0.5) * 2 ** (r() * 40 - 24)),
      );
      const d = Float64Array.from(f, (v, i) => v * (1 + (i % 5) * 2 ** -35));
      const [y, z] = [new Uint16Array(f.length), new Uint16Array(f.length)];
      lib.symbols.soft_narrow(BigInt(f.length), f, d, y, z);
      assert.deepEqual(y, Uint16Array.from(bitsOf(np.array(f).astype("float16"))));
      const fromF64 = np.array(d, { dtype: "float64" }).astype("float16");
      assert.deepEqual(z, Uint16Array.from(bitsOf(fromF64)));
    } finally {
      lib.close();
    }
  });
  await t.step("casts to bool, int32, uint32 and between the two agree on js and cpu", () => {
    const data = [0, -0, 0.5, -1.5, 70000.7, -3e9, 5e9, NaN, Infinity, -Infinity, 1e-30];
    for (const from of HALVES) {
      for (const to of ["bool", "int32", "uint32", "float16", "bfloat16", "float64"] as DType[]) {
        const [js, cpu] = DEVICES.map((d) => np.array(data, { dtype: from, device: d }).astype(to));
        assert.deepEqual(Array.from(cpu.storageSync()), Array.from(js.storageSync()), `${to}`);
      }
    }
    const h = np.array([NaN, -0, 1e-30, 2.5], { dtype: "bfloat16" });
    assert.deepEqual(h.astype("bool").toArray(), [true, false, true, true]);
    assert.deepEqual(h.astype("int32").toArray(), [0, 0, 0, 2]);
  });
});

// jax.dtypes.result_type(a, b, return_weak_type_flag=True) with jax_enable_x64, JAX 0.10.2;
// weak_int / weak_float are Python scalars (JS numbers here)
const JAX_PROMOTION: Record<string, [string, boolean]> = {
  "bool,float16": ["float16", false],
  "bool,bfloat16": ["bfloat16", false],
  "int32,float16": ["float16", false],
  "int32,bfloat16": ["bfloat16", false],
  "uint32,float16": ["float16", false],
  "uint32,bfloat16": ["bfloat16", false],
  "float16,float16": ["float16", false],
  "float16,bfloat16": ["float32", false],
  "float16,float32": ["float32", false],
  "float16,float64": ["float64", false],
  "float16,weak_int": ["float16", false],
  "float16,weak_float": ["float16", false],
  "bfloat16,bfloat16": ["bfloat16", false],
  "bfloat16,float32": ["float32", false],
  "bfloat16,float64": ["float64", false],
  "bfloat16,weak_int": ["bfloat16", false],
  "bfloat16,weak_float": ["bfloat16", false],
};

Deno.test("promotion matches JAX's lattice", () => {
  const info = (name: string): TypeInfo =>
    name === "weak_int"
      ? { dtype: "int32", weak: true }
      : name === "weak_float"
      ? { dtype: "float32", weak: true }
      : { dtype: name as DType, weak: false };
  for (const [pair, [dtype, weak]] of Object.entries(JAX_PROMOTION)) {
    const [a, b] = pair.split(",");
    for (const [x, y] of [[a, b], [b, a]]) {
      assert.deepEqual(promoteTypes(info(x), info(y)), { dtype, weak }, `${x} with ${y}`);
    }
  }
  const h = np.ones([2], { dtype: "float16" }), b = np.ones([2], { dtype: "bfloat16" });
  assert.equal(h.add(1.5).dtype, "float16");
  assert.equal(b.mul(2).dtype, "bfloat16");
  assert.equal(np.add(h, np.ones([2], { dtype: "int32" })).dtype, "float16");
  assert.equal(np.add(h, b).dtype, "float32");
  assert.equal(np.add(b, np.ones([2], { dtype: "float64" })).dtype, "float64");
  assert.equal(np.divide(np.arange(4), np.ones([4], { dtype: "bfloat16" })).dtype, "bfloat16");
});

// golden bit patterns from JAX 0.10.2 on CPU for x = linspace(-2, 2, 9).astype(dtype):
// y = exp(x) * 3 - x, sum(y), mean(y), tanh(x), grad(sum(sin(x) * x)), mean/var of linspace(0,1,7)
const GOLDEN = {
  float16: {
    x: [49152, 48640, 48128, 47104, 0, 14336, 15360, 15872, 16384],
    y: [16592, 16471, 16437, 16548, 16896, 17522, 18216, 18936, 19723],
    sum: 21239,
    mean: 17969,
    tanh: [48054, 47934, 47640, 46949, 0, 14181, 14872, 15166, 15286],
    cumsum: [16592, 17556, 18094, 18560, 18944, 19484, 19942, 20593, 21238],
    grad: [44264, 48234, 48519, 47960, 0, 15192, 15751, 15466, 11496],
    meanVar: [14336, 12061],
  },
  bfloat16: {
    x: [49152, 49088, 49024, 48896, 0, 16128, 16256, 16320, 16384],
    y: [16410, 16395, 16390, 16404, 16448, 16526, 16612, 16702, 16801],
    sum: 16990,
    mean: 16582,
    tanh: [49015, 49000, 48963, 48877, 0, 16109, 16195, 16232, 16247],
    cumsum: [16410, 16530, 16597, 16656, 16704, 16772, 16829, 16910, 16990],
    grad: [48544, 49037, 49072, 49003, 0, 16235, 16304, 16269, 15776],
    meanVar: [16128, 15843],
  },
};

/** |a - b| in units in the last place of the 16-bit patterns (same sign, finite). */
const ulps = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

Deno.test("arithmetic in float32, rounded once per op (XLA's CPU semantics)", async (t) => {
  for (const dtype of HALVES) {
    const g = GOLDEN[dtype];
    for (const device of DEVICES) {
      await t.step(`${dtype} on ${device}: JAX's bits`, () => {
        const x = np.linspace(-2, 2, 9, { dtype, device });
        assert.deepEqual(bitsOf(x), g.x);
        const y = np.exp(x).mul(3).sub(x);
        assert.deepEqual(bitsOf(y), g.y);
        assert.deepEqual(bitsOf(np.sum(y)), [g.sum]);
        assert.deepEqual(bitsOf(np.mean(y)), [g.mean]);
        assert.deepEqual(bitsOf(np.tanh(x)), g.tanh);
        assert.deepEqual(bitsOf(grad((a: Tensor) => np.sum(np.sin(a).mul(a)))(x)), g.grad);
        // Kiln's cumsum accumulates in float32; XLA's CPU scan may round partial sums (1 ulp)
        assert.ok(ulps(bitsOf(np.cumsum(y)), g.cumsum) <= 1);
        const z = np.linspace(0, 1, 7, { dtype, device });
        assert.deepEqual([...bitsOf(np.mean(z)), ...bitsOf(np.var(z))], g.meanVar);
      });
    }
  }
  await t.step("sums, dot and conv accumulate in float32", () => {
    for (const device of DEVICES) {
      // accumulating in 16 bits would stall at 2048 (float16) and 256 (bfloat16)
      assert.equal(np.sum(np.ones([3000], { dtype: "float16", device })).item(), 3000);
      assert.equal(np.sum(np.ones([1000], { dtype: "bfloat16", device })).item(), 1000);
      const tenth = np.full([1000], 0.1, { dtype: "float16", device });
      const dot = np.dot(tenth, np.ones([1000], { dtype: "float16", device }));
      assert.equal(dot.dtype, "float16");
      assert.equal(dot.item(), Math.f16round(1000 * Math.f16round(0.1)));
      const r = rng(3);
      const xs = Array.from({ length: 2 * 3 * 6 * 6 }, () => r() * 2 - 1);
      const ws = Array.from({ length: 4 * 3 * 3 * 3 }, () => r() * 2 - 1);
      for (const dtype of HALVES) {
        const x = np.array(xs, { dtype, device }).reshape([2, 3, 6, 6]);
        const w = np.array(ws, { dtype, device }).reshape([4, 3, 3, 3]);
        const got = lax.conv(x, w, [1, 1], "SAME");
        const want = lax.conv(x.astype("float32"), w.astype("float32"), [1, 1], "SAME");
        assert.equal(got.dtype, dtype);
        assert.deepEqual(bitsOf(got), bitsOf(want.astype(dtype)), `conv ${dtype} ${device}`);
      }
    }
  });
  await t.step("elementwise results are the float32 result rounded once", () => {
    const r = rng(7);
    const a = Array.from({ length: 500 }, () => (r() - 0.5) * 200);
    const b = Array.from({ length: 500 }, () => (r() - 0.5) * 3);
    for (const device of DEVICES) {
      for (const dtype of HALVES) {
        const round = (v: number) => np.array([v], { dtype: "float64" }).astype(dtype).item();
        const x = np.array(a, { dtype, device }), y = np.array(b, { dtype, device });
        const [xv, yv] = [x.dataSync(), y.dataSync()];
        const ops: [string, Tensor, (p: number, q: number) => number][] = [
          ["add", np.add(x, y), (p, q) => p + q],
          ["mul", np.multiply(x, y), (p, q) => Math.fround(p * q)],
          ["div", np.divide(x, y), (p, q) => Math.fround(p / q)],
          ["max", np.maximum(x, y), Math.max],
        ];
        for (const [name, got, f] of ops) {
          const g = got.dataSync();
          for (let i = 0; i < a.length; i++) {
            assert.equal(g[i], round(f(xv[i], yv[i])), `${name} ${dtype} ${device} [${i}]`);
          }
        }
      }
    }
  });
  await t.step("sorting, arg-reductions, where, take and cumulative ops match js on cpu", () => {
    const r = rng(11);
    const data = Array.from({ length: 60 }, () => Math.round((r() - 0.5) * 40) / 4);
    for (const dtype of HALVES) {
      const [js, cpu] = DEVICES.map((device) => {
        const x = np.array(data, { dtype, device }).reshape([6, 10]);
        return [
          np.sort(x, 1),
          np.argmax(x, 0),
          np.where(np.greater(x, 0), x, np.multiply(x, 0.25)),
          np.take(x, np.array([3, 0, 3], { dtype: "int32", device }), 1),
          np.cumprod(np.divide(x, 8), 1),
          np.max(x, 1),
          np.matmul(x, x.T),
        ];
      });
      js.forEach((v, i) => assert.deepEqual(bitsOf(cpu[i]), bitsOf(v), `${dtype} op ${i}`));
    }
  });
});

Deno.test("jit on float16/bfloat16 agrees with eager and computes in float32", async (t) => {
  const f = (x: Tensor, w: Tensor) => {
    const h = np.tanh(np.matmul(x, w).add(0.5));
    return [np.sum(np.exp(h).mul(h), 1), np.max(h, 0), h.T.reshape([-1])];
  };
  for (const dtype of HALVES) {
    await t.step(dtype, () => {
      const r = rng(5);
      const x = np.array(Array.from({ length: 24 }, () => r() * 2 - 1), { dtype }).reshape([4, 6]);
      const w = np.array(Array.from({ length: 18 }, () => r() - 0.5), { dtype }).reshape([6, 3]);
      const want = f(x, w), jf = jit(f), got = jf(x, w);
      got.forEach((g, i) => {
        assert.equal(g.dtype, dtype);
        assert.ok(ulps(bitsOf(g), bitsOf(want[i])) <= 1, `output ${i}`);
      });
      // the generated C only loads, stores and converts 16-bit values
      const source = jf.lower(x, w).source();
      const ctype = dtype === "float16" ? "kiln_f16" : "uint16_t";
      const defs = source.split("\n").filter((l) => l.includes(`const ${ctype} t`));
      assert.ok(defs.length > 0);
      for (const line of defs) {
        const expr = line.split(" = ")[1];
        assert.match(
          expr,
          /^(b\d+\[.*\]|KILN_F(32|64)_TO_F16\(.*\)|kiln_f(32|64)_to_bf16\(.*\));$/,
        );
      }
      // gradients through jit and control flow with 16-bit carries
      const loss = (a: Tensor) => np.sum(f(a, w)[0]);
      const [v1, g1] = valueAndGrad(loss)(x);
      const [v2, g2] = jit(valueAndGrad(loss))(x);
      assert.equal(g1.dtype, dtype);
      assert.ok(ulps(bitsOf(g2), bitsOf(g1)) <= 1 && ulps(bitsOf(v2), bitsOf(v1)) <= 1);
      const step = (c: Tensor, xi: Tensor): [Tensor, Tensor] => [c.mul(0.5).add(xi), c];
      const [c1, ys1] = lax.scan(step, np.zeros([6], { dtype }), x);
      const [c2, ys2] = jit((a: Tensor) => lax.scan(step, np.zeros([6], { dtype }), a))(x);
      assert.deepEqual([bitsOf(c2), bitsOf(ys2)], [bitsOf(c1), bitsOf(ys1)]);
    });
  }
});

Deno.test("grad on float16/bfloat16 keeps the dtype and matches float64 within rounding", () => {
  for (const dtype of HALVES) {
    const x = np.array([0.5, -1.25, 2, 3.5], { dtype });
    const f = (a: Tensor) => np.sum(np.multiply(np.sin(a), np.exp(np.multiply(a, 0.5))));
    const g = grad(f)(x);
    assert.equal(g.dtype, dtype);
    const g64 = grad(f)(x.astype("float64"));
    const tol = dtype === "float16" ? 4e-3 : 3e-2;
    assertClose(g, g64, { rtol: tol, atol: tol });
  }
});

// jax.random.{uniform, normal, gumbel, truncated_normal}(PRNGKey(0), ...) bit patterns, JAX 0.10.2
const JAX_RANDOM = {
  float16: [
    [13560, 13008, 11008, 14656, 13168, 13972],
    [47078, 47709, 48741, 13938, 47575, 45867],
    [45311, 46843, 48196],
    [46407, 47131, 47832],
    [48864, 15232, 48848, 47808, 12032, 16232, 48536, 17236],
  ],
  bfloat16: [
    [16166, 16146, 15904, 15952, 16182, 16004],
    [16070, 15931, 49024, 48979, 16144, 48933],
    [16214, 16147, 48927],
    [16004, 15868, 48928],
    [49196, 49216, 16404, 49088, 16280, 16032, 48768, 16032],
  ],
};

Deno.test("random draws in float16/bfloat16 are bit-identical to JAX", () => {
  const k = random.key(0);
  for (const dtype of HALVES) {
    const got = [
      random.uniform(k, [6], { dtype }),
      random.normal(k, [6], { dtype }),
      random.gumbel(k, [3], { dtype }),
      random.truncatedNormal(k, -1, 1, [3], { dtype }),
      random.uniform(random.key(7), [8], { dtype, minval: -3, maxval: 5 }),
    ];
    assert.deepEqual(got.map(bitsOf), JAX_RANDOM[dtype], dtype);
  }
});

Deno.test("creation, printing and conversion to JS", () => {
  for (const device of DEVICES) {
    const h = np.arange(0, 3, 0.5, { dtype: "float16", device });
    assert.deepEqual(h.toArray(), [0, 0.5, 1, 1.5, 2, 2.5]);
    assert.ok(h.dataSync() instanceof Float16Array);
    const b = np.full([2, 2], 1 / 3, { dtype: "bfloat16", device });
    assert.ok(b.dataSync() instanceof Float32Array, "bfloat16 reads as float32 values");
    assert.equal((b.toArray() as number[][])[1][0], 0.333984375); // 0x3eab
    assert.deepEqual(bitsOf(np.eye(2, 2, { dtype: "bfloat16", device })), [0x3f80, 0, 0, 0x3f80]);
    assert.deepEqual(np.zeros([2], { dtype: "float16", device }).toArray(), [0, 0]);
    assert.deepEqual(np.ones([1], { dtype: "bfloat16", device }).toArray(), [1]);
    assert.equal(
      np.array([1, 65504, 70000, 0.1, NaN], { dtype: "float16", device }).toString(),
      "Tensor([1., 65500., inf, 0.1, nan], float16)",
    );
    assert.equal(b.toString(), "Tensor([[0.334, 0.334],\n        [0.334, 0.334]], bfloat16)");
    assert.equal(np.asarray([1.5, 2], "bfloat16").dtype, "bfloat16");
    const lin = np.linspace(0, 1, 5, { dtype: "bfloat16", device }).dataSync() as TypedArray;
    assert.deepEqual(Array.from(lin), [0, 0.25, 0.5, 0.75, 1]);
  }
  assert.throws(() => np.array(new BigInt64Array(2) as never), /np\.array: cannot make a tensor/);
  assert.equal(np.array(new Uint16Array([7, 65535])).dtype, "int32", "a Uint16Array holds ints");
});
