/**
 * Kiln's benchmarks, printed as ratios to the machine's limits and to the previous figures.
 * Not tests: nothing here gates CI.
 *
 *     deno task bench            # everything
 *     deno task bench autodiff   # one section
 *     deno task bench --save     # also record these figures as the new baseline
 */

import { benchAutodiff } from "./autodiff.ts";
import { benchCompare } from "./compare.ts";
import { benchFoundation } from "./foundation.ts";
import { benchJit } from "./jit.ts";
import { benchTrain } from "./train.ts";
import { benchVmap } from "./vmap.ts";
import { savePrevious } from "./util.ts";

const sections: Record<string, () => void> = {
  foundation: benchFoundation,
  autodiff: benchAutodiff,
  vmap: benchVmap,
  jit: benchJit,
  train: benchTrain,
  compare: benchCompare,
};
const chosen = Deno.args.filter((a) => !a.startsWith("--"));
for (const [name, run] of Object.entries(sections)) {
  if (chosen.length > 0 && !chosen.includes(name)) continue;
  console.log(`== ${name}`);
  run();
}
if (Deno.args.includes("--save")) savePrevious();
