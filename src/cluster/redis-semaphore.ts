/**
 * A counting semaphore across processes and machines, on redis-semaphore's multi-semaphore (atomic
 * Lua scripts over one sorted set of leases).
 *
 * What it promises, and what it does not:
 * - **Bounded**: at most `capacity` units are held at once, across every process using `key`.
 * - **Leases**: a permit's units are a lease of `leaseMs`, renewed every third of it while held;
 *   a process that dies stops renewing, and its units return within `leaseMs`. A holder whose
 *   renewal fails (Redis unreachable for a whole lease) loses its units: `onLeaseLost` is called
 *   and the permit counts as released. Lease times come from each client's own clock, so clocks
 *   that disagree by more than a small part of `leaseMs` shorten or lengthen leases by that much.
 * - **Not fair**: a waiter polls every `retryIntervalMs`, and whichever poll finds room first
 *   wins, so the order of grants is not the order of requests, and a heavy request can wait while
 *   lighter ones keep fitting. A waiter learns of freed units up to `retryIntervalMs` (plus a round
 *   trip) late; each waiter costs Redis one script call per interval.
 * - An aborted or timed-out waiter simply stops polling: it holds and leaves nothing in Redis.
 */
import type { Redis } from 'ioredis';
import type { MultiSemaphore } from 'redis-semaphore';
import { AcquireTimeoutError, abortErrorFrom } from '../errors.js';
import { newPermit, type Permit } from '../sync/permit.js';
import { type AcquireOptions, checkAcquireOptions, checkWeight, overRelease, type Semaphore, withPermitOf } from '../sync/semaphore.js';
import { checkInteger, checkOptions, invalidValue, type OptionNames } from '../validate.js';
import { checkConnection, DEFAULT_CONNECT_TIMEOUT_MS, openClient, type RedisConnection } from './connection.js';
import { checkQueueName } from './keys.js';
import { loadPeers } from './peers.js';

/** Options of `new RedisSemaphore`. */
export interface RedisSemaphoreOptions {
  /** The Redis key of the semaphore: every process using the same key shares the same units. */
  key: string;
  /** Units handed out at most at once, across all processes. Every user of `key` must give the same. */
  capacity: number;
  /** Where Redis is: a `redis://` URL, ioredis options, or an ioredis instance (duplicated, left open). */
  connection: RedisConnection;
  /** How long a held permit's units stay taken without a renewal, in ms. Default 10,000. */
  leaseMs?: number;
  /** How often a waiter asks again, in ms. Default 10. */
  retryIntervalMs?: number;
  /** How long the first connection may take, in ms. Default 10,000. */
  connectTimeoutMs?: number;
  /** Called when a held permit's lease could not be renewed and its units went back. Default: a process warning. */
  onLeaseLost?: (error: Error) => void;
}

const OPTIONS: OptionNames<RedisSemaphoreOptions> = {
  of: 'new RedisSemaphore()',
  names: { key: true, capacity: true, connection: true, leaseMs: true, retryIntervalMs: true, connectTimeoutMs: true, onLeaseLost: true },
};

/** One acquisition: its redis-semaphore lock and its weight. */
interface Held {
  lock: MultiSemaphore;
  weight: number;
}

