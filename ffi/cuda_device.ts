/**
 * The `cuda` device: tensors live in device memory ({@linkcode CudaBuffer}), moved with
 * synchronous copies (or, for `data()`, an asynchronous read-back), returned to a caching allocator by `dispose()` (a FinalizationRegistry
 * recycles forgotten buffers only as a backstop: it runs too late under memory pressure).
 *
 * Eager primitives run through an executor that the CUDA JIT installs
 * ({@linkcode setCudaExecutor}: `ffi/` may not import `jit/`); without one, eager ops on
 * `cuda` say so. Creating the device fails with the reason when CUDA is unavailable, so
 * `getDevice("cuda")` and `jit(f, { device: "cuda" })` report why instead of crashing.
 * @module
 */

import type { Device } from "../core/device.ts";
import { type DType, STORAGE, type TypedArray } from "../core/dtype.ts";
import type { Aval, Primitive } from "../core/primitive.ts";
import { type CudaDriver, cudaDriver } from "./cuda.ts";

/** A device allocation holding one tensor's elements. */
export class CudaBuffer {
  #pointer: bigint;

  constructor(
    pointer: bigint,
    /** Bytes of data. */
    readonly bytes: number,
    /** Bytes of the allocation (its size class in the caching allocator). */
    readonly capacity: number,
  ) {
    this.#pointer = pointer;
  }

  /** The device address; throws once the buffer has been disposed. */
  get pointer(): bigint {
    if (this.#pointer === 0n) throw new Error("cuda: buffer used after dispose()");
    return this.#pointer;
  }

  /** Whether {@linkcode CudaBuffer.release} has run. */
  get disposed(): boolean {
    return this.#pointer === 0n;
  }

  /** Forgets the address and returns it (0n when already released). */
  release(): bigint {
    const pointer = this.#pointer;
    this.#pointer = 0n;
    return pointer;
  }
}

/**
 * Freed device memory kept for reuse, by size class: `cuMemFree` synchronizes the device and
 * `cuMemAlloc` is slow, so buffers of a training step's recurring sizes are recycled. All work
 * runs on one stream, so a recycled block's next use is ordered after its last one. When an
 * allocation fails, the cache is emptied and the allocation tried once more.
 */
export class CachingAllocator {
  private readonly blocks = new Map<number, bigint[]>();
  /** Bytes held in the cache. */
  cachedBytes = 0;

  constructor(private readonly driver: Pick<CudaDriver, "alloc" | "free">) {}

  /** Sizes round up to 512 bytes, or to 1 MiB above 1 MiB. */
  static sizeClass(bytes: number): number {
    const b = Math.max(1, bytes);
    return b <= 1 << 20 ? Math.ceil(b / 512) * 512 : Math.ceil(b / (1 << 20)) * (1 << 20);
  }

  /**
   * A buffer of `bytes`: a cached block of its size class (one of `preferred` when any is
   * free: a jitted call's outputs ask for the blocks they had before, so the call's buffers
   * recur and its CUDA graph replays), or a new allocation.
   */
  alloc(bytes: number, preferred?: ReadonlySet<bigint>): CudaBuffer {
    const size = CachingAllocator.sizeClass(bytes);
    const list = this.blocks.get(size);
    let cached: bigint | undefined;
    if (list && preferred && preferred.size > 0) {
      // the most recently freed blocks only: a long list is not searched to its end
      for (let i = list.length - 1; i >= Math.max(0, list.length - 64); i--) {
        if (!preferred.has(list[i])) continue;
        cached = list[i];
        list.splice(i, 1);
        break;
      }
    }
    cached ??= list?.pop();
    if (cached !== undefined) {
      this.cachedBytes -= size;
      return new CudaBuffer(cached, bytes, size);
    }
    try {
      return new CudaBuffer(this.driver.alloc(size), bytes, size);
    } catch (error) {
      if (this.cachedBytes === 0) throw error;
      this.empty();
      return new CudaBuffer(this.driver.alloc(size), bytes, size);
    }
  }

  /** Keeps a block of `size` bytes (a size class) for reuse. */
  recycle(pointer: bigint, size: number): void {
    let list = this.blocks.get(size);
    if (!list) this.blocks.set(size, list = []);
    list.push(pointer);
    this.cachedBytes += size;
  }

