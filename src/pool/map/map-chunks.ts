import { AbortError } from '../../errors.js';
import type { RanOutcome } from '../../wire/protocol.js';
import { deserializeError } from '../../wire/remote-error.js';
import { callListener } from '../progress.js';
import { type ChunkRunner, type ChunkSpec, ItemRefused } from './chunk-runner.js';
import { CHUNKS_PER_WORKER, type ChunkSizer } from './chunk-sizer.js';
import type { Delivery } from './delivery.js';
import { LeftOvers } from './left-overs.js';
import type { MapProgress } from './map-options.js';

/**
 * A chunk expected to run at most this long may wait in a worker's inbox behind the one it is
 * running; longer ones wait in the pool's queue, where whichever worker frees first takes them.
 */
const SHORT_CHUNK_MS = 50;

/** A chunk sent and not settled. */
interface Chunk {
  first: number;
  count: number;
  /** Kept until it settles: a chunk cut short sends the rest again. */
  items: unknown[];
  handle: { cancel(error: Error): void } | undefined;
}

/** What the map iterator lends to {@link MapChunks}. */
export interface ChunksHost {
  readonly runner: ChunkRunner;
  readonly sizer: ChunkSizer;
  readonly delivery: Delivery;
  readonly timeoutMs: number;
  readonly onProgress: ((progress: MapProgress) => void) | undefined;
  /** The input's item count, once known. */
  total(): number | undefined;
  /** Items not sent yet, when the total is known: not pulled yet, or left over (`leftOverCount`). */
  remaining(): number | undefined;
  /** The map has ended: what settles late is dropped. */
  finished(): boolean;
  /** Records the error to throw at item `at`, and stops what comes after it (`stopAfter`). */
  fail(error: unknown, at: number): void;
  /** Results arrived: answers waiting `next()` calls. */
  wake(): void;
  /** Sends and pulls more while there is room. */
  fill(): void;
  /** The pool's queue is full: calls `fill()` once it has room. */
  waitForPoolRoom(): void;
}

/**
 * A map's chunks between the map and its pool: sending them, their outcomes (results to the
 * delivery, errors to the map, items cut short kept to send again), and stopping them.
 */
export class MapChunks {
  readonly #host: ChunksHost;
  /** Chunks sent and not settled, by the map index of their first item. */
  readonly #sent = new Map<number, Chunk>();
  /** What chunks cut short left undone, to send again before pulling more (in index order). */
  readonly #leftOvers = new LeftOvers();
  /** Items whose results came back. */
  #completed = 0;

  constructor(host: ChunksHost) {
    this.#host = host;
  }

  /** Chunks sent and not settled. */
  get size(): number {
    return this.#sent.size;
  }

  /** Nothing is out, and nothing waits to be sent again. */
  get done(): boolean {
    return this.#sent.size === 0 && this.#leftOvers.isEmpty;
  }

  get hasLeftOvers(): boolean {
    return !this.#leftOvers.isEmpty;
  }

  /** Items waiting to be sent again. */
  leftOverCount(): number {
    return this.#leftOvers.count();
  }

  /**
   * Sends again what chunks cut short left undone, ahead of anything not pulled yet, while there is
   * room. Also once an error is recorded: what `stopAfter` kept comes before it and must still run.
   */
  sendLeftOvers(): void {
    const host = this.#host;
    while (!this.#leftOvers.isEmpty && this.#sent.size < CHUNKS_PER_WORKER * host.runner.workers) {
      if (!host.runner.hasRoom()) {
        host.waitForPoolRoom();
        return;
      }
      const size = host.sizer.next(host.remaining(), host.delivery.delivered);
      const { first, items } = this.#leftOvers.take(size) as { first: number; items: unknown[] };
      this.send(first, items);
    }
  }

