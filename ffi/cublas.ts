/**
 * cuBLAS through Deno FFI, for the CUDA back end's matmuls: one handle on the current context,
 * bound to the stream Kiln's kernels run on, and `cublasGemmStridedBatchedEx` for every batched
 * float matmul (float32 and float64 in their own precision, float16 and bfloat16 operands with
 * float32 accumulation, `CUBLAS_COMPUTE_32F`; TF32 tensor cores only for products whose
 * precision allows it, `"default"` or `"high"`, as JAX on GPUs).
 *
 * libcublas is found at run time, in order: `$KILN_CUBLAS` (the library or its folder; `0`
 * turns cuBLAS off, so the rendered matmul kernel runs), `$CUDA_PATH/lib64` (and `$CUDA_HOME`),
 * `/usr/local/cuda/lib64` and `/usr/local/cuda-X.Y/lib64`, PyTorch's pip wheel folder
 * (`site-packages/nvidia/cublas/lib`), then the loader's search. libcublasLt, which libcublas
 * needs, is opened first from the same folder, so a folder outside the loader path works.
 *
 * Row-major matmuls map onto column-major cuBLAS by computing Cᵀ = Bᵀ Aᵀ: a row-major (r, c)
 * matrix is a column-major (c, r) one, so no operand is copied.
 * @module
 */

import type { DType } from "../core/dtype.ts";
import { cudaDriver, loaderMessage } from "./cuda.ts";

