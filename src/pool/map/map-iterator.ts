import { whenAborted } from '../../abort-listeners.js';
import { AbortError, abortErrorFrom } from '../../errors.js';
import { FifoQueue } from '../../sync/fifo-queue.js';
import type { RanOutcome } from '../../wire/protocol.js';
import { deserializeError } from '../../wire/remote-error.js';
import { callListener } from '../progress.js';
import { type ChunkRunner, type ChunkSpec, ItemRefused } from './chunk-runner.js';
import { CHUNKS_PER_WORKER, ChunkSizer } from './chunk-sizer.js';
import { type Delivery, deliveryFor, ERROR_TURN, NOTHING } from './delivery.js';
import { LeftOvers } from './left-overs.js';
import { MapInput, type Pulled } from './map-input.js';
import type { MapProgress, ResolvedMapOptions } from './map-options.js';
import { Pacer } from './pacer.js';

/**
 * A chunk expected to run at most this long may wait in a worker's inbox behind the one it is
 * running; longer ones wait in the pool's queue, where whichever worker frees first takes them.
 */
const SHORT_CHUNK_MS = 50;

interface Chunk {
  first: number;
  count: number;
  /** Kept until it settles: a chunk cut short sends the rest again. */
  items: unknown[];
  values: unknown[] | undefined;
  handle: { cancel(error: Error): void } | undefined;
}

interface Waiter<R> {
  resolve: (result: IteratorResult<R>) => void;
  reject: (error: unknown) => void;
}

/**
 * The async iterator `pool.map` returns. Lazy (nothing is pulled before the first `next()`),
 * bounded (never more than `buffer` items pulled and not yet yielded), ordered by default. An
 * error is thrown when iteration reaches its item and cancels the rest; `break` cancels what is
 * pending and closes the input.
 */
export class MapIterator<R> implements AsyncIterableIterator<R> {
  readonly #runner: ChunkRunner;
  readonly #input: MapInput;
  readonly #delivery: Delivery;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onProgress: ((progress: MapProgress) => void) | undefined;
  readonly #sizer: ChunkSizer;
  #total: number | undefined;
  #completed = 0;
  #sourceDone = false;
  #filling = false;
  #finished = false;
  #awaitingRoom = false;
  readonly #inFlight = new Map<number, Chunk>();
  /** What chunks cut short left undone, to send again before pulling more (in index order). */
  readonly #leftOvers = new LeftOvers();
  /** The error to throw, and (ordered) at which item. */
  #error: { at: number; error: unknown } | undefined;
  /** Callers of `next()` not answered yet, answered in the order they called (as an async generator does). */
  readonly #waiters = new FifoQueue<Waiter<R>>();
  /** `#wake` is answering waiters: a nested call (from a fill it started) leaves the rest to it. */
  #waking = false;
  readonly #pacer = new Pacer();
  /** Stops watching the signal (see abort-listeners.ts: one listener per signal, however many maps share it). */
  #unwatch: (() => void) | undefined;
  readonly #onAbort = (): void => this.#fail(abortErrorFrom(this.#signal as AbortSignal), this.#delivery.delivered);

