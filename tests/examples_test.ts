/**
 * The examples run as a user runs them (a new process each) and print what they should: the
 * quick start, the lecture's ReLU layer as a jitted graph, its input pipeline, its linear
 * regression (which must recover the slope and intercept of the synthetic data), per-example
 * gradients and an RNN trained through lax.scan.
 */

import { assert } from "./helpers.ts";

async function runExample(name: string): Promise<string> {
  const path = new URL(`../examples/${name}`, import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", path],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return text;
}

Deno.test("examples run and print the expected results", async (t) => {
  await t.step("quickstart", async () => {
    const text = await runExample("quickstart.ts");
    assert.match(text, /shape \[ 2, 3 \] dtype float32/);
    assert.match(text, /f\(4, 2\) = 37/);
  });
  await t.step("relu_layer: the graph, then compiled calls", async () => {
    const text = await runExample("relu_layer.ts");
    assert.match(text, /dot_general/);
    assert.match(text, /h: \[ 64, 100 \] float32/);
  });
  await t.step("dataset_pipeline reads, shuffles and batches fixed-length records", async () => {
    const text = await runExample("dataset_pipeline.ts");
    assert.match(text, /23 batches of 128 from 3 files/);
  });
  await t.step("per_example_gradients matches a single grad call", async () => {
    const text = await runExample("per_example_gradients.ts");
    assert.match(text, /per-example gradient shapes: \[ 64, 20, 3 \] \[ 64, 3 \]/);
    const m = text.match(/max \|difference\| = ([\d.e+-]+)/);
    assert.ok(m && Number(m[1]) < 1e-5, text);
  });
  await t.step("rnn_scan trains through lax.scan", async () => {
    const text = await runExample("rnn_scan.ts");
    const m = text.match(/loss ([\d.]+) -> ([\d.]+)/);
    assert.ok(m && Number(m[2]) < Number(m[1]) / 3, text);
  });
  await t.step("linear_regression recovers w = 3.2 and b = 15", async () => {
    const text = await runExample("linear_regression.ts");
    const m = text.match(/w = ([\d.-]+), b = ([\d.-]+)/);
    assert.ok(m, text);
    assert.ok(Math.abs(Number(m[1]) - 3.2) < 0.05, text);
    assert.ok(Math.abs(Number(m[2]) - 15) < 0.3, text);
  });
});
