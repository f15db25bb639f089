import { isMainThread } from 'node:worker_threads';
import { AbortError, AcquireTimeoutError, abortErrorFrom, ThreadgateError } from '../../errors.js';
import { checkInteger, checkOptionalDuration, checkOptions, invalidValue, MAX_INT32, type OptionNames } from '../../validate.js';
import { HANDLE_TAG, isInstance, KIND, noteShareable, type Shareable, TO_HANDLE } from '../../wire/handles.js';
import { adoptedOptions, adoptedParts } from '../adopted.js';
import { watchGiveUp } from '../give-up.js';
import { holdEventLoop, releaseEventLoop } from '../keep-alive.js';
import { newPermit, type Permit } from '../permit.js';
import { registerResource, type ThreadScopedResource } from '../registry.js';
import {
  type AcquireOptions,
  checkAcquireOptions,
  checkWeight,
  checkWeightOption,
  type LocalSemaphore,
  withPermitOf,
} from '../semaphore.js';
import {
  createStorage,
  idOf,
  SHARED_SEMAPHORE_KIND,
  type SharedSemaphoreHandle,
  type SharedSemaphoreOptions,
  type Storage,
  sameMemory,
  VERSION,
  validateHandle,
  WAITING,
} from './layout.js';
import { SemaphoreState } from './state.js';
import type { Ticket } from './waiter-line.js';

export { SHARED_SEMAPHORE_KIND, type SharedSemaphoreHandle, type SharedSemaphoreOptions } from './layout.js';

/*
 * The API over a semaphore's memory: checks arguments, makes permits, and waits. The memory and
 * its invariants are in layout.ts, the lock in lock.ts, the holder table and hand-offs in
 * holders.ts, the waiter line in waiter-line.ts, every transition in state.ts.
 */

/** Options of {@link SharedSemaphore.acquireSync}. */
export interface AcquireSyncOptions {
  /** Units to take, 1..capacity. Default 1. */
  weight?: number;
  /** Give up after this many milliseconds, throwing `AcquireTimeoutError`. Default: wait forever. */
  timeoutMs?: number;
  /**
   * `acquireSync` blocks its thread with `Atomics.wait`. On the main thread that freezes the
   * event loop (timers, I/O, every promise), so it is refused unless this is `true`.
   */
  allowMainThread?: boolean;
}

const ACQUIRE_SYNC_OPTIONS: OptionNames<AcquireSyncOptions> = {
  of: 'acquireSync()',
  names: { weight: true, timeoutMs: true, allowMainThread: true },
};

/** Options of `SharedSemaphore.release`. */
export interface ReleaseOptions {
  /**
   * The `threadId` of the thread whose units these are (the main thread's is 0). Its record is
   * booked with them, so its exit does not give them back again. Needed only when several
   * other threads hold units; with one, it is that one.
   */
  onBehalfOf?: number;
}

const RELEASE_OPTIONS: OptionNames<ReleaseOptions> = { of: 'release()', names: { onBehalfOf: true } };

/**
 * A counting semaphore in a `SharedArrayBuffer`, driven by `Atomics`, that gates a finite
 * resource across every thread of the process.
 *
 * **Fairness.** Strictly first-in, first-out across all threads: requests are granted in the
 * order they took their place in line, and a weighted request at the head holds back the lighter
 * ones behind it until it can be granted whole, so heavy requests are never starved. A request
 * that finds nobody waiting and enough units free takes them at once (barging is impossible:
 * with anybody in line, `acquire` and `tryAcquire` queue up or fail).
 *
 * **Cancellation.** A request that times out or is aborted leaves the line and leaves no permit
 * behind; if a grant raced the cancel, the units go straight to the next in line.
 *
 * **Dead holders.** The buffer records how many units each thread holds. When a `WorkerPool`
 * worker exits, the pool gives its units back; for your own `Worker`s call {@link reclaim}.
 *
 * **Memory effects.** Actions in a thread before `release()` happen-before actions after the
 * acquire that the release lets through, in any thread.
 *
 * **Bounded.** Releasing more units than are out throws `ERR_SEMAPHORE_OVER_RELEASE`, changing
 * nothing: never more than `capacity` units are free. A raw `release(n)` names no holder, so a
 * permit whose units it gave back still releases once those units are out again (taken by
 * another request); use one or the other for the same units, never both.
 */
export class SharedSemaphore implements LocalSemaphore, Shareable, ThreadScopedResource {
  readonly #storage: Storage;
  readonly #state: SemaphoreState;
  /** Gives units back: one function for every Permit of this semaphore. */
  readonly #releaseUnits = (weight: number): void => {
    if (!this.#state.giveFast(weight)) this.#state.give(weight, undefined);
  };

