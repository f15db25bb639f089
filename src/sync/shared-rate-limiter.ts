import { checkInteger, checkOptions, invalidType, invalidValue, MAX_INT32 } from '../validate.js';
import { HANDLE_TAG, type Handle, isInstance, KIND, type Shareable, TO_HANDLE } from '../wire/handles.js';
import { adoptedOptions, adoptedParts } from './adopted.js';
import { AsyncSemaphore } from './async-semaphore.js';
import { type CallLimitOptions, callLimited, checkMinInterval, type LimitedResponse, type LimiterGates } from './limiter-core.js';
import { type RateLimiterOptions, SHARED_RATE_LIMITER_OPTIONS } from './rate-limiter.js';
import { SharedSemaphore, type SharedSemaphoreHandle } from './shared-semaphore/shared-semaphore.js';

export const SHARED_RATE_LIMITER_KIND = 'SharedRateLimiter';
/** Calls of one thread that may wait in shared memory at once; the rest wait in the thread. */
const FUNNEL_WIDTH = 64;
/** Shared waiter slots of the concurrency semaphore: room for 64 busy threads. */
const SHARED_WAITERS = 4096;
const VERSION = 1;

/** The cloneable form of a {@link SharedRateLimiter}. */
export interface SharedRateLimiterHandle extends Handle {
  readonly concurrency: SharedSemaphoreHandle;
  readonly spacing: SharedSemaphoreHandle;
  /** [minIntervalMs in µs, last start in µs] on a BigInt64Array. */
  readonly clock: SharedArrayBuffer;
}

/**
 * {@link RateLimiter} for the whole process: the same API, with its concurrency and its spacing
 * held in shared memory, so every thread that has it (pass it to a pool task as an argument)
 * obeys one limit. Each thread's calls first line up in the thread (at most 64 of them wait in
 * shared memory at once), so one thread can make any number of calls at once. Concurrency is a `SharedSemaphore`; starts are decided one at a time under a
 * second, one-unit `SharedSemaphore` (FIFO across threads) against a start time kept in shared
 * memory on the process-wide monotonic clock (`process.hrtime`). Permits of a worker that dies
 * are given back by its pool.
 */
export class SharedRateLimiter implements Shareable {
  readonly #concurrency: SharedSemaphore;
  readonly #spacing: SharedSemaphore;
  readonly #clock: BigInt64Array;
  readonly #gates: LimiterGates;

  constructor(options: RateLimiterOptions) {
    let parts = adoptedParts<Parts>(options);
    if (parts === undefined) {
      const opts = checkOptions('options', options, SHARED_RATE_LIMITER_OPTIONS);
      const maxConcurrent = checkInteger('options.maxConcurrent', opts.maxConcurrent, 1, MAX_INT32);
      const minIntervalMs = checkMinInterval(opts.minIntervalMs);
      const clock = new BigInt64Array(new SharedArrayBuffer(16));
      clock[0] = BigInt(Math.round(minIntervalMs * 1000));
      clock[1] = BigInt(Number.MIN_SAFE_INTEGER);
      // A caller waits for spacing only while holding a concurrency unit: maxConcurrent waiters at most.
      const spacing = new SharedSemaphore(1, { maxWaiters: Math.min(maxConcurrent, 2 ** 20) });
      parts = { concurrency: new SharedSemaphore(maxConcurrent, { maxWaiters: SHARED_WAITERS }), spacing, clock };
    }
    this.#concurrency = parts.concurrency;
    this.#spacing = parts.spacing;
    this.#clock = parts.clock;
    const clockArray = this.#clock;
    const minIntervalMs = Number(Atomics.load(clockArray, 0)) / 1000;
    this.#gates = {
      funnel: new AsyncSemaphore(Math.min(this.#concurrency.capacity, FUNNEL_WIDTH)),
      concurrency: this.#concurrency,
      spacing: minIntervalMs > 0 ? this.#spacing : undefined,
      minIntervalMs,
      now: () => Number(process.hrtime.bigint() / 1000n) / 1000,
      lastStart: () => Number(Atomics.load(clockArray, 1)) / 1000,
      setLastStart: (ms) => {
        Atomics.store(clockArray, 1, BigInt(Math.round(ms * 1000)));
      },
    };
  }

  /** Rebuilds a limiter from its handle (the pool does this for task arguments). Validated. */
  static from(handle: SharedRateLimiterHandle): SharedRateLimiter {
    if (typeof handle !== 'object' || handle === null || handle[HANDLE_TAG] !== SHARED_RATE_LIMITER_KIND) {
      throw invalidType('handle', handle, 'a SharedRateLimiter handle (from `limiter.handle`)');
    }
    if (!(handle.clock instanceof SharedArrayBuffer) || handle.clock.byteLength !== 16) {
      throw invalidValue('handle.clock', handle.clock, 'the 16-byte SharedArrayBuffer of a SharedRateLimiter');
    }
    return adopt({
      concurrency: SharedSemaphore.from(handle.concurrency),
      spacing: SharedSemaphore.from(handle.spacing),
      clock: new BigInt64Array(handle.clock),
    });
  }

  get handle(): SharedRateLimiterHandle {
    return {
      [HANDLE_TAG]: SHARED_RATE_LIMITER_KIND,
      version: VERSION,
      concurrency: this.#concurrency.handle,
      spacing: this.#spacing.handle,
      clock: this.#clock.buffer as SharedArrayBuffer,
    };
  }

  /** Used by the pool to send this limiter as a task argument (a symbol: no name of yours meets it). Kept in the types: it makes a limiter a shared object to them. */
  [TO_HANDLE](): SharedRateLimiterHandle {
    return this.handle;
  }

  /** What `instanceof` looks for. */
  get [KIND](): string {
    return SHARED_RATE_LIMITER_KIND;
  }

  /** True for a SharedRateLimiter of any copy of threadgate in this thread (see SharedSemaphore's). */
  static [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class asked, which may be a subclass
    return isInstance(this, SHARED_RATE_LIMITER_KIND, value);
  }

  get maxConcurrent(): number {
    return this.#concurrency.capacity;
  }

  get minIntervalMs(): number {
    return this.#gates.minIntervalMs;
  }

  /** Calls free to start right now, across all threads. */
  get available(): number {
    return this.#concurrency.available;
  }

  /** Calls waiting for a concurrency permit, across all threads. */
  get waiting(): number {
    return this.#concurrency.waiting;
  }

  /** Runs `fn` when the process-wide limits allow. See `RateLimiter.call`. */
  call<T>(fn: () => T | PromiseLike<T>, options?: CallLimitOptions): Promise<LimitedResponse<Awaited<T>>> {
    return callLimited(this.#gates, fn, options);
  }
}

/** What a limiter stands on: two semaphores and the clock of the last start. */
interface Parts {
  concurrency: SharedSemaphore;
  spacing: SharedSemaphore;
  clock: BigInt64Array;
}

/** A limiter on parts that exist already, validated (see adopted.ts). */
function adopt(parts: Parts): SharedRateLimiter {
  return new SharedRateLimiter(adoptedOptions(parts));
}
