/**
 * The CUDA driver API through Deno FFI: libcuda is found and opened at run time (never at
 * import), the device's primary context is retained and made current on the JS thread, and
 * every call's `CUresult` is checked and turned into a {@linkcode CudaError} naming the call and
 * the result (`cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory`).
 *
 * Device pointers are 64-bit integers passed as BigInt. All symbols are synchronous: a context
 * is current per thread, and a `nonblocking` call would run on another thread.
 *
 * {@linkcode cudaStatus} answers whether CUDA can be used here and, if not, why; it never throws
 * and never crashes the process (no library, no driver, no device, no `--allow-ffi`).
 *
 * @module
 */

/** cuLaunchKernel's grid x, y, z, block x, y, z and dynamic shared memory bytes. */
const LAUNCH_SIZES = ["u32", "u32", "u32", "u32", "u32", "u32", "u32"] as const;

/** The driver symbols Kiln uses (`_v2` where the header maps the name to a newer ABI). */
const SYMBOLS = {
  cuInit: { parameters: ["u32"], result: "i32" },
  cuDriverGetVersion: { parameters: ["buffer"], result: "i32" },
  cuGetErrorName: { parameters: ["i32", "buffer"], result: "i32" },
  cuGetErrorString: { parameters: ["i32", "buffer"], result: "i32" },
  cuDeviceGetCount: { parameters: ["buffer"], result: "i32" },
  cuDeviceGet: { parameters: ["buffer", "i32"], result: "i32" },
  cuDeviceGetName: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  cuDeviceGetAttribute: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  cuDeviceTotalMem_v2: { parameters: ["buffer", "i32"], result: "i32" },
  cuDevicePrimaryCtxRetain: { parameters: ["buffer", "i32"], result: "i32" },
  cuDevicePrimaryCtxRelease_v2: { parameters: ["i32"], result: "i32" },
  cuCtxPushCurrent_v2: { parameters: ["pointer"], result: "i32" },
  cuCtxPopCurrent_v2: { parameters: ["buffer"], result: "i32" },
  cuCtxSynchronize: { parameters: [], result: "i32" },
  cuMemGetInfo_v2: { parameters: ["buffer", "buffer"], result: "i32" },
  cuMemAlloc_v2: { parameters: ["buffer", "usize"], result: "i32" },
  cuMemFree_v2: { parameters: ["u64"], result: "i32" },
  cuMemcpyHtoD_v2: { parameters: ["u64", "buffer", "usize"], result: "i32" },
  cuMemcpyDtoH_v2: { parameters: ["buffer", "u64", "usize"], result: "i32" },
  cuMemcpyDtoD_v2: { parameters: ["u64", "u64", "usize"], result: "i32" },
  cuMemsetD8_v2: { parameters: ["u64", "u8", "usize"], result: "i32" },
  cuModuleLoadData: { parameters: ["buffer", "buffer"], result: "i32" },
  cuModuleUnload: { parameters: ["pointer"], result: "i32" },
  cuModuleGetFunction: { parameters: ["buffer", "pointer", "buffer"], result: "i32" },
  // f, grid x y z, block x y z, dynamic shared bytes, stream, void** kernelParams, void** extra
  cuLaunchKernel: {
    parameters: ["pointer", ...LAUNCH_SIZES, "pointer", "buffer", "pointer"],
    result: "i32",
  },
  cuStreamCreate: { parameters: ["buffer", "u32"], result: "i32" },
  cuStreamDestroy_v2: { parameters: ["pointer"], result: "i32" },
  cuStreamSynchronize: { parameters: ["pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type Driver = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** `CUdevice_attribute` values used here (cuda.h). */
const ATTRIBUTE = {
  maxThreadsPerBlock: 1,
  multiprocessorCount: 16,
  computeCapabilityMajor: 75,
  computeCapabilityMinor: 76,
} as const;

/** A failed driver call: which call, its `CUresult` code and name. */
export class CudaError extends Error {
  constructor(
    /** The driver function, e.g. `cuMemAlloc_v2`. */
    readonly call: string,
    /** The `CUresult` code. */
    readonly code: number,
    /** The result's name, e.g. `CUDA_ERROR_OUT_OF_MEMORY`. */
    readonly resultName: string,
    description: string,
  ) {
    super(`CUDA: ${call} failed: ${resultName} (${code})${description ? `: ${description}` : ""}`);
    this.name = "CudaError";
  }
}

/** Whether CUDA can be used in this process, and if not, why. */
export interface CudaStatus {
  available: boolean;
  /** Why not, or a one-line description of the device when available. */
  reason: string;
}

/** What Kiln knows about the device it uses (ordinal 0). */
export interface CudaDeviceInfo {
  ordinal: number;
  name: string;
  /** Compute capability, e.g. `[9, 0]` for an H100. */
  computeCapability: [number, number];
  multiprocessors: number;
  maxThreadsPerBlock: number;
  totalMemoryBytes: number;
  /** The driver's CUDA version as `major * 1000 + minor * 10` (12020 is 12.2). */
  driverVersion: number;
  /** The path libcuda was opened from. */
  libraryPath: string;
}

/** A loaded module (a cubin or PTX image) and its kernels. */
export interface CudaModule {
  /** The kernel named `name` (an `extern "C"` function); throws a CudaError if missing. */
  getFunction(name: string): Deno.PointerValue;
  /** Unloads the module; its functions must not be launched afterwards. */
  unload(): void;
}

/** Reads an environment variable; undefined when unset or without --allow-env. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The libcuda candidates, in order: `$KILN_LIBCUDA`, the loader's search (`libcuda.so.1`, as
 * installed by the driver), then the places drivers and containers put it.
 */
function libraryCandidates(): string[] {
  const explicit = env("KILN_LIBCUDA");
  if (explicit) return [explicit];
  return [
    "libcuda.so.1",
    "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
    "/usr/lib64/libcuda.so.1",
    "/usr/local/nvidia/lib64/libcuda.so.1",
    "/usr/lib/wsl/lib/libcuda.so.1",
    "/usr/lib/aarch64-linux-gnu/libcuda.so.1",
  ];
}

/** The driver after a successful start, or the reason it cannot start (both cached). */
let state: { driver: CudaDriver } | { error: Error } | undefined;

/**
 * Whether CUDA is usable: libcuda opens, `cuInit` succeeds, a device exists and its primary
 * context can be made current. Never throws; the first call does the work, later calls
 * return the cached answer.
 */
export function cudaStatus(): CudaStatus {
  try {
    const driver = cudaDriver();
    const { name, computeCapability: [major, minor], totalMemoryBytes } = driver.info;
    return {
      available: true,
      reason: `${name} (compute capability ${major}.${minor}, ${
        (totalMemoryBytes / 2 ** 30).toFixed(1)
      } GiB)`,
    };
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}

/**
 * The CUDA driver on device 0, started on first use.
 *
 * @throws Error saying why CUDA is unavailable (the same message every time).
 */
export function cudaDriver(): CudaDriver {
  if (state === undefined) {
    try {
      state = { driver: CudaDriver.start() };
    } catch (error) {
      state = { error: error as Error };
    }
  }
  if ("error" in state) throw state.error;
  return state.driver;
}

/** Opens libcuda from the first candidate that loads. */
function openLibrary(): { symbols: Driver; path: string } {
  let permission: Deno.PermissionState = "granted";
  try {
    permission = Deno.permissions.querySync({ name: "ffi" }).state;
  } catch {
    // Permissions API unavailable: let dlopen say what is wrong.
  }
  if (permission !== "granted") {
    throw new Error("CUDA is unavailable: Kiln needs --allow-ffi to open libcuda");
  }
  const failures: string[] = [];
  for (const path of libraryCandidates()) {
    try {
      return { symbols: Deno.dlopen(path, SYMBOLS).symbols, path };
    } catch (error) {
      failures.push(loaderMessage(error as Error, path));
    }
  }
  throw new Error(
    `CUDA is unavailable: no NVIDIA driver library (libcuda.so.1) could be opened ` +
      `(set KILN_LIBCUDA to its path); tried ${failures.slice(0, 2).join("; ")}` +
      (failures.length > 2 ? ` and ${failures.length - 2} more` : ""),
  );
}

const decoder = new TextDecoder();

/** A NUL-terminated UTF-8 copy of `text` for a `const char*` argument. */
export function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

/** The driver: device 0's primary context, memory, modules and launches. */
export class CudaDriver {
  /** The device this driver runs on. */
  readonly info: CudaDeviceInfo;
  private readonly out64 = new BigUint64Array(1);

  private constructor(
    private readonly lib: Driver,
    private readonly context: Deno.PointerValue,
    info: CudaDeviceInfo,
  ) {
    this.info = info;
  }

  /** Opens libcuda, initializes it, retains device 0's primary context and makes it current. */
  static start(): CudaDriver {
    const { symbols: lib, path } = openLibrary();
    const int = new Int32Array(1);
    const fail = (call: string, code: number) => {
      const error = driverError(lib, call, code);
      return new Error(`CUDA is unavailable: ${error.message.replace(/^CUDA: /, "")}`, {
        cause: error,
      });
    };
    let code = lib.cuInit(0);
    if (code !== 0) throw fail("cuInit", code);
    code = lib.cuDriverGetVersion(int);
    if (code !== 0) throw fail("cuDriverGetVersion", code);
    const driverVersion = int[0];
    code = lib.cuDeviceGetCount(int);
    if (code !== 0) throw fail("cuDeviceGetCount", code);
    if (int[0] < 1) throw new Error("CUDA is unavailable: the driver reports no CUDA device");
    code = lib.cuDeviceGet(int, 0);
    if (code !== 0) throw fail("cuDeviceGet", code);
    const device = int[0];
    const attribute = (which: number, call: string) => {
      const c = lib.cuDeviceGetAttribute(int, which, device);
      if (c !== 0) throw fail(`cuDeviceGetAttribute(${call})`, c);
      return int[0];
    };
    const nameBytes = new Uint8Array(256);
    code = lib.cuDeviceGetName(nameBytes, nameBytes.length, device);
    if (code !== 0) throw fail("cuDeviceGetName", code);
    const end = nameBytes.indexOf(0);
    const total = new BigUint64Array(1);
    code = lib.cuDeviceTotalMem_v2(total, device);
    if (code !== 0) throw fail("cuDeviceTotalMem_v2", code);
    const info: CudaDeviceInfo = {
      ordinal: 0,
      name: decoder.decode(nameBytes.subarray(0, end < 0 ? nameBytes.length : end)),
      computeCapability: [
        attribute(ATTRIBUTE.computeCapabilityMajor, "COMPUTE_CAPABILITY_MAJOR"),
        attribute(ATTRIBUTE.computeCapabilityMinor, "COMPUTE_CAPABILITY_MINOR"),
      ],
      multiprocessors: attribute(ATTRIBUTE.multiprocessorCount, "MULTIPROCESSOR_COUNT"),
      maxThreadsPerBlock: attribute(ATTRIBUTE.maxThreadsPerBlock, "MAX_THREADS_PER_BLOCK"),
      totalMemoryBytes: Number(total[0]),
      driverVersion,
      libraryPath: path,
    };
    const handle = new BigUint64Array(1);
    code = lib.cuDevicePrimaryCtxRetain(handle, device);
    if (code !== 0) throw fail("cuDevicePrimaryCtxRetain", code);
    const context = Deno.UnsafePointer.create(handle[0]);
    code = lib.cuCtxPushCurrent_v2(context);
    if (code !== 0) {
      lib.cuDevicePrimaryCtxRelease_v2(device);
      throw fail("cuCtxPushCurrent_v2", code);
    }
    return new CudaDriver(lib, context, info);
  }

  /** Throws a CudaError for a non-zero result of `call`. */
  private check(call: string, code: number): void {
    if (code !== 0) throw driverError(this.lib, call, code);
  }

  /** Free and total device memory in bytes. */
  memoryInfo(): { free: number; total: number } {
    const free = new BigUint64Array(1), total = new BigUint64Array(1);
    this.check("cuMemGetInfo_v2", this.lib.cuMemGetInfo_v2(free, total));
    return { free: Number(free[0]), total: Number(total[0]) };
  }

  /**
   * Allocates `bytes` of device memory (at least 1 byte, so every buffer has an address).
   *
   * @throws CudaError naming the size on out-of-memory.
   */
  alloc(bytes: number): bigint {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`CUDA: cannot allocate ${bytes} bytes`);
    }
    const code = this.lib.cuMemAlloc_v2(this.out64, BigInt(Math.max(1, bytes)));
    if (code !== 0) {
      const error = driverError(this.lib, "cuMemAlloc_v2", code);
      error.message += ` (asked for ${bytes} bytes)`;
      throw error;
    }
    return this.out64[0];
  }

  /** Frees device memory from {@linkcode alloc}. */
  free(pointer: bigint): void {
    this.check("cuMemFree_v2", this.lib.cuMemFree_v2(pointer));
  }

  /** Copies host bytes to device memory (synchronous). */
  upload(destination: bigint, source: ArrayBufferView): void {
    if (source.byteLength === 0) return;
    const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    this.check(
      "cuMemcpyHtoD_v2",
      this.lib.cuMemcpyHtoD_v2(destination, bytes, BigInt(bytes.byteLength)),
    );
  }

  /** Copies device memory into host bytes (synchronous: waits for queued work first). */
  download(destination: ArrayBufferView, source: bigint): void {
    if (destination.byteLength === 0) return;
    const bytes = new Uint8Array(
      destination.buffer,
      destination.byteOffset,
      destination.byteLength,
    );
    this.check(
      "cuMemcpyDtoH_v2",
      this.lib.cuMemcpyDtoH_v2(bytes, source, BigInt(bytes.byteLength)),
    );
  }

  /** Copies `bytes` between device buffers (ordered after queued work). */
  copy(destination: bigint, source: bigint, bytes: number): void {
    if (bytes === 0) return;
    this.check("cuMemcpyDtoD_v2", this.lib.cuMemcpyDtoD_v2(destination, source, BigInt(bytes)));
  }

  /** Sets `bytes` of device memory to `value`. */
  fill(destination: bigint, value: number, bytes: number): void {
    if (bytes === 0) return;
    this.check("cuMemsetD8_v2", this.lib.cuMemsetD8_v2(destination, value, BigInt(bytes)));
  }

  /** Loads a cubin or NUL-terminated PTX image into the context. */
  loadModule(image: Uint8Array): CudaModule {
    const handle = new BigUint64Array(1);
    this.check("cuModuleLoadData", this.lib.cuModuleLoadData(handle, terminated(image)));
    const module = Deno.UnsafePointer.create(handle[0]);
    const lib = this.lib;
    let loaded = true;
    return {
      getFunction: (name: string) => {
        if (!loaded) throw new Error(`CUDA: module already unloaded (looking for ${name})`);
        const fn = new BigUint64Array(1);
        const code = lib.cuModuleGetFunction(fn, module, cString(name));
        if (code !== 0) {
          const error = driverError(lib, "cuModuleGetFunction", code);
          error.message += ` (kernel ${JSON.stringify(name)})`;
          throw error;
        }
        return Deno.UnsafePointer.create(fn[0]);
      },
      unload: () => {
        if (!loaded) return;
        loaded = false;
        this.check("cuModuleUnload", lib.cuModuleUnload(module));
      },
    };
  }

  /**
   * Launches `kernel` on `grid` blocks of `block` threads. Every kernel argument is a 64-bit
   * value (a device pointer or an int64), given in `args` in order.
   */
  launch(
    kernel: Deno.PointerValue,
    grid: readonly [number, number, number],
    block: readonly [number, number, number],
    args: KernelArguments,
    sharedBytes = 0,
    stream: Deno.PointerValue = null,
  ): void {
    this.check(
      "cuLaunchKernel",
      this.lib.cuLaunchKernel(
        kernel,
        grid[0],
        grid[1],
        grid[2],
        block[0],
        block[1],
        block[2],
        sharedBytes,
        stream,
        args.pointers,
        null,
      ),
    );
  }

  /** Waits for all work queued in the context. */
  synchronize(): void {
    this.check("cuCtxSynchronize", this.lib.cuCtxSynchronize());
  }

  /** Creates a stream (flags 0: ordered with the legacy default stream). */
  createStream(): Deno.PointerValue {
    this.check("cuStreamCreate", this.lib.cuStreamCreate(this.out64, 0));
    return Deno.UnsafePointer.create(this.out64[0]);
  }

  /** Waits for the work queued on `stream`. */
  synchronizeStream(stream: Deno.PointerValue): void {
    this.check("cuStreamSynchronize", this.lib.cuStreamSynchronize(stream));
  }

  /** Destroys a stream from {@linkcode createStream}. */
  destroyStream(stream: Deno.PointerValue): void {
    this.check("cuStreamDestroy_v2", this.lib.cuStreamDestroy_v2(stream));
  }

  /** The device's context handle (for diagnostics). */
  get contextHandle(): Deno.PointerValue {
    return this.context;
  }
}

/**
 * The `kernelParams` array of a launch: one pointer per kernel argument, each to the bytes of
 * that argument. Every argument is a whole number of 64-bit words (a pointer, an int64, or a
 * struct of pointers passed by value); the words live in one array, written in place before
 * each launch, so a launch allocates nothing. The driver copies the bytes when the launch is
 * queued, so the words may change right after.
 */
export class KernelArguments {
  /** The arguments' 64-bit words, in order. */
  readonly words: BigUint64Array;
  /** `void* kernelParams[]`: the address of each argument's first word. */
  readonly pointers: BigUint64Array;

  /** `wordsPerArgument[i]`: the size of argument i in 64-bit words (1 for a pointer). */
  constructor(wordsPerArgument: readonly number[]) {
    const total = wordsPerArgument.reduce((a, b) => a + b, 0);
    this.words = new BigUint64Array(Math.max(1, total));
    this.pointers = new BigUint64Array(Math.max(1, wordsPerArgument.length));
    const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.words)));
    let offset = 0;
    wordsPerArgument.forEach((n, i) => {
      this.pointers[i] = base + BigInt(8 * offset);
      offset += n;
    });
  }
}

