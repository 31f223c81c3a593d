/**
 * The one test-helper module: assertions, property testing and tensor tolerance checks. JSR
 * (`@std/assert`, `@std/testing`) is unreachable from our machines, so this wraps
 * `node:assert/strict` and `npm:fast-check`; switching back is a change to this file only.
 * @module
 */

import assert from "node:assert/strict";
import fc from "npm:fast-check@4";
import type { Tensor } from "../mod.ts";

export { assert, fc };

type Numeric = ArrayLike<number> | number;

function flat(x: Tensor | Numeric | boolean | unknown[]): number[] {
  if (typeof x === "number") return [x];
  if (typeof x === "boolean") return [x ? 1 : 0];
  if (typeof x === "object" && x !== null && "dataSync" in x) {
    return Array.from((x as Tensor).dataSync());
  }
  if (Array.isArray(x)) return (x.flat(Infinity) as (number | boolean)[]).map(Number);
  return Array.from(x as ArrayLike<number>);
}

/** Tolerances of {@link assertClose}: |a - e| <= atol + rtol * |e|. */
export interface Tolerance {
  rtol?: number;
  atol?: number;
}

/**
 * Asserts two arrays (tensors, TypedArrays, nested arrays or numbers) agree elementwise within
 * tolerance; NaN matches NaN and infinities must match exactly. Shapes are compared when both
 * are tensors.
 */
export function assertClose(
  actual: Tensor | Numeric | unknown[],
  expected: Tensor | Numeric | unknown[],
  { rtol = 1e-5, atol = 1e-6 }: Tolerance = {},
  message = "",
): void {
  const isTensor = (v: unknown): v is Tensor =>
    typeof v === "object" && v !== null && "dataSync" in v;
  if (isTensor(actual) && isTensor(expected)) {
    assert.deepEqual(actual.shape, expected.shape, `${message} shape`);
  }
  const a = flat(actual), e = flat(expected);
  assert.equal(a.length, e.length, `${message} length ${a.length} vs ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = e[i];
    if (Number.isNaN(y)) {
      assert.ok(Number.isNaN(x), `${message} [${i}]: expected NaN, got ${x}`);
      continue;
    }
    if (!Number.isFinite(y)) {
      assert.equal(x, y, `${message} [${i}]: expected ${y}, got ${x}`);
      continue;
    }
    const tol = atol + rtol * Math.abs(y);
    assert.ok(Math.abs(x - y) <= tol, `${message} [${i}]: ${x} vs expected ${y} (tol ${tol})`);
  }
}

/** A seeded pseudo-random generator (mulberry32) for reproducible test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fast-check arbitrary of shapes with up to `maxRank` axes, including size 0 and 1. */
export function arbShape(maxRank = 3, maxDim = 4): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: maxDim }), { minLength: 0, maxLength: maxRank });
}
