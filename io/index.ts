/**
 * Checkpoints and arrays on disk: safetensors files holding any pytree, and NumPy `.npy` files.
 *
 * ```ts
 * import { io, np } from "./mod.ts";
 * const params = { layers: [{ w: np.ones([2, 3]), b: np.zeros([3]) }], step: 10 };
 * await io.save("model.safetensors", params);
 * const p2 = await io.load("model.safetensors"); // the same structure, tensors and numbers
 * io.saveNpySync("x.npy", np.arange(6).reshape([2, 3]));
 * ```
 *
 * Every reader validates sizes before allocating, so a corrupt or truncated file gives an error
 * naming the function and the file, never a crash. Writers publish by temp file and rename.
 * @module
 */

import type { Tensor } from "../core/index.ts";
import {
  decodeImpl,
  decodeSafetensors,
  encodeImpl,
  encodeSafetensors,
  inspectSafetensors,
  MAX_HEADER_BYTES,
  type SafetensorsInfo,
  type SaveOptions,
  TREEDEF_KEY,
} from "./safetensors.ts";
import { decodeNpy, decodeNpyImpl, encodeNpy, encodeNpyImpl, MAX_NPY_HEADER_BYTES } from "./npy.ts";

export {
  decodeNpy,
  decodeSafetensors,
  encodeNpy,
  encodeSafetensors,
  inspectSafetensors,
  MAX_HEADER_BYTES,
  MAX_NPY_HEADER_BYTES,
  TREEDEF_KEY,
};
export type { SafetensorsInfo, SaveOptions };

/** A file path or `file:` URL. */
export type PathLike = string | URL;

/** Anything `np.array` accepts, for the `.npy` writers. */
export type NpyInput = Tensor | number | boolean | unknown[];

/** Writes a file by a temp file and a rename, so readers never see half a file. */
async function writeAtomic(path: string | URL, bytes: Uint8Array): Promise<void> {
  const tmp = `${path instanceof URL ? path.pathname : path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Synchronous {@link writeAtomic}. */
function writeAtomicSync(path: string | URL, bytes: Uint8Array): void {
  const tmp = `${path instanceof URL ? path.pathname : path}.tmp-${crypto.randomUUID()}`;
  try {
    Deno.writeFileSync(tmp, bytes);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not there */ }
    throw e;
  }
}

function where(op: string, path: PathLike): string {
  return `${op}: ${path instanceof URL ? path.href : path}`;
}

function ioError(ctx: string, e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.startsWith(ctx) ? e as Error : new Error(`${ctx}: ${msg}`, { cause: e });
}

/**
 * Saves a pytree of tensors (and JS numbers) as a safetensors file. Leaves are named by key
 * path (`layers.0.w`); the structure is kept in the metadata so {@link load} rebuilds it.
 */
export async function save(
  path: PathLike,
  pytree: unknown,
  options: SaveOptions = {},
): Promise<void> {
  const ctx = where("io.save", path);
  const bytes = encodeImpl(pytree, options, ctx);
  await writeAtomic(path, bytes).catch((e) => {
    throw ioError(ctx, e);
  });
}

/** Synchronous {@link save}. */
export function saveSync(path: PathLike, pytree: unknown, options: SaveOptions = {}): void {
  const ctx = where("io.saveSync", path);
  const bytes = encodeImpl(pytree, options, ctx);
  try {
    writeAtomicSync(path, bytes);
  } catch (e) {
    throw ioError(ctx, e);
  }
}

/**
 * Loads a safetensors file: the pytree {@link save} wrote, or for a file from another tool a
 * flat object of name → tensor. F16 and BF16 tensors load as float16 and bfloat16, bit for bit.
 */
export async function load<T = unknown>(path: PathLike): Promise<T> {
  const ctx = where("io.load", path);
  const bytes = await Deno.readFile(path).catch((e) => {
    throw ioError(ctx, e);
  });
  return decodeImpl(bytes, ctx) as T;
}

/** Synchronous {@link load}. */
export function loadSync<T = unknown>(path: PathLike): T {
  const ctx = where("io.loadSync", path);
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw ioError(ctx, e);
  }
  return decodeImpl(bytes, ctx) as T;
}

/** Saves one array as a NumPy `.npy` file (little-endian, C order). */
export async function saveNpy(path: PathLike, x: NpyInput): Promise<void> {
  const ctx = where("io.saveNpy", path);
  const bytes = encodeNpyImpl(x, ctx);
  await writeAtomic(path, bytes).catch((e) => {
    throw ioError(ctx, e);
  });
}

/** Synchronous {@link saveNpy}. */
export function saveNpySync(path: PathLike, x: NpyInput): void {
  const ctx = where("io.saveNpySync", path);
  const bytes = encodeNpyImpl(x, ctx);
  try {
    writeAtomicSync(path, bytes);
  } catch (e) {
    throw ioError(ctx, e);
  }
}

/** Loads a NumPy `.npy` file as a tensor (see `decodeNpy` for the dtypes read). */
export async function loadNpy(path: PathLike): Promise<Tensor> {
  const ctx = where("io.loadNpy", path);
  const bytes = await Deno.readFile(path).catch((e) => {
    throw ioError(ctx, e);
  });
  return decodeNpyImpl(bytes, ctx);
}

/** Synchronous {@link loadNpy}. */
export function loadNpySync(path: PathLike): Tensor {
  const ctx = where("io.loadNpySync", path);
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw ioError(ctx, e);
  }
  return decodeNpyImpl(bytes, ctx);
}
