/**
 * Page-locked host memory for the CUDA driver's asynchronous read-backs (`cuda.ts`), kept in
 * a small pool because pinning pages is slow.
 * @module
 */

/**
 * Page-locked host blocks by power-of-two size: allocating one pins pages (slow), so a few
 * are kept for the next read-back of a similar size.
 */
export class PinnedPool {
  private readonly free: { pointer: Deno.PointerValue; size: number }[] = [];
  private static readonly KEEP = 8;
  private static readonly KEEP_MAX_BYTES = 64 << 20;
  private static readonly SMALLEST = 4096;

  constructor(
    private readonly allocate: (bytes: number) => Deno.PointerValue,
    private readonly release: (pointer: Deno.PointerValue) => void,
  ) {}

  /** A block of at least `bytes`. */
  take(bytes: number): { pointer: Deno.PointerValue; size: number } {
    // a block fits when it is not more than twice the size (the smallest blocks are 4 KiB)
    const index = this.free.findIndex((b) =>
      b.size >= bytes && b.size <= Math.max(2 * bytes, PinnedPool.SMALLEST)
    );
    if (index >= 0) return this.free.splice(index, 1)[0];
    const size = 2 ** Math.ceil(Math.log2(Math.max(bytes, PinnedPool.SMALLEST)));
    return { pointer: this.allocate(size), size };
  }

  /** Returns a block: kept when small and few enough, else freed. */
  give(block: { pointer: Deno.PointerValue; size: number }): void {
    if (block.size <= PinnedPool.KEEP_MAX_BYTES && this.free.length < PinnedPool.KEEP) {
      this.free.push(block);
    } else this.release(block.pointer);
  }
}
