/**
 * `ClusterPool`: the `WorkerPool` surface over a BullMQ queue, served by `serve` on any number of
 * machines. A call is one job; a map is a lazy, bounded, ordered stream of chunk jobs, sized so
 * each carries enough work to amortise its round trip through Redis (the local map's iterator,
 * on a larger scale).
 */
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { whenAborted } from '../abort-listeners.js';
import { AbortError, abortErrorFrom, invalidType, invalidValue, PoolClosedError, ThreadgateError } from '../errors.js';
import { Future, SETTLE } from '../future.js';
import { prepareArguments, refusedValueIndex } from '../pool/arguments.js';
import { type ResolvedCallOptions, resolveMapOptions } from '../pool/call-options.js';
import type { ChunkTiming } from '../pool/chunk-sizer.js';
import { type ChunkRunner, ItemRefused, MapIterator, type MapOptions } from '../pool/map.js';
import { checkTaskName } from '../pool/options.js';
import { callListener } from '../pool/progress.js';
import type { MapItem, TaskArgs, TaskName, TaskResult, UntypedModule } from '../pool/types.js';
import {
  checkFunction,
  checkInteger,
  checkOptionalBoolean,
  checkOptions,
  checkSignal,
  checkTaskTimeout,
  type OptionNames,
} from '../validate.js';
import { deserializeError } from '../wire/remote-error.js';
import { encode, FORMAT, type JobData } from './codec.js';
import { checkConnection, DEFAULT_CONNECT_TIMEOUT_MS, openClient, type RedisConnection, watchConnection } from './connection.js';
import { Jobs, type SentJob, SWEEP_EVERY_MS } from './jobs.js';
import { liveWorkers, queueKeys } from './keys.js';
import { loadPeers } from './peers.js';
import { checkQueueName } from './serve.js';

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

/**
 * A job's round trip through Redis costs a few hundred microseconds of the servers' time and a
 * millisecond or more of latency: automatic chunks carry ten times the work of a thread's.
 */
const CLUSTER_TIMING: ChunkTiming = { targetMs: 200, maxKnownMs: 500, minTailMs: 20, maxItems: 65_536 };

const WORKERS_REFRESH_MS = 2_000;

interface Link {
  client: Redis;
  eventsClient: Redis;
  queue: Queue;
  events: QueueEvents;
  jobs: Jobs;
  stop: () => void;
}

/** Everything a `ClusterPool` and its views share. */
class ClusterCore {
  readonly options: ReturnType<typeof resolvePoolOptions>;
  closed = false;
  workers: number;
  readonly counts = { submitted: 0, completed: 0, failed: 0, cancelled: 0 };
  link: Link | undefined;
  /** Why the pool cannot send: the first connection failed. */
  broken: Error | undefined;
  readonly linking: Promise<Link>;
  #shutdown: Promise<void> | undefined;

  constructor(options: ReturnType<typeof resolvePoolOptions>) {
    this.options = options;
    this.workers = options.workers ?? 1;
    this.linking = this.#open();
    this.linking.then(
      (link) => {
        this.link = link;
      },
      (error: Error) => {
        this.broken = error;
      },
    );
  }