  /**
   * @param capacity how many units may be out at once: an integer from 1 to 2^31-1.
   */
  constructor(capacity: number, options?: SharedSemaphoreOptions) {
    const storage = adoptedParts<Storage>(options) ?? createStorage(capacity, options);
    this.#storage = storage;
    this.#state = new SemaphoreState(storage);
    registerResource(this);
    noteShareable();
    const id = idOf(this.#state.view.m);
    inThisThread.set(id, new WeakRef(this));
    forgetWhenCollected.register(this, id);
  }

  /**
   * Rebuilds a semaphore on the memory of a handle (from `sem.handle`, possibly in another
   * thread). The buffer is validated: a foreign, truncated, newer-layout or damaged buffer, or a
   * copy of a live semaphore's buffer, is rejected with `ERR_INVALID_HANDLE`, never silently used.
   */
  static from(handle: SharedSemaphoreHandle): SharedSemaphore {
    const storage = validateHandle(handle);
    const m = new Int32Array(storage.buffer);
    const known = inThisThread.get(idOf(m))?.deref();
    if (known === undefined) return adopt(storage);
    if (sameMemory(known.#state.view.m, m)) return known;
    throw new ThreadgateError(
      'ERR_INVALID_HANDLE',
      "the handle's memory is a copy of a SharedSemaphore's memory, not that memory itself: a copy would be a second semaphore with the same identity; pass `sem.handle` as it is",
    );
  }

  /** The cloneable form of this semaphore; send it anywhere and call `SharedSemaphore.from`. */
  get handle(): SharedSemaphoreHandle {
    const { memory, buffer } = this.#storage;
    const tag = { [HANDLE_TAG]: SHARED_SEMAPHORE_KIND, version: VERSION };
    return memory ? { ...tag, memory } : { ...tag, buffer };
  }

  /** Used by the pool to send this semaphore as a task argument (a symbol: no name of yours meets it). Kept in the types: it makes a semaphore a shared object to them. */
  [TO_HANDLE](): SharedSemaphoreHandle {
    return this.handle;
  }

  /** What `instanceof` looks for: see the static `Symbol.hasInstance`. */
  get [KIND](): string {
    return SHARED_SEMAPHORE_KIND;
  }

  /**
   * True for a SharedSemaphore of any copy of threadgate in this thread: in a CommonJS worker
   * module, a semaphore that arrived as a task argument is one too, though the worker runtime
   * (ESM) revived it with its own copy of the class.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class asked, which may be a subclass
    return isInstance(this, SHARED_SEMAPHORE_KIND, value);
  }

  get capacity(): number {
    return this.#state.view.capacity;
  }

  get available(): number {
    return this.#state.available;
  }

  get waiting(): number {
    return this.#state.waiting;
  }

  /**
   * Units thread `threadId` has taken and not given back (0 for the main thread's id), granted
   * ones not yet picked up included, less those another thread gave back on its behalf (see
   * `release`). A snapshot while that thread runs.
   */
  heldBy(threadId: number): number {
    checkInteger('threadId', threadId, 0);
    return this.#state.heldBy(threadId + 1);
  }

  tryAcquire(weight = 1): Permit | undefined {
    if (weight !== 1) checkWeight('weight', weight, this.capacity); // 1 is always valid: capacity >= 1
    const state = this.#state;
    return state.takeFast(weight) || state.tryTake(weight) ? this.#permit(weight) : undefined;
  }

  acquire(options?: AcquireOptions): Promise<Permit> {
    if (options === undefined && this.#state.takeFast(1)) return Promise.resolve(this.#permit(1));
    let weight: number;
    let timeoutMs: number | undefined;
    let signal: AbortSignal | undefined;
    try {
      ({ weight, timeoutMs, signal } = checkAcquireOptions(options, this.capacity));
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(abortErrorFrom(signal));
    let ticket: Ticket | undefined;
    try {
      ticket = this.#state.enter(weight);
    } catch (err) {
      return Promise.reject(err);
    }
    if (ticket === undefined) return Promise.resolve(this.#permit(weight));
    if (timeoutMs === 0) {
      // Granted between joining the line and leaving it: the units are ours, keep them.
      return this.#state.cancel(ticket) ? Promise.resolve(this.#permit(weight)) : Promise.reject(new AcquireTimeoutError(0));
    }
    return this.#waitAsync(ticket, timeoutMs, signal);
  }

  /**
   * Waits for `weight` units, blocking this thread with `Atomics.wait` (for worker threads,
   * whose task has nothing else to do meanwhile). Refused on the main thread unless
   * `allowMainThread` is set. Throws `AcquireTimeoutError` on timeout.
   */
  acquireSync(options?: AcquireSyncOptions): Permit {
    const opts = checkOptions('options', options, ACQUIRE_SYNC_OPTIONS);
    const weight = checkWeightOption(opts.weight, this.capacity);
    const timeoutMs = checkOptionalDuration('options.timeoutMs', opts.timeoutMs) ?? Number.POSITIVE_INFINITY;
    if (isMainThread && opts.allowMainThread !== true) {
      throw invalidValue(
        'options.allowMainThread',
        opts.allowMainThread,
        'true to block the main thread (acquireSync freezes its event loop; use `await sem.acquire()` there)',
      );
    }
    const state = this.#state;
    const ticket = state.enter(weight);
    if (ticket === undefined) return this.#permit(weight);
    const word = state.stateWord(ticket);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const turn = state.turnOf(ticket);
      if (turn === 'granted') return this.#permit(weight);
      if (turn === 'revoked') throw revoked();
      const left = deadline - performance.now();
      if (left <= 0) {
        if (state.cancel(ticket)) return this.#permit(weight); // granted while timing out: the grant wins
        throw new AcquireTimeoutError(timeoutMs);
      }
      Atomics.wait(state.view.m, word, WAITING, left === Number.POSITIVE_INFINITY ? undefined : left);
    }
  }

  withPermit<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    return withPermitOf(this, fn, options);
  }

  /**
   * Gives back `n` units taken without a `Permit`, or on another thread's behalf: units beyond what
   * this thread holds are booked against the thread that took them, `options.onBehalfOf` (its
   * `threadId`) or else the only other thread holding units, so that its exit does not give them
   * back again. With several other holders and none named, no thread is booked: the next thread
   * to take the locked path pays the debt from its own record, and a dead worker's units pay it
   * first. Throws `ERR_SEMAPHORE_OVER_RELEASE` when fewer than `n` units are out, changing nothing.
   */
  release(n = 1, options?: ReleaseOptions): void {
    checkInteger('n', n, 1, MAX_INT32);
    if (options === undefined) {
      if (!this.#state.giveFast(n)) this.#state.give(n, undefined);
      return;
    }
    const { onBehalfOf } = checkOptions('options', options, RELEASE_OPTIONS);
    this.#state.give(n, onBehalfOf === undefined ? undefined : checkInteger('options.onBehalfOf', onBehalfOf, 0));
  }

  /**
   * Gives back every unit thread `threadId` holds and drops its waiting requests, waking the
   * waiters that can now go. For threads that have exited: `WorkerPool` calls this for its own
   * workers; call it from a `Worker`'s `'exit'` handler for threads you manage yourself, with the
   * `threadId` read when the worker started (`worker.threadId` is -1 by the time `'exit'` fires).
   * Returns how many units came back.
   */
  reclaim(threadId: number): number {
    checkInteger('threadId', threadId, 0);
    return this.#state.reclaim(threadId);
  }

  /** Waits for a ticket's grant without blocking the thread, until `timeoutMs` or `signal`. */
  #waitAsync(ticket: Ticket, timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<Permit> {
    const state = this.#state;
    const word = state.stateWord(ticket);
    return new Promise<Permit>((resolve, reject) => {
      let settled = false;
      let stopWatching: () => void;
      const finish = (): void => {
        settled = true;
        stopWatching();
        releaseEventLoop();
      };
      const giveUp = (error: Error): void => {
        if (settled) return;
        finish();
        if (state.cancel(ticket)) this.#releaseUnits(ticket.weight); // the grant won the race: pass the units on
        reject(error);
      };
      const watch = (): void => {
        if (settled) return;
        const turn = state.turnOf(ticket);
        if (turn !== 'waiting') {
          finish();
          if (turn === 'granted') resolve(this.#permit(ticket.weight));
          else reject(revoked());
          return;
        }
        const result = Atomics.waitAsync(state.view.m, word, WAITING);
        if (result.async) result.value.then(watch);
        else queueMicrotask(watch);
      };
      holdEventLoop();
      stopWatching = watchGiveUp(timeoutMs, signal, giveUp);
      watch();
    });
  }

  #permit(weight: number): Permit {
    return newPermit(weight, this.#releaseUnits);
  }
}

/** The semaphores this thread has, by ID: `from()` hands out the one it already made. */
const inThisThread = new Map<string, WeakRef<SharedSemaphore>>();
const forgetWhenCollected = new FinalizationRegistry<string>((id) => {
  if (inThisThread.get(id)?.deref() === undefined) inThisThread.delete(id);
});

function revoked(): AbortError {
  return new AbortError('the wait was cancelled: its thread was reclaimed (reclaim() is for threads that have exited)');
}

/** A semaphore on memory that exists already, validated (see adopted.ts). */
function adopt(storage: Storage): SharedSemaphore {
  return new SharedSemaphore(1, adoptedOptions(storage));
}
