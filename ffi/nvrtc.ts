/**
 * NVRTC, NVIDIA's runtime CUDA C++ compiler, through Deno FFI: generated CUDA sources are
 * compiled to a cubin (`nvrtcGetCUBIN`) for the device's `sm_XY`, or to PTX for a virtual
 * `compute_XY` when this NVRTC is older than the device, and cached on disk.
 *
 * libnvrtc is found at run time, in order: `$KILN_NVRTC` (the library, or a folder holding it),
 * `$CUDA_PATH/lib64` (and `$CUDA_HOME`), `/usr/local/cuda/lib64` and `/usr/local/cuda-X.Y/lib64`,
 * then the loader's search
 * (`libnvrtc.so`, `.so.13`, `.so.12`, `.so.11.2`). NVRTC opens `libnvrtc-builtins.so.X.Y` by
 * name when it first compiles; the copy beside the library found is opened first, so that a
 * private folder (outside the loader path) works.
 *
 * The cache key is a SHA-256 of the source, the NVRTC version, the target and the options;
 * files are published with a temporary name and a rename, in the cache folder of
 * `ffi/compile.ts` (`$KILN_CACHE_DIR`, ...).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { debug } from "../core/debug.ts";
import { cacheDirectory } from "./compile.ts";
import { cString, loaderMessage } from "./cuda.ts";

const SYMBOLS = {
  nvrtcVersion: { parameters: ["buffer", "buffer"], result: "i32" },
  nvrtcGetErrorString: { parameters: ["i32"], result: "pointer" },
  nvrtcCreateProgram: {
    parameters: ["buffer", "buffer", "buffer", "i32", "pointer", "pointer"],
    result: "i32",
  },
  nvrtcCompileProgram: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  nvrtcDestroyProgram: { parameters: ["buffer"], result: "i32" },
  nvrtcGetProgramLogSize: { parameters: ["pointer", "buffer"], result: "i32" },
  nvrtcGetProgramLog: { parameters: ["pointer", "buffer"], result: "i32" },
  nvrtcGetPTXSize: { parameters: ["pointer", "buffer"], result: "i32" },
  nvrtcGetPTX: { parameters: ["pointer", "buffer"], result: "i32" },
  // since CUDA 11.1 / 11.2
  nvrtcGetCUBINSize: { parameters: ["pointer", "buffer"], result: "i32", optional: true },
  nvrtcGetCUBIN: { parameters: ["pointer", "buffer"], result: "i32", optional: true },
  nvrtcGetNumSupportedArchs: { parameters: ["buffer"], result: "i32", optional: true },
  nvrtcGetSupportedArchs: { parameters: ["buffer"], result: "i32", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The NVRTC in use. */
export interface NvrtcInfo {
  /** Where libnvrtc was opened from (a path, or a name the loader resolved). */
  path: string;
  /** NVRTC's version, e.g. `[11, 8]`. */
  version: [number, number];
  /** The `sm_XY` targets it compiles for, as XY numbers (e.g. 90), ascending. */
  supportedArchs: number[];
  /** Whether it can produce cubins (`nvrtcGetCUBIN`); otherwise only PTX. */
  cubin: boolean;
}

/** How to compile one CUDA source. */
export interface CudaCompileOptions {
  /** The compute capability as XY (90 for an H100, 80 for an A100). */
  arch: number;
  /** `cubin` (machine code for `sm_XY`) or `ptx` (for `compute_XY`); default: cubin if possible. */
  target?: "cubin" | "ptx";
  /** The program's name in messages and logs; default `kiln.cu`. */
  name?: string;
  /** Extra NVRTC options (part of the cache key). */
  options?: string[];
}

/** A compiled image, ready for `cuModuleLoadData`. */
export interface CudaImage {
  kind: "cubin" | "ptx";
  /** The cubin (ELF) or the PTX text (NUL-terminated). */
  image: Uint8Array;
  arch: number;
  /** NVRTC's log (warnings); empty when the image came from the cache. */
  log: string;
  /** Whether it came from the disk cache. */
  cached: boolean;
}

const NVRTC_ERROR_COMPILATION = 6;
const LOG_LINES = 40;

