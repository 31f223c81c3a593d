/**
 * safetensors checkpoints of any pytree. The file is an 8-byte little-endian header length N,
 * N bytes of JSON header (`{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {..}}`),
 * then the tensors' bytes (little-endian, row-major), contiguous and covering the data section.
 *
 * Leaves are named by their key path joined with "." (`layers.0.w`); the pytree's structure is
 * stored as JSON under the metadata key `kiln.treedef`, so {@link decodeSafetensors} rebuilds the
 * exact tree (arrays vs objects, key order, `null`/`undefined`, JS-number leaves). A file from
 * another tool (no `kiln.treedef`) decodes to a flat object of name → tensor.
 *
 * Every size in a file is validated (zod for the header's shape, then offsets against the file
 * size and shape × itemsize) before anything is allocated, so a malformed, truncated or hostile
 * file gives an error naming the function and the tensor, never a crash or a huge allocation.
 * @module
 */

import { z } from "npm:zod@4";
import { type DType, Tensor, tree } from "../core/index.ts";
import { ITEMSIZE as DTYPE_ITEMSIZE, STORAGE } from "../core/dtype.ts";
import { fromHostData } from "../core/trace.ts";

// ---- shared helpers (also used by npy.ts) ---------------------------------------------------

/** @internal Little-endian hosts only: tensor bytes are copied as they are. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** @internal Bytes per element of each Kiln dtype. */
export const ITEMSIZE: Record<DType, number> = DTYPE_ITEMSIZE;

/** @internal Formats zod issues as `path: message; ...`. */
export function fmtZod(err: z.ZodError, root = ""): string {
  return err.issues.map((i) => {
    const p = [root, ...i.path.map(String)].filter((s) => s !== "").join(".");
    return p ? `${p}: ${i.message}` : i.message;
  }).join("; ");
}

/** @internal Number of elements of a validated shape, or an error message when not a safe int. */
export function safeSize(shape: readonly number[]): number | null {
  if (shape.some((d) => d === 0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return null;
  }
  return n;
}

/**
 * @internal Makes a tensor of `dtype` and `shape` from `size` elements of little-endian bytes,
 * bit for bit (float16 and bfloat16 included; `bool` bytes are normalized to 0/1). `swap`
 * byte-swaps big-endian data.
 */
export function tensorFromBytes(
  bytes: Uint8Array,
  dtype: DType,
  shape: number[],
  size: number,
  swap = false,
): Tensor {
  if (!HOST_LITTLE_ENDIAN) throw new Error("io: big-endian hosts are not supported");
  const item = ITEMSIZE[dtype];
  const raw = new Uint8Array(size * item);
  raw.set(bytes.subarray(0, size * item));
  if (swap && item > 1) {
    for (let i = 0; i < raw.length; i += item) raw.subarray(i, i + item).reverse();
  }
  if (dtype === "bool") { for (let i = 0; i < size; i++) raw[i] = raw[i] ? 1 : 0; }
  const storage = dtype === "bool" ? raw : new STORAGE[dtype](raw.buffer);
  return fromHostData(storage, [...shape], dtype);
}

/** @internal The little-endian bytes of a concrete tensor (a copy from the device). */
export function tensorBytes(t: Tensor, op: string, what: string): Uint8Array {
  if (!(t instanceof Tensor) || !t.isConcrete) {
    throw new TypeError(`${op}: ${what} is a tracer (no concrete value); save outside transforms`);
  }
  if (!HOST_LITTLE_ENDIAN) throw new Error(`${op}: big-endian hosts are not supported`);
  const d = t.storageSync(); // bfloat16 as its bits: files keep them exactly
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** @internal Runs `fn`, prefixing any error that does not already name `ctx`. */
export function withContext<T>(ctx: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg.startsWith(ctx)) throw e;
    throw new Error(`${ctx}: ${msg}`, { cause: e });
  }
}

// ---- safetensors ----------------------------------------------------------------------------

/** Largest header accepted (100 MB, as the reference implementation). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Metadata key holding the pytree structure. */
export const TREEDEF_KEY = "kiln.treedef";

// deno-fmt-ignore
const ST_ITEMSIZE = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
} as const;
type StDType = keyof typeof ST_ITEMSIZE;
const ST_DTYPES = Object.keys(ST_ITEMSIZE) as [StDType, ...StDType[]];

const READABLE: Partial<Record<StDType, [DType, number]>> = {
  BOOL: ["bool", 1],
  F16: ["float16", 2],
  BF16: ["bfloat16", 2],
  I32: ["int32", 4],
  U32: ["uint32", 4],
  F32: ["float32", 4],
  F64: ["float64", 8],
};
const ST_OF: Record<DType, StDType> = {
  float16: "F16",
  bfloat16: "BF16",
  bool: "BOOL",
  int32: "I32",
  uint32: "U32",
  float32: "F32",
  float64: "F64",
};

