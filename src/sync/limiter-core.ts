import { setTimeout as sleep } from 'node:timers/promises';
import { abortErrorFrom } from '../errors.js';
import { checkFunction, checkOptions, checkSignal, invalidType, MAX_TIMER_MS, type OptionNames, outOfRange } from '../validate.js';
import type { Permit } from './permit.js';
import type { LocalSemaphore, Semaphore } from './semaphore.js';

/** Options of `limiter.call`. */
export interface CallLimitOptions {
  /** An id for logs and the response. Default: a random UUID. */
  requestId?: string;
  /** Aborting while the call waits for its turn means it never runs and costs no slot. */
  signal?: AbortSignal;
}

const CALL_OPTIONS: OptionNames<CallLimitOptions> = { of: 'limiter.call()', names: { requestId: true, signal: true } };

/** What `limiter.call` resolves to (the response of Python's `ApiRateLimiter` example). */
export interface LimitedResponse<T> {
  /** What `fn` returned (awaited). */
  data: T;
  requestId: string;
  /** How long `fn` ran, in ms, on a monotonic clock (waiting for a turn not included). */
  durationMs: number;
  /**
   * When the limiter let the call start, in ms on its monotonic clock: `performance.now()` for
   * `RateLimiter`, the process-wide `process.hrtime` for `SharedRateLimiter`. Starts are spaced
   * by at least `minIntervalMs` on this clock.
   */
  startedAt: number;
}

/**
 * A rate limiter's `minIntervalMs`, the same for every limiter: 0 (no spacing), or from 1 µs (the
 * resolution of the shared limiter's clock, so no interval rounds to none) to the longest a timer
 * waits. Infinity is refused: a limiter that never lets a second call start is a bug, not a limit.
 */
export function checkMinInterval(value: unknown): number {
  const name = 'options.minIntervalMs';
  const allowed = `0 (no spacing), or a number of milliseconds from 0.001 (1 µs) to ${MAX_TIMER_MS}`;
  if (value === undefined) return 0;
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalidType(name, value, allowed);
  if (value !== 0 && !(value >= 0.001 && value <= MAX_TIMER_MS)) throw outOfRange(name, value, allowed);
  return value;
}

/** The arguments of `limiter.call`, checked: every rate limiter's, in-thread, shared or on Redis. */
export function checkCallLimit(fn: unknown, options: CallLimitOptions | undefined): { requestId: string; signal: AbortSignal | undefined } {
  checkFunction('fn', fn);
  const opts = checkOptions('options', options, CALL_OPTIONS);
  const signal = checkSignal('options.signal', opts.signal);
  if (opts.requestId !== undefined && typeof opts.requestId !== 'string')
    throw invalidType('options.requestId', opts.requestId, 'a string');
  // The global, not `node:crypto`: importing that module costs every worker ~8 ms more to start.
  return { requestId: opts.requestId ?? crypto.randomUUID(), signal };
}

/** The pieces a rate limiter is made of: in-thread or shared, the logic is the same. */
export interface LimiterGates {
  /**
   * A per-thread line in front of `concurrency`, for a shared limiter: however many calls one
   * thread makes at once, only a bounded number of them wait in shared memory.
   */
  funnel: Semaphore | undefined;
  /** At most `maxConcurrent` calls run at once. */
  concurrency: LocalSemaphore;
  /** Serialises the start decisions, so starts are spaced one at a time, in FIFO order. */
  spacing: Semaphore | undefined;
  minIntervalMs: number;
  /** A monotonic clock in ms, and the start time of the latest call. */
  now(): number;
  lastStart(): number;
  setLastStart(ms: number): void;
}

/**
 * Runs `fn` when both limits allow: first a concurrency permit; then, holding the spacing lock,
 * wait until `minIntervalMs` has passed since the previous start on the monotonic clock (timers
 * may fire early, so the clock, not the timer, decides), record this start and call `fn` in the
 * same synchronous step, so the recorded start is when `fn` really began. A call aborted at any
 * point before `fn` runs gives back what it took and records no start.
 */
export async function callLimited<T>(
  gates: LimiterGates,
  fn: () => T | PromiseLike<T>,
  options: CallLimitOptions | undefined,
): Promise<LimitedResponse<Awaited<T>>> {
  const { requestId, signal } = checkCallLimit(fn, options);
  const place: Permit | undefined = await gates.funnel?.acquire(signal ? { signal } : undefined);
  try {
    const slot: Permit = await gates.concurrency.acquire(signal ? { signal } : undefined);
    try {
      const { start, pending } = gates.spacing === undefined ? startNow(gates, fn) : await startInTurn(gates, gates.spacing, fn, signal);
      const data = await pending;
      return { data, requestId, durationMs: gates.now() - start, startedAt: start };
    } finally {
      slot.release();
    }
  } finally {
    place?.release();
  }
}

function startNow<T>(gates: LimiterGates, fn: () => T | PromiseLike<T>): { start: number; pending: T | PromiseLike<T> } {
  const start = gates.now();
  return { start, pending: fn() };
}

async function startInTurn<T>(
  gates: LimiterGates,
  spacing: Semaphore,
  fn: () => T | PromiseLike<T>,
  signal: AbortSignal | undefined,
): Promise<{ start: number; pending: T | PromiseLike<T> }> {
  const turn = await spacing.acquire(signal ? { signal } : undefined);
  try {
    for (
      let wait = gates.lastStart() + gates.minIntervalMs - gates.now();
      wait > 0;
      wait = gates.lastStart() + gates.minIntervalMs - gates.now()
    ) {
      try {
        await sleep(Math.ceil(wait), undefined, signal ? { signal } : undefined);
      } catch (error) {
        throw signal?.aborted ? abortErrorFrom(signal) : error;
      }
    }
    const start = gates.now();
    gates.setLastStart(start);
    return { start, pending: fn() };
  } finally {
    turn.release();
  }
}
