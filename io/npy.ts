/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): magic `\x93NUMPY`, version, header
 * length, then a Python-literal dict `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`
 * padded to 64 bytes, then the data. The dict is read by a small strict parser (no eval) and
 * validated with zod.
 *
 * Reads and writes `<f2 <f4 <f8 <i4 <u4 |b1` (float16 … bool), and reads their big-endian forms
 * (byte-swapped). bfloat16 has no NumPy dtype and is refused on save. `fortran_order: True`
 * arrays are read and transposed into Kiln's row-major layout. Other dtypes (int64, uint8,
 * complex, structured, object) are rejected with an error saying how to convert them in NumPy.
 * @module
 */

import { z } from "npm:zod@4";
import { type DType, np, type Tensor } from "../core/index.ts";
import { fmtZod, safeSize, tensorBytes, tensorFromBytes, withContext } from "./safetensors.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Largest header accepted (NumPy itself refuses headers over 10,000 bytes by default). */
export const MAX_NPY_HEADER_BYTES = 1 << 20;

// NumPy has no bfloat16 (only the ml_dtypes extension does), so it has no descr here
const DESCR: Record<DType, string | null> = {
  float16: "<f2",
  bfloat16: null,
  float32: "<f4",
  float64: "<f8",
  int32: "<i4",
  uint32: "<u4",
  bool: "|b1",
};

const NpyHeader = z.object({
  descr: z.string({ error: "descr must be a string (structured dtypes are not supported)" }),
  fortran_order: z.boolean(),
  shape: z.array(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)),
}).strict();

type PyValue = string | boolean | number | number[];

/** Parses NumPy's header dict literal strictly: string keys; str, bool, int and int-tuple values. */
function parseDict(src: string, ctx: string): Record<string, PyValue> {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(
      `${ctx}: malformed header at character ${i}: ${what} (header ${
        JSON.stringify(src.slice(0, 200))
      })`,
    );
  };
  const ws = () => {
    while (i < src.length && " \t\r\n".includes(src[i])) i++;
  };
  const str = (): string => {
    const q = src[i];
    if (q !== "'" && q !== '"') fail("expected a quoted string");
    const end = src.indexOf(q, i + 1);
    if (end < 0) fail("unterminated string");
    const s = src.slice(i + 1, end);
    if (s.includes("\\")) fail("escapes in strings are not supported");
    i = end + 1;
    return s;
  };
  const int = (): number => {
    const m = /^\d+L?/.exec(src.slice(i, i + 40));
    if (!m) fail("expected a non-negative integer");
    i += m![0].length;
    const v = Number(m![0].replace("L", ""));
    if (!Number.isSafeInteger(v)) fail(`integer ${m![0]} is too large`);
    return v;
  };
  const value = (): PyValue => {
    if (src[i] === "'" || src[i] === '"') return str();
    if (src.startsWith("True", i)) return (i += 4, true);
    if (src.startsWith("False", i)) return (i += 5, false);
    if (src[i] === "(") {
      i++;
      const items: number[] = [];
      let comma = false;
      ws();
      while (src[i] !== ")") {
        items.push(int());
        ws();
        comma = false;
        if (src[i] === ",") {
          i++, comma = true;
          ws();
        } else if (src[i] !== ")") fail("expected ',' or ')' in a tuple");
      }
      if (items.length === 1 && !comma) fail("a one-element tuple needs a trailing comma");
      i++;
      return items;
    }
    if (src[i] === "[") fail("lists (structured dtypes) are not supported");
    return int();
  };
  const out: Record<string, PyValue> = {};
  ws();
  if (src[i] !== "{") fail("expected '{'");
  i++;
  ws();
  while (src[i] !== "}") {
    if (i >= src.length) fail("unterminated dict");
    const k = str();
    ws();
    if (src[i] !== ":") fail("expected ':'");
    i++;
    ws();
    if (Object.hasOwn(out, k)) fail(`duplicate key '${k}'`);
    Object.defineProperty(out, k, { value: value(), enumerable: true });
    ws();
    if (src[i] === ",") i++;
    else if (src[i] !== "}") fail("expected ',' or '}'");
    ws();
  }
  i++;
  ws();
  if (i !== src.length) fail("unexpected text after the dict");
  return out;
}

