import { whenAborted } from '../abort-listeners.js';
import { AbortError, abortErrorFrom, invalidType } from '../errors.js';
import { FifoQueue } from '../sync/fifo-queue.js';
import type { RanOutcome } from '../wire/protocol.js';
import { deserializeError } from '../wire/remote-error.js';
import { CHUNKS_PER_WORKER, ChunkSizer, type ChunkTiming } from './chunk-sizer.js';
import { type Delivery, deliveryFor, ERROR_TURN, NOTHING } from './map-delivery.js';
import { callListener } from './progress.js';

/** Options of `pool.map` and `pool.starmap`. */
export interface MapOptions {
  /**
   * Items per message to a worker. `'auto'` (the default) measures the first items and sizes
   * chunks to about 20 ms of work each, so overhead stays a percent or two whether an item takes a
   * microsecond or a second. When the input's length is known (an array, a Set, a Map), each
   * chunk takes half a worker's share of what is left, from 0.5 to 50 ms of work: fewer messages
   * while much is left, small chunks at the end so the workers finish together. A number fixes the
   * size.
   */
  chunkSize?: number | 'auto';
  /**
   * The most items pulled from the input and not yet handed to you: memory stays flat over huge
   * or infinite inputs. Default: enough for 4 chunks per worker (at least 64, at most 65,536 per
   * worker); from an input of unknown length (a generator, a cursor) with automatic chunks, also
   * at most 4 times the items you have taken so far (at least 64), so a consumer that takes a few
   * items and goes off to other work does not have thousands pulled for it.
   */
  buffer?: number;
  /** `true` (default): results in input order. `false`: in completion order. */
  ordered?: boolean;
  /**
   * Per-item timeout, counted from each item's start: an item that runs longer fails the map at
   * its index with `TaskTimeoutError` (`ERR_TASK_TIMEOUT`), about `timeoutMs` after it started,
   * and its worker is stopped as a timed-out task's is. The items of its chunk that had finished
   * run again (see the README, "When a map item fails").
   */
  timeoutMs?: number;
  /** Aborting stops the map: pending items are cancelled and iteration throws an `AbortError`. */
  signal?: AbortSignal;
  /**
   * Called on the caller's thread after every chunk with items completed so far and the total
   * (once known), and with `value` set for each `currentTask().progress(value)` of a task.
   */
  onProgress?: (progress: MapProgress) => void;
}

/** What `MapOptions.onProgress` receives. */
export interface MapProgress {
  /** Items whose results have come back. */
  completed: number;
  /** All items, when known (arrays, Sets, Maps, or once the input has ended). */
  total: number | undefined;
  /** Present when a task reported progress with `currentTask().progress(value)`. */
  value?: unknown;
}

/** See `MapIterator.#paced`: the longest results are handed out back to back before the event loop turns, and how often the clock is read. */
const YIELD_AFTER_MS = 4;
const CLOCK_EVERY = 32;

/**
 * A chunk expected to run at most this long may wait in a worker's inbox behind the one it is
 * running; longer ones wait in the pool's queue, where whichever worker frees first takes them.
 */
const SHORT_CHUNK_MS = 50;

/** One chunk, as a map hands it to its pool. */
export interface ChunkSpec {
  items: unknown[];
  /** The map index of the first item. */
  first: number;
  /** Expected to run briefly: it may wait in a busy worker's inbox (see TaskSpec). */
  short: boolean;
  timeoutMs: number;
  /** See `TaskExtras.cutAfterMs`. */
  cutAfterMs: number | undefined;
}

/** How a map hands chunks to its pool. */
export interface ChunkRunner {
  /** The workers that run chunks: read at each decision (a cluster's servers come and go). */
  readonly workers: number;
  readonly taskName: string;
  /** The scale chunks are sized on; worker threads' by default. */
  readonly timing?: ChunkTiming;
  /** False while the pool's queue is full (`maxQueue`): the map waits for `whenRoom()` instead of failing. */
  hasRoom(): boolean;
  whenRoom(): Promise<void>;
  /**
   * Submits one chunk; throws when the pool refuses it (closed), or an
   * {@link ItemRefused} for an item that cannot be sent, submitting nothing.
   */
  run(
    chunk: ChunkSpec,
    onProgress: ((value: unknown) => unknown) | undefined,
    settle: (error: Error | undefined, outcome: RanOutcome | undefined, reached?: number) => void,
  ): { cancel(error: Error): void };
}