  /**
   * Sends items `first`.. as one chunk. An item that cannot be sent fails the map at its own
   * index: the items before it are sent as a chunk of their own, and their results come first.
   */
  send(first: number, items: unknown[]): void {
    const host = this.#host;
    const chunk: Chunk = { first, count: items.length, items, handle: undefined };
    this.#sent.set(first, chunk);
    const report = host.onProgress
      ? (value: unknown) => this.#report({ completed: this.#completed, total: host.total(), value })
      : undefined;
    try {
      const expectedMs = host.sizer.expectedMs(items.length);
      const spec: ChunkSpec = {
        items,
        first,
        short: expectedMs !== undefined && expectedMs <= SHORT_CHUNK_MS && !this.#inTail(items.length),
        timeoutMs: host.timeoutMs,
        cutAfterMs: host.sizer.cutAfterMs(items.length),
      };
      chunk.handle = host.runner.run(spec, report, (error, outcome, reached) => this.#settle(chunk, error, outcome, reached));
    } catch (thrown) {
      // Refused (closed, queue full, an item that cannot cross): a fresh error, ours to mark.
      this.#sent.delete(first);
      const [at, error] = thrown instanceof ItemRefused ? [thrown.at, thrown.error] : [0, thrown as Error];
      if (at > 0 && host.delivery.ordered) this.send(first, items.slice(0, at)); // in completion order, the error ends it now
      defineIndex(error, first + at);
      host.fail(error, first + at);
    }
  }

  /** After an error at item `at`: stops what will never be delivered (input order: what comes after it; else all). */
  stopAfter(at: number): void {
    const { ordered } = this.#host.delivery;
    for (const chunk of this.#sent.values()) if (!ordered || chunk.first > at) this.#cancel(chunk);
    if (ordered) this.#leftOvers.dropFrom(at);
    else this.#leftOvers.clear();
  }

  /** The map is over: stops everything. */
  stopAll(): void {
    for (const chunk of [...this.#sent.values()]) this.#cancel(chunk);
    this.#leftOvers.clear();
  }

  /**
   * Whether what is left to send (called once this chunk is taken) would not give every worker
   * one more chunk of this size. Then a chunk must not wait in a busy worker's inbox: another worker may be about to
   * run out of work, and the map would end one chunk late. Guided sizes leave (2 × workers - 1)
   * chunks' worth after each chunk until they reach their floor, so only the last few are held back.
   */
  #inTail(size: number): boolean {
    const remaining = this.#host.remaining();
    return remaining !== undefined && remaining < size * this.#host.runner.workers;
  }

  /**
   * A chunk has ended. When it failed as a whole (timeout, its worker died), `reached` is the item
   * that was running: the map fails there, and, in input order, the items before it, which had
   * finished but whose results died with the worker, run again to be delivered first.
   */
  #settle(chunk: Chunk, error: Error | undefined, outcome: RanOutcome | undefined, reached?: number): void {
    const host = this.#host;
    this.#sent.delete(chunk.first);
    if (host.finished()) return;
    if (error !== undefined) {
      const at = chunk.first + (reached ?? 0);
      if (host.delivery.ordered && reached !== undefined && reached > 0) this.#leftOvers.keep(chunk.first, chunk.items.slice(0, reached));
      defineIndex(error, at);
      host.fail(error, at);
      host.fill(); // sends what must run again
      return;
    }
    const [values, , runMs, failure, failedAt] = outcome as RanOutcome;
    host.sizer.observe(runMs, values.length + (failure ? 1 : 0));
    this.#completed += values.length;
    if (failure === undefined && values.length < chunk.count)
      this.#leftOvers.keep(chunk.first + values.length, chunk.items.slice(values.length));
    host.delivery.accept(chunk.first, values);
    if (failure !== undefined) {
      const at = chunk.first + (failedAt ?? 0);
      host.fail(deserializeError(failure, { taskName: host.runner.taskName, taskId: -1, mapIndex: at }), at);
    }
    if (host.onProgress) void this.#report({ completed: this.#completed, total: host.total() });
    host.wake();
    host.fill();
  }

  #cancel(chunk: Chunk): void {
    this.#sent.delete(chunk.first);
    chunk.handle?.cancel(new AbortError('the map was stopped'));
  }

  /**
   * Calls `onProgress`. A listener that throws fails the map as an abort does: iteration throws
   * its error at the next item, and the rest is cancelled.
   */
  #report(progress: MapProgress): Promise<void> | undefined {
    const host = this.#host;
    return callListener(host.onProgress as (progress: MapProgress) => void, progress, (error) => host.fail(error, host.delivery.delivered));
  }
}

function defineIndex(error: Error, index: number): void {
  if ((error as { mapIndex?: number }).mapIndex !== undefined) return;
  Object.defineProperty(error, 'mapIndex', { value: index, writable: true, configurable: true, enumerable: false });
}
