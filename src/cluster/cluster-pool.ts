import { whenAborted } from '../abort-listeners.js';
import { abortErrorFrom } from '../errors.js';
import { Future, SETTLE } from '../future.js';
import { prepareArguments, refusedValueIndex } from '../pool/arguments.js';
import { resolveMapOptions } from '../pool/call-options.js';
import { argumentLists, type ChunkRunner, checkMapItems, ItemRefused } from '../pool/map/chunk-runner.js';
import { MapIterator } from '../pool/map/map-iterator.js';
import type { MapOptions } from '../pool/map/map-options.js';
import { checkTaskName } from '../pool/options.js';
import { callListener } from '../pool/progress.js';
import type { MapItem, TaskArgs, TaskName, TaskResult, UntypedModule } from '../pool/types.js';
import { checkOptionalBoolean, checkOptions, invalidValue } from '../validate.js';
import { deserializeError } from '../wire/remote-error.js';
import { CLUSTER_TIMING, ClusterCore } from './cluster-core.js';
import {
  type ClusterCall,
  type ClusterCallOptions,
  type ClusterPoolOptions,
  type ClusterShutdownOptions,
  type ClusterStats,
  resolveClusterCall,
  resolveClusterOptions,
} from './cluster-options.js';
import { encode, FORMAT, type JobData } from './codec.js';

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
  /** Makes the views of `with()`: the pool lends it (a class that names itself in its body is renamed by esbuild). */
  readonly #view: (call: ClusterCall) => ClusterView<M>;

  /** @internal Made by `ClusterPool` and `with()`. */
  constructor(core: ClusterCore, call: ClusterCall, view: (call: ClusterCall) => ClusterView<M>) {
    this.#core = core;
    this.#call = call;
    this.#view = view;
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
    return this.#view(resolveClusterCall(options, this.#call));
  }

  #map<K extends TaskName<M>>(name: K, items: unknown, options: MapOptions | undefined, spread: boolean): MapIterator<TaskResult<M, K>> {
    checkTaskName('name', name);
    const input = checkMapItems(items);
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
        const { lists, refusal } = argumentLists(chunk, spread, label);
        try {
          checkSendable(name, lists, label);
        } catch (error) {
          throw new ItemRefused(refusedIndex(error), error as Error);
        }
        if (refusal !== undefined) throw refusal;
        const job = core.send(name, jobData('chunk', chunk, timeoutMs, spread, onProgress !== undefined), onProgress, settle);
        return { cancel: (error) => void job.cancel(error) };
      },
    };
    return new MapIterator<TaskResult<M, K>>(runner, input, resolved);
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
    const core = new ClusterCore(resolveClusterOptions(options));
    const view = (call: ClusterCall): ClusterView<M> => new ClusterView<M>(core, call, view);
    super(
      core,
      {
        signal: undefined,
        timeoutMs: core.options.taskTimeoutMs ?? Number.POSITIVE_INFINITY,
        transfer: undefined,
        onProgress: undefined,
        priority: 0,
        context: undefined,
      },
      view,
    );
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
