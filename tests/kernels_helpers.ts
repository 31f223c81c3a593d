/**
 * Shared harness of the native CPU kernel self-tests (`kernels_*_test.ts`): the library (or
 * undefined without a C compiler), `test` that is ignored then, `call` by symbol name, a seeded
 * PRNG (mulberry32, so failures reproduce), random typed arrays with edge values, and a
 * NaN-aware tolerance check.
 * @module
 */

import assert from "node:assert/strict";
import { type CpuLibrary, isCpuSymbol, loadCpuLibrary } from "../ffi/cpu_library.ts";

/** Element type codes, as in the kernels' symbol names (`kiln_exp_f32`). */
export type Code = "f32" | "f64" | "i32" | "u32" | "b8";
/** Any TypedArray a kernel reads or writes. */
export type Arr = Float32Array | Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;
/** A TypedArray class, for tests that only care about the element size. */
export type ArrayClass = { new (n: number): Arr; from(values: ArrayLike<number>): Arr };
type Arg = bigint | number | ArrayBufferView | null;

/** The TypedArray class of each element type code. */
export const ARRAY = {
  f32: Float32Array,
  f64: Float64Array,
  i32: Int32Array,
  u32: Uint32Array,
  b8: Uint8Array,
} as const;
/** The float type codes. */
export const FLOATS = ["f32", "f64"] as const;
/** The numeric (non-bool) type codes. */
export const NUMERIC = ["f32", "f64", "i32", "u32"] as const;
/** Arrays of every element size; the 4-byte ones as floats or integers. */
export const BY_BYTES: [number, ArrayClass][] = [[1, Uint8Array], [2, Uint16Array], [
  4,
  Float32Array,
], [
  8,
  Float64Array,
]];
/** An array of class `T` with `n` elements `f(i)`. */
export const filled = (T: ArrayClass, n: number, f: (i: number) => number) =>
  T.from(Array.from({ length: n }, (_, i) => f(i)));
/** int32 and uint32 limits. */
export const INT_MIN = -2147483648, INT_MAX = 2147483647, UINT_MAX = 4294967295;

/** The library, or undefined (and every test ignored) on a machine without a C compiler. */
const loaded: CpuLibrary | undefined = (() => {
  try {
    return loadCpuLibrary();
  } catch (error) {
    if (!String(error).includes("found no C compiler")) throw error; // a real failure
    console.warn(`kernels tests: skipped, ${(error as Error).message}`);
    return undefined;
  }
})();
/** The library (only read inside tests, which are ignored when it is absent). */
export const lib = loaded as CpuLibrary;

/** Deno.test, ignored when the library could not be built for lack of a compiler. */
export function test(name: string, fn: (t: Deno.TestContext) => void | Promise<void>) {
  Deno.test({ name, ignore: loaded === undefined, fn });
}

/** Calls a kernel by name (sizes as BigInt). */
export function call(name: string, ...args: Arg[]): number | void {
  assert.ok(isCpuSymbol(name), `missing symbol ${name}`);
  const fn = lib.symbols[name] as unknown as (...a: Arg[]) => number | void;
  return fn(...args);
}
/** A size or count as the BigInt a kernel takes. */
export const I = (n: number) => BigInt(n);
/** An int64 array (shapes and strides) for a kernel. */
export const i64 = (values: number[]) => BigInt64Array.from(values.map(BigInt));

// Seeded PRNG (mulberry32) so that failures reproduce.
let seed = 12345;
/** The next seeded pseudo-random number in [0, 1). */
export function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
/** A seeded random integer in [lo, hi]. */
export const randInt = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

/** Random values of a type: floats in [lo, hi), integers spanning edge values too. */
export function randomArray(code: Code, n: number, lo = -10, hi = 10): Arr {
  const a = new ARRAY[code](n);
  for (let i = 0; i < n; i++) {
    if (code === "b8") a[i] = random() < 0.5 ? 1 : 0;
    else if (code === "i32") {
      a[i] = random() < 0.1 ? [INT_MIN, -1, 0, 1, INT_MAX][randInt(0, 4)] : randInt(-1000, 1000);
    } else if (code === "u32") {
      a[i] = random() < 0.1 ? [0, 1, UINT_MAX][randInt(0, 2)] : randInt(0, 2000);
    } else a[i] = lo + (hi - lo) * random();
  }
  return a;
}

/** Equal values, NaN equal to NaN. */
const same = (a: number, b: number) =>
  Object.is(a, b) || (a === b) || (Number.isNaN(a) && Number.isNaN(b));

/** Elementwise comparison with a relative + absolute tolerance; NaN equals NaN. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  rtol = 0,
  atol = 0,
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (same(a, e) || (a === e)) continue;
    const ok = Number.isFinite(e) && Math.abs(a - e) <= atol + rtol * Math.abs(e);
    assert.ok(ok, `${what}[${i}]: got ${a}, expected ${e}`);
  }
}

/** The value JS computes, stored into the kernel's output type (rounding f32, wrapping ints). */
export function stored(code: Code, values: number[]): Arr {
  return ARRAY[code].from(values);
}

/** Element counts every elementwise family is tested at. */
export const SIZES = [0, 1, 17, 1000, 300_000]; // 300k crosses the parallel thresholds

/** Wraps a JS number to int32 / uint32, as the integer kernels do. */
export const I32 = (v: number) => v | 0, U32 = (v: number) => v >>> 0;
