/**
 * The eager CPU kernel library: `kernels/cpu/*.c` built once (through the cache in
 * `compile.ts`) and opened with `Deno.dlopen`. The C ABI is described in kernels/README.md.
 *
 * Calling conventions: sizes are `i64` (pass BigInt: a JS number falls off the fast path),
 * every pointer is a `buffer` (pass a TypedArray), flags are `i32`. All symbols are
 * synchronous.
 *
 * @module
 */

import { type CSource, openSharedLibrary } from "./compile.ts";

import kilnHeader from "../kernels/cpu/kiln.h" with { type: "text" };
import unarySource from "../kernels/cpu/unary.c" with { type: "text" };
import binarySource from "../kernels/cpu/binary.c" with { type: "text" };
import castSource from "../kernels/cpu/cast.c" with { type: "text" };
import copySource from "../kernels/cpu/copy.c" with { type: "text" };
import reduceSource from "../kernels/cpu/reduce.c" with { type: "text" };
import cumulativeSource from "../kernels/cpu/cumulative.c" with { type: "text" };
import matmulSource from "../kernels/cpu/matmul.c" with { type: "text" };
import convSource from "../kernels/cpu/conv.c" with { type: "text" };
import convGradSource from "../kernels/cpu/conv_grad.c" with { type: "text" };
import windowSource from "../kernels/cpu/window.c" with { type: "text" };
import windowGradSource from "../kernels/cpu/window_grad.c" with { type: "text" };
import gatherSource from "../kernels/cpu/gather.c" with { type: "text" };
import sortSource from "../kernels/cpu/sort.c" with { type: "text" };

/** The C sources of the library (kiln.h is also usable by generated code). */
export const CPU_KERNEL_SOURCES: readonly CSource[] = [
  { name: "kiln.h", text: kilnHeader },
  { name: "unary.c", text: unarySource },
  { name: "binary.c", text: binarySource },
  { name: "cast.c", text: castSource },
  { name: "copy.c", text: copySource },
  { name: "reduce.c", text: reduceSource },
  { name: "cumulative.c", text: cumulativeSource },
  { name: "matmul.c", text: matmulSource },
  { name: "conv.c", text: convSource },
  { name: "conv_grad.c", text: convGradSource },
  { name: "window.c", text: windowSource },
  { name: "window_grad.c", text: windowGradSource },
  { name: "gather.c", text: gatherSource },
  { name: "sort.c", text: sortSource },
];

// ---- the symbol table, generated from the op and type lists of kernels/README.md ----

const FLOAT = ["f32", "f64"] as const;
const NUMERIC = ["f32", "f64", "i32", "u32"] as const;
const INTEGER_BOOL = ["i32", "u32", "b8"] as const;
const ALL = ["f32", "f64", "i32", "u32", "b8"] as const;
/** The 16-bit floats: only casts exist for them (everything else computes in f32). */
const HALF = ["f16", "bf16"] as const;
const ALL_HALF = [...ALL, ...HALF] as const;
const BYTES = ["1", "2", "4", "8"] as const;
const SELECT_BYTES = ["1", "4", "8"] as const;

/** Every `${a}_${b}` of two name lists, typed as the template literal union. */
function product<const A extends string, const B extends string>(
  as: readonly A[],
  bs: readonly B[],
): `${A}_${B}`[] {
  return as.flatMap((a) => bs.map((b) => `${a}_${b}` as `${A}_${B}`));
}

/** Symbol definitions `kiln_<name>` sharing one signature. */
function define<
  const N extends string,
  const P extends readonly Deno.NativeType[],
  const R extends Deno.NativeResultType,
>(
  names: readonly N[],
  parameters: P,
  result: R,
): Record<`kiln_${N}`, { parameters: P; result: R }> {
  const symbols = {} as Record<`kiln_${N}`, { parameters: P; result: R }>;
  for (const name of names) symbols[`kiln_${name}`] = { parameters, result };
  return symbols;
}

// deno-fmt-ignore
const UNARY_FLOAT_OPS = [
  "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "cbrt", "sin", "cos",
  "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "floor",
  "ceil", "round", "trunc", "reciprocal", "logistic", "erf",
] as const;
const BINARY_NUMERIC_OPS = ["add", "sub", "mul", "div", "max", "min", "pow", "rem"] as const;
const COMPARE_OPS = ["eq", "ne", "lt", "le", "gt", "ge"] as const;
const REDUCE_NUMERIC_OPS = ["sum", "prod", "max", "min"] as const;

