/**
 * Shared helpers of the `io` tests (`io_*_test.ts`): seeded sample tensors of every dtype,
 * bit-exact tensor and pytree comparisons, hand-built safetensors bytes, and an assertion that
 * an error names the op.
 * @module
 */

import { np, type Tensor } from "../mod.ts";
import { assert, rng } from "./helpers.ts";

/** Every dtype `io` stores. */
export const DTYPES = [
  "float16",
  "bfloat16",
  "float32",
  "float64",
  "int32",
  "uint32",
  "bool",
] as const;

/** A seeded sample tensor of `dtype` and `shape` (integers spanning the full range). */
export function sample(dtype: typeof DTYPES[number], shape: number[], seed = 1): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({ length: n }, () => {
    const u = r();
    switch (dtype) {
      case "bool":
        return u < 0.5 ? 0 : 1;
      case "int32":
        return Math.floor((u - 0.5) * 2 ** 32);
      case "uint32":
        return Math.floor(u * 2 ** 32);
      default:
        return (u - 0.5) * 1e3;
    }
  });
  return np.array(vals, { dtype }).reshape(shape);
}

/** Asserts `a` is a tensor with `b`'s dtype, shape and exact bits. */
export function assertSameTensor(a: unknown, b: Tensor, what = ""): void {
  assert.ok(a && typeof a === "object" && "dataSync" in a, `${what}: not a tensor`);
  const t = a as Tensor;
  assert.equal(t.dtype, b.dtype, `${what} dtype`);
  assert.deepEqual(t.shape, b.shape, `${what} shape`);
  assert.deepEqual(Array.from(t.dataSync()), Array.from(b.dataSync()), `${what} data`);
  const bytes = (x: Tensor) => {
    const d = x.storageSync();
    return Array.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  };
  assert.deepEqual(bytes(t), bytes(b), `${what} bits`);
}

/** Deep comparison of pytrees: structure (arrays vs objects, key order, null/undefined) and leaves. */
export function assertSameTree(a: unknown, b: unknown, path = "root"): void {
  if (b !== null && typeof b === "object" && "dataSync" in b) {
    return assertSameTensor(a, b as Tensor, path);
  }
  if (typeof b === "number" || b === null || b === undefined) {
    return assert.ok(Object.is(a, b), `${path}: ${String(a)} vs ${String(b)}`);
  }
  if (Array.isArray(b)) {
    assert.ok(Array.isArray(a), `${path}: expected an array`);
    assert.equal(a.length, b.length, `${path} length`);
    return b.forEach((v, i) => assertSameTree(a[i], v, `${path}.${i}`));
  }
  assert.ok(a && typeof a === "object" && !Array.isArray(a), `${path}: expected an object`);
  const ob = b as Record<string, unknown>, oa = a as Record<string, unknown>;
  assert.deepEqual(Object.keys(oa), Object.keys(ob), `${path} keys`);
  for (const k of Object.keys(ob)) assertSameTree(oa[k], ob[k], `${path}.${k}`);
}

/** A hand-built safetensors file, as another tool would write it (no kiln.treedef). */
export function rawSafetensors(
  header: Record<string, unknown>,
  data: Uint8Array,
  headerLen?: number,
): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** The raw float32 bytes of `vals`. */
export function f32Bytes(vals: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(vals).buffer);
}

/** Asserts `fn` throws an error that names `op` (and matches `re`, if given). */
export function throwsNaming(fn: () => unknown, op: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, `not an Error: ${String(e)}`);
    assert.ok(e.message.startsWith(op), `message does not name ${op}: ${e.message}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}