/** Reads an environment variable; undefined when unset or without --allow-env. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/** Library file names in `dir`, newest version first (`libnvrtc.so` itself first). */
function librariesIn(dir: string, stem: string): string[] {
  const names: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.name === stem || entry.name.startsWith(`${stem}.`)) names.push(entry.name);
    }
  } catch {
    return [];
  }
  const version = (name: string) => name.slice(stem.length + 1).split(".").map(Number);
  names.sort((a, b) => {
    const va = version(a), vb = version(b);
    if (a === stem || b === stem) return a === stem ? -1 : 1;
    for (let i = 0; i < Math.max(va.length, vb.length); i++) {
      if ((va[i] ?? -1) !== (vb[i] ?? -1)) return (vb[i] ?? -1) - (va[i] ?? -1);
    }
    return 0;
  });
  return names.filter((n) => /^libnvrtc\.so(\.\d+)*$/.test(n)).map((n) => `${dir}/${n}`);
}

/** Folders that may hold libnvrtc, in the documented order. */
function searchFolders(): string[] {
  const folders: string[] = [];
  for (const root of [env("CUDA_PATH"), env("CUDA_HOME")]) {
    if (root) folders.push(`${root}/lib64`, `${root}/lib`);
  }
  try {
    const cudas = [...Deno.readDirSync("/usr/local")]
      .filter((e) => e.name === "cuda" || e.name.startsWith("cuda-"))
      .map((e) => e.name)
      .sort((a, b) => (a === "cuda" ? -1 : b === "cuda" ? 1 : b.localeCompare(a)));
    for (const c of cudas) {
      folders.push(`/usr/local/${c}/lib64`, `/usr/local/${c}/targets/x86_64-linux/lib`);
    }
  } catch {
    // no /usr/local, or no read permission
  }
  return folders;
}

/** The candidate paths (or loader names) of libnvrtc, in search order. */
export function nvrtcCandidates(): string[] {
  const explicit = env("KILN_NVRTC");
  if (explicit) {
    let isDirectory = false;
    try {
      isDirectory = Deno.statSync(explicit).isDirectory;
    } catch {
      // a missing path: reported by dlopen below
    }
    return isDirectory ? librariesIn(explicit, "libnvrtc.so") : [explicit];
  }
  return [
    ...searchFolders().flatMap((dir) => librariesIn(dir, "libnvrtc.so")),
    "libnvrtc.so",
    "libnvrtc.so.13",
    "libnvrtc.so.12",
    "libnvrtc.so.11.2",
  ];
}

let state: { nvrtc: Nvrtc } | { error: Error } | undefined;
/** Keeps the builtins library open (NVRTC finds it by its soname). */
let builtins: Deno.DynamicLibrary<Record<string, never>> | undefined;