/** (int64 n, const T* x, T* out) and friends: n then pointers. */
const N_1 = ["i64", "buffer", "buffer"] as const;
const N_2 = ["i64", "buffer", "buffer", "buffer"] as const;
const N_3 = ["i64", "buffer", "buffer", "buffer", "buffer"] as const;
/** (int64 outer, int64 len, int64 inner, const T* x, T* out) */
const AXIS = ["i64", "i64", "i64", "buffer", "buffer"] as const;
/** (int64 batch, m, n, k, const T* a, int32 trans_a, const T* b, int32 trans_b, T* out) */
const MATMUL = ["i64", "i64", "i64", "i64", "buffer", "i32", "buffer", "i32", "buffer"] as const;
/** (int64 outer, len, inner, nidx, const int32* idx, const void* x, void* out) */
const INDEXED = ["i64", "i64", "i64", "i64", "buffer", "buffer", "buffer"] as const;

/**
 * The symbol definitions of the CPU kernel library, for `Deno.dlopen`. Names follow
 * kernels/README.md: `kiln_<op>_<type>`.
 */
export const CPU_SYMBOLS = {
  // elementwise
  ...define(product(["neg", "abs", "sign"], NUMERIC), N_1, "void"),
  ...define(product(UNARY_FLOAT_OPS, FLOAT), N_1, "void"),
  ...define(product(["not"], INTEGER_BOOL), N_1, "void"),
  ...define(product(["isnan", "isinf", "isfinite"], FLOAT), N_1, "void"),
  ...define(product(BINARY_NUMERIC_OPS, NUMERIC), N_2, "void"),
  ...define(product(["atan2"], FLOAT), N_2, "void"),
  ...define(product(["and", "or", "xor"], INTEGER_BOOL), N_2, "void"),
  ...define(product(COMPARE_OPS, ALL), N_2, "void"),
  ...define(product(["select"], SELECT_BYTES), N_3, "void"),
  ...define(product(["cast"], product(ALL, ALL)), N_1, "void"),
  ...define(product(["cast"], [...product(HALF, ALL_HALF), ...product(ALL, HALF)]), N_1, "void"),
  ...define(product(["fill"], BYTES), ["i64", "buffer", "buffer"] as const, "void"),
  ...define(product(["iota"], NUMERIC), ["i64", "i64", "i64", "buffer"] as const, "void"),
  // layout
  ...define(
    ["strided_copy"],
    ["i64", "i64", "buffer", "buffer", "i64", "buffer", "buffer", "i64", "buffer"] as const,
    "void",
  ),
  // reductions and scans
  ...define(product(product(["reduce"], REDUCE_NUMERIC_OPS), NUMERIC), AXIS, "void"),
  ...define(product(["reduce_any", "reduce_all"], ["b8"] as const), AXIS, "void"),
  ...define(product(["argmax", "argmin"], NUMERIC), AXIS, "void"),
  ...define(
    product(["cumsum", "cumprod", "cummax", "cummin"], NUMERIC),
    ["i64", "i64", "i64", "i32", "buffer", "buffer"] as const,
    "void",
  ),
  // linear algebra
  ...define(product(["matmul"], NUMERIC), MATMUL, "void"),
  ...define(product(["matmul_blocked"], FLOAT), MATMUL, "void"),
  ...define(["blas_load"], ["buffer"] as const, "i32"),
  ...define(["blas_loaded"], [] as const, "i32"),
  ...define(["keep_freed_memory"], [] as const, "i32"),
  ...define(product(["conv2d"], FLOAT), ["buffer", "buffer", "buffer", "buffer"] as const, "void"),
  ...define(
    product(["conv2d_grad_lhs", "conv2d_grad_rhs"], FLOAT),
    ["buffer", "buffer", "buffer", "buffer"] as const,
    "void",
  ),
  ...define(
    product(["reduce_window_max", "reduce_window_sum"], NUMERIC),
    ["i64", "buffer", "buffer", "buffer"] as const,
    "void",
  ),
  ...define(
    product(["select_and_gather_add", "select_and_scatter_add"], NUMERIC),
    ["i64", "buffer", "buffer", "buffer", "buffer"] as const,
    "void",
  ),
  // indexing and sorting
  ...define(product(["take"], BYTES), INDEXED, "void"),
  ...define(
    product(["scatter_add", "scatter_mul", "scatter_min", "scatter_max"], NUMERIC),
    INDEXED,
    "void",
  ),
  ...define(product(["scatter_set"], BYTES), INDEXED, "void"),
  ...define(
    product(["sort"], ALL),
    ["i64", "i64", "buffer", "buffer", "buffer"] as const,
    "void",
  ),
};

/** The symbol definitions' type. */
export type CpuSymbols = typeof CPU_SYMBOLS;

/** A symbol name of the CPU library, e.g. `"kiln_exp_f32"`. */
export type CpuSymbolName = keyof CpuSymbols;

