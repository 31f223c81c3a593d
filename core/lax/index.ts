/**
 * The `lax` namespace: XLA-level operations (JAX's `jax.lax`) for when NumPy's API is not
 * precise enough: general contractions and convolutions, windows, dynamic slices.
 * @module
 */

export * from "./basic.ts";
export * from "./conv.ts";
export * from "./indexing.ts";
export * from "./control.ts";
