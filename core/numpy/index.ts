/**
 * The `np` namespace: NumPy's API in camelCase (as jax-js), on Kiln tensors.
 * @module
 */

export { array, asTensor as asarray, astype, broadcastTo } from "./convert.ts";
export type { ArrayLike, ArrayOptions, NestedInput } from "./convert.ts";
export * from "./creation.ts";
export * from "./elementwise.ts";
export * from "./reductions.ts";
export * from "./shape.ts";
export * from "./linalg.ts";
export * from "./indexing.ts";
export * from "./sorting.ts";
export * from "./statistics.ts";
export * from "./assembly.ts";
export * from "./bitwise.ts";
export * from "./data_dependent.ts";
export * from "./norms.ts";
