/**
 * `deno task train` end to end on the embedded digits with the fast MLP: a short run reaches
 * a stated accuracy and writes its checkpoint and plot; `--resume` continues exactly where an
 * interrupted run stopped (the same curve as an uninterrupted run with the same seed); bad
 * options are clear errors.
 */

import { parseArgs, train } from "../cli/train.ts";
import { assert } from "./helpers.ts";

Deno.test("deno task train", async (t) => {
  const root = Deno.makeTempDirSync({ prefix: "kiln-train-test-" });
  try {
    await t.step("a 3-epoch MLP run reaches 93 % and writes its outputs", async () => {
      const acc = await train(
        parseArgs(["--model", "mlp", "--epochs", "3", "--out", `${root}/full`]),
      );
      assert.ok(acc >= 0.93, `test accuracy ${acc}`);
      for (const f of ["params.safetensors", "state.json", "curves.svg"]) {
        assert.ok(Deno.statSync(`${root}/full/${f}`).size > 0, f);
      }
      assert.match(Deno.readTextFileSync(`${root}/full/curves.svg`), /<svg[\s\S]*test accuracy/);
    });
    await t.step("--resume continues the same curve", async () => {
      // interrupted after epoch 2 of 3: the learning-rate schedule spans the 3 epochs
      await train(parseArgs(["--model", "mlp", "--epochs", "3", "--out", `${root}/resumed`]), {
        stopAfterEpoch: 2,
      });
      assert.equal(JSON.parse(Deno.readTextFileSync(`${root}/resumed/state.json`)).epoch, 2);
      await train(
        parseArgs(["--model", "mlp", "--epochs", "3", "--out", `${root}/resumed`, "--resume"]),
      );
      const full = JSON.parse(Deno.readTextFileSync(`${root}/full/state.json`)).history;
      const resumed = JSON.parse(Deno.readTextFileSync(`${root}/resumed/state.json`)).history;
      assert.equal(resumed.length, 3);
      resumed.forEach((h: { loss: number; testAcc: number }, i: number) => {
        assert.ok(
          Math.abs(h.loss - full[i].loss) < 1e-4,
          `epoch ${i + 1}: ${h.loss} vs ${full[i].loss}`,
        );
        assert.ok(Math.abs(h.testAcc - full[i].testAcc) < 1e-9, `epoch ${i + 1} accuracy`);
      });
    });
    await t.step("bad options are clear errors", () => {
      assert.throws(() => parseArgs(["--model", "rnn"]), /train: invalid options: --model/);
      assert.throws(() => parseArgs(["--epochs", "0"]), /--epochs/);
      assert.throws(() => parseArgs(["--lr"]), /--lr needs a value/);
      assert.throws(() => parseArgs(["--schedule", "step"]), /--schedule/);
      assert.throws(() => parseArgs(["stray"]), /unexpected argument "stray"/);
    });
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