  async #open(): Promise<Link> {
    const { bullmq } = await loadPeers();
    const { connection, connectTimeoutMs, prefix, queue: name, lostAfterMs, attempts } = this.options;
    const client = await openClient(connection, connectTimeoutMs);
    const eventsClient = await openClient(client, connectTimeoutMs);
    const keys = queueKeys(prefix, name);
    // Events are read from the stream's current end: every job sent after this is heard.
    const [last] = (await client.xrevrange(`${prefix}:${name}:events`, '+', '-', 'COUNT', 1)) as [string, string[]][];
    const events = new bullmq.QueueEvents(name, { connection: eventsClient, prefix, lastEventId: last?.[0] ?? '0-0' });
    events.on('error', () => {}); // connection trouble is watched below
    const queue = new bullmq.Queue(name, { connection: client, prefix });
    queue.on('error', () => {});
    const jobs = new Jobs(queue, events, client, keys, { attempts });
    await events.waitUntilReady();
    const lost = (cause: unknown): void => {
      jobs.failAll(
        () =>
          new ThreadgateError(
            'ERR_CLUSTER_CONNECTION_LOST',
            `the connection to Redis has been down for ${lostAfterMs} ms (lostAfterMs): the call's result cannot arrive`,
            { cause },
          ),
      );
    };
    const unwatch = [watchConnection(client, lostAfterMs, lost), watchConnection(eventsClient, lostAfterMs, lost)];
    let sweeping = false;
    const sweep = setInterval(() => {
      if (sweeping || jobs.pending === 0) return;
      sweeping = true;
      jobs.sweep().then(
        () => {
          sweeping = false;
        },
        () => {
          sweeping = false;
        },
      );
    }, SWEEP_EVERY_MS);
    sweep.unref();
    let refresh: NodeJS.Timeout | undefined;
    if (this.options.workers === undefined) {
      let reading = false;
      const read = async (): Promise<void> => {
        if (reading) return;
        reading = true;
        try {
          this.workers = Math.max(1, await liveWorkers(client, keys));
        } catch {
          // keeps the last count
        } finally {
          reading = false;
        }
      };
      await read();
      refresh = setInterval(read, WORKERS_REFRESH_MS);
      refresh.unref();
    }
    return {
      client,
      eventsClient,
      queue,
      events,
      jobs,
      stop: () => {
        for (const stop of unwatch) stop();
        clearInterval(refresh);
        clearInterval(sweep);
      },
    };
  }

  /** Sends a job once connected. `end` is called exactly once. */
  send(
    name: string,
    data: JobData,
    onProgress: ((value: unknown) => void) | undefined,
    end: (error: Error | undefined, outcome: import('../wire/protocol.js').RanOutcome | undefined, reached?: number) => void,
  ): { isRunning(): boolean; cancel(error: Error): boolean } {
    this.counts.submitted++;
    const counted: typeof end = (error, outcome, reached) => {
      if (error === undefined) this.counts.completed++;
      else if (error.name === 'AbortError') this.counts.cancelled++;
      else this.counts.failed++;
      end(error, outcome, reached);
    };
    if (this.link !== undefined) return this.link.jobs.send(name, data, onProgress, counted);
    let sent: SentJob | undefined;
    let settled = false;
    this.linking.then(
      (link) => {
        if (!settled) sent = link.jobs.send(name, data, onProgress, counted);
      },
      (error: Error) => {
        if (settled) return;
        settled = true;
        counted(error, undefined);
      },
    );
    return {
      isRunning: () => sent?.isRunning() ?? false,
      cancel: (error) => {
        if (sent !== undefined) return sent.cancel(error);
        if (settled) return false;
        settled = true;
        counted(error, undefined);
        return true;
      },
    };
  }

  /** Throws what stops a call from being sent: a closed pool, or a first connection that failed. */
  checkOpen(): void {
    if (this.closed) throw new PoolClosedError();
    if (this.broken !== undefined) throw this.broken;
  }

  shutdown(cancelFutures: boolean): Promise<void> {
    this.closed = true;
    if (cancelFutures) this.link?.jobs.cancelAll(() => new AbortError('cancelled by cluster.shutdown({ cancelFutures: true })'));
    this.#shutdown ??= this.linking.then(
      async (link) => {
        await link.jobs.whenEmpty();
        link.stop();
        await link.events.close().catch(() => {});
        await link.queue.close().catch(() => {});
        link.eventsClient.disconnect();
        link.client.disconnect();
      },
      () => {},
    );
    return this.#shutdown;
  }
}