const dim = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const TensorInfo = z.object({
  dtype: z.enum(ST_DTYPES),
  shape: z.array(dim),
  data_offsets: z.tuple([dim, dim]),
});
const Header = z.record(z.string(), z.unknown());
const Metadata = z.record(z.string(), z.string());

/** The structure stored under `kiln.treedef`. */
type StoredDef =
  | { kind: "leaf" }
  | { kind: "none"; value?: null }
  | { kind: "array"; children: StoredDef[] }
  | { kind: "object"; keys: string[]; children: StoredDef[] };
const StoredDefSchema: z.ZodType<StoredDef> = z.lazy(() =>
  z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("leaf") }),
    z.object({ kind: z.literal("none"), value: z.null().optional() }),
    z.object({ kind: z.literal("array"), children: z.array(StoredDefSchema) }),
    z.object({
      kind: z.literal("object"),
      keys: z.array(z.string()),
      children: z.array(StoredDefSchema),
    }),
  ])
);
const TreeMeta = z.object({
  version: z.literal(1),
  def: z.unknown(),
  leaves: z.array(z.object({ name: z.string(), number: z.boolean().optional() })),
});
const MAX_TREE_DEPTH = 1000;

/** Options of {@link encodeSafetensors} and `io.save`. */
export interface SaveOptions {
  /** Extra string → string metadata written to `__metadata__` (`kiln.treedef` is reserved). */
  metadata?: Record<string, string>;
}
const SaveOptionsSchema = z.object({ metadata: Metadata.optional() }).strict();

/** What {@link inspectSafetensors} reports about a file without reading its tensors. */
export interface SafetensorsInfo {
  /** Each tensor's safetensors dtype, shape and byte range within the data section. */
  tensors: Record<string, { dtype: string; shape: number[]; dataOffsets: [number, number] }>;
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
}

/** Names each leaf of `def` by its key path joined with ".". */
function leafPaths(def: tree.TreeDef): string[] {
  const out: string[] = [];
  const walk = (d: tree.TreeDef, path: string[]): void => {
    if (d.kind === "leaf") out.push(path.length ? path.join(".") : "tensor");
    else if (d.kind === "array") d.children.forEach((c, i) => walk(c, [...path, String(i)]));
    else if (d.kind === "object") d.children.forEach((c, i) => walk(c, [...path, d.keys[i]]));
  };
  walk(def, []);
  return out;
}

/**
 * Encodes a pytree of tensors (and JS numbers, stored as float64 scalars) as safetensors bytes.
 * Leaves are named by key path (`layers.0.w`); the structure goes to `__metadata__`.
 */
export function encodeSafetensors(pytree: unknown, options: SaveOptions = {}): Uint8Array {
  return encodeImpl(pytree, options, "io.encodeSafetensors");
}

/** @internal {@link encodeSafetensors} naming `op` in errors. */
export function encodeImpl(pytree: unknown, options: SaveOptions, op: string): Uint8Array {
  const opts = SaveOptionsSchema.safeParse(options ?? {});
  if (!opts.success) throw new TypeError(`${op}: options: ${fmtZod(opts.error)}`);
  const userMeta = opts.data.metadata ?? {};
  if (TREEDEF_KEY in userMeta) {
    throw new TypeError(`${op}: metadata key "${TREEDEF_KEY}" is reserved for the tree structure`);
  }
  const [leaves, def] = withContext(op, () => tree.flatten(pytree));
  const names = leafPaths(def);
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    if (n === "__metadata__") throw new Error(`${op}: a leaf may not be named "__metadata__"`);
    if (seen.has(n)) {
      throw new Error(
        `${op}: leaves ${seen.get(n)} and ${i} both have the key path "${n}"; rename a key`,
      );
    }
    seen.set(n, i);
  });
  const chunks = leaves.map((leaf, i) =>
    typeof leaf === "number"
      ? {
        dtype: "F64" as StDType,
        shape: [] as number[],
        bytes: new Uint8Array(new Float64Array([leaf]).buffer),
      }
      : {
        dtype: ST_OF[leaf.dtype],
        shape: leaf.shape,
        bytes: tensorBytes(leaf, op, `leaf "${names[i]}"`),
      }
  );
  const meta = {
    ...userMeta,
    [TREEDEF_KEY]: JSON.stringify({
      version: 1,
      def,
      leaves: names.map((name, i) =>
        typeof leaves[i] === "number" ? { name, number: true } : { name }
      ),
    }),
  };
  const entries = [`${JSON.stringify("__metadata__")}:${JSON.stringify(meta)}`];
  let offset = 0;
  chunks.forEach((c, i) => {
    const info = {
      dtype: c.dtype,
      shape: c.shape,
      data_offsets: [offset, offset + c.bytes.length],
    };
    entries.push(`${JSON.stringify(names[i])}:${JSON.stringify(info)}`);
    offset += c.bytes.length;
  });
  let header = new TextEncoder().encode(`{${entries.join(",")}}`);
  const pad = (8 - (header.length % 8)) % 8; // align the data section to 8 bytes
  if (pad) {
    const padded = new Uint8Array(header.length + pad).fill(0x20);
    padded.set(header);
    header = padded;
  }
  const out = new Uint8Array(8 + header.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let pos = 8 + header.length;
  for (const c of chunks) {
    out.set(c.bytes, pos);
    pos += c.bytes.length;
  }
  return out;
}

