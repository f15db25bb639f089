import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortErrorFrom, invalidType } from '../errors.js';
import { checkFunction, checkOptions, checkSignal } from '../validate.js';
import type { Permit } from './permit.js';
import type { Semaphore } from './semaphore.js';

/** Options of `limiter.call`. */
export interface CallLimitOptions {
  /** An id for logs and the response. Default: a random UUID. */
  requestId?: string;
  /** Aborting while the call waits for its turn means it never runs and costs no slot. */
  signal?: AbortSignal;
}

/** What `limiter.call` resolves to (the seed's `ApiResponse`). */
export interface LimitedResponse<T> {
  /** What `fn` returned (awaited). */
  data: T;
  requestId: string;
  /** How long `fn` ran, in ms, on a monotonic clock (waiting for a turn not included). */
  durationMs: number;
}

/** The pieces a rate limiter is made of: in-thread or shared, the logic is the same. */
export interface LimiterGates {
  /** At most `maxConcurrent` calls run at once. */
  concurrency: Semaphore;
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
 * wait until `minIntervalMs` has passed since the previous start, record this start, and let the
 * next caller measure from it. A call aborted at any point before `fn` runs gives back what it
 * took and records no start.
 */
export async function callLimited<T>(
  gates: LimiterGates,
  fn: () => T | PromiseLike<T>,
  options: CallLimitOptions | undefined,
): Promise<LimitedResponse<Awaited<T>>> {
  checkFunction('fn', fn);
  const opts = checkOptions<CallLimitOptions>('options', options);
  const signal = checkSignal('options.signal', opts.signal);
  if (opts.requestId !== undefined && typeof opts.requestId !== 'string')
    throw invalidType('options.requestId', opts.requestId, 'a string');
  const requestId = opts.requestId ?? randomUUID();
  const slot: Permit = await gates.concurrency.acquire(signal ? { signal } : undefined);
  try {
    if (gates.spacing !== undefined) await waitForTurn(gates, gates.spacing, signal);
    const start = gates.now();
    const data = await fn();
    return { data, requestId, durationMs: gates.now() - start };
  } finally {
    slot.release();
  }
}

async function waitForTurn(gates: LimiterGates, spacing: Semaphore, signal: AbortSignal | undefined): Promise<void> {
  const turn = await spacing.acquire(signal ? { signal } : undefined);
  try {
    const wait = gates.lastStart() + gates.minIntervalMs - gates.now();
    if (wait > 0) {
      try {
        await sleep(wait, undefined, signal ? { signal } : undefined);
      } catch (error) {
        throw signal?.aborted ? abortErrorFrom(signal) : error;
      }
    }
    gates.setLastStart(gates.now());
  } finally {
    turn.release();
  }
}
