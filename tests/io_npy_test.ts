/**
 * `io` `.npy`: round-trips and errors, interop with NumPy itself when python3 has it; and for
 * both formats, a seeded fuzz of the readers with corrupted bytes and bit-exact half floats.
 */

import { np, type Tensor } from "../mod.ts";
import * as io from "../io/index.ts";
import { ITEMSIZE } from "../core/dtype.ts";
import { fromHostData } from "../core/trace.ts";
import { assert, rng } from "./helpers.ts";
import { assertSameTensor, DTYPES, f32Bytes, sample, throwsNaming } from "./io_helpers.ts";

Deno.test(".npy round-trips and errors", async (t) => {
  await t.step("every dtype, 0-d, 1-d, empty, 3-d", () => {
    for (const dtype of DTYPES) {
      if (dtype === "bfloat16") continue; // NumPy has none: see the bfloat16 step
      for (const shape of [[], [1], [5], [0], [2, 0], [2, 3, 4]]) {
        const x = sample(dtype, shape, shape.length + 1);
        const bytes = io.encodeNpy(x);
        assert.equal(bytes.indexOf(0x0a) + 1, bytes.length - x.size * ITEMSIZE[dtype]);
        assert.equal((bytes.length - x.dataSync().byteLength) % 64, 0, "header padded to 64");
        assertSameTensor(io.decodeNpy(bytes), x, `${dtype} [${shape}]`);
      }
    }
  });
  await t.step("hand-written headers: versions, fortran order, big-endian, float16", () => {
    const mk = (dict: string, data: Uint8Array, version = 1) => {
      const h = new TextEncoder().encode(dict + "\n");
      const pre = version === 1 ? 10 : 12;
      const out = new Uint8Array(pre + h.length + data.length);
      out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
      const dv = new DataView(out.buffer);
      if (version === 1) dv.setUint16(8, h.length, true);
      else dv.setUint32(8, h.length, true);
      out.set(h, pre);
      out.set(data, pre + h.length);
      return out;
    };
    const six = f32Bytes([1, 2, 3, 4, 5, 6]);
    for (const v of [1, 2, 3]) {
      const x = io.decodeNpy(
        mk(`{"descr": "<f4", "fortran_order": False, "shape": (2, 3)}`, six, v),
      );
      assert.deepEqual(x.toArray(), [[1, 2, 3], [4, 5, 6]]);
    }
    const f = io.decodeNpy(mk(`{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }`, six));
    assert.deepEqual(f.toArray(), [[1, 3, 5], [2, 4, 6]]);
    const be = new Uint8Array(8);
    new DataView(be.buffer).setInt32(0, -7, false);
    new DataView(be.buffer).setInt32(4, 1 << 20, false);
    assert.deepEqual(
      io.decodeNpy(mk(`{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }`, be)).toArray(),
      [-7, 1 << 20],
    );
    const h = new Uint8Array(new Uint16Array([0x3c00, 0x0001]).buffer);
    const x = io.decodeNpy(mk(`{'descr': '<f2', 'fortran_order': False, 'shape': (2L,), }`, h));
    assert.equal(x.dtype, "float16");
    assert.deepEqual(Array.from(x.dataSync()), [1, 2 ** -24]);
    const hb = new Uint8Array([0x3c, 0x00, 0xc0, 0x00]); // big-endian 1, -2
    const xb = io.decodeNpy(mk(`{'descr': '>f2', 'fortran_order': False, 'shape': (2,), }`, hb));
    assert.deepEqual(Array.from(xb.dataSync()), [1, -2]);
    const bad = (dict: string, re: RegExp, data = six) =>
      throwsNaming(() => io.decodeNpy(mk(dict, data)), "io.decodeNpy", re);
    bad(
      `{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }`,
      /'\|u1' is not supported \(uint8/,
    );
    bad(
      `{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }`,
      /'<i8' is not supported \(NumPy's default integer/,
    );
    bad(`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }`, /lists/);
    bad(
      `{'descr': '<f4', 'fortran_order': False, 'shape': (6), }`,
      /one-element tuple needs a trailing comma/,
    );
    bad(
      `{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }`,
      /needs 28 data bytes, the file has 24 \(truncated\?\)/,
    );
    bad(
      `{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }`,
      /needs 20 data bytes, the file has 24/,
    );
    bad(`{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}`, /Unrecognized key/);
    bad(`{'descr': '<f4', 'fortran_order': False}`, /shape/);
    bad(`{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}`, /duplicate key/);
    bad(`{'descr': '<f4', 'fortran_order': false, 'shape': (6,)}`, /malformed header/);
    bad(`{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x`, /after the dict/);
    bad(`__import__('os')`, /expected '\{'/);
    bad(`{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}`, /too large/);
    bad(
      `{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}`,
      /more than 2\^53/,
    );
    throwsNaming(() => io.decodeNpy(new Uint8Array([1, 2, 3])), "io.decodeNpy", /magic/);
    const v9 = mk(`{}`, new Uint8Array());
    v9[6] = 9;
    throwsNaming(() => io.decodeNpy(v9), "io.decodeNpy", /version 9\.0/);
    const long = mk(`{}`, new Uint8Array(), 2);
    new DataView(long.buffer).setUint32(8, 0xffffffff, true);
    throwsNaming(() => io.decodeNpy(long), "io.decodeNpy", /exceeds the 1048576-byte limit/);
  });
  await t.step("files", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const x = sample("float64", [3, 2]);
      await io.saveNpy(`${dir}/x.npy`, x);
      assertSameTensor(await io.loadNpy(`${dir}/x.npy`), x);
      io.saveNpySync(`${dir}/y.npy`, [[1, 2], [3, 4]]);
      assert.deepEqual(io.loadNpySync(`${dir}/y.npy`).toArray(), [[1, 2], [3, 4]]);
      await assert.rejects(io.loadNpy(`${dir}/none.npy`), /^Error: io\.loadNpy: .*none\.npy/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

function hasNumpy(): boolean {
  try {
    return new Deno.Command("python3", {
      args: ["-c", "import numpy"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: ".npy interop with NumPy (skipped without python3 + numpy)",
  ignore: !hasNumpy(),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const script = `
import numpy as np, sys, json
d = sys.argv[1]
a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
np.save(d + "/f4.npy", a)
np.save(d + "/f8.npy", a.astype(np.float64))
np.save(d + "/i4.npy", (a * 100 - 500).astype(np.int32))
np.save(d + "/u4.npy", np.array([0, 1, 2**32 - 1], dtype=np.uint32))
np.save(d + "/b1.npy", np.array([[True, False], [False, True]]))
np.save(d + "/f2.npy", np.array([1.5, -2, 65504, 2**-24], dtype=np.float16))
np.save(d + "/fortran.npy", np.asfortranarray(a))
np.save(d + "/be.npy", a.astype(">f8"))
np.save(d + "/scalar.npy", np.float64(3.25))
np.save(d + "/empty.npy", np.zeros((0, 5), np.int32))
out = {}
for n in ["k_f4", "k_i4", "k_b1", "k_u4", "k_s", "k_f2"]:
    x = np.load(d + "/" + n + ".npy")
    out[n] = {"dtype": str(x.dtype), "shape": list(x.shape), "data": x.ravel().tolist()}
print(json.dumps(out))
`;
      const x = sample("float32", [2, 3, 4], 3);
      const xi = sample("int32", [5], 4), xb = sample("bool", [2, 2], 5);
      const xu = sample("uint32", [3], 6), xs = np.array(2.5, { dtype: "float64" });
      io.saveNpySync(`${dir}/k_f4.npy`, x);
      io.saveNpySync(`${dir}/k_i4.npy`, xi);
      io.saveNpySync(`${dir}/k_b1.npy`, xb);
      io.saveNpySync(`${dir}/k_u4.npy`, xu);
      io.saveNpySync(`${dir}/k_s.npy`, xs);
      const xh = np.array([1.5, -2, 65504, 2 ** -24, 1 / 3], { dtype: "float16" });
      io.saveNpySync(`${dir}/k_f2.npy`, xh);
      const res = new Deno.Command("python3", { args: ["-c", script, dir] }).outputSync();
      assert.ok(res.success, new TextDecoder().decode(res.stderr));
      const py = JSON.parse(new TextDecoder().decode(res.stdout));
      const check = (name: string, t: Tensor, dtype: string) => {
        assert.equal(py[name].dtype, dtype, name);
        assert.deepEqual(py[name].shape, t.shape, name);
        const data = Array.from(t.dataSync());
        assert.deepEqual(py[name].data, dtype === "bool" ? data.map(Boolean) : data, name);
      };
      check("k_f4", x, "float32");
      check("k_i4", xi, "int32");
      check("k_b1", xb, "bool");
      check("k_u4", xu, "uint32");
      check("k_s", xs, "float64");
      check("k_f2", xh, "float16");
      const a = Array.from({ length: 24 }, (_, i) => Math.fround(Math.fround(i) / 7));
      const nested = [[0, 1, 2], [0, 1, 2, 3]];
      const ref = np.array(a, { dtype: "float32" }).reshape([2, 3, 4]);
      assert.deepEqual(nested.length, 2);
      assertSameTensor(io.loadNpySync(`${dir}/f4.npy`), ref, "f4");
      assertSameTensor(io.loadNpySync(`${dir}/fortran.npy`), ref, "fortran");
      const f8 = io.loadNpySync(`${dir}/f8.npy`);
      assert.equal(f8.dtype, "float64");
      assert.deepEqual(Array.from(f8.dataSync()), a);
      assert.deepEqual(Array.from(io.loadNpySync(`${dir}/be.npy`).dataSync()), a);
      const i4 = io.loadNpySync(`${dir}/i4.npy`);
      assert.equal(i4.dtype, "int32");
      assert.deepEqual(
        Array.from(i4.dataSync()),
        a.map((v) => Math.trunc(Math.fround(v * 100) - 500)),
      );
      assert.deepEqual(Array.from(io.loadNpySync(`${dir}/u4.npy`).dataSync()), [0, 1, 2 ** 32 - 1]);
      assert.deepEqual(io.loadNpySync(`${dir}/b1.npy`).toArray(), [[true, false], [false, true]]);
      const f2 = io.loadNpySync(`${dir}/f2.npy`);
      assert.equal(f2.dtype, "float16");
      assert.deepEqual(Array.from(f2.dataSync()), [1.5, -2, 65504, 2 ** -24]);
      const s = io.loadNpySync(`${dir}/scalar.npy`);
      assert.deepEqual([s.shape, s.item()], [[], 3.25]);
      const e = io.loadNpySync(`${dir}/empty.npy`);
      assert.deepEqual([e.shape, e.dtype], [[0, 5], "int32"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Mutates bytes: flip a few, truncate, extend, or overwrite the length fields. */
function corrupt(src: Uint8Array, r: () => number): Uint8Array {
  const kind = Math.floor(r() * 5);
  let b = src.slice();
  if (kind === 0 || kind === 4) {
    const n = 1 + Math.floor(r() * 4);
    for (let k = 0; k < n; k++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
  }
  if (kind === 1) b = b.slice(0, Math.floor(r() * b.length));
  if (kind === 2) {
    const extra = new Uint8Array(1 + Math.floor(r() * 16)).map(() => Math.floor(r() * 256));
    b = new Uint8Array([...b, ...extra]);
  }
  if (kind === 3 || kind === 4) {
    // the length fields and the first bytes of the header, where sizes live
    const at = Math.floor(r() * Math.min(b.length, 24));
    b[at] = Math.floor(r() * 256);
  }
  return b;
}

Deno.test("fuzz: corrupted files give a value or a clear error, quickly", async (t) => {
  const tree = {
    layers: [{ w: sample("float32", [3, 4]), b: sample("float64", [4]) }],
    m: sample("bool", [5]),
    i: [sample("int32", [2]), sample("uint32", [1, 1])],
    n: 3,
    z: null,
  };
  const cases: [string, Uint8Array, (b: Uint8Array) => unknown][] = [
    ["io.decodeSafetensors", io.encodeSafetensors(tree), io.decodeSafetensors],
    ["io.inspectSafetensors", io.encodeSafetensors(tree), io.inspectSafetensors],
    ["io.decodeSafetensors", io.encodeSafetensors(sample("float32", [7])), io.decodeSafetensors],
    ["io.decodeNpy", io.encodeNpy(sample("float32", [3, 4])), io.decodeNpy],
    ["io.decodeNpy", io.encodeNpy(sample("bool", [9])), io.decodeNpy],
    ["io.decodeNpy", io.encodeNpy(sample("float64", [])), io.decodeNpy],
  ];
  for (const [op, valid, decode] of cases) {
    await t.step(`${op} (${valid.length} bytes)`, () => {
      const r = rng(valid.length);
      let ok = 0, failed = 0;
      const start = performance.now();
      for (let k = 0; k < 1500; k++) {
        const b = corrupt(valid, r);
        try {
          decode(b);
          ok++;
        } catch (e) {
          assert.ok(e instanceof Error, `case ${k}: threw a non-Error ${String(e)}`);
          assert.ok(
            e.message.startsWith(op),
            `case ${k}: message does not name ${op}: ${e.message}`,
          );
          failed++;
        }
      }
      assert.ok(failed > 0 && ok + failed === 1500);
      assert.ok(performance.now() - start < 20_000, "fuzzing took too long");
    });
  }
});

Deno.test("float16 and bfloat16 files keep every bit", async (t) => {
  // ±0, ±inf, quiet and signalling NaNs with payloads, the smallest subnormal, the largest finite
  const f16Bits = [0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e01, 0x7c01, 0xfe3f, 0x0001, 0x7bff, 0x3555];
  const bf16Bits = [0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc1, 0x7f81, 0xffff, 0x0001, 0x7f7f, 0x3eab];
  const half = (bits: number[], dtype: "float16" | "bfloat16") => {
    const u = new Uint16Array(bits);
    const storage = dtype === "float16" ? new Float16Array(u.buffer) : u;
    return fromHostData(storage, [2, 5], dtype);
  };
  const bitsOf = (x: Tensor) => Array.from(new Uint16Array(x.storageSync().buffer));
  const h = half(f16Bits, "float16"), b = half(bf16Bits, "bfloat16");
  await t.step("safetensors: F16 and BF16 headers, bytes unchanged", () => {
    const bytes = io.encodeSafetensors({ h, b });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
    assert.equal(header.h.dtype, "F16");
    assert.equal(header.b.dtype, "BF16");
    const back = io.decodeSafetensors(bytes) as { h: Tensor; b: Tensor };
    assert.equal(back.h.dtype, "float16");
    assert.equal(back.b.dtype, "bfloat16");
    assert.deepEqual(bitsOf(back.h), f16Bits);
    assert.deepEqual(bitsOf(back.b), bf16Bits);
  });
  await t.step(".npy: <f2 bytes unchanged; bfloat16 refused with the way out", () => {
    const bytes = io.encodeNpy(h);
    assert.ok(new TextDecoder().decode(bytes.subarray(0, 64)).includes("'descr': '<f2'"));
    const back = io.decodeNpy(bytes);
    assert.equal(back.dtype, "float16");
    assert.deepEqual(bitsOf(back), f16Bits);
    throwsNaming(() => io.encodeNpy(b), "io.encodeNpy", /no bfloat16 dtype.*astype\("float32"\)/);
  });
});