/** The loaded CPU kernel library. */
export interface CpuLibrary {
  /** The kernels, by C name (see kernels/README.md). */
  symbols: Deno.DynamicLibrary<CpuSymbols>["symbols"];
  /** Whether a CBLAS library was loaded (f32/f64 matmul then uses it for large products). */
  blasLoaded: boolean;
  /** The BLAS library that was loaded, or null. */
  blasPath: string | null;
  /** The path of the compiled shared library. */
  path: string;
}

/** Lists the names of every symbol the CPU library exports. */
export function cpuSymbolNames(): CpuSymbolName[] {
  return Object.keys(CPU_SYMBOLS) as CpuSymbolName[];
}

/** Whether `name` is a symbol of the CPU library (narrows it for `lib.symbols[name]`). */
export function isCpuSymbol(name: string): name is CpuSymbolName {
  return Object.hasOwn(CPU_SYMBOLS, name);
}

function getEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Sets an environment variable unless it is set already; false without --allow-env. */
/** An environment variable, or undefined when unset or unreadable (no --allow-env). */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function setEnvDefault(name: string, value: string): boolean {
  try {
    if (Deno.env.get(name) === undefined) Deno.env.set(name, value);
    return true;
  } catch {
    return false;
  }
}

/** Whether /proc/cpuinfo lists AVX-512 Foundation (false when it cannot be read). */
function cpuHasAvx512(): boolean {
  try {
    return /^flags\s*:.*\bavx512f\b/m.test(Deno.readTextFileSync("/proc/cpuinfo"));
  } catch {
    return false;
  }
}

/** BLAS libraries tried in order (`$KILN_BLAS` first; `KILN_BLAS=none` disables BLAS). */
function blasCandidates(): string[] {
  const explicit = getEnv("KILN_BLAS");
  if (explicit === "none") return [];
  const defaults = [
    "libopenblas.so.0",
    "libopenblas.so",
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "libblis.so.4",
    "libmkl_rt.so",
  ];
  return explicit ? [explicit, ...defaults] : defaults;
}

function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}

let loaded: CpuLibrary | undefined;

/**
 * Builds (once, through the on-disk cache) and loads the CPU kernel library, then tries to
 * load a BLAS for large f32/f64 matmuls. Later calls return the same library.
 *
 * Before loading it sets `OMP_WAIT_POLICY=passive` with `GOMP_SPINCOUNT=10000` (idle OpenMP
 * threads spin for ~0.25 ms, then sleep instead of spinning on), `OPENBLAS_THREAD_TIMEOUT=12`
 * (idle OpenBLAS threads likewise, after 2^12 cycles)
 * and, on AVX-512 CPUs, `OPENBLAS_CORETYPE=SkylakeX` (Debian's OpenBLAS 0.3.21 misdetects newer
 * CPUs), each only if unset and only with --allow-env.
 *
 * @throws Error when FFI is not permitted, no C compiler is found or compilation fails.
 */
export function loadCpuLibrary(): CpuLibrary {
  if (loaded) return loaded;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    throw new Error(
      "Kiln's CPU kernels need FFI: run with --allow-ffi (and --allow-run, --allow-read, " +
        "--allow-write, --allow-env to build them), or use the js device",
    );
  }
  setEnvDefault("OMP_WAIT_POLICY", "passive");
  // ...after spinning briefly (10000 pauses, ~0.25 ms here): the kernels of one jitted call
  // follow each other closely, and waking a sleeping thread for each costs ~24 µs
  setEnvDefault("GOMP_SPINCOUNT", "10000");
  let opened;
  try {
    opened = openSharedLibrary([...CPU_KERNEL_SOURCES], CPU_SYMBOLS);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Kiln could not build its CPU kernels: ${message}`, { cause: error });
  }
  const { library, path } = opened;
  // keep freed large blocks for reuse (see kernels/cpu/copy.c); KILN_MALLOC=system opts out
  if (readEnv("KILN_MALLOC") !== "system") library.symbols.kiln_keep_freed_memory();

  let blasPath: string | null = null;
  const candidates = blasCandidates();
  if (candidates.length > 0) {
    if (cpuHasAvx512()) setEnvDefault("OPENBLAS_CORETYPE", "SkylakeX");
    // OpenBLAS's idle threads spin for 2^28 cycles by default, which halves the speed of the
    // OpenMP kernels that follow a BLAS call on a small machine; 2^12 cycles, then sleep.
    setEnvDefault("OPENBLAS_THREAD_TIMEOUT", "12");
  }
  for (const candidate of candidates) {
    if (library.symbols.kiln_blas_load(cString(candidate)) === 1) {
      blasPath = candidate;
      break;
    }
  }
  loaded = { symbols: library.symbols, blasLoaded: blasPath !== null, blasPath, path };
  return loaded;
}