/** Maps a descr to the element kind in the file, its size, and whether to byte-swap. */
function parseDescr(descr: string, ctx: string): [DType, number, boolean] {
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  const kinds: Record<string, DType> = {
    f4: "float32",
    f8: "float64",
    f2: "float16",
    i4: "int32",
    u4: "uint32",
    b1: "bool",
  };
  const kind = m ? kinds[m[2] + m[3]] : undefined;
  if (!m || !kind) {
    const hint = m?.[2] === "i" && m[3] === "8"
      ? " (NumPy's default integer; save with arr.astype(np.int32))"
      : m?.[2] === "u" && m[3] === "1"
      ? " (uint8; save with arr.astype(np.int32) or arr.astype(bool))"
      : "";
    throw new Error(
      `${ctx}: dtype '${descr}' is not supported${hint}; Kiln reads <f2 <f4 <f8 <i4 <u4 |b1 ` +
        `(any byte order)`,
    );
  }
  return [kind, Number(m[3]), m[1] === ">" && m[3] !== "1"];
}

/** Encodes a tensor as `.npy` bytes (format 1.0, or 2.0 when the header needs it). */
export function encodeNpy(tensor: Tensor | number | boolean | unknown[]): Uint8Array {
  return encodeNpyImpl(tensor, "io.encodeNpy");
}

/** @internal {@link encodeNpy} naming `op` in errors. */
export function encodeNpyImpl(x: Tensor | number | boolean | unknown[], op: string): Uint8Array {
  const t = withContext(op, () => np.array(x as Parameters<typeof np.array>[0]));
  const descr = DESCR[t.dtype];
  if (descr === null) {
    throw new TypeError(
      `${op}: NumPy has no ${t.dtype} dtype, so .npy cannot hold it; convert it first ` +
        `(x.astype("float32") keeps every value exactly), or save with io.save (safetensors BF16)`,
    );
  }
  const data = tensorBytes(t, op, "the tensor");
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  let version = 1, prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    version = 2, prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const out = new Uint8Array(total + data.length);
  out.set(MAGIC);
  out[6] = version;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  const text = dict.padEnd(headerLen - 1, " ") + "\n";
  for (let k = 0; k < text.length; k++) out[prefix + k] = text.charCodeAt(k);
  out.set(data, total);
  return out;
}

/** Decodes `.npy` bytes into a tensor. */
export function decodeNpy(bytes: Uint8Array): Tensor {
  return decodeNpyImpl(bytes, "io.decodeNpy");
}

/** @internal {@link decodeNpy} with `ctx` prefixing errors. */
export function decodeNpyImpl(bytes: Uint8Array, ctx: string): Tensor {
  return withContext(ctx, () => {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`${ctx}: expected a Uint8Array`);
    if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) {
      throw new Error(`${ctx}: not a .npy file (missing the \\x93NUMPY magic)`);
    }
    const [major, minor] = [bytes[6], bytes[7]];
    if (![1, 2, 3].includes(major) || minor !== 0) {
      throw new Error(
        `${ctx}: unsupported .npy format version ${major}.${minor} (Kiln reads 1.0, 2.0, 3.0)`,
      );
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (major > 1 && bytes.length < 12) {
      throw new Error(`${ctx}: file truncated in the header length`);
    }
    const prefix = major === 1 ? 10 : 12;
    const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
    if (headerLen > MAX_NPY_HEADER_BYTES) {
      throw new Error(
        `${ctx}: header length ${headerLen} exceeds the ${MAX_NPY_HEADER_BYTES}-byte limit`,
      );
    }
    if (prefix + headerLen > bytes.length) {
      throw new Error(
        `${ctx}: header length ${headerLen} exceeds the ${
          bytes.length - prefix
        } bytes after it (truncated?)`,
      );
    }
    let text: string;
    try {
      text = new TextDecoder(major === 3 ? "utf-8" : "latin1", { fatal: true })
        .decode(bytes.subarray(prefix, prefix + headerLen));
    } catch {
      throw new Error(`${ctx}: header is not valid ${major === 3 ? "UTF-8" : "latin-1"}`);
    }
    const parsed = NpyHeader.safeParse(parseDict(text, ctx));
    if (!parsed.success) throw new Error(`${ctx}: header: ${fmtZod(parsed.error)}`);
    const { descr, fortran_order, shape } = parsed.data;
    const [kind, item, swap] = parseDescr(descr, ctx);
    const size = safeSize(shape);
    const avail = bytes.length - prefix - headerLen;
    if (size === null || size * item !== avail) {
      const need = size === null ? "more than 2^53" : String(size * item);
      throw new Error(
        `${ctx}: shape (${
          shape.join(", ")
        }) '${descr}' needs ${need} data bytes, the file has ${avail}` +
          (size !== null && size * item > avail ? " (truncated?)" : ""),
      );
    }
    const data = bytes.subarray(prefix + headerLen);
    if (!fortran_order) return tensorFromBytes(data, kind, shape, size, swap);
    const t = tensorFromBytes(data, kind, [...shape].reverse(), size, swap);
    return shape.length < 2 ? t.reshape(shape) : np.transpose(t);
  });
}