/** Thrown by a {@link ChunkRunner} for an item it cannot send: the `at` items before it can be. */
export class ItemRefused {
  constructor(
    readonly at: number,
    readonly error: Error,
  ) {}
}

/** A map's `items`, checked: an Iterable or AsyncIterable (a string maps over its characters). */
export function checkMapItems(items: unknown): Iterable<unknown> | AsyncIterable<unknown> {
  const isIterable = items !== null && typeof items === 'object' && (Symbol.iterator in items || Symbol.asyncIterator in items);
  if (!isIterable && typeof items !== 'string') throw invalidType('items', items, 'an Iterable or AsyncIterable');
  return items as Iterable<unknown>;
}

/**
 * A chunk's items up to the first one a starmap cannot spread (not an array), and the refusal of
 * that one, for a runner to throw once the items before it are checked. A plain map spreads nothing.
 */
export function argumentLists(
  chunk: unknown[],
  spread: boolean,
  label: (i: number) => string,
): { lists: unknown[]; refusal: ItemRefused | undefined } {
  const at = spread ? chunk.findIndex((item) => !Array.isArray(item)) : -1;
  if (at === -1) return { lists: chunk, refusal: undefined };
  const error = invalidType(label(at), chunk[at], 'an array of arguments (starmap calls the task with ...item)');
  return { lists: chunk.slice(0, at), refusal: new ItemRefused(at, error) };
}

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

type Source = Iterator<unknown> | AsyncIterator<unknown>;

/**
 * The async iterator `pool.map` returns. Lazy (nothing is pulled before the first `next()`),
 * bounded (never more than `buffer` items pulled and not yet yielded), ordered by default. An
 * error is thrown when iteration reaches its item and cancels the rest; `break` cancels what is
 * pending and closes the input.
 */
export class MapIterator<R> implements AsyncIterableIterator<R> {
  readonly #runner: ChunkRunner;
  readonly #input: Iterable<unknown> | AsyncIterable<unknown>;
  readonly #delivery: Delivery;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onProgress: ((progress: MapProgress) => void) | undefined;
  readonly #sizer: ChunkSizer;
  #source: Source | undefined;
  #async = false;
  #total: number | undefined;
  #pulled = 0;
  #completed = 0;
  #sourceDone = false;
  #filling = false;
  #finished = false;
  #awaitingRoom = false;
  readonly #inFlight = new Map<number, Chunk>();
  /** What chunks cut short left undone, to send again before pulling more (in index order). */
  readonly #leftOver: { first: number; items: unknown[] }[] = [];
  /** The error to throw, and (ordered) at which item. */
  #error: { at: number; error: unknown } | undefined;
  /** Callers of `next()` not answered yet, answered in the order they called (as an async generator does). */
  readonly #waiters = new FifoQueue<Waiter<R>>();
  /** `#wake` is answering waiters: a nested call (from a fill it started) leaves the rest to it. */
  #waking = false;
  /** When the current run of results handed out back to back began (0: none), and results since the clock was read. */
  #burstFrom = 0;
  #sinceClock = 0;
  /** Stops watching the signal (see abort-listeners.ts: one listener per signal, however many maps share it). */
  #unwatch: (() => void) | undefined;
  readonly #onAbort = (): void => this.#fail(abortErrorFrom(this.#signal as AbortSignal), this.#delivery.delivered);