const SYMBOLS = {
  cublasCreate_v2: { parameters: ["buffer"], result: "i32" },
  cublasDestroy_v2: { parameters: ["pointer"], result: "i32" },
  cublasGetVersion_v2: { parameters: ["pointer", "buffer"], result: "i32" },
  cublasSetStream_v2: { parameters: ["pointer", "pointer"], result: "i32" },
  // handle, workspace (a device pointer), bytes: cuBLAS 11.4 on
  cublasSetWorkspace_v2: { parameters: ["pointer", "u64", "usize"], result: "i32", optional: true },
  // handle, transa, transb, m, n, k, alpha*, A*, Atype, lda, strideA, B*, Btype, ldb, strideB,
  // beta*, C*, Ctype, ldc, strideC, batchCount, computeType, algo
  cublasGemmStridedBatchedEx: {
    parameters: [
      "pointer",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "buffer",
      "u64",
      "i32",
      "i32",
      "i64",
      "u64",
      "i32",
      "i32",
      "i64",
      "buffer",
      "u64",
      "i32",
      "i32",
      "i64",
      "i32",
      "i32",
      "i32",
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** `cudaDataType` and `cublasComputeType_t` per dtype cuBLAS multiplies (library_types.h). */
const GEMM_TYPES: Partial<Record<DType, { data: number; compute: number; alpha: "f32" | "f64" }>> =
  {
    float32: { data: 0, compute: 68, alpha: "f32" }, // CUDA_R_32F, CUBLAS_COMPUTE_32F
    float64: { data: 1, compute: 70, alpha: "f64" }, // CUDA_R_64F, CUBLAS_COMPUTE_64F
    float16: { data: 2, compute: 68, alpha: "f32" }, // CUDA_R_16F
    bfloat16: { data: 14, compute: 68, alpha: "f32" }, // CUDA_R_16BF
  };
const CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_GEMM_DEFAULT = -1;
const CUBLAS_COMPUTE_32F_FAST_TF32 = 77;
const INT_MAX = 2 ** 31 - 1;

/** `cublasStatus_t` names (cublas_api.h). */
const STATUS: Record<number, string> = {
  1: "CUBLAS_STATUS_NOT_INITIALIZED",
  3: "CUBLAS_STATUS_ALLOC_FAILED",
  7: "CUBLAS_STATUS_INVALID_VALUE",
  8: "CUBLAS_STATUS_ARCH_MISMATCH",
  11: "CUBLAS_STATUS_MAPPING_ERROR",
  13: "CUBLAS_STATUS_EXECUTION_FAILED",
  14: "CUBLAS_STATUS_INTERNAL_ERROR",
  15: "CUBLAS_STATUS_NOT_SUPPORTED",
  16: "CUBLAS_STATUS_LICENSE_ERROR",
};

/** One batched row-major matmul: per batch, out (m, n) = op(a) op(b) (see `DotLayout`). */
export interface GemmCall {
  dtype: DType;
  batch: number;
  m: number;
  n: number;
  k: number;
  /** a is stored (k, m) instead of (m, k). */
  transA: boolean;
  /** b is stored (n, k) instead of (k, n). */
  transB: boolean;
  /** A float32 product may use TF32 tensor cores (`CUBLAS_COMPUTE_32F_FAST_TF32`). */
  tf32?: boolean;
  a: bigint;
  b: bigint;
  out: bigint;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

/** `libcublas.so*` files of `dir`, newest major first. */
function cublasIn(dir: string): string[] {
  return listDir(dir).filter((n) => /^libcublas\.so(\.\d+)*$/.test(n))
    .sort((a, b) => b.length - a.length || b.localeCompare(a))
    .map((n) => `${dir}/${n}`);
}

/** PyTorch's pip wheel folders of cuBLAS (`nvidia-cublas-cu12`), in the usual site-packages. */
function wheelFolders(): string[] {
  const roots = ["/usr/lib", "/usr/local/lib", "/opt/conda/lib"];
  const home = env("HOME");
  if (home) roots.push(`${home}/.local/lib`);
  const venv = env("VIRTUAL_ENV");
  if (venv) roots.push(`${venv}/lib`);
  return roots.flatMap((root) =>
    listDir(root).filter((n) => /^python3(\.\d+)?$/.test(n)).flatMap((py) =>
      ["site-packages", "dist-packages"].map((s) => `${root}/${py}/${s}/nvidia/cublas/lib`)
    )
  );
}

/** The libcublas candidates, in the documented order. */
export function cublasCandidates(): string[] {
  const explicit = env("KILN_CUBLAS");
  if (explicit) {
    let isDirectory = false;
    try {
      isDirectory = Deno.statSync(explicit).isDirectory;
    } catch {
      // a missing path: dlopen says so
    }
    return isDirectory ? cublasIn(explicit) : [explicit];
  }
  const folders: string[] = [];
  for (const root of [env("CUDA_PATH"), env("CUDA_HOME")]) {
    if (root) folders.push(`${root}/lib64`, `${root}/lib`);
  }
  const cudas = listDir("/usr/local").filter((n) => n === "cuda" || n.startsWith("cuda-"))
    .sort((a, b) => (a === "cuda" ? -1 : b === "cuda" ? 1 : b.localeCompare(a)));
  for (const c of cudas) {
    folders.push(`/usr/local/${c}/lib64`, `/usr/local/${c}/targets/x86_64-linux/lib`);
  }
  folders.push(...wheelFolders());
  return [...folders.flatMap(cublasIn), "libcublas.so.13", "libcublas.so.12", "libcublas.so.11"];
}

let state: { blas: Cublas } | { error: Error } | undefined;

/** Whether cuBLAS can be used (CUDA available and libcublas found), and if not, why. */
export function cublasStatus(): { available: boolean; reason: string } {
  try {
    const blas = cublas();
    return { available: true, reason: `cuBLAS ${blas.version} at ${blas.path}` };
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}

/**
 * cuBLAS on the CUDA device, opened on first use.
 *
 * @throws Error saying why cuBLAS is unavailable (the same message every time).
 */
export function cublas(): Cublas {
  if (state === undefined) {
    try {
      state = { blas: Cublas.open() };
    } catch (error) {
      state = { error: error as Error };
    }
  }
  if ("error" in state) throw state.error;
  return state.blas;
}

/** An opened libcublas with a handle on device 0's primary context. */
export class Cublas {
  private readonly alpha32 = new Float32Array([1]);
  private readonly beta32 = new Float32Array([0]);
  private readonly alpha64 = new Float64Array([1]);
  private readonly beta64 = new Float64Array([0]);

  private constructor(
    private readonly lib: Symbols,
    private readonly handle: Deno.PointerValue,
    /** Where libcublas was opened from. */
    readonly path: string,
    /** cuBLAS's version number (e.g. 120304 for 12.3.4). */
    readonly version: number,
  ) {}

  /**
   * Opens libcublas, then creates a handle on the primary context Kiln made current (cuBLAS
   * shares it with the driver API).
   */
  static open(): Cublas {
    const { lib, path } = openLibrary();
    cudaDriver(); // "CUDA is unavailable: ..." when there is no device
    const out = new BigUint64Array(1);
    check("cublasCreate_v2", lib.cublasCreate_v2(out));
    const handle = Deno.UnsafePointer.create(out[0]);
    const version = new Int32Array(1);
    check("cublasGetVersion_v2", lib.cublasGetVersion_v2(handle, version));
    const blas = new Cublas(lib, handle, path, version[0]);
    blas.bindStream(null); // Kiln's stream
    return blas;
  }

  /**
   * The workspace cuBLAS gets with every stream: without one it allocates its own, which a
   * CUDA graph capture refuses (or, on newer versions, repeats for every graph). 32 MiB is
   * what NVIDIA recommends for Hopper; allocated on first use, kept for the process.
   */
  private workspace = 0n;
  private static readonly WORKSPACE_BYTES = 32 << 20;

  /** Points the handle at `stream` with Kiln's workspace (setting a stream resets it). */
  private bindStream(stream: Deno.PointerValue): void {
    this.checkAlive("cublasSetStream_v2");
    check("cublasSetStream_v2", this.lib.cublasSetStream_v2(this.handle, stream));
    if (!this.lib.cublasSetWorkspace_v2) return;
    if (this.workspace === 0n) this.workspace = cudaDriver().alloc(Cublas.WORKSPACE_BYTES);
    check(
      "cublasSetWorkspace_v2",
      this.lib.cublasSetWorkspace_v2(this.handle, this.workspace, BigInt(Cublas.WORKSPACE_BYTES)),
    );
  }

  /**
   * Runs `queue` with this handle's calls going to `stream` (a stream capturing a CUDA graph),
   * then binds it back to Kiln's stream, also when `queue` throws.
   */
  onStream(stream: Deno.PointerValue, queue: () => void): void {
    this.bindStream(stream);
    try {
      queue();
    } finally {
      this.bindStream(null);
    }
  }

  /** Whether {@linkcode gemm} takes this matmul (a float dtype, sizes within int32). */
  static supports(call: Omit<GemmCall, "a" | "b" | "out">): boolean {
    const { batch, m, n, k } = call;
    return GEMM_TYPES[call.dtype] !== undefined && k > 0 && m * n > 0 &&
      [batch, m, n, k].every((d) => d <= INT_MAX);
  }

  /** Queues one batched matmul on Kiln's stream (see the module notes for the mapping). */
  gemm(call: GemmCall): void {
    const t = GEMM_TYPES[call.dtype];
    if (t === undefined || !Cublas.supports(call)) {
      throw new Error(
        `cuBLAS: no gemm for ${call.dtype} (${call.m}x${call.k} @ ${call.k}x${call.n})`,
      );
    }
    this.checkAlive("cublasGemmStridedBatchedEx");
    const { batch, m, n, k } = call;
    // column-major: Cᵀ (n, m) = op(B)ᵀ (n, k) · op(A)ᵀ (k, m)
    const [alpha, beta] = t.alpha === "f32"
      ? [this.alpha32, this.beta32]
      : [this.alpha64, this.beta64];
    check(
      "cublasGemmStridedBatchedEx",
      this.lib.cublasGemmStridedBatchedEx(
        this.handle,
        call.transB ? CUBLAS_OP_T : CUBLAS_OP_N,
        call.transA ? CUBLAS_OP_T : CUBLAS_OP_N,
        n,
        m,
        k,
        alpha,
        call.b,
        t.data,
        call.transB ? k : n,
        BigInt(k * n),
        call.a,
        t.data,
        call.transA ? m : k,
        BigInt(m * k),
        beta,
        call.out,
        t.data,
        n,
        BigInt(m * n),
        batch,
        call.tf32 && call.dtype === "float32" ? CUBLAS_COMPUTE_32F_FAST_TF32 : t.compute,
        CUBLAS_GEMM_DEFAULT,
      ),
    );
  }

  /**
   * Releases the handle. This object is unusable afterwards (its calls throw instead of
   * passing a freed handle); `cublas()` opens a new one.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.lib.cublasDestroy_v2(this.handle);
    state = undefined;
  }

  private destroyed = false;

  private checkAlive(call: string): void {
    if (this.destroyed) throw new Error(`cuBLAS: ${call} on a destroyed handle`);
  }
}

/** Opens the first libcublas candidate that loads (libcublasLt from its folder first). */
function openLibrary(): { lib: Symbols; path: string } {
  if (env("KILN_CUBLAS") === "0") {
    throw new Error("cuBLAS is unavailable: turned off by KILN_CUBLAS=0");
  }
  const failures: string[] = [];
  for (const path of cublasCandidates()) {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    if (dir) {
      try {
        Deno.dlopen(`${dir}/libcublasLt${path.slice(path.indexOf(".so"))}`, {}); // kept open
      } catch {
        // not beside it: the loader may still find it
      }
    }
    try {
      return { lib: Deno.dlopen(path, SYMBOLS).symbols, path };
    } catch (error) {
      failures.push(loaderMessage(error as Error, path));
    }
  }
  throw new Error(
    `cuBLAS is unavailable: no libcublas could be opened (set KILN_CUBLAS to the library or ` +
      `its folder, or CUDA_PATH); tried ${failures.slice(0, 3).join("; ")}` +
      (failures.length > 3 ? ` and ${failures.length - 3} more` : ""),
  );
}

/** Throws an Error naming the call and its `cublasStatus_t` for a failed call. */
function check(call: string, status: number): void {
  if (status === 0) return;
  throw new Error(`cuBLAS: ${call} failed: ${STATUS[status] ?? "cublasStatus_t"} (${status})`);
}
