/**
 * The CUDA device tests on the CPU emulation of CUDA, for machines without a GPU (CI): the
 * fake libcuda + libnvrtc of `cuda_emulator/` stand in for the driver and the compiler, and the
 * CUDA test files run in a child process as they would on a GPU, through Kiln's real FFI
 * bindings, allocator, eager executor and JIT back end. With a real device present this skips:
 * those files then run on it directly.
 */

import { cudaStatus } from "../ffi/cuda.ts";
import { fakeCudaEnvironment } from "./cuda_emulator.ts";
import { assert } from "./helpers.ts";

const FILES = [
  "cuda_test.ts",
  "cuda_matmul_test.ts",
  "cuda_half_test.ts",
  "cuda_device_test.ts",
  "cuda_graph_test.ts",
];

Deno.test("cuda (emulated on the CPU): the CUDA test files pass under the fake driver", async () => {
  if (Deno.env.get("KILN_CUDA_EMULATOR_DIR")) return; // already the emulated child
  const real = cudaStatus();
  if (real.available) {
    return console.log(`  skipped the emulated run: a CUDA device is present (${real.reason})`);
  }
  // every file with the fake cuBLAS (matmuls through it), then the matmul tests without it
  // (matmuls as rendered kernels, through the whole device)
  await runEmulated(FILES, fakeCudaEnvironment(), "emulated CUDA");
  await runEmulated(
    ["cuda_matmul_test.ts"],
    fakeCudaEnvironment({ cublas: false }),
    "emulated CUDA without cuBLAS",
  );
});

async function runEmulated(names: string[], env: Record<string, string>, label: string) {
  const files = names.map((f) => new URL(f, import.meta.url).pathname);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--no-check", ...files],
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  const summary = output.match(/^(ok|FAILED) \| .*$/m)?.[0] ?? "no summary";
  console.log(`  ${label}: ${summary}`);
  const failures = output.split("\n").filter((l) => /FAILED|error/i.test(l)).slice(0, 40);
  assert.equal(
    code,
    0,
    `the ${label} tests failed:\n${failures.join("\n")}\n${output.slice(-3000)}`,
  );
}
