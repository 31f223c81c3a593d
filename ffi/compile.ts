/**
 * Compiling C sources into shared libraries through a content-addressed on-disk cache.
 *
 * The cache key is a SHA-256 of the sources, the compiler and its version, the flags and the
 * target (Deno's target triple plus the CPU model and feature flags, because `-march=native`
 * output only runs on the CPU it was built for). A build writes to a temporary file and
 * renames it into place, so concurrent processes compiling the same thing both succeed.
 *
 * `KILN_DEBUG` >= 1 prints one line per compile and per cache hit or miss (with the reason).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { debugLevel } from "../core/debug.ts";

/** One C source file: `name` is its file name (headers end in `.h`), `text` its contents. */
export interface CSource {
  name: string;
  text: string;
}

/** Options of {@linkcode compileSharedLibrary}. */
export interface CompileOptions {
  /** Compiler flags; default {@linkcode DEFAULT_FLAGS}. */
  flags?: string[];
  /** Libraries, placed after the sources; default {@linkcode DEFAULT_LIBS}. */
  libs?: string[];
  /** Rebuild even if a valid cached library exists (used after a failed dlopen). */
  force?: boolean;
}

/** The default compiler flags: optimized for this CPU, OpenMP, IEEE semantics kept. */
export const DEFAULT_FLAGS: readonly string[] = [
  "-O3",
  "-march=native",
  "-fno-math-errno",
  "-fopenmp",
  "-shared",
  "-fPIC",
  "-Wl,-z,nodelete",
  "-Wl,-z,defs",
];

/** The default libraries linked after the sources. */
export const DEFAULT_LIBS: readonly string[] = ["-lm"];

const STDERR_LINES = 40;
/** A source file name: a plain word such as `unary.c` (no path, no leading dot, no spaces). */
const SOURCE_NAME = /^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$/;

/** Reads an environment variable; undefined when unset or when --allow-env was not given. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function debug(message: string): void {
  if (debugLevel() >= 1) console.error(`[kiln] ${message}`);
}

/** A compiler command (program + leading arguments, e.g. `ccache gcc`) and its version. */
export interface Compiler {
  command: string[];
  version: string;
}

let compilerCache: Compiler | undefined;

/**
 * Finds the C compiler: `$CC` (split on spaces), else `cc`, else `gcc`; its version is the
 * first line of `--version`. The answer is cached for the life of the process.
 *
 * @throws Error when none of them runs (the message names what was tried).
 */
export function findCompiler(): Compiler {
  if (compilerCache) return compilerCache;
  const fromEnv = env("CC")?.trim();
  const candidates = fromEnv ? [fromEnv.split(/\s+/)] : [["cc"], ["gcc"]];
  const failures: string[] = [];
  for (const command of candidates) {
    try {
      const result = new Deno.Command(command[0], {
        args: [...command.slice(1), "--version"],
        stdout: "piped",
        stderr: "piped",
      }).outputSync();
      if (!result.success) {
        failures.push(`${command.join(" ")}: exit code ${result.code}`);
        continue;
      }
      const version = new TextDecoder().decode(result.stdout).split("\n")[0].trim();
      compilerCache = { command, version };
      return compilerCache;
    } catch (error) {
      if (
        error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ) {
        throw new Error(`Kiln needs --allow-run to run the C compiler (${command[0]})`, {
          cause: error,
        });
      }
      failures.push(`${command.join(" ")}: ${(error as Error).message}`);
    }
  }
  throw new Error(
    `Kiln found no C compiler (set CC or install gcc); tried ${failures.join("; ")}`,
  );
}

/**
 * The cache directory: `$KILN_CACHE_DIR`, `$XDG_CACHE_HOME/kiln`, `$HOME/.cache/kiln` (or a
 * directory under the temp dir), made absolute.
 */
export function cacheDirectory(): string {
  const xdg = env("XDG_CACHE_HOME"), home = env("HOME");
  const directory = env("KILN_CACHE_DIR") ||
    (xdg ? `${xdg}/kiln` : home ? `${home}/.cache/kiln` : `${env("TMPDIR") ?? "/tmp"}/kiln-cache`);
  return directory.startsWith("/") ? directory : `${Deno.cwd()}/${directory}`;
}

let hostCache: string | undefined;