interface Parsed {
  tensors: { name: string; dtype: StDType; shape: number[]; begin: number; end: number }[];
  metadata: Record<string, string> | null;
  dataStart: number;
}

/** Parses and validates the header of a safetensors file; `ctx` prefixes every error. */
function parseHeader(bytes: Uint8Array, ctx: string): Parsed {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${ctx}: expected a Uint8Array`);
  if (bytes.length < 8) {
    throw new Error(`${ctx}: file is ${bytes.length} bytes, too short for a safetensors header`);
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(`${ctx}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLen = Number(n);
  if (headerLen > bytes.length - 8) {
    throw new Error(
      `${ctx}: header length ${headerLen} exceeds the ${
        bytes.length - 8
      } bytes after it (truncated?)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw new Error(`${ctx}: header is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${ctx}: header is not valid JSON (${(e as Error).message})`);
  }
  const header = Header.safeParse(json);
  if (!header.success || Array.isArray(json)) {
    throw new Error(`${ctx}: header must be a JSON object of tensor entries`);
  }
  const dataStart = 8 + headerLen, dataLen = bytes.length - dataStart;
  let metadata: Record<string, string> | null = null;
  const tensors: Parsed["tensors"] = [];
  // entries of the parsed JSON itself: a copy through zod would turn a "__proto__" key into a
  // prototype
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      const m = Metadata.safeParse(value);
      if (!m.success) throw new Error(`${ctx}: __metadata__ must map strings to strings`);
      metadata = m.data;
      continue;
    }
    const info = TensorInfo.safeParse(value);
    if (!info.success) {
      throw new Error(`${ctx}: tensor ${JSON.stringify(name)}: ${fmtZod(info.error)}`);
    }
    const { dtype, shape, data_offsets: [begin, end] } = info.data;
    const where = `${ctx}: tensor ${JSON.stringify(name)} has data_offsets [${begin}, ${end}]`;
    if (end < begin) throw new Error(`${where}, which end before they begin`);
    if (end > dataLen) {
      throw new Error(`${where} beyond the ${dataLen}-byte data section (truncated?)`);
    }
    const size = safeSize(shape);
    const readable = READABLE[dtype];
    const item = ST_ITEMSIZE[dtype];
    if (size === null || size * item !== end - begin) {
      const dt = readable ? readable[0] : dtype;
      const need = size === null ? "more than 2^53" : String(size * item);
      throw new Error(`${where} but shape [${shape.join(", ")}] ${dt} needs ${need} bytes`);
    }
    tensors.push({ name, dtype, shape, begin, end });
  }
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i];
    if (t.begin < pos) {
      throw new Error(
        `${ctx}: tensors ${JSON.stringify(sorted[i - 1].name)} and ${JSON.stringify(t.name)} ` +
          `overlap (bytes [${sorted[i - 1].begin}, ${
            sorted[i - 1].end
          }] and [${t.begin}, ${t.end}])`,
      );
    }
    if (t.begin > pos) {
      throw new Error(
        `${ctx}: ${t.begin - pos} unused bytes before tensor ${
          JSON.stringify(t.name)
        } (data must be contiguous)`,
      );
    }
    pos = t.end;
  }
  if (pos !== dataLen) {
    throw new Error(`${ctx}: the tensors cover ${pos} bytes but the data section has ${dataLen}`);
  }
  return { tensors, metadata, dataStart };
}

/** Depth of nested arrays/objects in a JSON value, without recursion. */
function jsonDepthExceeds(v: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (d > max) return true;
    if (typeof x === "object" && x !== null) {
      for (const c of Object.values(x)) stack.push([c, d + 1]);
    }
  }
  return false;
}

/** Rebuilds the stored tree from `def` and the named leaves. */
function rebuild(def: StoredDef, leaves: unknown[], ctx: string): unknown {
  let pos = 0;
  const build = (d: StoredDef): unknown => {
    switch (d.kind) {
      case "leaf":
        return leaves[pos++];
      case "none":
        return d.value === null ? null : undefined;
      case "array":
        return d.children.map(build);
      case "object": {
        if (d.keys.length !== d.children.length) {
          throw new Error(
            `${ctx}: ${TREEDEF_KEY}: an object has ${d.keys.length} keys but ${d.children.length} children`,
          );
        }
        const out: Record<string, unknown> = {};
        d.keys.forEach((k, i) =>
          Object.defineProperty(out, k, {
            value: build(d.children[i]),
            enumerable: true,
            writable: true,
            configurable: true,
          })
        );
        return out;
      }
    }
  };
  const countLeaves = (d: StoredDef): number =>
    d.kind === "leaf"
      ? 1
      : d.kind === "none"
      ? 0
      : d.children.reduce((n, c) => n + countLeaves(c), 0);
  const want = countLeaves(def);
  if (want !== leaves.length) {
    throw new Error(`${ctx}: ${TREEDEF_KEY} has ${want} leaves but names ${leaves.length} tensors`);
  }
  return build(def);
}

/**
 * Decodes safetensors bytes into the pytree that was saved (or, for a file from another tool,
 * a flat object of name → tensor). F16 and BF16 tensors load as float16 and bfloat16, bit for
 * bit.
 */
export function decodeSafetensors<T = unknown>(bytes: Uint8Array): T {
  return decodeImpl(bytes, "io.decodeSafetensors") as T;
}

/** @internal {@link decodeSafetensors} with `ctx` prefixing errors. */
export function decodeImpl(bytes: Uint8Array, ctx: string): unknown {
  return withContext(ctx, () => {
    const { tensors, metadata, dataStart } = parseHeader(bytes, ctx);
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const load = (name: string) => {
      const t = byName.get(name)!;
      const [src, item] = READABLE[t.dtype] ?? [];
      if (!src || !item) {
        throw new Error(
          `${ctx}: tensor ${JSON.stringify(name)} has dtype ${t.dtype}, which Kiln cannot hold ` +
            `(supported: F16, BF16, F32, F64, I32, U32, BOOL)`,
        );
      }
      const data = bytes.subarray(dataStart + t.begin, dataStart + t.end);
      return tensorFromBytes(data, src, t.shape, (t.end - t.begin) / item);
    };
    const stored = metadata?.[TREEDEF_KEY];
    if (stored === undefined) {
      const out: Record<string, unknown> = {};
      for (const t of tensors) {
        Object.defineProperty(out, t.name, {
          value: load(t.name),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(stored);
    } catch {
      throw new Error(`${ctx}: metadata "${TREEDEF_KEY}" is not valid JSON`);
    }
    const meta = TreeMeta.safeParse(raw);
    if (!meta.success) throw new Error(`${ctx}: metadata "${TREEDEF_KEY}": ${fmtZod(meta.error)}`);
    if (jsonDepthExceeds(meta.data.def, 2 * MAX_TREE_DEPTH)) {
      throw new Error(
        `${ctx}: metadata "${TREEDEF_KEY}" nests deeper than ${MAX_TREE_DEPTH} levels`,
      );
    }
    const def = StoredDefSchema.safeParse(meta.data.def);
    if (!def.success) {
      throw new Error(`${ctx}: metadata "${TREEDEF_KEY}": ${fmtZod(def.error, "def")}`);
    }
    const used = new Set<string>();
    const leaves = meta.data.leaves.map(({ name, number }) => {
      if (!byName.has(name)) {
        throw new Error(
          `${ctx}: ${TREEDEF_KEY} names tensor ${JSON.stringify(name)}, which the file lacks`,
        );
      }
      if (used.has(name)) {
        throw new Error(`${ctx}: ${TREEDEF_KEY} names tensor ${JSON.stringify(name)} twice`);
      }
      used.add(name);
      const t = load(name);
      if (!number) return t;
      if (t.size !== 1) {
        throw new Error(`${ctx}: number leaf ${JSON.stringify(name)} is not a scalar`);
      }
      return Number(t.dataSync()[0]);
    });
    if (used.size !== tensors.length) {
      const extra = tensors.find((t) => !used.has(t.name))!;
      throw new Error(`${ctx}: tensor ${JSON.stringify(extra.name)} is not part of ${TREEDEF_KEY}`);
    }
    return rebuild(def.data, leaves, ctx);
  });
}

/** Reads a safetensors header (names, dtypes, shapes, metadata) without decoding tensors. */
export function inspectSafetensors(bytes: Uint8Array): SafetensorsInfo {
  const ctx = "io.inspectSafetensors";
  return withContext(ctx, () => {
    const { tensors, metadata } = parseHeader(bytes, ctx);
    const out: SafetensorsInfo["tensors"] = {};
    for (const t of tensors) {
      Object.defineProperty(out, t.name, {
        value: { dtype: t.dtype, shape: t.shape, dataOffsets: [t.begin, t.end] },
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return { tensors: out, metadata: metadata ?? {} };
  });
}
