/**
 * Shared helpers of the `nn` tests (`nn_*_test.ts`): seeded random data and tensors.
 * @module
 */

import { np } from "../mod.ts";
import { rng } from "./helpers.ts";

/** `n` seeded values uniform in [-scale, scale). */
export function randData(seed: number, n: number, scale = 1): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => scale * (2 * r() - 1));
}

/** A seeded tensor of `shape` with values uniform in [-scale, scale) (not normal, despite the name). */
export function randn(
  seed: number,
  shape: number[],
  scale = 1,
  dtype: "float32" | "float64" = "float64",
) {
  const n = shape.reduce((a, b) => a * b, 1);
  return np.array(randData(seed, n, scale), { dtype }).reshape(shape);
}
