/**
 * Kiln vs JAX differential harness. Usage:
 *   deno run -A tools/jax_diff/run.ts [name-substring ...] [--verbose] [--known]
 * Runs every case (or those whose name contains a given substring) through Kiln and through
 * JAX (python3), and prints each difference. Exit status 1 when an unexpected difference is
 * found. See README.md.
 * @module
 */

import { compare, runJax, runKiln } from "./harness.ts";
import type { Case } from "./harness.ts";
import { CREATION_ELEMENTWISE } from "./cases_elementwise.ts";
import { REDUCTION_SHAPE } from "./cases_reduce_shape.ts";
import { LINALG_INDEXING_NN } from "./cases_linalg_nn.ts";
import { LAX_GRAD_PROMOTION } from "./cases_lax_grad.ts";
import { NUMPY_API } from "./cases_numpy_api.ts";

const ALL: Case[] = [
  ...CREATION_ELEMENTWISE,
  ...REDUCTION_SHAPE,
  ...LINALG_INDEXING_NN,
  ...LAX_GRAD_PROMOTION,
  ...NUMPY_API,
];

const args = Deno.args.filter((a) => !a.startsWith("--"));
const verbose = Deno.args.includes("--verbose");
const showKnown = Deno.args.includes("--known");
const names = new Set<string>();
for (const cs of ALL) {
  if (names.has(cs.name)) throw new Error(`duplicate case name ${cs.name}`);
  names.add(cs.name);
}
const cases = args.length ? ALL.filter((cs) => args.some((a) => cs.name.includes(a))) : ALL;
const jaxResults = await runJax(cases);
// Kiln lacking a function or option is reported apart from wrong answers
const MISSING =
  /is not a function|is not supported|Unrecognized key|reading 'norm'|must be a non-negative integer, got \d+,/;
let failed = 0, known = 0, missing = 0;
cases.forEach((cs, i) => {
  const kiln = runKiln(cs);
  const diffs = compare(cs, kiln, jaxResults[i]);
  if (diffs.length === 0) {
    if (verbose) console.log(`ok    ${cs.name}`);
    return;
  }
  if (cs.known) {
    known++;
    if (showKnown) console.log(`KNOWN ${cs.name}: ${diffs.join("; ")}\n      (${cs.known})`);
    return;
  }
  if (kiln.error !== undefined && MISSING.test(kiln.error)) {
    missing++;
    console.log(`MISS  ${cs.name}: ${kiln.error}`);
    return;
  }
  failed++;
  console.log(`DIFF  ${cs.name}: ${diffs.join("; ")}`);
});
console.log(
  `${cases.length} cases compared: ${
    cases.length - failed - known - missing
  } agree, ${failed} differ, ${known} known deviations, ${missing} missing in Kiln`,
);
if (failed) Deno.exit(1);