/** Whether NVRTC can be used here and, if not, why. Never throws. */
export function nvrtcStatus(): { available: boolean; reason: string } {
  try {
    const { info } = nvrtc();
    return {
      available: true,
      reason: `NVRTC ${info.version.join(".")} at ${info.path} (sm_${info.supportedArchs[0]}` +
        `..sm_${info.supportedArchs[info.supportedArchs.length - 1]})`,
    };
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}

/**
 * NVRTC, opened on first use.
 *
 * @throws Error saying why NVRTC is unavailable (the same message every time).
 */
export function nvrtc(): Nvrtc {
  if (state === undefined) {
    try {
      state = { nvrtc: Nvrtc.open() };
    } catch (error) {
      state = { error: error as Error };
    }
  }
  if ("error" in state) throw state.error;
  return state.nvrtc;
}

/** The opened NVRTC library. */
export class Nvrtc {
  private pinned: Uint8Array[] = [];

  private constructor(private readonly lib: Symbols, readonly info: NvrtcInfo) {}

  /** Opens the first candidate that loads, and the builtins library beside it. */
  static open(): Nvrtc {
    let permission: Deno.PermissionState = "granted";
    try {
      permission = Deno.permissions.querySync({ name: "ffi" }).state;
    } catch {
      // let dlopen report it
    }
    if (permission !== "granted") {
      throw new Error("NVRTC is unavailable: Kiln needs --allow-ffi to open libnvrtc");
    }
    const failures: string[] = [];
    for (const path of nvrtcCandidates()) {
      let lib: Symbols;
      try {
        lib = Deno.dlopen(path, SYMBOLS).symbols;
      } catch (error) {
        failures.push(loaderMessage(error as Error, path));
        continue;
      }
      const major = new Int32Array(1), minor = new Int32Array(1);
      if (lib.nvrtcVersion(major, minor) !== 0) {
        failures.push(`${path}: nvrtcVersion failed`);
        continue;
      }
      const version: [number, number] = [major[0], minor[0]];
      if (path.includes("/")) openBuiltins(path.slice(0, path.lastIndexOf("/")), version);
      return new Nvrtc(lib, {
        path,
        version,
        supportedArchs: supportedArchs(lib),
        cubin: lib.nvrtcGetCUBIN !== null && lib.nvrtcGetCUBINSize !== null,
      });
    }
    throw new Error(
      `NVRTC is unavailable: no libnvrtc could be opened (set KILN_NVRTC to the library or ` +
        `its folder, or CUDA_PATH); ` +
        (failures.length === 0
          ? `no libnvrtc.so* in ${env("KILN_NVRTC")}`
          : `tried ${failures.slice(0, 3).join("; ")}` +
            (failures.length > 3 ? ` and ${failures.length - 3} more` : "")),
    );
  }

  /** The best target for a device of compute capability `arch` (XY). */
  target(arch: number): { arch: number; kind: "cubin" | "ptx" } {
    const archs = this.info.supportedArchs;
    if (this.info.cubin && archs.includes(arch)) return { arch, kind: "cubin" };
    // a device newer than this NVRTC: PTX for the newest older virtual arch, which the driver
    // compiles forward
    const older = archs.filter((a) => a <= arch);
    if (older.length === 0) {
      throw new Error(
        `NVRTC ${this.info.version.join(".")} cannot target compute capability ` +
          `${Math.floor(arch / 10)}.${arch % 10} (it supports sm_${archs.join(", sm_")})`,
      );
    }
    return { arch: older[older.length - 1], kind: "ptx" };
  }

  /**
   * Compiles `source` (no includes: generated sources are self-contained).
   *
   * @throws Error naming the program, the target and the start of NVRTC's log on failure.
   */
  compile(source: string, options: CudaCompileOptions): CudaImage {
    const kind = options.target ?? (this.info.cubin ? "cubin" : "ptx");
    if (kind === "cubin" && !this.info.cubin) {
      throw new Error(
        `NVRTC ${this.info.version.join(".")} cannot produce cubins (no nvrtcGetCUBIN)`,
      );
    }
    const name = options.name ?? "kiln.cu";
    const flags = [
      `--gpu-architecture=${kind === "cubin" ? "sm" : "compute"}_${options.arch}`,
      ...(options.options ?? []),
    ];
    const lib = this.lib;
    const handle = new BigUint64Array(1);
    this.check(
      "nvrtcCreateProgram",
      lib.nvrtcCreateProgram(handle, cString(source), cString(name), 0, null, null),
    );
    const program = Deno.UnsafePointer.create(handle[0]);
    try {
      const strings = flags.map(cString);
      const table = new BigUint64Array(strings.length);
      strings.forEach((
        s,
        i,
      ) => (table[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)))));
      this.pinned = strings; // the table holds raw addresses: keep the strings alive
      const code = lib.nvrtcCompileProgram(program, strings.length, table);
      this.pinned = [];
      const log = this.log(program);
      if (code !== 0) {
        const lines = log.split("\n");
        const head = lines.slice(0, LOG_LINES).join("\n") +
          (lines.length > LOG_LINES ? `\n... (${lines.length - LOG_LINES} more lines)` : "");
        throw new Error(
          `NVRTC ${this.info.version.join(".")} failed to compile ${name} for ${flags[0]}: ` +
            `${this.errorString(code)}${code === NVRTC_ERROR_COMPILATION ? `\n${head}` : ""}`,
        );
      }
      const size = new BigUint64Array(1);
      let image: Uint8Array;
      if (kind === "cubin") {
        this.check("nvrtcGetCUBINSize", lib.nvrtcGetCUBINSize!(program, size));
        image = new Uint8Array(Number(size[0]));
        this.check("nvrtcGetCUBIN", lib.nvrtcGetCUBIN!(program, image));
      } else {
        this.check("nvrtcGetPTXSize", lib.nvrtcGetPTXSize(program, size));
        image = new Uint8Array(Number(size[0])); // includes the terminating NUL
        this.check("nvrtcGetPTX", lib.nvrtcGetPTX(program, image));
      }
      return { kind, image, arch: options.arch, log, cached: false };
    } finally {
      lib.nvrtcDestroyProgram(handle);
    }
  }

  private log(program: Deno.PointerValue): string {
    const size = new BigUint64Array(1);
    if (this.lib.nvrtcGetProgramLogSize(program, size) !== 0 || size[0] <= 1n) return "";
    const bytes = new Uint8Array(Number(size[0]));
    if (this.lib.nvrtcGetProgramLog(program, bytes) !== 0) return "";
    return new TextDecoder().decode(bytes.subarray(0, bytes.length - 1)).trim();
  }

  private errorString(code: number): string {
    const pointer = this.lib.nvrtcGetErrorString(code);
    return pointer === null ? `nvrtcResult ${code}` : Deno.UnsafePointerView.getCString(pointer);
  }

  private check(call: string, code: number): void {
    if (code !== 0) throw new Error(`NVRTC: ${call} failed: ${this.errorString(code)} (${code})`);
  }
}

