/**
 * Input pipelines after tf.data (`Dataset`) and bundled datasets (`datasets.mnist`).
 *
 * ```ts
 * import { data } from "./mod.ts";
 * const { train } = await data.datasets.mnist({ seed: 0 });
 * const ds = data.Dataset.fromTensorSlices(train).shuffle(10000, { seed: 0 }).batch(128)
 *   .map((b) => ({ ...b, x: b.x.div(255) })).prefetch(2);
 * for await (const { x, y } of ds) { ... }
 * ```
 * @module
 */

export { Dataset, stackElements } from "./dataset.ts";
export type { BatchOptions, ShuffleOptions } from "./dataset.ts";
export type { CsvOptions, CsvRow, FixedLengthRecordOptions } from "./sources.ts";
export { mulberry32, permutation } from "./sources.ts";
export type { Idx, MnistOptions, MnistSplit } from "./mnist.ts";
export { parseIdx } from "./mnist.ts";

import { mnist } from "./mnist.ts";

/** Bundled datasets: `datasets.mnist(options)`. */
export const datasets: { mnist: typeof mnist } = { mnist };
