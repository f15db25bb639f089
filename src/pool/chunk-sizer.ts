/**
 * Sizes map chunks so per-message overhead stays a few percent, for items from ~1 µs to seconds.
 *
 * A message costs more than its own round trip: when the workers fill every core, the main
 * thread woken by each result runs on a core a worker needed. On 2 cores that cost the workers
 * ~0.1-0.5 ms per message (measured in the workers, between the end of one chunk and the start of
 * the next already in their inbox), so 4 ms chunks lost 5-10% of a fine map and 20 ms chunks lose
 * ~1-2%. Items are first sent one per chunk (one per worker) to measure how long an item runs;
 * from then on each chunk carries about `TARGET_CHUNK_MS` of work, re-estimated from every chunk
 * that comes back. When the total is known, chunks stay small enough that every worker gets
 * several, so the last ones finish together, but never below `MIN_TAIL_CHUNK_MS` of work:
 * shrinking to single items made the last ~2% of a 200k-item map of 2.6 µs items take ~50 round
 * trips and 4% of the run. A size rests on what items cost so far; a chunk that runs well past
 * its expected length is cut short by its worker, and the rest is sent again (`cutAfterMs`).
 */
const TARGET_CHUNK_MS = 20;
const MIN_TAIL_CHUNK_MS = 0.5;
const MAX_AUTO_CHUNK = 16_384;
/** Chunks in flight per worker: one running, one waiting, so a worker never idles between chunks. */
export const CHUNKS_PER_WORKER = 2;
/** The default bound on items pulled ahead, in chunks per worker. */
const BUFFERED_CHUNKS_PER_WORKER = 4;
const MIN_AUTO_BUFFER = 64;
const MAX_AUTO_BUFFER = 65_536;
/** Weight of the newest measurement in the running estimate. */
const SMOOTHING = 0.5;
/**
 * An automatic chunk still running after this many times its expected length stops early and
 * returns what is done (never before `MIN_CUT_MS`): its size rested on a guess that the items have
 * proven wrong, say cheap items first and dear ones later. Without it, one chunk sized from a
 * generator's first 2000 items (1 µs each) took all of the next 3000 (2 ms each), on one worker:
 * the map took as long as a serial loop.
 */
const CUT_FACTOR = 4;
const MIN_CUT_MS = 50;

export class ChunkSizer {
  readonly #fixed: number | undefined;
  readonly #buffer: number | undefined;
  readonly #workers: number;
  #perItemMs: number | undefined;

  /**
   * @param fixed a chunk size the caller chose, or undefined for automatic.
   * @param buffer the caller's bound on items pulled ahead, or undefined for automatic.
   */
  constructor(fixed: number | undefined, buffer: number | undefined, workers: number) {
    this.#fixed = fixed;
    this.#buffer = buffer;
    this.#workers = workers;
  }

  /** Whether sizes are still a guess: then only one single-item chunk per worker goes out. */
  get probing(): boolean {
    return this.#fixed === undefined && this.#perItemMs === undefined;
  }

  /** The size of the next chunk, given how many items are left (when known). */
  next(remaining: number | undefined): number {
    let size = this.#fixed ?? this.#auto(remaining);
    if (this.#buffer !== undefined) size = Math.min(size, Math.max(1, Math.floor(this.#buffer / (CHUNKS_PER_WORKER * this.#workers))));
    if (this.#fixed !== undefined && this.#buffer !== undefined) size = Math.min(this.#fixed, this.#buffer);
    return Math.max(1, size);
  }

  /** The most items pulled and not yet handed to the consumer. */
  bufferLimit(): number {
    if (this.#buffer !== undefined) return this.#buffer;
    const chunk = this.#fixed ?? this.#auto(undefined);
    return Math.min(MAX_AUTO_BUFFER, Math.max(MIN_AUTO_BUFFER, BUFFERED_CHUNKS_PER_WORKER * this.#workers * chunk));
  }

  /** When a chunk of `items` items stops early (see `CUT_FACTOR`); undefined for sizes the caller fixed. */
  cutAfterMs(items: number): number | undefined {
    const expectedMs = this.#fixed === undefined && items > 1 ? this.expectedMs(items) : undefined;
    return expectedMs === undefined ? undefined : Math.max(CUT_FACTOR * expectedMs, MIN_CUT_MS);
  }

  /** How long a chunk of `items` items is expected to run (ms), or undefined before any has come back. */
  expectedMs(items: number): number | undefined {
    return this.#perItemMs === undefined ? undefined : this.#perItemMs * items;
  }

  /**
   * Learns from a chunk of `items` items that ran `runMs`. Faster than thought is believed at
   * once: the first items carry one-off costs (lookups, cold code), and smoothing them away took
   * ten undersized chunks. Slower than thought is smoothed, so one slow chunk does not swing sizes.
   */
  observe(runMs: number, items: number): void {
    if (items === 0) return;
    const sample = Math.max(runMs / items, 1e-4);
    const known = this.#perItemMs;
    this.#perItemMs = known === undefined || sample < known ? sample : SMOOTHING * sample + (1 - SMOOTHING) * known;
  }

  #auto(remaining: number | undefined): number {
    if (this.#perItemMs === undefined) return 1;
    let size = Math.round(TARGET_CHUNK_MS / this.#perItemMs);
    if (remaining !== undefined) {
      const smallest = Math.round(MIN_TAIL_CHUNK_MS / this.#perItemMs);
      size = Math.min(size, Math.max(smallest, Math.ceil(remaining / (4 * this.#workers))));
    }
    return Math.min(MAX_AUTO_CHUNK, Math.max(1, size));
  }
}