/** The `sm_XY` numbers this NVRTC supports (a fixed list for NVRTCs without the query). */
function supportedArchs(lib: Symbols): number[] {
  if (lib.nvrtcGetNumSupportedArchs && lib.nvrtcGetSupportedArchs) {
    const count = new Int32Array(1);
    if (lib.nvrtcGetNumSupportedArchs(count) === 0 && count[0] > 0) {
      const archs = new Int32Array(count[0]);
      if (lib.nvrtcGetSupportedArchs(archs) === 0) return [...archs].sort((a, b) => a - b);
    }
  }
  return [35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80];
}

/** Opens `libnvrtc-builtins.so.MAJOR.MINOR*` from `dir` when present (see the module doc). */
function openBuiltins(dir: string, [major, minor]: [number, number]): void {
  if (builtins) return;
  const prefix = `libnvrtc-builtins.so.${major}.${minor}`;
  try {
    const names = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((n) => n === prefix || n.startsWith(`${prefix}.`)).sort();
    if (names.length > 0) builtins = Deno.dlopen(`${dir}/${names[0]}`, {});
  } catch (error) {
    debug(1, () => `could not open ${prefix} in ${dir}: ${(error as Error).message}`);
  }
}

/** Why a cached image cannot be used, or undefined. */
function invalidImage(kind: "cubin" | "ptx", image: Uint8Array): string | undefined {
  if (image.length === 0) return "empty";
  if (kind === "cubin") {
    if (image.length < 64 || image[0] !== 0x7f || image[1] !== 0x45) return "not an ELF file";
    const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
    const end = Number(view.getBigUint64(0x28, true)) +
      view.getUint16(0x3a, true) * view.getUint16(0x3c, true);
    return end > image.length ? "truncated" : undefined;
  }
  return image[image.length - 1] === 0 ? undefined : "PTX without its terminating NUL";
}

/**
 * Compiles `source` with NVRTC, or returns the image cached on disk for the same source,
 * NVRTC version, target and options.
 *
 * @throws Error when NVRTC is unavailable or the compilation fails (with its log).
 */
export function compileCuda(source: string, options: CudaCompileOptions): CudaImage {
  const compiler = nvrtc();
  const kind = options.target ?? (compiler.info.cubin ? "cubin" : "ptx");
  const key = createHash("sha256").update(JSON.stringify({
    source,
    nvrtc: compiler.info.version,
    arch: options.arch,
    kind,
    options: options.options ?? [],
  })).digest("hex");
  const directory = cacheDirectory();
  const path = `${directory}/cuda-${key}.${kind}`;
  let reason = "not cached";
  try {
    const image = Deno.readFileSync(path);
    const invalid = invalidImage(kind, image);
    if (invalid === undefined) {
      debug(1, () => `cuda cache hit ${key.slice(0, 16)} (${options.name ?? "kiln.cu"})`);
      return { kind, image, arch: options.arch, log: "", cached: true };
    }
    reason = `cached image is ${invalid}`;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) reason = (error as Error).message;
  }
  debug(1, () => `cuda cache miss ${key.slice(0, 16)} (${options.name ?? "kiln.cu"}): ${reason}`);
  const started = performance.now();
  const result = compiler.compile(source, { ...options, target: kind });
  debug(
    1,
    () =>
      `nvrtc compiled ${options.name ?? "kiln.cu"} in ${
        (performance.now() - started).toFixed(0)
      } ms`,
  );
  try {
    Deno.mkdirSync(directory, { recursive: true });
    const temporary = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    Deno.writeFileSync(temporary, result.image);
    Deno.renameSync(temporary, path); // atomic publish
  } catch (error) {
    debug(1, () => `could not cache ${path}: ${(error as Error).message}`);
  }
  return result;
}
