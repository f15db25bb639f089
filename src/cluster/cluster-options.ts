import type { ResolvedCallOptions } from '../pool/call-options.js';
import {
  checkFunction,
  checkInteger,
  checkOptions,
  checkSignal,
  checkTaskTimeout,
  invalidType,
  invalidValue,
  type OptionNames,
} from '../validate.js';
import { checkConnection, DEFAULT_CONNECT_TIMEOUT_MS, type RedisConnection } from './connection.js';
import { checkQueueName } from './keys.js';

/** Options of `new ClusterPool`. */
export interface ClusterPoolOptions {
  /** The BullMQ queue to send jobs to: the `queue` the serving processes `serve`. */
  queue: string;
  /** Where Redis is: a `redis://` URL, ioredis options, or an ioredis instance (duplicated, left open). */
  connection: RedisConnection;
  /** BullMQ's key prefix; the same on every side. Default `'bull'`, BullMQ's own. */
  prefix?: string;
  /** Default per-task timeout in ms, counted from the task's start on its server. Default: none. */
  taskTimeoutMs?: number;
  /**
   * How many workers serve the queue, which sizes maps (jobs in flight, chunk sizes). Default: the
   * sum of the live servers' `maxWorkers`, read from Redis at the start and every 2 s.
   */
  workers?: number;
  /** How long the first connection may take, in ms, before every call fails with `ERR_CLUSTER_CONNECT`. Default 10,000. */
  connectTimeoutMs?: number;
  /**
   * How long the connection to Redis may stay down, in ms, before every pending call and map fails
   * with `ERR_CLUSTER_CONNECTION_LOST` (the last connection error as `cause`). Calls made after
   * that wait for the connection again. Default 5,000.
   */
  lostAfterMs?: number;
  /**
   * How many times a job may be run when the pool of the server that took it has shut down
   * (BullMQ's `attempts`). A task's own error is its result and is never retried. Default 3.
   */
  attempts?: number;
}

const POOL_OPTIONS: OptionNames<ClusterPoolOptions> = {
  of: 'new ClusterPool()',
  names: {
    queue: true,
    connection: true,
    prefix: true,
    taskTimeoutMs: true,
    workers: true,
    connectTimeoutMs: true,
    lostAfterMs: true,
    attempts: true,
  },
};

/** Per-call options of `cluster.with()`: a `WorkerPool`'s, less what cannot cross machines. */
export interface ClusterCallOptions {
  /** Cancels the call (or every item of a map) when it aborts: a waiting job is removed, a running one stopped where it runs. */
  signal?: AbortSignal;
  /** Timeout in ms from the task's start on its server; overrides `taskTimeoutMs`. */
  timeoutMs?: number;
  /** Receives each `currentTask().progress(value)` of the task, from whichever machine runs it. */
  onProgress?: (value: unknown) => void;
}

const CALL_OPTIONS: OptionNames<ClusterCallOptions & { transfer: unknown }> = {
  of: 'cluster.with()',
  names: { signal: true, timeoutMs: true, onProgress: true, transfer: true },
};

/** Options of `cluster.shutdown()`. */
export interface ClusterShutdownOptions {
  /** Resolve once every call has settled and the connections are closed. Default `true`. */
  wait?: boolean;
  /** Cancel every pending call (waiting jobs are removed, running ones stopped). Default `false`. */
  cancelFutures?: boolean;
}

/** A snapshot of a `ClusterPool`'s counters. */
export interface ClusterStats {
  /** Workers serving the queue (see `ClusterPoolOptions.workers`). */
  workers: number;
  /** Jobs sent and not settled. */
  pending: number;
  /** Calls and map chunks sent. */
  submitted: number;
  /** Jobs that came back with a result. */
  completed: number;
  /** Jobs that came back with an error, or were lost with the connection. */
  failed: number;
  cancelled: number;
}

/** `new ClusterPool`'s options, checked, with defaults. */
export function resolveClusterOptions(options: ClusterPoolOptions) {
  if (typeof options !== 'object' || options === null)
    throw invalidType('options', options, 'an options object with `queue` and `connection`');
  const opts = checkOptions('options', options, POOL_OPTIONS);
  return {
    queue: checkQueueName('options.queue', opts.queue),
    connection: checkConnection('options.connection', opts.connection),
    prefix: opts.prefix === undefined ? 'bull' : checkQueueName('options.prefix', opts.prefix),
    taskTimeoutMs: opts.taskTimeoutMs === undefined ? undefined : checkTaskTimeout('options.taskTimeoutMs', opts.taskTimeoutMs),
    workers: opts.workers === undefined ? undefined : checkInteger('options.workers', opts.workers, 1),
    connectTimeoutMs:
      opts.connectTimeoutMs === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : checkInteger('options.connectTimeoutMs', opts.connectTimeoutMs, 1),
    lostAfterMs: opts.lostAfterMs === undefined ? 5_000 : checkInteger('options.lostAfterMs', opts.lostAfterMs, 1),
    attempts: opts.attempts === undefined ? 3 : checkInteger('options.attempts', opts.attempts, 1),
  };
}

/** The per-call options of a cluster call, in the local pool's resolved form (never a transfer list). */
export type ClusterCall = ResolvedCallOptions;

/** `cluster.with()`'s options over `base`. */
export function resolveClusterCall(options: ClusterCallOptions, base: ClusterCall): ClusterCall {
  const opts = checkOptions('options', options, CALL_OPTIONS);
  if (opts.transfer !== undefined)
    throw invalidValue(
      'options.transfer',
      opts.transfer,
      "left out: a transfer list moves objects between the threads of one process, and a cluster job's arguments are copied to another machine",
    );
  const timeoutMs = opts.timeoutMs === undefined ? undefined : checkTaskTimeout('options.timeoutMs', opts.timeoutMs);
  return {
    ...base,
    signal: checkSignal('options.signal', opts.signal) ?? base.signal,
    timeoutMs: timeoutMs ?? base.timeoutMs,
    onProgress: opts.onProgress === undefined ? base.onProgress : checkFunction('options.onProgress', opts.onProgress),
  };
}

export type ResolvedClusterOptions = ReturnType<typeof resolveClusterOptions>;
