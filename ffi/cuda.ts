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

import {
  ATTRIBUTE,
  cString,
  type Driver,
  driverError,
  openLibrary,
  terminated,
} from "./cuda_library.ts";
import { PinnedPool } from "./cuda_pinned.ts";

export { cString, CudaError, loaderMessage } from "./cuda_library.ts";

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
      name: new TextDecoder().decode(nameBytes.subarray(0, end < 0 ? nameBytes.length : end)),
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

  /**
   * Creates a stream: ordered with the legacy default stream, or not (`nonBlocking`, as a
   * stream that captures a graph must be, so that the capture never waits on other work).
   */
  createStream(nonBlocking = false): Deno.PointerValue {
    const CU_STREAM_NON_BLOCKING = 1;
    this.check(
      "cuStreamCreate",
      this.lib.cuStreamCreate(this.out64, nonBlocking ? CU_STREAM_NON_BLOCKING : 0),
    );
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

  /** Whether the driver has the CUDA graph calls ({@linkcode beginCapture} and the rest). */
  get supportsGraphs(): boolean {
    const lib = this.lib;
    return lib.cuStreamBeginCapture_v2 !== null && lib.cuStreamEndCapture !== null &&
      lib.cuGraphInstantiateWithFlags !== null && lib.cuGraphLaunch !== null &&
      lib.cuGraphExecDestroy !== null && lib.cuGraphDestroy !== null;
  }

  /**
   * Starts capturing the work queued on `stream` (a created stream, not the legacy one) into a
   * graph: until {@linkcode endCapture}, launches on it are recorded, not run. The mode is
   * thread-local: a call on this thread that the capture cannot record (a synchronous copy, an
   * allocation) fails and invalidates the capture instead of running.
   */
  beginCapture(stream: Deno.PointerValue): void {
    const CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;
    this.check(
      "cuStreamBeginCapture_v2",
      this.lib.cuStreamBeginCapture_v2!(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
    );
  }

  /**
   * Ends the capture on `stream` and instantiates what was recorded.
   *
   * @returns the executable graph, for {@linkcode launchGraph} and {@linkcode destroyGraph}
   * @throws CudaError when the capture was invalidated or the graph cannot be instantiated
   */
  endCapture(stream: Deno.PointerValue): Deno.PointerValue {
    this.check("cuStreamEndCapture", this.lib.cuStreamEndCapture!(stream, this.out64));
    const graph = Deno.UnsafePointer.create(this.out64[0]);
    try {
      this.check(
        "cuGraphInstantiateWithFlags",
        this.lib.cuGraphInstantiateWithFlags!(this.out64, graph, 0n),
      );
    } finally {
      // the executable graph is independent of the graph it was made from
      this.lib.cuGraphDestroy!(graph);
    }
    return Deno.UnsafePointer.create(this.out64[0]);
  }

  /** Queues an executable graph on `stream` (default: the legacy stream, as kernels are). */
  launchGraph(graph: Deno.PointerValue, stream: Deno.PointerValue = null): void {
    this.check("cuGraphLaunch", this.lib.cuGraphLaunch!(graph, stream));
  }

  /** Frees an executable graph from {@linkcode endCapture} (after its queued launches). */
  destroyGraph(graph: Deno.PointerValue): void {
    this.check("cuGraphExecDestroy", this.lib.cuGraphExecDestroy!(graph));
  }

  /**
   * Copies device memory into host bytes without blocking the JS thread: the copy is queued
   * now (so it reads the buffer as it is after the work queued so far, whatever is queued
   * later), into page-locked memory, and the returned promise resolves once it has landed.
   * Falls back to the synchronous copy where the driver lacks the asynchronous calls.
   */
  async downloadAsync(destination: ArrayBufferView, source: bigint): Promise<void> {
    const bytes = destination.byteLength;
    const lib = this.lib;
    if (bytes === 0) return;
    if (
      !lib.cuMemAllocHost_v2 || !lib.cuMemFreeHost || !lib.cuMemcpyDtoHAsync_v2 ||
      !lib.cuEventCreate || !lib.cuEventRecord || !lib.cuEventQuery || !lib.cuEventDestroy_v2
    ) {
      return this.download(destination, source);
    }
    let staging: { pointer: Deno.PointerValue; size: number };
    try {
      staging = this.pinned.take(bytes);
    } catch {
      return this.download(destination, source); // no page-locked memory to spare
    }
    const CU_EVENT_DISABLE_TIMING = 2, CUDA_ERROR_NOT_READY = 600;
    let event: Deno.PointerValue = null;
    let queued = false;
    try {
      // the event first: once the copy is queued, nothing may fail before it is waited for
      this.check("cuEventCreate", lib.cuEventCreate(this.out64, CU_EVENT_DISABLE_TIMING));
      event = Deno.UnsafePointer.create(this.out64[0]);
      this.check(
        "cuMemcpyDtoHAsync_v2",
        lib.cuMemcpyDtoHAsync_v2(staging.pointer, source, BigInt(bytes), null),
      );
      queued = true;
      this.check("cuEventRecord", lib.cuEventRecord(event, null));
      // poll: briefly in a loop (a small read lands within microseconds), then between turns
      // of the event loop (a timer tick costs about a millisecond)
      const spinUntil = performance.now() + 0.2;
      for (;;) {
        const code = lib.cuEventQuery(event);
        if (code !== CUDA_ERROR_NOT_READY) {
          this.check("cuEventQuery", code);
          break;
        }
        if (performance.now() < spinUntil) continue;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      queued = false;
      new Deno.UnsafePointerView(staging.pointer!).copyInto(
        new Uint8Array(destination.buffer, destination.byteOffset, bytes),
      );
    } finally {
      if (event !== null) lib.cuEventDestroy_v2(event);
      // a copy queued but not waited for (an error after it) may still write the block
      if (queued) lib.cuCtxSynchronize();
      this.pinned.give(staging);
    }
  }

  /** Page-locked host blocks for {@linkcode downloadAsync}, kept for reuse. */
  private readonly pinned = new PinnedPool(
    (bytes) => {
      this.check("cuMemAllocHost_v2", this.lib.cuMemAllocHost_v2!(this.out64, BigInt(bytes)));
      return Deno.UnsafePointer.create(this.out64[0]);
    },
    (pointer) => this.check("cuMemFreeHost", this.lib.cuMemFreeHost!(pointer)),
  );

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
