/**
 * The on-disk compile cache across processes: a second process hits the cache (no compiler
 * run), concurrent compiles of the same source both succeed, and a truncated or corrupt
 * cached library is rebuilt instead of crashing the process.
 */

import { assert } from "./helpers.ts";

const probe = new URL("./fixtures/compile_probe.ts", import.meta.url).pathname;

async function runProbe(
  cacheDir: string,
  constant: number,
): Promise<{ stdout: string; stderr: string; code: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", probe, String(constant)],
    env: { KILN_CACHE_DIR: cacheDir, KILN_DEBUG: "1", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), code: out.code };
}

Deno.test("compile cache across processes", async (t) => {
  const cacheDir = Deno.makeTempDirSync({ prefix: "kiln-cache-test-" });
  const constant = 1000 + Math.floor(Math.random() * 1e6);
  try {
    await t.step("two processes compiling the same source concurrently both succeed", async () => {
      const [a, b] = await Promise.all([
        runProbe(cacheDir, constant),
        runProbe(cacheDir, constant),
      ]);
      for (const r of [a, b]) {
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`result ${constant}`));
      }
    });
    await t.step("a new process hits the disk cache without running the compiler", async () => {
      const r = await runProbe(cacheDir, constant);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /cache hit/);
      assert.doesNotMatch(r.stderr, /cache miss/);
    });
    await t.step("a truncated cached library is detected and rebuilt", async () => {
      const libs = [...Deno.readDirSync(cacheDir)].filter((e) => e.name.endsWith(".so"));
      assert.ok(libs.length >= 1, "the cache holds the library");
      for (const lib of libs) {
        const path = `${cacheDir}/${lib.name}`;
        const bytes = Deno.readFileSync(path);
        Deno.writeFileSync(path, bytes.slice(0, Math.floor(bytes.length / 3)));
      }
      const r = await runProbe(cacheDir, constant);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`result ${constant}`));
    });
    await t.step("garbage in the cache is rebuilt, not loaded", async () => {
      for (const lib of [...Deno.readDirSync(cacheDir)].filter((e) => e.name.endsWith(".so"))) {
        Deno.writeTextFileSync(`${cacheDir}/${lib.name}`, "not an ELF file");
      }
      const r = await runProbe(cacheDir, constant);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`result ${constant}`));
    });
  } finally {
    Deno.removeSync(cacheDir, { recursive: true });
  }
});
