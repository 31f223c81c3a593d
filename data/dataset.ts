/**
 * `Dataset`: input pipelines after tf.data. A dataset is an immutable description; iterating it
 * (`for await`, or `for` when every stage is synchronous) runs the pipeline. Elements are pytrees
 * of tensors (or any JS values from generators and file sources).
 *
 * Tensor-slice sources stay as row indices through `shuffle`, `repeat`, `take` and `skip`, so
 * `batch` makes each batch with one op per leaf: `lax.slice` for a contiguous run of rows,
 * `np.take` (a gather) for shuffled rows. No per-example tensor ops.
 *
 * Determinism: every shuffle draws from a seeded PRNG. Each iteration of a dataset (each epoch
 * under `repeat`, each `for` loop over it) gets its own key derived from its position, so with
 * `reshuffleEachIteration` (the default, as tf.data) epochs differ, yet two pipelines built
 * the same way with the same seed produce the same stream.
 * @module
 */

import { z } from "npm:zod@4";
import { np, Tensor } from "../core/index.ts";
import {
  type CsvOptions,
  CsvParser,
  type CsvRow,
  fileList,
  type FixedLengthRecordOptions,
  linesAsync,
  linesSync,
  mixSeed,
  mulberry32,
  parseCsvOptions,
  parseOrThrow,
  parseRecordOptions,
  recordsAsync,
  recordsSync,
} from "./sources.ts";
import { gatherRows, isPlain, stackElements } from "./batching.ts";
import {
  aiterOf,
  iterOf,
  shuffleAsync,
  shuffleSync,
  takeAsync,
  takeSync,
  wrapSync,
} from "./iterators.ts";

export { stackElements };

type SyncFn<T> = (key: number) => Iterator<T>;
type AsyncFn<T> = (key: number) => AsyncIterator<T>;

/** A source of tensor rows kept as indices until batched. */
export interface Indexed {
  leaves: Tensor[];
  build: (leaves: unknown[]) => unknown;
  n: number;
  indices: SyncFn<number>;
}

/** Options of {@link Dataset.shuffle}. */
export interface ShuffleOptions {
  /** Seed of the PRNG; without it a random seed is drawn once, when `shuffle` is called. */
  seed?: number;
  /** Draw a new order on every iteration (every epoch), as tf.data (default true). */
  reshuffleEachIteration?: boolean;
}

/** Options of {@link Dataset.batch}. */
export interface BatchOptions {
  /** Drop a last batch smaller than `batchSize` (default false). */
  dropRemainder?: boolean;
}

const shuffleSchema = z.object({
  seed: z.number().int().optional(),
  reshuffleEachIteration: z.boolean().default(true),
});
const batchSchema = z.object({ dropRemainder: z.boolean().default(false) });
const count = (op: string, v: unknown, min = 0) => {
  if (typeof v !== "number" || !(Number.isInteger(v) || v === Infinity) || v < min) {
    throw new TypeError(`${op}: expected an integer >= ${min}, got ${String(v)}`);
  }
  return v;
};

function isAsyncFunction(f: unknown): boolean {
  return typeof f === "function" && f.constructor?.name === "AsyncFunction";
}

function noPromise<T>(v: T, op: string): T {
  if (v instanceof Promise) {
    throw new TypeError(
      `${op}: the function returned a Promise in a synchronous pipeline; declare it \`async\``,
    );
  }
  return v;
}

// ---- the dataset ------------------------------------------------------------------------

/**
 * An input pipeline, after tf.data: sources (`fromTensorSlices`, `fromGenerator`, `range`,
 * `fixedLengthRecords`, `textLines`, `csv`), transforms (`shuffle`, `repeat`, `batch`, `map`,
 * `filter`, `take`, `skip`, `zip`, `prefetch`), iterated with `for await` (or `for` when every
 * stage is synchronous).
 *
 * ```ts
 * const ds = Dataset.fromTensorSlices({ x: X, y: Y }).shuffle(1000, { seed: 0 }).repeat(10)
 *   .batch(128).map((b) => ({ ...b, x: b.x.div(255) })).prefetch(2);
 * for await (const { x, y } of ds) step(x, y);
 * ```
 */
