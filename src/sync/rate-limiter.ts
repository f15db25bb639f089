import { checkInteger, checkOptions, invalidType, invalidValue, MAX_INT32, type OptionNames } from '../validate.js';
import { AsyncSemaphore } from './async-semaphore.js';
import { type CallLimitOptions, callLimited, checkMinInterval, type LimitedResponse, type LimiterGates } from './limiter-core.js';
import type { LocalSemaphore } from './semaphore.js';

/** Options of {@link RateLimiter} and {@link SharedRateLimiter}. */
export interface RateLimiterOptions {
  /** At most this many calls run at once. An integer from 1 to 2^31-1. */
  maxConcurrent: number;
  /**
   * Starts are at least this many ms apart (monotonic clock): 0, or from 0.001 (1 µs) to
   * 2^31-1 (about 24.8 days). Default 0: no spacing.
   */
  minIntervalMs?: number;
}

/** Options of {@link RateLimiter}: concurrency may come from a semaphore you already have. */
export interface InThreadRateLimiterOptions extends Partial<RateLimiterOptions> {
  /**
   * Use this semaphore for concurrency (for example a `SharedSemaphore`, to share the limit with
   * other code). `maxConcurrent`, if given too, must equal its capacity.
   */
  semaphore?: LocalSemaphore;
}

const RATE_LIMITER_OPTIONS: OptionNames<InThreadRateLimiterOptions> = {
  of: 'new RateLimiter()',
  names: { maxConcurrent: true, minIntervalMs: true, semaphore: true },
};
/** The options of {@link SharedRateLimiter}, which has no `semaphore`. */
export const SHARED_RATE_LIMITER_OPTIONS: OptionNames<RateLimiterOptions> = {
  of: 'new SharedRateLimiter()',
  names: { maxConcurrent: true, minIntervalMs: true },
};

/**
 * Python's `ApiRateLimiter` pattern: at most `maxConcurrent` calls at once, starts spaced at least
 * `minIntervalMs` apart, first come first served.
 *
 * ```ts
 * const limiter = new RateLimiter({ maxConcurrent: 5, minIntervalMs: 100 });
 * const { data, requestId, durationMs } = await limiter.call(() => fetchUser(id), { requestId: `req-${id}` });
 * ```
 */
export class RateLimiter {
  readonly #gates: LimiterGates;
  #lastStart = Number.NEGATIVE_INFINITY;

  constructor(options: InThreadRateLimiterOptions) {
    const opts = checkOptions('options', options, RATE_LIMITER_OPTIONS);
    const semaphore = opts.semaphore;
    if (semaphore !== undefined && (typeof semaphore !== 'object' || typeof semaphore.acquire !== 'function')) {
      throw invalidType('options.semaphore', semaphore, 'a Semaphore (AsyncSemaphore or SharedSemaphore)');
    }
    let concurrency: LocalSemaphore;
    if (semaphore === undefined) {
      concurrency = new AsyncSemaphore(checkInteger('options.maxConcurrent', opts.maxConcurrent, 1, MAX_INT32));
    } else {
      if (opts.maxConcurrent !== undefined && opts.maxConcurrent !== semaphore.capacity) {
        throw invalidValue(
          'options.maxConcurrent',
          opts.maxConcurrent,
          `left out, or equal to options.semaphore.capacity (${semaphore.capacity})`,
        );
      }
      concurrency = semaphore;
    }
    const minIntervalMs = checkMinInterval(opts.minIntervalMs);
    this.#gates = {
      funnel: undefined,
      concurrency,
      spacing: minIntervalMs > 0 ? new AsyncSemaphore(1) : undefined,
      minIntervalMs,
      now: () => performance.now(),
      lastStart: () => this.#lastStart,
      setLastStart: (ms) => {
        this.#lastStart = ms;
      },
    };
  }

  /** Calls free to start right now (concurrency permits available). */
  get available(): number {
    return this.#gates.concurrency.available;
  }

  /** Calls waiting for a concurrency permit. */
  get waiting(): number {
    return this.#gates.concurrency.waiting;
  }

  /**
   * Runs `fn` when both limits allow, and resolves to `{ data, requestId, durationMs }`. `fn`'s
   * own error rejects the call (after its slot is given back).
   */
  call<T>(fn: () => T | PromiseLike<T>, options?: CallLimitOptions): Promise<LimitedResponse<Awaited<T>>> {
    return callLimited(this.#gates, fn, options);
  }
}
