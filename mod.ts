/**
 * Kiln: a functional tensor library for Deno. NumPy's API (`np`), XLA's operations (`lax`),
 * and JAX-style transforms, with eager kernels compiled to native code and called through
 * Deno FFI.
 *
 * ```ts
 * import { np } from "./mod.ts";
 * const x = np.array([[1, 2, 3], [4, 5, 6]]);
 * const y = np.tanh(x.mul(2).add(1)).mul(x).sub(np.exp(x.neg()));
 * console.log(y.shape, y.dtype, y.toArray(), np.sum(y, 1).dataSync());
 * ```
 * @module
 */

import { registerDevice } from "./core/index.ts";
import { createCpuDevice } from "./ffi/cpu_device.ts";
import { registerBackend } from "./jit/index.ts";
import { cpuBackend } from "./jit/cpu/backend.ts";
import { createCudaDevice } from "./ffi/cuda_device.ts";
import { cudaBackend, installCudaEagerExecutor } from "./jit/cuda/backend.ts";

registerDevice("cpu", createCpuDevice);
registerBackend("cpu", cpuBackend);
// opens no library until first used: then either a device or "CUDA is unavailable: <reason>"
registerDevice("cuda", createCudaDevice);
registerBackend("cuda", cudaBackend);
installCudaEagerExecutor();

export * from "./core/index.ts";
export { devicePut } from "./core/transfer.ts";
export { jit, trace } from "./jit/index.ts";
export * as random from "./random/index.ts";
export * as nn from "./nn/index.ts";
export * as optim from "./optim/index.ts";
export * as data from "./data/index.ts";
export * as io from "./io/index.ts";
export type { JitOptions, JittedFunction, Lowered } from "./jit/index.ts";
