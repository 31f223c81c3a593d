/**
 * File readers behind `data.Dataset`'s file sources: fixed-length binary records, text lines and
 * CSV rows, each as a synchronous generator (`readSync`, for `for ... of`) and an asynchronous
 * one (`await file.read`, so reads run in the background under `prefetch`). Also the seeded
 * PRNG every shuffle in `data/` uses.
 * @module
 */

import { z } from "npm:zod@4";

// ---- seeded randomness ------------------------------------------------------------------

/** Mixes two 32-bit integers into one (a murmur3-style finalizer); used to derive seeds. */
export function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). Deterministic per seed. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded random permutation of 0..n-1 (Fisher–Yates). */
export function permutation(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const r = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

// ---- options ----------------------------------------------------------------------------

/** Options of `Dataset.fixedLengthRecords`. */
export interface FixedLengthRecordOptions {
  /** Bytes to skip at the start of each file (default 0). */
  headerBytes?: number;
  /** Bytes to ignore at the end of each file (default 0). */
  footerBytes?: number;
  /** Read size hint in bytes (default 1 MiB, rounded to whole records). */
  bufferBytes?: number;
}

/** Parses and checks `fixedLengthRecords` arguments, naming the function in errors. */
export function parseRecordOptions(
  recordBytes: unknown,
  options: unknown,
): Required<FixedLengthRecordOptions> & { recordBytes: number } {
  const schema = z.object({
    recordBytes: z.number().int().positive(),
    headerBytes: z.number().int().nonnegative().default(0),
    footerBytes: z.number().int().nonnegative().default(0),
    bufferBytes: z.number().int().positive().default(1 << 20),
  });
  return parseOrThrow(
    schema,
    { recordBytes, ...(options as object ?? {}) },
    "Dataset.fixedLengthRecords",
  );
}

/** Options of `Dataset.csv`. */
export interface CsvOptions {
  /** The first line of each file names the columns (default true); rows are then objects. */
  header?: boolean;
  /** One-character field delimiter (default ","). */
  delimiter?: string;
  /**
   * Per-column defaults, as tf.data's `record_defaults`: a number makes the column numeric with
   * that value for empty fields, a string keeps the column as text, `null` makes it a required
   * number. Without it every field is parsed as a number when it looks like one, else kept as
   * text, and empty fields are NaN.
   */
  columnDefaults?: (number | string | null)[];
  /** Keep only these columns (names with a header, else indices), in this order. */
  selectColumns?: (string | number)[];
}

const csvSchema = z.object({
  header: z.boolean().default(true),
  delimiter: z.string().length(1).default(","),
  columnDefaults: z.array(z.union([z.number(), z.string(), z.null()])).optional(),
  selectColumns: z.array(z.union([z.string(), z.number().int().nonnegative()])).optional(),
});

/** Parsed CSV options. */
export type ParsedCsvOptions = z.infer<typeof csvSchema>;

/** Validates `Dataset.csv` options. */
export function parseCsvOptions(options: unknown): ParsedCsvOptions {
  return parseOrThrow(csvSchema, options ?? {}, "Dataset.csv");
}

/** Validates with a zod schema, throwing a TypeError that names `op`. */
export function parseOrThrow<T extends z.ZodType>(
  schema: T,
  value: unknown,
  op: string,
): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`);
    throw new TypeError(`${op}: invalid options: ${issues.join("; ")}`);
  }
  return parsed.data;
}

/** Normalizes a file argument (a path or a list of paths) to a non-empty list. */
export function fileList(files: string | readonly string[], op: string): string[] {
  const list = typeof files === "string" ? [files] : [...files];
  if (list.length === 0 || list.some((f) => typeof f !== "string")) {
    throw new TypeError(`${op}: expected a path or a non-empty list of paths`);
  }
  return list;
}

// ---- fixed-length records ---------------------------------------------------------------

interface RecordPlan {
  body: number;
  chunk: number;
}

function recordPlan(
  path: string,
  size: number,
  o: Required<FixedLengthRecordOptions> & { recordBytes: number },
): RecordPlan {
  const body = size - o.headerBytes - o.footerBytes;
  if (body < 0 || body % o.recordBytes !== 0) {
    throw new RangeError(
      `Dataset.fixedLengthRecords: ${path} has ${size} bytes; after ${o.headerBytes} header and ` +
        `${o.footerBytes} footer bytes, ${body} is not a whole number of ${o.recordBytes}-byte records`,
    );
  }
  const per = Math.max(1, Math.floor(o.bufferBytes / o.recordBytes));
  return { body, chunk: per * o.recordBytes };
}

function shortRead(path: string): Error {
  return new RangeError(`Dataset.fixedLengthRecords: ${path} ended early (was it truncated?)`);
}

/** Yields the records of each file in order (synchronous reads). */
export function* recordsSync(
  files: string[],
  o: Required<FixedLengthRecordOptions> & { recordBytes: number },
): Generator<Uint8Array> {
  for (const path of files) {
    using f = Deno.openSync(path, { read: true });
    const plan = recordPlan(path, f.statSync().size, o);
    f.seekSync(o.headerBytes, Deno.SeekMode.Start);
    for (let done = 0; done < plan.body;) {
      const buf = new Uint8Array(Math.min(plan.chunk, plan.body - done));
      for (let got = 0; got < buf.length;) {
        const n = f.readSync(buf.subarray(got));
        if (n === null || n === 0) throw shortRead(path);
        got += n;
      }
      done += buf.length;
      for (let i = 0; i < buf.length; i += o.recordBytes) yield buf.subarray(i, i + o.recordBytes);
    }
  }
}

/** Yields the records of each file in order (asynchronous reads). */
export async function* recordsAsync(
  files: string[],
  o: Required<FixedLengthRecordOptions> & { recordBytes: number },
): AsyncGenerator<Uint8Array> {
  for (const path of files) {
    using f = await Deno.open(path, { read: true });
    const plan = recordPlan(path, (await f.stat()).size, o);
    await f.seek(o.headerBytes, Deno.SeekMode.Start);
    for (let done = 0; done < plan.body;) {
      const buf = new Uint8Array(Math.min(plan.chunk, plan.body - done));
      for (let got = 0; got < buf.length;) {
        const n = await f.read(buf.subarray(got));
        if (n === null || n === 0) throw shortRead(path);
        got += n;
      }
      done += buf.length;
      for (let i = 0; i < buf.length; i += o.recordBytes) yield buf.subarray(i, i + o.recordBytes);
    }
  }
}

// ---- text lines -------------------------------------------------------------------------

const CHUNK = 1 << 16;

class LineSplitter {
  #decoder = new TextDecoder("utf-8", { fatal: false });
  #rest = "";
  push(bytes: Uint8Array | null): string[] {
    const text = this.#rest +
      (bytes ? this.#decoder.decode(bytes, { stream: true }) : this.#decoder.decode());
    const parts = text.split("\n");
    this.#rest = parts.pop()!;
    if (bytes === null && this.#rest !== "") parts.push(this.#rest);
    return parts.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  }
}

/** Yields each line of each file (without the newline; `\r\n` handled). */
export function* linesSync(files: string[]): Generator<string> {
  for (const path of files) {
    using f = Deno.openSync(path, { read: true });
    const split = new LineSplitter();
    for (;;) {
      const buf = new Uint8Array(CHUNK);
      const n = f.readSync(buf);
      if (n === null) break;
      yield* split.push(buf.subarray(0, n));
    }
    yield* split.push(null);
  }
}

/** Yields each line of each file, reading asynchronously. */
export async function* linesAsync(files: string[]): AsyncGenerator<string> {
  for (const path of files) {
    using f = await Deno.open(path, { read: true });
    const split = new LineSplitter();
    for (;;) {
      const buf = new Uint8Array(CHUNK);
      const n = await f.read(buf);
      if (n === null) break;
      yield* split.push(buf.subarray(0, n));
    }
    yield* split.push(null);
  }
}

// ---- CSV --------------------------------------------------------------------------------

/** Splits one CSV line into fields (RFC 4180 quoting within a line: `"a,b"`, `""`). */
export function splitCsvLine(line: string, delimiter: string): string[] {
  if (!line.includes('"')) return line.split(delimiter);
  const out: string[] = [];
  let field = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (field += '"', i++);
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) (out.push(field), field = "");
    else field += c;
  }
  out.push(field);
  return out;
}

/** A CSV row: an object keyed by column name with a header, else an array. */
export type CsvRow = Record<string, number | string> | (number | string)[];

/** Turns the lines of one file into rows; `where` names the file for errors. */
export class CsvParser {
  #names: string[] | null = null;
  #select: number[] | null = null;
  #line = 0;
  #width: number | null = null;
  constructor(readonly o: ParsedCsvOptions, readonly path: string) {}

  /** Parses one line; returns null for the header and for blank lines. */
  row(line: string): CsvRow | null {
    this.#line++;
    if (line.trim() === "") return null;
    const fields = splitCsvLine(line, this.o.delimiter);
    const where = `Dataset.csv: ${this.path}:${this.#line}`;
    if (this.o.header && this.#names === null) {
      this.#names = fields.map((f) => f.trim());
      this.#select = this.#selection(this.#names, where);
      return null;
    }
    const width = this.#names?.length ?? this.o.columnDefaults?.length ??
      (this.#width ??= fields.length);
    if (fields.length !== width) {
      throw new RangeError(`${where}: expected ${width} fields, got ${fields.length}`);
    }
    this.#select ??= this.#selection(null, where, fields.length);
    const values = this.#select.map((c) => this.#value(fields[c], c, where));
    if (!this.#names) return values;
    const out: Record<string, number | string> = {};
    this.#select.forEach((c, k) => (out[this.#names![c]] = values[k]));
    return out;
  }

  #selection(names: string[] | null, where: string, n?: number): number[] {
    const sel = this.o.selectColumns;
    const width = names?.length ?? this.o.columnDefaults?.length ?? n;
    if (names && this.o.columnDefaults && this.o.columnDefaults.length !== names.length) {
      throw new RangeError(
        `${where}: ${names.length} columns in the header, ${this.o.columnDefaults.length} columnDefaults`,
      );
    }
    if (!sel) return Array.from({ length: width ?? 0 }, (_, i) => i);
    return sel.map((s) => {
      const i = typeof s === "number" ? s : names ? names.indexOf(s) : -1;
      if (i < 0 || (width !== undefined && i >= width)) {
        throw new RangeError(
          `${where}: selectColumns names an unknown column ${JSON.stringify(s)}`,
        );
      }
      return i;
    });
  }

  #value(raw: string | undefined, col: number, where: string): number | string {
    const s = (raw ?? "").trim();
    const def = this.o.columnDefaults?.[col];
    if (typeof def === "string") return s === "" ? def : raw!;
    if (s === "") {
      if (typeof def === "number") return def;
      if (def === null) throw new RangeError(`${where}: column ${col} is required but empty`);
      return NaN;
    }
    const v = Number(s);
    if (Number.isNaN(v) && s !== "NaN") {
      if (def === undefined) return raw!;
      throw new TypeError(`${where}: column ${col} expects a number, got ${JSON.stringify(s)}`);
    }
    return v;
  }
}
