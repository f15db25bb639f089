import { whenAborted } from '../../abort-listeners.js';
import { abortErrorFrom } from '../../errors.js';
import { FifoQueue } from '../../sync/fifo-queue.js';
import type { ChunkRunner } from './chunk-runner.js';
import { CHUNKS_PER_WORKER, ChunkSizer } from './chunk-sizer.js';
import { type Delivery, deliveryFor, ERROR_TURN, NOTHING } from './delivery.js';
import { MapChunks } from './map-chunks.js';
import { MapInput, type Pulled } from './map-input.js';
import type { ResolvedMapOptions } from './map-options.js';
import { Pacer } from './pacer.js';

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
  readonly #signal: AbortSignal | undefined;
  readonly #sizer: ChunkSizer;
  readonly #chunks: MapChunks;
  #total: number | undefined;
  #sourceDone = false;
  #filling = false;
  #finished = false;
  #awaitingRoom = false;
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
    this.#signal = options.signal;
    this.#sizer = new ChunkSizer(options.chunkSize, options.buffer, () => runner.workers, runner.timing);
    this.#total = this.#input.size;
    this.#chunks = new MapChunks({
      runner,
      sizer: this.#sizer,
      delivery: this.#delivery,
      timeoutMs: options.timeoutMs,
      onProgress: options.onProgress,
      total: () => this.#total,
      remaining: () => this.#remaining(),
      finished: () => this.#finished,
      fail: (error, at) => this.#fail(error, at),
      wake: () => this.#wake(),
      fill: () => this.#fill(),
      waitForPoolRoom: () => this.#waitForPoolRoom(),
    });
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
    if (this.#sourceDone && this.#chunks.done && this.#error === undefined) {
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
    const chunks = this.#chunks.size;
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
    this.#chunks.sendLeftOvers();
    if (this.#sourceDone || this.#chunks.hasLeftOvers) return;
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
    if (pulled.items.length > 0) this.#chunks.send(pulled.first, pulled.items);
    return !this.#sourceDone && !this.#finished;
  }

  /**
   * The input threw. The items it gave before still run, and their results come first; the error
   * is thrown where the next item would have been.
   */
  #sourceFailed(error: unknown, pulled?: Pulled): void {
    this.#sourceDone = true;
    if (this.#finished) return;
    if (pulled !== undefined && pulled.items.length > 0) this.#chunks.send(pulled.first, pulled.items);
    this.#fail(error, this.#input.pulled);
  }

  /** Items not sent yet, when the total is known: not pulled yet, or left over by a chunk cut short. */
  #remaining(): number | undefined {
    if (this.#total === undefined) return undefined;
    return this.#total - this.#input.pulled + this.#chunks.leftOverCount();
  }

  /** Records the error to throw at item `at` (ordered) or next (completion order), and cancels the rest. */
  #fail(error: unknown, at: number): void {
    if (this.#finished) return;
    if (this.#error === undefined || this.#delivery.replaces(at, this.#error.at))
      this.#error = { at: this.#delivery.placeError(at), error };
    // Items after the error are never delivered: stop them now. Earlier ones still run (ordered).
    this.#chunks.stopAfter(at);
    this.#wake();
  }

  /** Ends the map: cancels what is pending and closes the input. */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#unwatch?.();
    this.#chunks.stopAll();
    this.#delivery.clear();
    if (!this.#sourceDone) {
      this.#sourceDone = true;
      this.#input.close();
    }
    this.#waiters.drain((waiter) => waiter.resolve({ done: true, value: undefined }));
  }
}
