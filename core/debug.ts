/**
 * `KILN_DEBUG`, read once: 1 compiles and cache misses, 2 per-kernel timings, 3 graphs and
 * fusion groups, 4 generated source, 5 every bind.
 * @module
 */

let level: number | null = null;

/** The debug level from `KILN_DEBUG` (0 when unset or unreadable). */
export function debugLevel(): number {
  if (level === null) {
    let raw: string | undefined;
    try {
      raw = Deno.env.get("KILN_DEBUG");
    } catch {
      raw = undefined; // no --allow-env
    }
    const n = Number(raw ?? 0);
    level = Number.isFinite(n) ? n : 0;
  }
  return level;
}

/** Overrides the debug level (tests, or a program that wants logs without the variable). */
export function setDebugLevel(n: number): void {
  level = n;
}

/** Prints a debug line to stderr when the level is at least `min`. */
export function debug(min: number, message: () => string): void {
  if (debugLevel() >= min) console.error(`kiln: ${message()}`);
}