  /** @internal Created by `pool.map`. */
  constructor(runner: ChunkRunner, input: Iterable<unknown> | AsyncIterable<unknown>, options: ResolvedMapOptions) {
    this.#runner = runner;
    this.#input = input;
    this.#delivery = deliveryFor(options.ordered);
    this.#timeoutMs = options.timeoutMs;
    this.#signal = options.signal;
    this.#onProgress = options.onProgress;
    this.#sizer = new ChunkSizer(options.chunkSize, options.buffer, () => runner.workers, runner.timing);
    this.#total = knownSize(input);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    if (this.#source === undefined && !this.#finished) this.#open();
    if (this.#waiters.size === 0) {
      const now = this.#take();
      if (now !== undefined) return this.#paced(now);
    }
    this.#burstFrom = 0; // this caller waits for a message: the event loop turns
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#fill();
    });
  }

  /**
   * Hands out a result that was ready, but lets the event loop turn once results have been handed
   * out back to back for `YIELD_AFTER_MS`. A `for await` over ready results runs as one chain of
   * microtasks, which never yields: while the workers produce faster than the caller consumes
   * (tiny items), the caller's timers and I/O would wait for the whole backlog.
   */
  #paced(result: Promise<IteratorResult<R>>): Promise<IteratorResult<R>> {
    if (++this.#sinceClock < CLOCK_EVERY) return result;
    this.#sinceClock = 0;
    const now = performance.now();
    if (this.#burstFrom === 0) this.#burstFrom = now;
    else if (now - this.#burstFrom >= YIELD_AFTER_MS) {
      this.#burstFrom = 0;
      return new Promise((resolve) => setImmediate(resolve, result));
    }
    return result;
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
    if (this.#source === undefined && !this.#finished) this.#open();
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
    if (this.#sourceDone && this.#inFlight.size === 0 && this.#leftOver.length === 0 && this.#error === undefined) {
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
    const input = this.#input as Partial<Iterable<unknown> & AsyncIterable<unknown>>;
    const asyncIterator = input[Symbol.asyncIterator];
    if (typeof asyncIterator === 'function') {
      this.#source = asyncIterator.call(input);
      this.#async = true;
    } else {
      this.#source = (input as Iterable<unknown>)[Symbol.iterator]();
    }
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
    const ahead = this.#pulled - this.#delivery.delivered;
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
    if (this.#sourceDone || this.#leftOver.length > 0) return;
    this.#filling = true;
    if (this.#async) {
      this.#fillAsync().finally(() => {
        this.#filling = false;
        this.#wake();
      });
      return;
    }
    let items: unknown[] = [];
    try {
      const source = this.#source as Iterator<unknown>;
      const array = Array.isArray(this.#input) ? (this.#input as unknown[]) : undefined;
      for (;;) {
        const size = this.#sizer.next(this.#remaining(), this.#delivery.delivered);
        if (!this.#hasRoom(size)) break;
        if (array !== undefined) {
          items = packedSlice(array, this.#pulled, size);
          if (this.#pulled + items.length >= array.length) this.#endOfInput(items.length);
        } else {
          items = [];
          while (items.length < size) {
            const step = source.next();
            if (step.done) {
              this.#endOfInput(items.length);
              break;
            }
            items.push(step.value);
          }
        }
        const chunk = items;
        items = [];
        if (chunk.length > 0) this.#launch(chunk);
        if (this.#sourceDone || this.#finished) break;
      }
    } catch (error) {
      this.#sourceFailed(error, items);
    } finally {
      this.#filling = false;
    }
    this.#wake();
  }

  async #fillAsync(): Promise<void> {
    const source = this.#source as AsyncIterator<unknown>;
    let items: unknown[] = [];
    try {
      for (;;) {
        const size = this.#sizer.next(this.#remaining(), this.#delivery.delivered);
        if (!this.#hasRoom(size)) return;
        while (items.length < size) {
          const step = await source.next();
          if (this.#finished) return;
          if (step.done) {
            this.#endOfInput(items.length);
            break;
          }
          items.push(step.value);
        }
        const chunk = items;
        items = [];
        if (chunk.length > 0) this.#launch(chunk);
        if (this.#sourceDone || this.#finished) return;
      }
    } catch (error) {
      this.#sourceFailed(error, items);
    }
  }

  /**
   * The input threw. The items it gave before still run, and their results come first; the error
   * is thrown where the next item would have been.
   */
  #sourceFailed(error: unknown, pulled: unknown[]): void {
    this.#sourceDone = true;
    if (this.#finished) return;
    if (pulled.length > 0) this.#launch(pulled);
    this.#fail(error, this.#pulled);
  }

  #endOfInput(pending: number): void {
    this.#sourceDone = true;
    this.#total = this.#pulled + pending;
  }

  /** Items not sent yet, when the total is known: not pulled yet, or left over by a chunk cut short. */
  #remaining(): number | undefined {
    if (this.#total === undefined) return undefined;
    let leftOver = 0;
    for (const { items } of this.#leftOver) leftOver += items.length;
    return this.#total - this.#pulled + leftOver;
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

  #launch(items: unknown[]): void {
    const first = this.#pulled;
    this.#pulled += items.length;
    this.#submit(first, items);
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
      if (this.#delivery.ordered && reached !== undefined && reached > 0) this.#keepLeftOver(chunk.first, chunk.items.slice(0, reached));
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
      this.#keepLeftOver(chunk.first + values.length, chunk.items.slice(values.length));
    this.#delivery.accept(chunk.first, values);
    if (failure !== undefined) {
      const at = chunk.first + (failedAt ?? 0);
      this.#fail(deserializeError(failure, { taskName: this.#runner.taskName, taskId: -1, mapIndex: at }), at);
    }
    if (this.#onProgress) void this.#report({ completed: this.#completed, total: this.#total });
    this.#wake();
    this.#fill();
  }

  /** Items a chunk cut short left undone (see `TaskExtras.cutAfterMs`), kept in index order. */
  #keepLeftOver(first: number, items: unknown[]): void {
    let at = this.#leftOver.length;
    while (at > 0 && (this.#leftOver[at - 1] as { first: number }).first > first) at--;
    this.#leftOver.splice(at, 0, { first, items });
  }

  /**
   * Sends again what chunks cut short left undone, ahead of anything not pulled yet, while there is
   * room. Also once an error is recorded: what #fail kept comes before it and must still run.
   */
  #sendLeftOvers(): void {
    while (this.#leftOver.length > 0 && this.#inFlight.size < CHUNKS_PER_WORKER * this.#runner.workers) {
      if (!this.#runner.hasRoom()) {
        this.#waitForPoolRoom();
        return;
      }
      const head = this.#leftOver[0] as { first: number; items: unknown[] };
      const size = Math.min(head.items.length, this.#sizer.next(this.#remaining(), this.#delivery.delivered));
      const items = head.items.slice(0, size);
      if (size === head.items.length) this.#leftOver.shift();
      else this.#leftOver[0] = { first: head.first + size, items: head.items.slice(size) };
      this.#submit(head.first, items);
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
    const keep = this.#leftOver.filter(({ first }) => this.#delivery.ordered && first < at);
    this.#leftOver.splice(0, this.#leftOver.length, ...keep);
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
    this.#leftOver.length = 0;
    if (!this.#sourceDone) {
      this.#sourceDone = true;
      try {
        const closing = this.#source?.return?.();
        if (closing instanceof Promise) closing.catch(() => {});
      } catch {
        // the input's own cleanup failed; the map is over either way
      }
    }
    this.#waiters.drain((waiter) => waiter.resolve({ done: true, value: undefined }));
  }
}

/** Map options after validation. */
export interface ResolvedMapOptions {
  chunkSize: number | undefined;
  buffer: number | undefined;
  ordered: boolean;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  onProgress: ((progress: MapProgress) => void) | undefined;
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

function knownSize(input: unknown): number | undefined {
  if (Array.isArray(input) || ArrayBuffer.isView(input)) return (input as { length: number }).length;
  if (input instanceof Set || input instanceof Map) return input.size;
  return undefined;
}

function defineIndex(error: Error, index: number): void {
  if ((error as { mapIndex?: number }).mapIndex !== undefined) return;
  Object.defineProperty(error, 'mapIndex', { value: index, writable: true, configurable: true, enumerable: false });
}
