/**
 * Iterator plumbing of `Dataset` (`dataset.ts`): sync/async adapters that close their upstream
 * when the consumer stops, tf.data's shuffle buffer, and the sync/async `shuffle` and `take`
 * stages.
 * @module
 */

/** A sync iterator as an async generator; closes it when the consumer stops early. */
export async function* wrapSync<T>(it: Iterator<T>): AsyncGenerator<T> {
  try {
    for (let r = it.next(); !r.done; r = it.next()) yield r.value;
  } finally {
    it.return?.();
  }
}

/** An iterator as a generator (usable in `for...of`); closes it when the consumer stops early. */
export function* iterOf<T>(it: Iterator<T>): Generator<T> {
  try {
    for (let r = it.next(); !r.done; r = it.next()) yield r.value;
  } finally {
    it.return?.();
  }
}

/** An async iterator as an async generator; closes it when the consumer stops early. */
export async function* aiterOf<T>(it: AsyncIterator<T>): AsyncGenerator<T> {
  try {
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  } finally {
    await it.return?.();
  }
}

/** tf.data's shuffle buffer: fill `size` elements, then emit a random one and refill its slot. */
export class ShuffleBuffer<T> {
  buf: T[] = [];
  constructor(readonly size: number, readonly rand: () => number) {}
  full(): boolean {
    return this.buf.length >= this.size;
  }
  pop(): T {
    const j = Math.floor(this.rand() * this.buf.length);
    const v = this.buf[j];
    this.buf[j] = this.buf[this.buf.length - 1];
    this.buf.pop();
    return v;
  }
}

/** The elements of `up` through a shuffle buffer of `size` (tf.data's `shuffle`). */
export function* shuffleSync<T>(up: Iterator<T>, size: number, rand: () => number): Generator<T> {
  const sb = new ShuffleBuffer<T>(size, rand);
  for (const v of iterOf(up)) {
    sb.buf.push(v);
    if (sb.full()) yield sb.pop();
  }
  while (sb.buf.length > 0) yield sb.pop();
}

/** {@link shuffleSync} over an async upstream. */
export async function* shuffleAsync<T>(
  up: AsyncIterator<T>,
  size: number,
  rand: () => number,
): AsyncGenerator<T> {
  const sb = new ShuffleBuffer<T>(size, rand);
  for await (const v of aiterOf(up)) {
    sb.buf.push(v);
    if (sb.full()) yield sb.pop();
  }
  while (sb.buf.length > 0) yield sb.pop();
}

/** The first `n` elements of `up`, closing it after them. */
export function* takeSync<T>(up: Iterator<T>, n: number): Generator<T> {
  if (n <= 0) return void up.return?.();
  let i = 0;
  for (const v of iterOf(up)) {
    yield v;
    if (++i >= n) return;
  }
}

/** {@link takeSync} over an async upstream. */
export async function* takeAsync<T>(up: AsyncIterator<T>, n: number): AsyncGenerator<T> {
  if (n <= 0) return void await up.return?.();
  let i = 0;
  for await (const v of aiterOf(up)) {
    yield v;
    if (++i >= n) return;
  }
}