/** Deno's target triple plus the CPU model and feature flags, when /proc/cpuinfo is readable. */
function hostDescription(): string {
  if (hostCache !== undefined) return hostCache;
  let cpu = "";
  try {
    const lines = Deno.readTextFileSync("/proc/cpuinfo").split("\n");
    const model = lines.find((line) => line.startsWith("model name")) ?? "";
    const flags = lines.find((line) => /^(flags|Features)\s*:/.test(line)) ?? "";
    cpu = `${model}\n${flags}`;
  } catch {
    // Not Linux, or no read permission: the target triple alone.
  }
  hostCache = `${Deno.build.target}\n${cpu}`;
  return hostCache;
}

/** Why a cached library cannot be used, or undefined when it looks like a loadable ELF file. */
function invalidReason(path: string): string | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "no cached library";
    throw error;
  }
  try {
    const size = file.statSync().size;
    if (size === 0) return "cached library is empty";
    const header = new Uint8Array(64);
    const read = file.readSync(header);
    if (
      read === null || read < 4 || header[0] !== 0x7f || header[1] !== 0x45 || header[2] !== 0x4c ||
      header[3] !== 0x46
    ) {
      return "cached library is not an ELF file";
    }
    // A truncated library can still pass dlopen and then fault when a page is touched, so
    // check the file reaches the end of its section header table (the linker writes it last).
    if (read < 64 || header[4] !== 2) return "cached library is not a 64-bit ELF file";
    const view = new DataView(header.buffer);
    const little = header[5] === 1;
    const tableOffset = Number(view.getBigUint64(0x28, little));
    const entrySize = view.getUint16(0x3a, little);
    const entries = view.getUint16(0x3c, little);
    if (tableOffset + entrySize * entries > size) return "cached library is truncated";
    return undefined;
  } finally {
    file.close();
  }
}

/** The first `count` lines of a compiler's stderr. */
function firstLines(bytes: Uint8Array, count: number): string {
  const lines = new TextDecoder().decode(bytes).split("\n");
  const head = lines.slice(0, count).join("\n");
  return lines.length > count ? `${head}\n... (${lines.length - count} more lines)` : head;
}

/** The error thrown when the compiler fails: command, version, exit code, start of stderr. */
function compileError(compiler: Compiler, code: number, names: string, stderr: Uint8Array): Error {
  return new Error(
    `Kiln: ${compiler.command.join(" ")} (${compiler.version}) failed with exit code ${code} ` +
      `compiling ${names}:\n${firstLines(stderr, STDERR_LINES)}`,
  );
}

/** Quotes a word for a POSIX shell. */
const shellQuote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

/**
 * Compiles each source to an object file, as many at once as there are CPUs (`xargs -P`), so a
 * cold build takes a fraction of the time of one compiler process. Returns the object files, or
 * null when this cannot be done here (no POSIX shell or xargs: the caller compiles in one go).
 *
 * @throws Error (as {@linkcode compileSharedLibrary}) when a source fails to compile.
 */
