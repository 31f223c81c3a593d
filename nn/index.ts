/**
 * The `nn` library: activations, initializers, pure layers with explicit params, and losses,
 * after `jax.nn`, Flax and Optax.
 *
 * ```ts
 * import { nn, random } from "./mod.ts";
 * const [k1, k2] = [0, 1].map((i) => random.split(random.key(0), 2).slice(i));
 * const p1 = nn.init.linear(k1, 784, 128), p2 = nn.init.linear(k2, 128, 10);
 * const loss = (x, y) => nn.softmaxCrossEntropy(nn.linear(p2, nn.relu(nn.linear(p1, x))), y).mean();
 * ```
 * @module
 */

export * from "./activations.ts";
export * from "./activations_more.ts";
export * from "./layers.ts";
export * from "./losses.ts";
export * as init from "./init.ts";
export * as initializers from "./init.ts";