function resolvePoolOptions(options: ClusterPoolOptions) {
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
type ClusterCall = ResolvedCallOptions;

function resolveCallOptions(options: ClusterCallOptions, base: ClusterCall): ClusterCall {
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

/**
 * Checks values for a job: what a local task takes, less what lives in one process (a
 * `callback(fn)`, a `SharedSemaphore` or `SharedRateLimiter`). Throws for the first refused value.
 */
function checkSendable(taskName: string, values: unknown[], label: (i: number) => string): void {
  const prepared = prepareArguments(taskName, values, label);
  if (!prepared.revive) return;
  prepared.callbacks?.close();
  for (let i = 0; i < values.length; i++) {
    const one = prepareArguments(taskName, [values[i]], () => label(i));
    if (!one.revive) continue;
    one.callbacks?.close();
    const error = invalidValue(
      label(i),
      values[i],
      'data that can be copied to another machine: a callback(fn), SharedSemaphore or SharedRateLimiter lives in one process (across machines, use RedisSemaphore and RedisRateLimiter)',
    );
    refused.set(error, i);
    throw error;
  }
}

const refused = new WeakMap<object, number>();

/** Where an error of `checkSendable` (or of `prepareArguments` inside it) was thrown. */
function refusedIndex(error: unknown): number {
  return refused.get(error as object) ?? refusedValueIndex(error);
}

/** A job's data. `listening`: the caller hears progress, so the server sends it (one round trip each). */
function jobData(kind: JobData['k'], values: unknown[], timeoutMs: number, spread: boolean, listening: boolean): JobData {
  const data: JobData = { v: FORMAT, k: kind, x: encode(values) };
  if (spread) data.s = 1;
  if (timeoutMs !== Number.POSITIVE_INFINITY) data.t = timeoutMs;
  if (listening) data.p = 1;
  return data;
}

/** `cluster.with(options)`: the same cluster, with per-call options applied to every call made through it. */
export class ClusterView<M = UntypedModule> {
  readonly #core: ClusterCore;
  readonly #call: ClusterCall;

  /** @internal */
  constructor(core: ClusterCore, call: ClusterCall) {
    this.#core = core;
    this.#call = call;
  }

  /**
   * Runs task `name` with `args` on whichever server takes the job. Returns at once with a
   * {@link Future}; never throws: a closed pool, arguments that cannot cross machines or a lost
   * connection reject the future.
   */
  submit<K extends TaskName<M>>(name: K, ...args: TaskArgs<M, K>): Future<TaskResult<M, K>> {
    const future = new Future<TaskResult<M, K>>();
    const core = this.#core;
    const call = this.#call;
    try {
      core.checkOpen();
      checkTaskName('name', name);
      checkSendable(name, args, (i) => `argument ${i}`);
      if (call.signal?.aborted) throw abortErrorFrom(call.signal);
      const onProgress = call.onProgress;
      const listener = onProgress ? (value: unknown) => callListener(onProgress, value, (error) => void job.cancel(error)) : undefined;
      let unwatch: (() => void) | undefined;
      const job = core.send(name, jobData('call', args, call.timeoutMs, false, listener !== undefined), listener, (error, outcome) => {
        unwatch?.();
        if (error !== undefined) future[SETTLE](error);
        else {
          const [values, , , failure] = outcome as NonNullable<typeof outcome>;
          if (failure !== undefined) future[SETTLE](deserializeError(failure, { taskName: name, taskId: -1 }));
          else future[SETTLE](undefined, values[0] as TaskResult<M, K>);
        }
      });
      const signal = call.signal;
      if (signal) unwatch = whenAborted(signal, () => job.cancel(abortErrorFrom(signal)));
      future.attach(job);
    } catch (error) {
      future[SETTLE](error);
    }
    return future;
  }

  /**
   * Runs task `name` over `items`, one item per call, in chunk jobs. Lazy and bounded, in input
   * order unless `ordered: false`, with a local map's options; `chunkSize: 'auto'` sizes each job
   * to about 200 ms of work (up to 500 ms while much is left), so Redis round trips cost a percent or two.
   */
  map<K extends TaskName<M>>(
    name: K,
    items: Iterable<MapItem<M, K>> | AsyncIterable<MapItem<M, K>>,
    options?: MapOptions,
  ): MapIterator<TaskResult<M, K>> {
    return this.#map(name, items, options, false);
  }

  /** Like `map`, with each item an argument list: `starmap('add', [[1, 2], [3, 4]])`. */
  starmap<K extends TaskName<M>>(
    name: K,
    items: Iterable<TaskArgs<M, K>> | AsyncIterable<TaskArgs<M, K>>,
    options?: MapOptions,
  ): MapIterator<TaskResult<M, K>> {
    return this.#map(name, items, options, true);
  }

  /** A view of this cluster whose calls use `options` (signal, timeout, progress). */
  with(options: ClusterCallOptions): ClusterView<M> {
    return new ClusterView<M>(this.#core, resolveCallOptions(options, this.#call));
  }

  #map<K extends TaskName<M>>(name: K, items: unknown, options: MapOptions | undefined, spread: boolean): MapIterator<TaskResult<M, K>> {
    checkTaskName('name', name);
    const isIterable = items !== null && typeof items === 'object' && (Symbol.iterator in items || Symbol.asyncIterator in items);
    if (!isIterable && typeof items !== 'string') throw invalidType('items', items, 'an Iterable or AsyncIterable');
    const call = this.#call;
    const resolved = resolveMapOptions(options, call);
    const core = this.#core;
    const runner: ChunkRunner = {
      get workers() {
        return core.workers;
      },
      taskName: name,
      timing: CLUSTER_TIMING,
      // Before the connection is up the map waits (it pulls nothing); once it failed, sending throws its error.
      hasRoom: () => core.link !== undefined || core.broken !== undefined,
      whenRoom: () =>
        core.linking.then(
          () => {},
          () => {},
        ),
      run: ({ items: chunk, first, timeoutMs }, onProgress, settle) => {
        core.checkOpen();
        const label = (i: number): string => `item ${first + i}`;
        const notArguments = spread ? chunk.findIndex((item) => !Array.isArray(item)) : -1;
        const sendable = notArguments === -1 ? chunk : chunk.slice(0, notArguments);
        try {
          checkSendable(name, sendable, label);
        } catch (error) {
          throw new ItemRefused(refusedIndex(error), error as Error);
        }
        if (notArguments !== -1)
          throw new ItemRefused(
            notArguments,
            invalidType(label(notArguments), chunk[notArguments], 'an array of arguments (starmap calls the task with ...item)'),
          );
        const job = core.send(name, jobData('chunk', chunk, timeoutMs, spread, onProgress !== undefined), onProgress, settle);
        return { cancel: (error) => void job.cancel(error) };
      },
    };
    return new MapIterator<TaskResult<M, K>>(runner, items as Iterable<unknown>, resolved);
  }
}

/**
 * The `WorkerPool` surface over a BullMQ queue: calls run on whichever machine `serve`s the queue,
 * typed by the same worker module's exports.
 *
 * ```ts
 * const cluster = new ClusterPool<typeof tasks>({ queue: 'math', connection: 'redis://127.0.0.1:6379' });
 * await cluster.submit('fib', 30);
 * for await (const r of cluster.map('fib', items)) console.log(r);
 * await cluster.shutdown();
 * ```
 *
 * Each call settles once: with its result, the task's own error (rebuilt with name, message,
 * stack, cause and properties), a `TaskTimeoutError` or `WorkerCrashedError` from its server, an
 * `AbortError`, or `ERR_CLUSTER_CONNECTION_LOST` / `ERR_CLUSTER_JOB_FAILED`. A task runs at least
 * once: a server that dies mid-job has its jobs run elsewhere, so side effects may repeat; the
 * caller still receives one result per call, and a map each item once, in order.
 */
export class ClusterPool<M = UntypedModule> extends ClusterView<M> implements AsyncDisposable {
  readonly #core: ClusterCore;

  constructor(options: ClusterPoolOptions) {
    const core = new ClusterCore(resolvePoolOptions(options));
    super(core, {
      signal: undefined,
      timeoutMs: core.options.taskTimeoutMs ?? Number.POSITIVE_INFINITY,
      transfer: undefined,
      onProgress: undefined,
      priority: 0,
      context: undefined,
    });
    this.#core = core;
  }

  /** Resolves once connected to Redis and listening to the queue's events; rejects with `ERR_CLUSTER_CONNECT`. */
  async ready(): Promise<void> {
    await this.#core.linking;
  }

  /** True once `shutdown()` has been called. */
  get closed(): boolean {
    return this.#core.closed;
  }

  get stats(): ClusterStats {
    const core = this.#core;
    return { workers: core.workers, pending: core.link?.jobs.pending ?? 0, ...core.counts };
  }

  /**
   * Stops accepting calls (they reject with `PoolClosedError`). With `wait` (default), resolves
   * once every pending call has settled and the connections are closed. Idempotent.
   */
  shutdown(options?: ClusterShutdownOptions): Promise<void> {
    const opts = checkOptions('options', options, { of: 'cluster.shutdown()', names: { wait: true, cancelFutures: true } });
    checkOptionalBoolean('options.wait', opts.wait);
    checkOptionalBoolean('options.cancelFutures', opts.cancelFutures);
    const done = this.#core.shutdown(opts.cancelFutures === true);
    return opts.wait === false ? Promise.resolve() : done;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
