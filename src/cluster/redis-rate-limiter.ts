/**
 * Python's `ApiRateLimiter` across every process on every machine: at most `maxConcurrent` calls
 * at once and starts at least `minIntervalMs` apart, decided by one Lua script on Redis, with
 * Redis's clock (`TIME`), so clocks that disagree between machines change nothing.
 *
 * State (both keys expire when unused):
 * - `<key>:running`, a sorted set: one member per running call, scored with when its lease ends
 *   (Redis ms). A call renews its lease every third of `leaseMs`; a process that dies stops, and
 *   its slot frees when the lease ends.
 * - `<key>:last`: the Redis time of the latest start.
 *
 * A waiting call asks again when the interval allows (it is told how long) or, when every slot is
 * taken, every `retryIntervalMs`: not FIFO, and a slot freed is seen up to that late.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { abortErrorFrom } from '../errors.js';
import { type CallLimitOptions, checkCallLimit, checkMinInterval, type LimitedResponse } from '../sync/limiter-core.js';
import { checkInteger, checkOptions, invalidValue, type OptionNames } from '../validate.js';
import { checkConnection, DEFAULT_CONNECT_TIMEOUT_MS, openClient, type RedisConnection } from './connection.js';
import { checkQueueName } from './keys.js';

/** Options of `new RedisRateLimiter`. */
export interface RedisRateLimiterOptions {
  /** The Redis key of the limiter: every process using it shares its limits. */
  key: string;
  /** Calls running at once, at most, across all processes. */
  maxConcurrent: number;
  /** The least time between two starts, in ms (Redis's clock). Default 0. */
  minIntervalMs?: number;
  /** Where Redis is: a `redis://` URL, ioredis options, or an ioredis instance (duplicated, left open). */
  connection: RedisConnection;
  /** How long a running call's slot stays taken without a renewal, in ms. Default 10,000. */
  leaseMs?: number;
  /** How often a call waiting for a free slot asks again, in ms. Default 10. */
  retryIntervalMs?: number;
  /** How long the first connection may take, in ms. Default 10,000. */
  connectTimeoutMs?: number;
}

const OPTIONS: OptionNames<RedisRateLimiterOptions> = {
  of: 'new RedisRateLimiter()',
  names: {
    key: true,
    maxConcurrent: true,
    minIntervalMs: true,
    connection: true,
    leaseMs: true,
    retryIntervalMs: true,
    connectTimeoutMs: true,
  },
};

/**
 * Starts a call if both limits allow. KEYS: running, last. ARGV: maxConcurrent, minIntervalMs,
 * member, leaseMs. Returns {1, now} when started; {0, wait} when not, `wait` the ms until the
 * interval allows a start, or -1 when every slot is taken.
 */
const TRY_START = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return {0, '-1'} end
local interval = tonumber(ARGV[2])
local last = redis.call('GET', KEYS[2])
if last and now < tonumber(last) + interval then return {0, tostring(tonumber(last) + interval - now)} end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease * 2)
redis.call('SET', KEYS[2], string.format('%.3f', now), 'PX', math.max(math.ceil(interval) * 2, 1000))
return {1, string.format('%.3f', now)}`;

/** Renews a running call's lease. KEYS: running. ARGV: member, leaseMs. */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1`;

export class RedisRateLimiter implements AsyncDisposable {
  readonly key: string;
  readonly maxConcurrent: number;
  readonly minIntervalMs: number;
  readonly #leaseMs: number;
  readonly #retryIntervalMs: number;
  readonly #client: Promise<Redis>;
  readonly #keys: [running: string, last: string];

  constructor(options: RedisRateLimiterOptions) {
    if (options === undefined) throw invalidValue('options', options, 'an options object with `key`, `maxConcurrent` and `connection`');
    const opts = checkOptions('options', options, OPTIONS);
    this.key = checkQueueName('options.key', opts.key);
    this.maxConcurrent = checkInteger('options.maxConcurrent', opts.maxConcurrent, 1);
    this.minIntervalMs = checkMinInterval(opts.minIntervalMs);
    this.#leaseMs = opts.leaseMs === undefined ? 10_000 : checkInteger('options.leaseMs', opts.leaseMs, 100);
    this.#retryIntervalMs = opts.retryIntervalMs === undefined ? 10 : checkInteger('options.retryIntervalMs', opts.retryIntervalMs, 1);
    const connectTimeoutMs =
      opts.connectTimeoutMs === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : checkInteger('options.connectTimeoutMs', opts.connectTimeoutMs, 1);
    this.#keys = [`${this.key}:running`, `${this.key}:last`];
    this.#client = openClient(checkConnection('options.connection', opts.connection), connectTimeoutMs);
    this.#client.catch(() => {}); // reported by the first call
  }

  /**
   * Runs `fn` once both limits allow, and resolves to `{ data, requestId, durationMs, startedAt }`
   * (`startedAt`: Redis's time of the start, ms since the epoch). A call aborted while it waits
   * never runs and takes no slot.
   */
  async call<T>(fn: () => T | PromiseLike<T>, options?: CallLimitOptions): Promise<LimitedResponse<Awaited<T>>> {
    const { requestId, signal } = checkCallLimit(fn, options);
    const client = await this.#client;
    const member = `${requestId}:${crypto.randomUUID()}`;
    const startedAt = await this.#start(client, member, signal);
    const renew = setInterval(
      () => void client.eval(RENEW, 1, this.#keys[0], member, this.#leaseMs).catch(() => {}),
      Math.max(1, Math.round(this.#leaseMs / 3)),
    );
    const began = performance.now();
    try {
      const data = await fn();
      return { data, requestId, durationMs: performance.now() - began, startedAt };
    } finally {
      clearInterval(renew);
      await client.zrem(this.#keys[0], member).catch(() => {});
    }
  }

  /** Closes the connection. Calls still running keep their slots until their leases end. */
  async close(): Promise<void> {
    (await this.#client.catch(() => undefined))?.disconnect();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #start(client: Redis, member: string, signal: AbortSignal | undefined): Promise<number> {
    const [running, last] = this.#keys;
    for (;;) {
      if (signal?.aborted) throw abortErrorFrom(signal);
      const [started, value] = (await client.eval(
        TRY_START,
        2,
        running,
        last,
        this.maxConcurrent,
        this.minIntervalMs,
        member,
        this.#leaseMs,
      )) as [number, string];
      if (started === 1) return Number(value);
      const wait = Number(value);
      try {
        await sleep(wait < 0 ? this.#retryIntervalMs : Math.max(1, Math.ceil(wait)), undefined, signal ? { signal } : undefined);
      } catch (error) {
        throw signal?.aborted ? abortErrorFrom(signal) : error;
      }
    }
  }
}
