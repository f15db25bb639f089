import { ThreadgateError } from '../errors.js';
import { checkFunction, checkOptionalDuration, checkOptions, checkSignal, invalidType, type OptionNames, outOfRange } from '../validate.js';
import type { Permit } from './permit.js';

/** Options of `acquire` and `withPermit`. */
export interface AcquireOptions {
  /**
   * How many units to take at once, from 1 to the semaphore's capacity. A weighted request
   * waits in line like any other: it is granted whole, never in parts. Default 1.
   */
  weight?: number;
  /**
   * Give up after this many milliseconds of waiting, rejecting with `AcquireTimeoutError`
   * (`ERR_ACQUIRE_TIMEOUT`). A request that gives up leaves no permit behind. Default: wait forever.
   */
  timeoutMs?: number;
  /** Give up when this signal aborts, rejecting with `AbortError`. Leaves no permit behind. */
  signal?: AbortSignal;
}

export const ACQUIRE_OPTIONS: OptionNames<AcquireOptions> = {
  of: 'acquire() and withPermit()',
  names: { weight: true, timeoutMs: true, signal: true },
};

/**
 * What every semaphore offers, in one thread (`AsyncSemaphore`), across a process's threads
 * (`SharedSemaphore`) or across machines (`RedisSemaphore` from `threadgate/cluster`), so code
 * that takes a `Semaphore` switches between them with one line. Written against this interface,
 * `await` what `tryAcquire` and `release` return: a Redis semaphore answers over the network.
 */
export interface Semaphore {
  /** The number of units this semaphore hands out at most at once. */
  readonly capacity: number;
  /** Waits for `weight` units and resolves to a {@link Permit} that gives them back. */
  acquire(options?: AcquireOptions): Promise<Permit>;
  /** Takes `weight` units only if that is possible at once (a local semaphore: without overtaking a waiter). */
  tryAcquire(weight?: number): Permit | undefined | Promise<Permit | undefined>;
  /** Runs `fn` while holding a permit, and releases it however `fn` ends. */
  withPermit<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T>;
  /** Gives back `n` units taken without a Permit object. Throws when that would exceed what is out. */
  release(n?: number): void | Promise<void>;
}

/**
 * What `SharedSemaphore` and `AsyncSemaphore` have in common beyond {@link Semaphore}: answers
 * without a round trip, and a line of waiters.
 *
 * Both are fair: requests are granted in the order they were made (FIFO), weighted ones
 * included, and a request at the head of the line holds back the ones behind it until it can be
 * granted whole. Both are bounded: releasing more than was taken throws.
 */
export interface LocalSemaphore extends Semaphore {
  /** Units free right now. A snapshot: with other threads it can change at once. */
  readonly available: number;
  /** Requests waiting in line right now. */
  readonly waiting: number;
  /** Takes `weight` units only if that is possible at once without overtaking a waiter. */
  tryAcquire(weight?: number): Permit | undefined;
  /** Gives back `n` units taken without a Permit object. Throws when that would exceed capacity. */
  release(n?: number): void;
}

/** A request's weight: an integer from 1 to the semaphore's capacity. */
export function checkWeight(name: string, weight: unknown, capacity: number): void {
  if (Number.isInteger(weight) && (weight as number) >= 1 && (weight as number) <= capacity) return;
  const allowed = `an integer from 1 to the capacity (${capacity})`;
  throw typeof weight === 'number' && !Number.isNaN(weight) ? outOfRange(name, weight, allowed) : invalidType(name, weight, allowed);
}

/**
 * An `options.weight`: left out means 1; anything given, `null` included, must be a valid weight
 * (as `tryAcquire(weight)` requires).
 */
export function checkWeightOption(weight: unknown, capacity: number): number {
  if (weight === undefined) return 1;
  checkWeight('options.weight', weight, capacity);
  return weight as number;
}

/** The options of `acquire` and `withPermit`, checked, with the weight resolved. */
export function checkAcquireOptions(
  options: AcquireOptions | undefined,
  capacity: number,
): { weight: number; timeoutMs: number | undefined; signal: AbortSignal | undefined } {
  const opts = checkOptions('options', options, ACQUIRE_OPTIONS);
  return {
    weight: checkWeightOption(opts.weight, capacity),
    timeoutMs: checkOptionalDuration('options.timeoutMs', opts.timeoutMs),
    signal: checkSignal('options.signal', opts.signal),
  };
}

/** `withPermit` for any semaphore: holds a permit while `fn` runs, and releases it however `fn` ends. */
export async function withPermitOf<T>(semaphore: Semaphore, fn: () => T | PromiseLike<T>, options: AcquireOptions | undefined): Promise<T> {
  checkFunction('fn', fn); // before taking a unit for it
  const permit = await semaphore.acquire(options);
  try {
    return await fn();
  } finally {
    permit.release();
  }
}

/** Releasing `n` units when only `out` are out: a bounded semaphore never exceeds its capacity. */
export function overRelease(n: number, out: number): ThreadgateError {
  return new ThreadgateError(
    'ERR_SEMAPHORE_OVER_RELEASE',
    `cannot release ${n} unit(s): only ${out} ${out === 1 ? 'is' : 'are'} out (a bounded semaphore never exceeds its capacity)`,
  );
}