  /** @internal Created by `pool.map`. */
  constructor(runner: ChunkRunner, input: Iterable<unknown> | AsyncIterable<unknown>, options: ResolvedMapOptions) {
    this.#runner = runner;
    this.#input = new MapInput(input);
    this.#delivery = deliveryFor(options.ordered);
    this.#timeoutMs = options.timeoutMs;
    this.#signal = options.signal;
    this.#onProgress = options.onProgress;
    this.#sizer = new ChunkSizer(options.chunkSize, options.buffer, () => runner.workers, runner.timing);
    this.#total = this.#input.size;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    if (!this.#input.opened && !this.#finished) this.#open();
    if (this.#waiters.size === 0) {
      const now = this.#take();
      if (now !== undefined) return this.#pacer.paced(now);
    }
    this.#pacer.waited();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#fill();
    });
  }

  /** Leaving a `for await` early: cancels pending items and closes the input. */
  async return(): Promise<IteratorResult<R>> {
    this.#finish();
    return { done: true, value: undefined };
  }

  /** Collects every result into an array (in the map's order), taking whole chunks at a time. */
  async toArray(): Promise<R[]> {
    const out: R[] = [];
    for (;;) {
      this.#drainReady(out);
      const step = await this.next();
      if (step.done) return out;
      out.push(step.value);
    }
  }

  /** Moves every result that is ready to be delivered into `out`, without a promise per item. */
  #drainReady(out: R[]): void {
    if (!this.#input.opened && !this.#finished) this.#open();
    if (this.#error !== undefined || this.#finished) return;
    this.#delivery.drainInto(out);
    this.#fill();
  }

  // ─── delivery ─────────────────────────────────────────────────────────────────────────────

  /** A settled promise for the next result if one is ready (or the end, or the error); else undefined. */
  #take(): Promise<IteratorResult<R>> | undefined {
    // Finished: by return(), by the end, or by the error, already thrown. An error recorded and not
    // thrown before return() is dropped with the rest: the caller left.
    if (this.#finished) return Promise.resolve({ done: true, value: undefined });
    const value = this.#delivery.next(this.#error?.at);
    if (value === ERROR_TURN) return this.#throw();
    if (value !== NOTHING) {
      this.#fill();
      return Promise.resolve({ done: false, value: value as R });
    }
    if (this.#sourceDone && this.#inFlight.size === 0 && this.#leftOvers.isEmpty && this.#error === undefined) {
      this.#finish();
      return Promise.resolve({ done: true, value: undefined });
    }
    return undefined;
  }

  #throw(): Promise<never> {
    const { error } = this.#error as { error: unknown };
    this.#error = undefined;
    this.#finish();
    return Promise.reject(error);
  }

  /** Answers waiting `next()` calls, oldest first, while results (or the end, or the error) are ready. */
  #wake(): void {
    if (this.#waking) return;
    this.#waking = true;
    try {
      for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) {
        // Out of the line before #take: a #take that throws the error finishes the map, and
        // #finish answers everyone still in the line with the end.
        const result = this.#take();
        if (result === undefined) {
          this.#waiters.unshift(waiter);
          return;
        }
        result.then(waiter.resolve, waiter.reject);
      }
    } finally {
      this.#waking = false;
    }
  }

  // ─── pulling and launching ────────────────────────────────────────────────────────────────

  #open(): void {
    this.#input.open();
    if (this.#signal?.aborted) this.#onAbort();
    else if (this.#signal) this.#unwatch = whenAborted(this.#signal, this.#onAbort);
  }

  #hasRoom(size: number): boolean {
    if (this.#error !== undefined) return false;
    if (!this.#runner.hasRoom()) {
      this.#waitForPoolRoom();
      return false;
    }
    const chunks = this.#inFlight.size;
    if (chunks >= CHUNKS_PER_WORKER * this.#runner.workers) return false;
    if (this.#sizer.probing && chunks >= this.#runner.workers) return false;
    const ahead = this.#input.pulled - this.#delivery.delivered;
    return ahead === 0 || ahead + size <= this.#sizer.bufferLimit(this.#remaining(), this.#delivery.delivered);
  }

  /** The pool's queue is full (`maxQueue`): a map is bounded by its own buffer, and waits for room. */
  #waitForPoolRoom(): void {
    if (this.#awaitingRoom) return;
    this.#awaitingRoom = true;
    void this.#runner.whenRoom().then(() => {
      this.#awaitingRoom = false;
      this.#fill();
    });
  }

  /** Pulls items and launches chunks while there is room. One pass at a time. */
  #fill(): void {
    if (this.#filling || this.#finished) return;
    this.#sendLeftOvers();
    if (this.#sourceDone || !this.#leftOvers.isEmpty) return;
    this.#filling = true;
    if (this.#input.isAsync) {
      this.#fillAsync().finally(() => {
        this.#filling = false;
        this.#wake();
      });
      return;
    }
    try {
      for (;;) {
        const size = this.#sizer.next(this.#remaining(), this.#delivery.delivered);
        if (!this.#hasRoom(size) || !this.#launchPulled(this.#input.pull(size))) break;
      }
    } catch (error) {
      this.#sourceFailed(error);
    } finally {
      this.#filling = false;
    }
    this.#wake();
  }

  async #fillAsync(): Promise<void> {
    try {
      for (;;) {
        const size = this.#sizer.next(this.#remaining(), this.#delivery.delivered);
        if (!this.#hasRoom(size)) return;
        const pulled = await this.#input.pullAsync(size, () => this.#finished);
        if (pulled === undefined || !this.#launchPulled(pulled)) return;
      }
    } catch (error) {
      this.#sourceFailed(error);
    }
  }

  /** Launches what a pull gave; false once nothing more is to be pulled (the input ended or failed, or the map did). */
  #launchPulled(pulled: Pulled): boolean {
    if (pulled.failure !== undefined) {
      this.#sourceFailed(pulled.failure.error, pulled);
      return false;
    }
    if (pulled.ended) {
      this.#sourceDone = true;
      this.#total = this.#input.pulled;
    }
    if (pulled.items.length > 0) this.#submit(pulled.first, pulled.items);
    return !this.#sourceDone && !this.#finished;
  }

  /**
   * The input threw. The items it gave before still run, and their results come first; the error
   * is thrown where the next item would have been.
   */
  #sourceFailed(error: unknown, pulled?: Pulled): void {
    this.#sourceDone = true;
    if (this.#finished) return;
    if (pulled !== undefined && pulled.items.length > 0) this.#submit(pulled.first, pulled.items);
    this.#fail(error, this.#input.pulled);
  }

  /** Items not sent yet, when the total is known: not pulled yet, or left over by a chunk cut short. */
  #remaining(): number | undefined {
    if (this.#total === undefined) return undefined;
    return this.#total - this.#input.pulled + this.#leftOvers.count();
  }

  /**
   * Whether what is left to pull (called once this chunk is pulled) would not give every worker
   * one more chunk of this size. Then a chunk must not wait in a busy worker's inbox: another
   * worker may be about to run out of work, and the map would end one chunk late. Guided sizes leave (2 × workers - 1) chunks' worth after each
   * chunk until they reach their floor, so only the last few chunks are held back.
   */
  #inTail(size: number): boolean {
    const remaining = this.#remaining();
    return remaining !== undefined && remaining < size * this.#runner.workers;
  }

  /**
   * Sends items `first`.. as one chunk. An item that cannot be sent fails the map at its own
   * index: the items before it are sent as a chunk of their own, and their results come first.
   */
  #submit(first: number, items: unknown[]): void {
    const chunk: Chunk = { first, count: items.length, items, values: undefined, handle: undefined };
    this.#inFlight.set(first, chunk);
    const report = this.#onProgress
      ? (value: unknown) => this.#report({ completed: this.#completed, total: this.#total, value })
      : undefined;
    try {
      const expectedMs = this.#sizer.expectedMs(items.length);
      const spec: ChunkSpec = {
        items,
        first,
        short: expectedMs !== undefined && expectedMs <= SHORT_CHUNK_MS && !this.#inTail(items.length),
        timeoutMs: this.#timeoutMs,
        cutAfterMs: this.#sizer.cutAfterMs(items.length),
      };
      chunk.handle = this.#runner.run(spec, report, (error, outcome, reached) => this.#settle(chunk, error, outcome, reached));
    } catch (thrown) {
      // Refused (closed, queue full, an item that cannot cross): a fresh error, ours to mark.
      this.#inFlight.delete(first);
      const [at, error] = thrown instanceof ItemRefused ? [thrown.at, thrown.error] : [0, thrown as Error];
      if (at > 0 && this.#delivery.ordered) this.#submit(first, items.slice(0, at)); // in completion order, the error ends it now
      defineIndex(error, first + at);
      this.#fail(error, first + at);
    }
  }

  /**
   * A chunk has ended. When it failed as a whole (timeout, its worker died), `reached` is the item
   * that was running: the map fails there, and, in input order, the items before it, which had
   * finished but whose results died with the worker, run again to be delivered first.
   */
  #settle(chunk: Chunk, error: Error | undefined, outcome: RanOutcome | undefined, reached?: number): void {
    this.#inFlight.delete(chunk.first);
    if (this.#finished) return;
    if (error !== undefined) {
      const at = chunk.first + (reached ?? 0);
      if (this.#delivery.ordered && reached !== undefined && reached > 0) this.#leftOvers.keep(chunk.first, chunk.items.slice(0, reached));
      defineIndex(error, at);
      this.#fail(error, at);
      this.#fill(); // sends what must run again
      return;
    }
    const [values, , runMs, failure, failedAt] = outcome as RanOutcome;
    chunk.values = values;
    this.#sizer.observe(runMs, values.length + (failure ? 1 : 0));
    this.#completed += values.length;
    if (failure === undefined && values.length < chunk.count)
      this.#leftOvers.keep(chunk.first + values.length, chunk.items.slice(values.length));
    this.#delivery.accept(chunk.first, values);
    if (failure !== undefined) {
      const at = chunk.first + (failedAt ?? 0);
      this.#fail(deserializeError(failure, { taskName: this.#runner.taskName, taskId: -1, mapIndex: at }), at);
    }
    if (this.#onProgress) void this.#report({ completed: this.#completed, total: this.#total });
    this.#wake();
    this.#fill();
  }

  /**
   * Sends again what chunks cut short left undone, ahead of anything not pulled yet, while there is
   * room. Also once an error is recorded: what #fail kept comes before it and must still run.
   */
  #sendLeftOvers(): void {
    while (!this.#leftOvers.isEmpty && this.#inFlight.size < CHUNKS_PER_WORKER * this.#runner.workers) {
      if (!this.#runner.hasRoom()) {
        this.#waitForPoolRoom();
        return;
      }
      const { first, items } = this.#leftOvers.take(this.#sizer.next(this.#remaining(), this.#delivery.delivered)) as {
        first: number;
        items: unknown[];
      };
      this.#submit(first, items);
    }
  }

  /**
   * Calls `onProgress`. A listener that throws fails the map as an abort does: iteration throws
   * its error at the next item, and the rest is cancelled.
   */
  #report(progress: MapProgress): Promise<void> | undefined {
    return callListener(this.#onProgress as (progress: MapProgress) => void, progress, (error) =>
      this.#fail(error, this.#delivery.delivered),
    );
  }

  /** Records the error to throw at item `at` (ordered) or next (completion order), and cancels the rest. */
  #fail(error: unknown, at: number): void {
    if (this.#finished) return;
    if (this.#error === undefined || this.#delivery.replaces(at, this.#error.at))
      this.#error = { at: this.#delivery.placeError(at), error };
    // Items after the error are never delivered: stop them now. Earlier ones still run (ordered).
    for (const chunk of this.#inFlight.values()) {
      if (!this.#delivery.ordered || chunk.first > at) this.#cancelChunk(chunk);
    }
    if (this.#delivery.ordered) this.#leftOvers.dropFrom(at);
    else this.#leftOvers.clear();
    this.#wake();
  }

  #cancelChunk(chunk: Chunk): void {
    this.#inFlight.delete(chunk.first);
    chunk.handle?.cancel(new AbortError('the map was stopped'));
  }

  /** Ends the map: cancels what is pending and closes the input. */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#unwatch?.();
    for (const chunk of [...this.#inFlight.values()]) this.#cancelChunk(chunk);
    this.#delivery.clear();
    this.#leftOvers.clear();
    if (!this.#sourceDone) {
      this.#sourceDone = true;
      this.#input.close();
    }
    this.#waiters.drain((waiter) => waiter.resolve({ done: true, value: undefined }));
  }
}

function defineIndex(error: Error, index: number): void {
  if ((error as { mapIndex?: number }).mapIndex !== undefined) return;
  Object.defineProperty(error, 'mapIndex', { value: index, writable: true, configurable: true, enumerable: false });
}
