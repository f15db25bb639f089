/** What one pull from a map's input gave. */
export interface Pulled {
  /** The map index of the first of `items`. */
  first: number;
  items: unknown[];
  /** The input has ended: `items` are its last. */
  ended: boolean;
  /** The input threw, after giving `items`: the map fails where the next item would have been. */
  failure?: { error: unknown };
}

type Source = Iterator<unknown> | AsyncIterator<unknown>;

/**
 * A map's input, read a chunk at a time: an array by index, into packed arrays; any other
 * iterable through its iterator, opened on the map's first `next()`; an async iterable through
 * its async iterator. Closed (`return()`) when the map ends early.
 */
export class MapInput {
  readonly #input: Iterable<unknown> | AsyncIterable<unknown>;
  readonly #array: readonly unknown[] | undefined;
  #source: Source | undefined;
  #async = false;
  /** Items pulled so far: the map index of the next one. */
  #pulled = 0;

  constructor(input: Iterable<unknown> | AsyncIterable<unknown>) {
    this.#input = input;
    this.#array = Array.isArray(input) ? input : undefined;
  }

  /** How many items there are, when the input says so (an array, a typed array, a Set, a Map). */
  get size(): number | undefined {
    const input = this.#input;
    if (Array.isArray(input) || ArrayBuffer.isView(input)) return (input as { length: number }).length;
    if (input instanceof Set || input instanceof Map) return input.size;
    return undefined;
  }

  /** Items pulled so far. */
  get pulled(): number {
    return this.#pulled;
  }

  get opened(): boolean {
    return this.#source !== undefined;
  }

  /** Pulls go through `pullAsync`. */
  get isAsync(): boolean {
    return this.#async;
  }

  open(): void {
    const input = this.#input as Partial<Iterable<unknown> & AsyncIterable<unknown>>;
    const asyncIterator = input[Symbol.asyncIterator];
    if (typeof asyncIterator === 'function') {
      this.#source = asyncIterator.call(input);
      this.#async = true;
    } else {
      this.#source = (input as Iterable<unknown>)[Symbol.iterator]();
    }
  }

  /** Up to `size` items from a synchronous input. */
  pull(size: number): Pulled {
    const first = this.#pulled;
    const array = this.#array;
    if (array !== undefined) {
      const items = packedSlice(array, first, size);
      this.#pulled += items.length;
      return { first, items, ended: this.#pulled >= array.length };
    }
    const source = this.#source as Iterator<unknown>;
    const items: unknown[] = [];
    try {
      while (items.length < size) {
        const step = source.next();
        if (step.done) return { first, items, ended: true };
        items.push(step.value);
        this.#pulled++;
      }
    } catch (error) {
      return { first, items, ended: true, failure: { error } };
    }
    return { first, items, ended: false };
  }

  /** Up to `size` items from an async input; undefined if `stopped()` after an item arrives (the map has ended). */
  async pullAsync(size: number, stopped: () => boolean): Promise<Pulled | undefined> {
    const first = this.#pulled;
    const source = this.#source as AsyncIterator<unknown>;
    const items: unknown[] = [];
    try {
      while (items.length < size) {
        const step = await source.next();
        if (stopped()) return undefined;
        if (step.done) return { first, items, ended: true };
        items.push(step.value);
        this.#pulled++;
      }
    } catch (error) {
      return { first, items, ended: true, failure: { error } };
    }
    return { first, items, ended: false };
  }

  /** The map ended before the input did: lets the input clean up (a generator's `finally`). */
  close(): void {
    try {
      const closing = this.#source?.return?.();
      if (closing instanceof Promise) closing.catch(() => {});
    } catch {
      // the input's own cleanup failed; the map is over either way
    }
  }
}

/**
 * Items `from` to `from + size` of an array (fewer at its end), as iterating it would give them,
 * minus the per-item calls, in a packed array. Not `slice`: it keeps holes, and an array with
 * holes (any `new Array(n)`, even once filled) takes V8's slow structured-clone path, 5-6 times
 * slower per item than a packed one; a hole is read as `undefined`, as iteration reads it.
 */
function packedSlice(array: readonly unknown[], from: number, size: number): unknown[] {
  const end = Math.min(array.length, from + size);
  const items: unknown[] = [];
  for (let i = from; i < end; i++) items.push(array[i]);
  return items;
}