export class Dataset<T = unknown> implements AsyncIterable<T> {
  #iterations = 0;

  /** @internal Use the static constructors. */
  constructor(
    /** @internal */ readonly _sync: SyncFn<T> | undefined,
    /** @internal */ readonly _async: AsyncFn<T>,
    /** @internal */ readonly _indexed?: Indexed,
  ) {}

  static #fromSync<T>(sync: SyncFn<T>, indexed?: Indexed): Dataset<T> {
    return new Dataset(sync, (k) => wrapSync(sync(k)), indexed);
  }

  static #fromIndexed<T>(src: Indexed): Dataset<T> {
    return Dataset.#fromSync<T>(function* (key) {
      for (const i of iterOf(src.indices(key))) {
        yield src.build(src.leaves.map((l) => np.take(l, i, 0))) as T;
      }
    }, src);
  }

  #derive<U>(
    sync: ((up: Iterator<T>, key: number) => Iterator<U>) | undefined,
    async: (up: AsyncIterator<T>, key: number) => AsyncIterator<U>,
  ): Dataset<U> {
    // deno-lint-ignore no-this-alias
    const up = this;
    const s = sync && up._sync ? (k: number) => sync(up._sync!(k), k) : undefined;
    // a fully synchronous pipeline runs synchronously and is wrapped once at the end
    const pure = up.#pureSync;
    const a = s && pure ? (k: number) => wrapSync(s(k)) : (k: number) => async(up._async(k), k);
    const d = new Dataset<U>(s, a);
    d.#pureSync = Boolean(s && pure);
    return d;
  }
  #pureSync = true;

  // ---- sources ----

  /**
   * Slices a pytree of tensors (or nested arrays) along axis 0: element i is the pytree of rows
   * i. All leaves must share their axis-0 length.
   */
  static fromTensorSlices<T = unknown>(tensors: unknown): Dataset<T> {
    const leaves: Tensor[] = [];
    const walk = (node: unknown, path: string): (ls: unknown[]) => unknown => {
      if (node instanceof Tensor || ArrayBuffer.isView(node) || typeof node === "number") {
        const t = node instanceof Tensor ? node : np.array(node as Float32Array);
        if (t.ndim === 0) {
          throw new RangeError(
            `Dataset.fromTensorSlices: ${path || "the input"} is a scalar; leaves need an axis 0`,
          );
        }
        const k = leaves.push(t) - 1;
        return (ls) => ls[k];
      }
      if (Array.isArray(node)) {
        if (node.length > 0 && typeof node[0] === "number") return walk(np.array(node), path);
        const fs = node.map((c, i) => walk(c, `${path}[${i}]`));
        return (ls) => fs.map((f) => f(ls));
      }
      if (isPlain(node)) {
        const ks = Object.keys(node);
        const fs = ks.map((k) => walk(node[k], `${path}.${k}`));
        return (ls) => Object.fromEntries(ks.map((k, i) => [k, fs[i](ls)]));
      }
      throw new TypeError(`Dataset.fromTensorSlices: unsupported value at ${path || "the root"}`);
    };
    const build = walk(tensors, "");
    if (leaves.length === 0) throw new TypeError("Dataset.fromTensorSlices: no tensors given");
    const n = leaves[0].shape[0];
    if (leaves.some((l) => l.shape[0] !== n)) {
      throw new RangeError(
        `Dataset.fromTensorSlices: all leaves must have the same axis-0 length, got shapes ${
          leaves.map((l) => `[${l.shape.join(", ")}]`).join(", ")
        }`,
      );
    }
    return Dataset.#fromIndexed<T>({
      leaves,
      build,
      n,
      indices: function* () {
        for (let i = 0; i < n; i++) yield i;
      },
    });
  }

  /**
   * A dataset from a generator function (sync or async), called anew for every iteration.
   * Elements are any JS values; `batch` stacks tensors and numbers and keeps others as arrays.
   */
  static fromGenerator<T>(
    gen: () => Iterator<T> | Iterable<T> | AsyncIterator<T> | AsyncIterable<T>,
  ): Dataset<T> {
    if (typeof gen !== "function") {
      throw new TypeError("Dataset.fromGenerator: expected a function returning an iterator");
    }
    const open = () => {
      const g = gen() as Partial<Iterable<T> & AsyncIterable<T> & Iterator<T>>;
      if (g && typeof g[Symbol.asyncIterator] === "function") return g[Symbol.asyncIterator]!();
      if (g && typeof g[Symbol.iterator] === "function") return g[Symbol.iterator]!();
      if (g && typeof g.next === "function") return g as Iterator<T>;
      throw new TypeError("Dataset.fromGenerator: the function did not return an iterator");
    };
    const sync = () => {
      const it = open();
      if (Symbol.asyncIterator in it || isAsyncFunction(gen)) {
        throw new TypeError(
          "Dataset.fromGenerator: the generator is asynchronous; iterate with `for await`",
        );
      }
      return it as Iterator<T>;
    };
    const d = new Dataset<T>(sync, async function* () {
      const it = open();
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    });
    d.#pureSync = false;
    return d;
  }

  /** The integers `start, start + step, ...` below `stop`, as JS numbers (`range(n)`: 0..n-1). */
  static range(start: number, stop?: number, step = 1): Dataset<number> {
    if (stop === undefined) [start, stop] = [0, start];
    if (![start, stop, step].every(Number.isFinite) || step === 0) {
      throw new RangeError(`Dataset.range: invalid arguments (${start}, ${stop}, ${step})`);
    }
    const end = stop;
    return Dataset.#fromSync(function* () {
      for (let i = start; step > 0 ? i < end : i > end; i += step) yield i;
    });
  }

  /**
   * Fixed-length binary records from files (tf.data's FixedLengthRecordDataset), as
   * `Uint8Array`s, skipping `headerBytes` and `footerBytes` of each file. The record area must be
   * a whole number of records.
   */
  static fixedLengthRecords(
    files: string | readonly string[],
    recordBytes: number,
    options: FixedLengthRecordOptions = {},
  ): Dataset<Uint8Array> {
    const list = fileList(files, "Dataset.fixedLengthRecords");
    const o = parseRecordOptions(recordBytes, options);
    const d = new Dataset<Uint8Array>(() => recordsSync(list, o), () => recordsAsync(list, o));
    d.#pureSync = false; // async iteration reads asynchronously
    return d;
  }

  /** The lines of text files (UTF-8; `\n` or `\r\n`), as strings. */
  static textLines(files: string | readonly string[]): Dataset<string> {
    const list = fileList(files, "Dataset.textLines");
    const d = new Dataset<string>(() => linesSync(list), () => linesAsync(list));
    d.#pureSync = false;
    return d;
  }

  /**
   * Rows of CSV files: objects keyed by the header's names (default), or arrays without a
   * header. Numbers are parsed; see {@link CsvOptions} for defaults and column selection.
   */
  static csv(files: string | readonly string[], options: CsvOptions = {}): Dataset<CsvRow> {
    const list = fileList(files, "Dataset.csv");
    const o = parseCsvOptions(options);
    const d = new Dataset<CsvRow>(
      function* () {
        for (const path of list) {
          const p = new CsvParser(o, path);
          for (const line of linesSync([path])) {
            const r = p.row(line);
            if (r) yield r;
          }
        }
      },
      async function* () {
        for (const path of list) {
          const p = new CsvParser(o, path);
          for await (const line of linesAsync([path])) {
            const r = p.row(line);
            if (r) yield r;
          }
        }
      },
    );
    d.#pureSync = false;
    return d;
  }

  /** Zips datasets (an array or an object of them) into elements of the same structure. */
  static zip<T>(datasets: Dataset[] | Record<string, Dataset>): Dataset<T> {
    const entries = Object.entries(datasets);
    if (entries.length === 0 || !entries.every(([, d]) => d instanceof Dataset)) {
      throw new TypeError("Dataset.zip: expected a non-empty array or object of datasets");
    }
    const arr = Array.isArray(datasets);
    const pack = (vs: unknown[]) =>
      (arr ? vs : Object.fromEntries(entries.map(([k], i) => [k, vs[i]]))) as T;
    const ds = entries.map(([, d]) => d);
    const allSync = ds.every((d) => d._sync);
    const sync = allSync
      ? function* (key: number) {
        const its = ds.map((d, i) => d._sync!(mixSeed(key, i)));
        try {
          for (;;) {
            const rs = its.map((it) => it.next());
            if (rs.some((r) => r.done)) return;
            yield pack(rs.map((r) => r.value));
          }
        } finally {
          its.forEach((it) => it.return?.());
        }
      }
      : undefined;
    const d = new Dataset<T>(sync, async function* (key) {
      const its = ds.map((d, i) => d._async(mixSeed(key, i)));
      try {
        for (;;) {
          const rs = await Promise.all(its.map((it) => it.next()));
          if (rs.some((r) => r.done)) return;
          yield pack(rs.map((r) => r.value));
        }
      } finally {
        await Promise.all(its.map((it) => it.return?.()));
      }
    });
    d.#pureSync = ds.every((x) => x.#pureSync);
    return d;
  }

  // ---- transforms ----

  /**
   * Shuffles with a buffer of `bufferSize` elements, as tf.data: a buffer at least the dataset's
   * size gives a uniform permutation. Seeded and, by default, reshuffled each iteration.
   */
  shuffle(bufferSize: number, options: ShuffleOptions = {}): Dataset<T> {
    count("Dataset.shuffle", bufferSize, 1);
    const o = parseOrThrow(shuffleSchema, options, "Dataset.shuffle");
    const seed = o.seed ?? Math.floor(Math.random() * 2 ** 32);
    const rng = (key: number) => mulberry32(o.reshuffleEachIteration ? mixSeed(seed, key) : seed);
    const src = this._indexed;
    if (src) {
      return Dataset.#fromIndexed({
        ...src,
        indices: (k) => shuffleSync(src.indices(k), bufferSize, rng(k)),
      });
    }
    return this.#derive(
      (up, k) => shuffleSync(up, bufferSize, rng(k)),
      (up, k) => shuffleAsync(up, bufferSize, rng(k)),
    );
  }

  /** Repeats the dataset `count` times (default: forever); each pass is a new iteration. */
  repeat(times = Infinity): Dataset<T> {
    count("Dataset.repeat", times);
    const src = this._indexed;
    if (src) {
      return Dataset.#fromIndexed({
        ...src,
        indices: function* (k) {
          for (let e = 0; e < times; e++) yield* iterOf(src.indices(mixSeed(k, e + 1)));
        },
      });
    }
    // deno-lint-ignore no-this-alias
    const up = this;
    return this.#derive(
      function* (_it, k) {
        _it.return?.();
        for (let e = 0; e < times; e++) yield* iterOf(up._sync!(mixSeed(k, e + 1)));
      },
      async function* (_it, k) {
        await _it.return?.();
        for (let e = 0; e < times; e++) yield* aiterOf(up._async(mixSeed(k, e + 1)));
      },
    );
  }

  /** The first `n` elements. */
  take(n: number): Dataset<T> {
    count("Dataset.take", n);
    const src = this._indexed;
    if (src) return Dataset.#fromIndexed({ ...src, indices: (k) => takeSync(src.indices(k), n) });
    return this.#derive((up) => takeSync(up, n), (up) => takeAsync(up, n));
  }

  /** All but the first `n` elements. */
  skip(n: number): Dataset<T> {
    count("Dataset.skip", n);
    const src = this._indexed;
    const skip = function* <U>(up: Iterator<U>) {
      let i = 0;
      for (const v of iterOf(up)) if (i++ >= n) yield v;
    };
    if (src) return Dataset.#fromIndexed({ ...src, indices: (k) => skip(src.indices(k)) });
    return this.#derive(skip, async function* (up) {
      let i = 0;
      for await (const v of aiterOf(up)) if (i++ >= n) yield v;
    });
  }

  /**
   * Groups `batchSize` consecutive elements into one, stacking leaves along a new axis 0
   * (np.stack). A last, smaller batch is kept unless `dropRemainder`. The element type stays
   * `T` (right for pytrees of tensors); name the batched type `U` where leaves change kind.
   */
  batch<U = T>(batchSize: number, options: BatchOptions = {}): Dataset<U> {
    count("Dataset.batch", batchSize, 1);
    const { dropRemainder } = parseOrThrow(batchSchema, options, "Dataset.batch");
    const src = this._indexed;
    if (src) {
      return Dataset.#fromSync<U>(function* (k) {
        const idx = new Int32Array(batchSize);
        let m = 0;
        for (const i of iterOf(src.indices(k))) {
          idx[m++] = i;
          if (m === batchSize) (yield gatherRows(src, idx) as U, m = 0);
        }
        if (m > 0 && !dropRemainder) yield gatherRows(src, idx.slice(0, m)) as U;
      });
    }
    return this.#derive<U>(
      function* (up) {
        let buf: T[] = [];
        for (const v of iterOf(up)) {
          buf.push(v);
          if (buf.length === batchSize) (yield stackElements(buf) as U, buf = []);
        }
        if (buf.length > 0 && !dropRemainder) yield stackElements(buf) as U;
      },
      async function* (up) {
        let buf: T[] = [];
        for await (const v of aiterOf(up)) {
          buf.push(v);
          if (buf.length === batchSize) (yield stackElements(buf) as U, buf = []);
        }
        if (buf.length > 0 && !dropRemainder) yield stackElements(buf) as U;
      },
    );
  }

  /** Applies `fn` to every element (an `async` function makes the pipeline asynchronous). */
  map<U>(fn: (x: T) => U | Promise<U>): Dataset<U> {
    if (typeof fn !== "function") throw new TypeError("Dataset.map: expected a function");
    const d = this.#derive<U>(
      isAsyncFunction(fn) ? undefined : function* (up) {
        for (const v of iterOf(up)) yield noPromise(fn(v), "Dataset.map") as U;
      },
      async function* (up) {
        for await (const v of aiterOf(up)) yield await fn(v);
      },
    );
    return d;
  }

  /** Keeps the elements for which `pred` is true. */
  filter(pred: (x: T) => boolean | Promise<boolean>): Dataset<T> {
    if (typeof pred !== "function") throw new TypeError("Dataset.filter: expected a function");
    return this.#derive(
      isAsyncFunction(pred) ? undefined : function* (up) {
        for (const v of iterOf(up)) if (noPromise(pred(v), "Dataset.filter")) yield v;
      },
      async function* (up) {
        for await (const v of aiterOf(up)) if (await pred(v)) yield v;
      },
    );
  }

  /** Pairs this dataset's elements with another's: `[a, b]`, ending with the shorter one. */
  zip<U>(other: Dataset<U>): Dataset<[T, U]> {
    return Dataset.zip<[T, U]>([this, other as Dataset]);
  }

  /**
   * Fetches up to `bufferSize` elements ahead during async iteration (the requests are issued
   * before the consumer asks, so file reads and async map functions run while the training step
   * does), preserving order. Synchronous iteration passes elements through.
   */
  prefetch(bufferSize = 1): Dataset<T> {
    count("Dataset.prefetch", bufferSize, 1);
    // deno-lint-ignore no-this-alias
    const up = this;
    const d = new Dataset<T>(up._sync, async function* (k) {
      const it = up._async(k);
      const q: Promise<IteratorResult<T>>[] = [];
      try {
        for (;;) {
          while (q.length < bufferSize) q.push(it.next());
          const r = await q.shift()!;
          if (r.done) return;
          q.push(it.next());
          yield r.value;
        }
      } finally {
        await Promise.allSettled(q);
        await it.return?.();
      }
    });
    d.#pureSync = false;
    return d;
  }

  // ---- iteration ----

  /** Async iteration: `for await (const x of ds)`. Each call is a new iteration (new shuffle). */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this._async(mixSeed(0x5eed, this.#iterations++));
  }

  /**
   * Sync iteration, for pipelines whose every stage is synchronous (no async generator, async
   * map function); file sources read with `readSync` here.
   */
  [Symbol.iterator](): Iterator<T> {
    if (!this._sync) {
      throw new TypeError(
        "Dataset: this pipeline has an asynchronous stage; iterate it with `for await`",
      );
    }
    return this._sync(mixSeed(0x5eed, this.#iterations++));
  }

  /** Collects all elements into an array (async). Never ends on an infinite dataset. */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const v of this) out.push(v);
    return out;
  }
}
