/**
 * The CUDA driver library itself for `cuda.ts`: the symbols Kiln binds, where libcuda is
 * looked for, how it is opened, and how a failed call's `CUresult` becomes a
 * {@linkcode CudaError}.
 * @module
 */

/** cuLaunchKernel's grid x, y, z, block x, y, z and dynamic shared memory bytes. */
const LAUNCH_SIZES = ["u32", "u32", "u32", "u32", "u32", "u32", "u32"] as const;

/** The driver symbols Kiln uses (`_v2` where the header maps the name to a newer ABI). */
export const SYMBOLS = {
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
  // asynchronous read-back: a copy into page-locked host memory, then an event to poll
  cuMemAllocHost_v2: { parameters: ["buffer", "usize"], result: "i32", optional: true },
  cuMemFreeHost: { parameters: ["pointer"], result: "i32", optional: true },
  cuMemcpyDtoHAsync_v2: {
    parameters: ["pointer", "u64", "usize", "pointer"],
    result: "i32",
    optional: true,
  },
  cuEventCreate: { parameters: ["buffer", "u32"], result: "i32", optional: true },
  cuEventRecord: { parameters: ["pointer", "pointer"], result: "i32", optional: true },
  cuEventQuery: { parameters: ["pointer"], result: "i32", optional: true },
  cuEventDestroy_v2: { parameters: ["pointer"], result: "i32", optional: true },
  // CUDA graphs: a stream's work captured once, replayed with one launch
  cuStreamBeginCapture_v2: { parameters: ["pointer", "i32"], result: "i32", optional: true },
  cuStreamEndCapture: { parameters: ["pointer", "buffer"], result: "i32", optional: true },
  cuGraphInstantiateWithFlags: {
    parameters: ["buffer", "pointer", "u64"],
    result: "i32",
    optional: true,
  },
  cuGraphLaunch: { parameters: ["pointer", "pointer"], result: "i32", optional: true },
  cuGraphExecDestroy: { parameters: ["pointer"], result: "i32", optional: true },
  cuGraphDestroy: { parameters: ["pointer"], result: "i32", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound driver functions (optional ones are null when the driver lacks them). */
export type Driver = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** `CUdevice_attribute` values used here (cuda.h). */
export const ATTRIBUTE = {
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

/** Opens libcuda from the first candidate that loads. */
export function openLibrary(): { symbols: Driver; path: string } {
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

/** A NUL-terminated UTF-8 copy of `text` for a `const char*` argument. */
export function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

/** Builds the CudaError of a failed call, with the driver's name and description of `code`. */
export function driverError(lib: Driver, call: string, code: number): CudaError {
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
export function terminated(image: Uint8Array): Uint8Array {
  const elf = image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46;
  if (elf || image[image.length - 1] === 0) return image;
  const out = new Uint8Array(image.length + 1);
  out.set(image);
  return out;
}