  /** Frees every cached block. */
  empty(): void {
    for (const list of this.blocks.values()) for (const pointer of list) this.driver.free(pointer);
    this.blocks.clear();
    this.cachedBytes = 0;
  }
}

let allocator: CachingAllocator | undefined;
let backstop: FinalizationRegistry<{ pointer: bigint; size: number }> | undefined;

function cachingAllocator(driver: CudaDriver): CachingAllocator {
  if (!allocator) {
    const pool = allocator = new CachingAllocator(driver);
    backstop = new FinalizationRegistry(({ pointer, size }) => pool.recycle(pointer, size));
  }
  return allocator;
}

/**
 * Allocates a buffer of `bytes` on the device (from the cache when a block of its size class
 * is free; one of `preferred` if any is), released by `dispose()` or, failing that, when it is
 * garbage collected.
 *
 * @throws CudaError (CUDA_ERROR_OUT_OF_MEMORY, naming the size) when the device is full.
 */
export function allocateCudaBuffer(
  bytes: number,
  driver: CudaDriver = cudaDriver(),
  preferred?: ReadonlySet<bigint>,
): CudaBuffer {
  const buffer = cachingAllocator(driver).alloc(bytes, preferred);
  backstop!.register(buffer, { pointer: buffer.pointer, size: buffer.capacity }, buffer);
  return buffer;
}

/**
 * Moves `buffer`'s memory into a new buffer (a jitted call writing an output into a donated
 * input): the old one reads as disposed, so disposing the donated tensor frees nothing.
 *
 * @throws Error when `buffer` was already disposed.
 */
export function adoptCudaBuffer(buffer: CudaBuffer): CudaBuffer {
  const pointer = buffer.pointer; // throws once disposed
  backstop?.unregister(buffer);
  buffer.release();
  const adopted = new CudaBuffer(pointer, buffer.bytes, buffer.capacity);
  backstop!.register(adopted, { pointer, size: adopted.capacity }, adopted);
  return adopted;
}

/** Returns a buffer's memory to the cache now (idempotent). */
export function freeCudaBuffer(buffer: CudaBuffer, driver: CudaDriver = cudaDriver()): void {
  const pointer = buffer.release();
  if (pointer === 0n) return;
  backstop?.unregister(buffer);
  cachingAllocator(driver).recycle(pointer, buffer.capacity);
}

/** Frees the device memory the caching allocator holds (for other processes or libraries). */
export function emptyCudaCache(): void {
  allocator?.empty();
}

/** Runs one primitive on CUDA buffers (installed by the CUDA JIT). */
export type CudaExecutor = (
  prim: Primitive,
  inputs: CudaBuffer[],
  inAvals: Aval[],
  params: Record<string, unknown>,
  outAvals: Aval[],
) => CudaBuffer[];

let executor: CudaExecutor | undefined;

/** Installs how eager primitives run on `cuda` (the CUDA JIT does, when it is loaded). */
export function setCudaExecutor(run: CudaExecutor): void {
  executor = run;
}

/** The cuda device plus what tests and the JIT use. */
export interface CudaDevice extends Device {
  readonly driver: CudaDriver;
}

/**
 * Creates the cuda device on device 0.
 *
 * @throws Error saying why CUDA is unavailable (no driver library, no device, ...).
 */
export function createCudaDevice(): CudaDevice {
  const driver = cudaDriver();
  const hostArray = (buffer: unknown, dtype: DType, size: number): TypedArray => {
    const out = new STORAGE[dtype](size);
    const b = buffer as CudaBuffer;
    if (out.byteLength > b.bytes) {
      throw new Error(`cuda: reading ${size} ${dtype} elements from a ${b.bytes}-byte buffer`);
    }
    return out;
  };
  const toHost = (buffer: unknown, dtype: DType, size: number): TypedArray => {
    const out = hostArray(buffer, dtype, size);
    driver.download(out, (buffer as CudaBuffer).pointer);
    return out;
  };
  // the copy is queued at once (it sees the buffer as of now); the JS thread is free meanwhile
  const toHostAsync = async (buffer: unknown, dtype: DType, size: number) => {
    const out = hostArray(buffer, dtype, size);
    await driver.downloadAsync(out, (buffer as CudaBuffer).pointer);
    return out;
  };
  return {
    name: "cuda",
    driver,
    fromHost(data: TypedArray): CudaBuffer {
      const buffer = allocateCudaBuffer(data.byteLength, driver);
      driver.upload(buffer.pointer, data);
      return buffer;
    },
    toHost,
    toHostAsync,
    execute(prim, inputs, inAvals, params, outAvals) {
      if (!executor) {
        throw new Error(
          `cuda device: cannot run ${prim.name} eagerly (the CUDA JIT, which runs eager ops, ` +
            `is not loaded)`,
        );
      }
      return executor(prim, inputs as CudaBuffer[], inAvals, params, outAvals);
    },
    dispose: (buffer) => freeCudaBuffer(buffer as CudaBuffer, driver),
  };
}
