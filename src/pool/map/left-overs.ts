/**
 * Items a map must send again, in index order: the rest of a chunk cut short for running far
 * past its expected length (see `TaskExtras.cutAfterMs`), and, in input order, the finished items
 * of a chunk whose worker died or timed out, whose results died with it. They go out ahead of
 * anything not pulled yet.
 */
export class LeftOvers {
  readonly #parts: { first: number; items: unknown[] }[] = [];

  get isEmpty(): boolean {
    return this.#parts.length === 0;
  }

  /** Items in all. */
  count(): number {
    let count = 0;
    for (const { items } of this.#parts) count += items.length;
    return count;
  }

  /** Keeps `items`, the first of which is map item `first`, in index order. */
  keep(first: number, items: unknown[]): void {
    let at = this.#parts.length;
    while (at > 0 && (this.#parts[at - 1] as { first: number }).first > first) at--;
    this.#parts.splice(at, 0, { first, items });
  }

  /** Takes up to `size` items from the lowest index on; undefined when empty. */
  take(size: number): { first: number; items: unknown[] } | undefined {
    const head = this.#parts[0];
    if (head === undefined) return undefined;
    if (size >= head.items.length) return this.#parts.shift();
    this.#parts[0] = { first: head.first + size, items: head.items.slice(size) };
    return { first: head.first, items: head.items.slice(0, size) };
  }

  /** Drops every part from index `at` on (they come after the map's error). */
  dropFrom(at: number): void {
    const keep = this.#parts.filter(({ first }) => first < at);
    this.#parts.splice(0, this.#parts.length, ...keep);
  }

  clear(): void {
    this.#parts.length = 0;
  }
}
