/**
 * The lecture's input pipeline (tf.data's FixedLengthRecordDataset), in Kiln: records of
 * fixed length are read from files this example writes, decoded, shuffled with a seed,
 * batched, normalized and prefetched while the (jitted) consumer runs.
 *
 *     deno run --allow-all examples/dataset_pipeline.ts
 */

import { data, jit, np, type Tensor } from "../mod.ts";

// three files of 1000 records each: a 1-byte label followed by 16 bytes of "pixels"
const dir = Deno.makeTempDirSync({ prefix: "kiln-records-" });
const files: string[] = [];
for (let f = 0; f < 3; f++) {
  const bytes = new Uint8Array(1000 * 17);
  for (let r = 0; r < 1000; r++) {
    const label = (r * 7 + f) % 10;
    bytes[r * 17] = label;
    for (let p = 0; p < 16; p++) bytes[r * 17 + 1 + p] = (label * 25 + p) % 256;
  }
  const path = `${dir}/records-${f}.bin`;
  Deno.writeFileSync(path, bytes);
  files.push(path);
}

const ds = data.Dataset.fixedLengthRecords(files, 17)
  .map((record) => {
    const bytes = record as Uint8Array;
    return {
      x: np.array(Array.from(bytes.subarray(1))),
      y: np.array([bytes[0]], { dtype: "int32" }),
    };
  })
  .shuffle(3000, { seed: 0 })
  .batch(128, { dropRemainder: true })
  .map((b) => ({ ...b, x: (b as { x: Tensor }).x.div(255) }))
  .prefetch(2);

// the "training step": any jitted function of the batch
const meanPixel = jit((x: Tensor) => np.mean(x));
let batches = 0, total = 0;
for await (const batch of ds) {
  const b = batch as { x: Tensor; y: Tensor };
  total += meanPixel(b.x).item() as number;
  batches++;
}
console.log(
  `${batches} batches of 128 from ${files.length} files; mean pixel ${
    (total / batches).toFixed(4)
  }`,
);
Deno.removeSync(dir, { recursive: true });