function compileObjectsInParallel(
  compiler: Compiler,
  flags: string[],
  directory: string,
  inputs: string[],
  names: string,
): string[] | null {
  const jobs = Math.max(1, Math.min(inputs.length, navigator.hardwareConcurrency ?? 1));
  if (Deno.build.os === "windows" || jobs < 2) return null;
  // .compile-one.sh SOURCE writes SOURCE.o, or SOURCE.err and SOURCE.status on failure. The
  // names are plain words (checked by the caller) relative to the build directory, so that
  // xargs passes them through unchanged. Source names cannot start with a dot.
  const command = [...compiler.command, ...flags, "-c"].map(shellQuote).join(" ");
  Deno.writeTextFileSync(
    `${directory}/.compile-one.sh`,
    `${command} "$1" -o "$1.o" 2> "$1.err" || echo $? > "$1.status"\n`,
  );
  Deno.writeTextFileSync(`${directory}/.sources`, inputs.join("\n") + "\n");
  let result: Deno.CommandOutput;
  try {
    result = new Deno.Command("sh", {
      args: ["-c", `xargs -P ${jobs} -n 1 sh .compile-one.sh < .sources`],
      cwd: directory,
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
  } catch {
    return null;
  }
  for (const input of inputs) {
    let status: string;
    try {
      status = Deno.readTextFileSync(`${directory}/${input}.status`);
    } catch {
      continue; // compiled
    }
    const stderr = Deno.readFileSync(`${directory}/${input}.err`);
    throw compileError(compiler, Number.parseInt(status, 10), names, stderr);
  }
  const objects = inputs.map((input) => `${directory}/${input}.o`);
  if (!result.success || !objects.every((object) => invalidReason(object) === undefined)) {
    return null; // xargs itself failed: compile in one go instead
  }
  return objects;
}

/**
 * Compiles C sources into a shared library, or returns the cached one.
 *
 * Every `.c` source is compiled and linked together; `.h` sources are only written beside
 * them, so `#include "name.h"` finds them.
 *
 * @param sources The files, by name and contents.
 * @param options Flags (default {@linkcode DEFAULT_FLAGS}), libraries (default
 *   {@linkcode DEFAULT_LIBS}), and `force` to rebuild a cached library.
 * @returns The path of the shared library in the cache directory.
 * @throws Error naming the compiler, its exit code and the start of its stderr when it fails.
 */
export function compileSharedLibrary(
  sources: CSource[],
  options: CompileOptions = {},
): string {
  const flags = options.flags ?? [...DEFAULT_FLAGS];
  const libs = options.libs ?? [...DEFAULT_LIBS];
  const compiler = findCompiler();
  const hash = createHash("sha256");
  hash.update(JSON.stringify({
    sources: sources.map(({ name, text }) => [name, text]),
    compiler: compiler.command,
    version: compiler.version,
    flags,
    libs,
    host: hostDescription(),
  }));
  const key = hash.digest("hex");
  const directory = cacheDirectory();
  const path = `${directory}/${key}.so`;
  const names = sources.map((source) => source.name).join(", ");

  const reason = options.force ? "rebuild forced" : invalidReason(path);
  if (reason === undefined) {
    debug(`cache hit ${key.slice(0, 16)} (${names})`);
    return path;
  }
  debug(`cache miss ${key.slice(0, 16)} (${names}): ${reason}`);

  Deno.mkdirSync(directory, { recursive: true });
  const buildDirectory = Deno.makeTempDirSync({ prefix: "kiln-build-" });
  const temporary = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const inputs: string[] = []; // the .c files, relative to the build directory
    for (const { name, text } of sources) {
      if (!SOURCE_NAME.test(name)) {
        throw new Error(`Kiln: invalid C source name ${JSON.stringify(name)}`);
      }
      Deno.writeTextFileSync(`${buildDirectory}/${name}`, text);
      if (name.endsWith(".c")) inputs.push(name);
    }
    const started = performance.now();
    const objects = inputs.length > 1
      ? compileObjectsInParallel(compiler, flags, buildDirectory, inputs, names)
      : null;
    const [program, ...leading] = compiler.command;
    const result = new Deno.Command(program, {
      args: [...leading, ...flags, "-o", temporary, ...(objects ?? inputs), ...libs],
      cwd: buildDirectory,
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!result.success) throw compileError(compiler, result.code, names, result.stderr);
    Deno.renameSync(temporary, path); // atomic publish
    debug(`compiled ${names} in ${(performance.now() - started).toFixed(0)} ms -> ${path}`);
    return path;
  } finally {
    try {
      Deno.removeSync(temporary);
    } catch {
      // Already renamed into place, or never written.
    }
    Deno.removeSync(buildDirectory, { recursive: true });
  }
}

/**
 * Compiles (or finds in the cache) and opens a shared library. When a cached library fails to
 * load it is deleted and rebuilt once.
 *
 * @param sources The C files, as for {@linkcode compileSharedLibrary}.
 * @param symbols The symbol definitions passed to `Deno.dlopen`.
 * @param options Compile options, as for {@linkcode compileSharedLibrary}.
 * @returns The opened library and the path it was loaded from.
 */
export function openSharedLibrary<const S extends Deno.ForeignLibraryInterface>(
  sources: CSource[],
  symbols: S,
  options: CompileOptions = {},
): { library: Deno.DynamicLibrary<S>; path: string } {
  const path = compileSharedLibrary(sources, options);
  try {
    return { library: Deno.dlopen(path, symbols), path };
  } catch (error) {
    if (options.force) throw error;
    debug(`dlopen of cached ${path} failed (${(error as Error).message}); rebuilding`);
    try {
      Deno.removeSync(path);
    } catch {
      // Another process may have removed it already.
    }
    const rebuilt = compileSharedLibrary(sources, { ...options, force: true });
    return { library: Deno.dlopen(rebuilt, symbols), path: rebuilt };
  }
}
