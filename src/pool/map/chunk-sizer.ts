/**
 * Sizes map chunks so per-message overhead stays a few percent, for items from ~1 µs to seconds.
 *
 * A message costs more than its own round trip: when the workers fill every core, the main
 * thread woken by each result runs on a core a worker needed. On 2 cores that costs the workers
 * ~0.3-0.5 ms per message, most of it the wake-up itself (a bare Node timer wake-up costs ~0.25
 * ms of CPU on a KVM guest), so what matters is how many messages a map sends. Items are first
 * sent one per chunk (one per worker) to measure how long an item runs; sizes are re-estimated
 * from every chunk that comes back.
 *
 * - Length unknown (a generator): each chunk carries about `TARGET_CHUNK_MS` of work.
 * - Length known (arrays, Sets, Maps, or once the input ended): guided self-scheduling, as
 *   OpenMP's `guided` and "factoring" do. Each chunk takes half of a worker's even share of what
 *   is left (`GUIDED_SHARE`), up to `MAX_KNOWN_CHUNK_MS` of work and down to `MIN_TAIL_CHUNK_MS`,
 *   so chunks are large while much is left and small at the end, where they must even out: about
 *   half the messages of flat chunks. Never below `MIN_TAIL_CHUNK_MS`: single items at the end of
 *   a map of microsecond items would each pay a round trip.
 *
 * A size rests on what items cost so far; a chunk that runs well past its expected length is
 * cut short by its worker, and the rest is sent again (`cutAfterMs`).
 */
const TARGET_CHUNK_MS = 20;
const MAX_KNOWN_CHUNK_MS = 50;
/** With a known length, a chunk is 1 / (GUIDED_SHARE × workers) of what is left. */
const GUIDED_SHARE = 2;
const MIN_TAIL_CHUNK_MS = 0.5;
const MAX_AUTO_CHUNK = 16_384;

/**
 * The scale a map's automatic chunks are sized on: the figures above for worker threads, larger
 * ones where each chunk pays a network round trip (`threadgate/cluster`).
 */
export interface ChunkTiming {
  /** Work per chunk when the input's length is unknown. */
  targetMs: number;
  /** The most work per chunk when the length is known. */
  maxKnownMs: number;
  /** The least work per chunk, at the end of a known-length input. */
  minTailMs: number;
  /** The most items per chunk. */
  maxItems: number;
}

export const THREAD_TIMING: ChunkTiming = {
  targetMs: TARGET_CHUNK_MS,
  maxKnownMs: MAX_KNOWN_CHUNK_MS,
  minTailMs: MIN_TAIL_CHUNK_MS,
  maxItems: MAX_AUTO_CHUNK,
};
/** Chunks in flight per worker: one running, one waiting, so a worker never idles between chunks. */
export const CHUNKS_PER_WORKER = 2;
/**
 * The default bound on items pulled ahead, in chunks per worker: twice what is in flight, so a
 * chunk that finishes before the one ahead of it (its results wait, in an ordered map) does not
 * hold up the next. Chunks are at most `MAX_AUTO_CHUNK` items, so this is at most 65,536 items
 * per worker. Per worker, not flat: a flat cap would let only a few large chunks out at once,
 * leaving a worker that finishes early waiting for the chunk ahead of it, and many workers none.
 */
const BUFFERED_CHUNKS_PER_WORKER = 4;
const MIN_AUTO_BUFFER = 64;
/**
 * From an input of unknown length (a generator, a database cursor), the default read-ahead grows
 * with what the consumer has taken: at most this many times the items delivered so far (and
 * `MIN_AUTO_BUFFER` at first), up to the bound above. A consumer that took five items and went off
 * to other work has had at most 64 pulled for it, whatever the chunks would be. One that
 * keeps taking reaches full-size chunks within a few round trips, each window five times the last.
 * An array is in memory already: it has nothing to protect, and gets the full bound at once; so
 * does a map whose caller fixed `chunkSize` (or `buffer`, which then binds instead).
 */
const READ_AHEAD_FACTOR = 4;
/** Weight of the newest measurement in the running estimate. */
const SMOOTHING = 0.5;
/**
 * An automatic chunk still running after this many times its expected length stops early and
 * returns what is done (never before `MIN_CUT_MS`): its size rested on a guess that the items have
 * proven wrong, say cheap items first and dear ones later. Without it, a chunk sized from a
 * generator's first 2000 items (1 µs each) would take all of the next 3000 (2 ms each) on one
 * worker, and the map as long as a serial loop.
 */
const CUT_FACTOR = 4;
const MIN_CUT_MS = 50;

export class ChunkSizer {
  readonly #fixed: number | undefined;
  readonly #buffer: number | undefined;
  /** How many workers run the map's chunks (read at each decision: a cluster's can change). */
  readonly #workers: () => number;
  readonly #timing: ChunkTiming;
  #perItemMs: number | undefined;

  /**
   * @param fixed a chunk size the caller chose, or undefined for automatic.
   * @param buffer the caller's bound on items pulled ahead, or undefined for automatic.
   */
  constructor(fixed: number | undefined, buffer: number | undefined, workers: () => number, timing: ChunkTiming = THREAD_TIMING) {
    this.#fixed = fixed;
    this.#buffer = buffer;
    this.#workers = workers;
    this.#timing = timing;
  }

  /** Whether sizes are still a guess: then only one single-item chunk per worker goes out. */
  get probing(): boolean {
    return this.#fixed === undefined && this.#perItemMs === undefined;
  }

  /**
   * The size of the next chunk, given how many items are left (when known) and how many the
   * consumer has taken.
   */
  next(remaining: number | undefined, delivered: number): number {
    let size = this.#fixed ?? this.#auto(remaining);
    const buffer = this.#buffer ?? this.#readAhead(remaining, delivered);
    if (buffer !== undefined) size = Math.min(size, Math.max(1, Math.floor(buffer / (CHUNKS_PER_WORKER * this.#workers()))));
    if (this.#fixed !== undefined && this.#buffer !== undefined) size = Math.min(this.#fixed, this.#buffer);
    return Math.max(1, size);
  }

  /**
   * The most items pulled and not yet handed to the consumer, given how many are left (when
   * known) and how many the consumer has taken.
   */
  bufferLimit(remaining: number | undefined, delivered: number): number {
    if (this.#buffer !== undefined) return this.#buffer;
    const chunk = this.#fixed ?? this.#auto(remaining);
    const bound = Math.max(MIN_AUTO_BUFFER, BUFFERED_CHUNKS_PER_WORKER * this.#workers() * chunk);
    return Math.min(bound, this.#readAhead(remaining, delivered) ?? bound);
  }

  /** The read-ahead an input of unknown length has earned (see `READ_AHEAD_FACTOR`); undefined for a known length. */
  #readAhead(remaining: number | undefined, delivered: number): number | undefined {
    if (remaining !== undefined || this.#fixed !== undefined) return undefined; // a fixed chunk size is kept as given
    return Math.max(MIN_AUTO_BUFFER, READ_AHEAD_FACTOR * delivered);
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
    let size: number;
    const timing = this.#timing;
    if (remaining === undefined) size = Math.round(timing.targetMs / this.#perItemMs);
    else {
      const largest = Math.round(timing.maxKnownMs / this.#perItemMs);
      const smallest = Math.round(timing.minTailMs / this.#perItemMs);
      size = Math.min(largest, Math.max(smallest, Math.ceil(remaining / (GUIDED_SHARE * this.#workers()))));
    }
    return Math.min(timing.maxItems, Math.max(1, size));
  }
}