/** Builds the CudaError of a failed call, with the driver's name and description of `code`. */
function driverError(lib: Driver, call: string, code: number): CudaError {
  const text = (fn: "cuGetErrorName" | "cuGetErrorString"): string => {
    try {
      const out = new BigUint64Array(1);
      if (lib[fn](code, out) !== 0 || out[0] === 0n) return "";
      const pointer = Deno.UnsafePointer.create(out[0]);
      return pointer === null ? "" : Deno.UnsafePointerView.getCString(pointer);
    } catch {
      return "";
    }
  };
  return new CudaError(
    call,
    code,
    text("cuGetErrorName") || `CUresult ${code}`,
    text("cuGetErrorString"),
  );
}

/** The loader's own words from a failed dlopen of `path`, without Deno's repeated prefix. */
export function loaderMessage(error: Error, path: string): string {
  const message = error.message.split("\n")[0].replace(/^(Could not open library: )+/, "");
  return message.startsWith(path) ? message : `${path}: ${message}`;
}

/** The image, NUL-terminated unless it is a cubin (ELF): the driver reads PTX as a C string. */
function terminated(image: Uint8Array): Uint8Array {
  const elf = image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46;
  if (elf || image[image.length - 1] === 0) return image;
  const out = new Uint8Array(image.length + 1);
  out.set(image);
  return out;
}