export class RedisSemaphore implements Semaphore, AsyncDisposable {
  readonly capacity: number;
  readonly key: string;
  readonly #options: Required<Omit<RedisSemaphoreOptions, 'key' | 'capacity' | 'onLeaseLost'>> & {
    onLeaseLost: ((error: Error) => void) | undefined;
  };
  readonly #client: Promise<Redis>;
  /** Acquisitions of this object not released yet, oldest first (`release(n)` gives back the oldest). */
  readonly #held = new Set<Held>();
  /** Releases under way: `close()` waits for them. */
  readonly #releasing = new Set<Promise<void>>();
  #closed = false;

  constructor(options: RedisSemaphoreOptions) {
    const opts = checkOptions('options', options, OPTIONS);
    if (options === undefined) throw invalidValue('options', options, 'an options object with `key`, `capacity` and `connection`');
    this.key = checkQueueName('options.key', opts.key);
    this.capacity = checkInteger('options.capacity', opts.capacity, 1);
    this.#options = {
      connection: checkConnection('options.connection', opts.connection),
      leaseMs: opts.leaseMs === undefined ? 10_000 : checkInteger('options.leaseMs', opts.leaseMs, 100),
      retryIntervalMs: opts.retryIntervalMs === undefined ? 10 : checkInteger('options.retryIntervalMs', opts.retryIntervalMs, 1),
      connectTimeoutMs:
        opts.connectTimeoutMs === undefined
          ? DEFAULT_CONNECT_TIMEOUT_MS
          : checkInteger('options.connectTimeoutMs', opts.connectTimeoutMs, 1),
      onLeaseLost: opts.onLeaseLost,
    };
    this.#client = openClient(this.#options.connection, this.#options.connectTimeoutMs);
    this.#client.catch(() => {}); // reported by the first acquire
  }

  /** Units this object holds now (its own permits, not other processes'). */
  get held(): number {
    let units = 0;
    for (const { weight } of this.#held) units += weight;
    return units;
  }

  /**
   * Waits for `weight` units (see the class notes: not FIFO) and resolves to a {@link Permit}.
   * Rejects with `AcquireTimeoutError` after `timeoutMs`, with `AbortError` when `signal` aborts,
   * with `ERR_CLUSTER_CONNECT` when Redis cannot be reached.
   */
  async acquire(options?: AcquireOptions): Promise<Permit> {
    const { weight, timeoutMs, signal } = checkAcquireOptions(options, this.capacity);
    if (signal?.aborted) throw abortErrorFrom(signal);
    const lock = await this.#lock(weight, { acquireTimeout: timeoutMs ?? Number.POSITIVE_INFINITY });
    try {
      await lock.acquire(signal);
    } catch (error) {
      if (signal?.aborted) throw abortErrorFrom(signal);
      const { redisSemaphore } = await loadPeers();
      if (error instanceof redisSemaphore.TimeoutError) throw new AcquireTimeoutError(timeoutMs ?? 0);
      throw error;
    }
    return this.#permit(lock, weight);
  }

  /** One attempt: a permit for `weight` units if they are free now, else undefined. */
  async tryAcquire(weight = 1): Promise<Permit | undefined> {
    checkWeight('weight', weight, this.capacity);
    const lock = await this.#lock(weight, { acquireAttemptsLimit: 1 });
    return (await lock.tryAcquire()) ? this.#permit(lock, weight) : undefined;
  }

  withPermit<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    return withPermitOf(this, fn, options);
  }

  /**
   * Gives back `n` units this object acquired, oldest permits first; `n` must add up to whole
   * permits (a lease is released whole). Resolves once Redis has them back.
   */
  async release(n = 1): Promise<void> {
    checkWeight('n', n, this.capacity);
    if (n > this.held) throw overRelease(n, this.held);
    const taken: Held[] = [];
    let left = n;
    for (const held of this.#held) {
      if (held.weight > left) continue;
      taken.push(held);
      left -= held.weight;
      if (left === 0) break;
    }
    if (left !== 0)
      throw invalidValue('n', n, `a sum of whole permits this object holds (weights ${[...this.#held].map((h) => h.weight).join(', ')})`);
    await Promise.all(taken.map((held) => this.#giveBack(held)));
  }

  /** Releases every permit this object holds and closes its connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const held of [...this.#held]) void this.#giveBack(held);
    await Promise.all(this.#releasing);
    (await this.#client.catch(() => undefined))?.disconnect();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #lock(weight: number, timing: { acquireTimeout?: number; acquireAttemptsLimit?: number }): Promise<MultiSemaphore> {
    const [client, { redisSemaphore }] = await Promise.all([this.#client, loadPeers()]);
    const { leaseMs, retryIntervalMs } = this.#options;
    let held: Held | undefined;
    const lock = new redisSemaphore.MultiSemaphore(client, this.key, this.capacity, weight, {
      lockTimeout: leaseMs,
      refreshInterval: Math.max(1, Math.round(leaseMs / 3)),
      retryInterval: retryIntervalMs,
      ...timing,
      onLockLost: (error) => {
        held = [...this.#held].find((h) => h.lock === lock);
        if (held !== undefined) this.#held.delete(held);
        const report = this.#options.onLeaseLost;
        if (report) report(error);
        else
          process.emitWarning(`RedisSemaphore '${this.key}': a permit's lease was lost (${error.message}); its units went back`, {
            code: 'THREADGATE_LEASE_LOST',
          });
      },
    });
    return lock;
  }

  #permit(lock: MultiSemaphore, weight: number): Permit {
    const held: Held = { lock, weight };
    this.#held.add(held);
    return newPermit(weight, () => void this.#giveBack(held));
  }

  /** Stops renewing and deletes the lease; a failure is harmless (the lease runs out by itself). */
  #giveBack(held: Held): Promise<void> {
    if (!this.#held.delete(held)) return Promise.resolve();
    const releasing = held.lock.release().catch(() => {});
    this.#releasing.add(releasing);
    void releasing.then(() => this.#releasing.delete(releasing));
    return releasing;
  }
}
