import { AbortError, abortErrorFrom, PoolClosedError, QueueFullError } from '../errors.js';
import { Future, SETTLE } from '../future.js';
import { checkOptionalBoolean, checkOptionalDuration, checkOptions, invalidType, invalidValue } from '../validate.js';
import type { TaskExtras } from '../wire/protocol.js';
import { deserializeError } from '../wire/remote-error.js';
import { checkNotDetached, prepareArguments } from './arguments.js';
import {
  type CallOptions,
  type ResolvedCallOptions,
  resolveCallOptions,
  resolveMapOptions,
  SHUTDOWN_OPTIONS,
  type ShutdownOptions,
} from './call-options.js';
import { Dispatcher } from './dispatcher.js';
import { checkMapItems } from './map/chunk-runner.js';
import { MapIterator } from './map/map-iterator.js';
import type { MapOptions } from './map/map-options.js';
import { checkNotOwnWorker, resolveModuleSource } from './module-source.js';
import { checkTaskName, type ResolvedPoolOptions, resolvePoolOptions, type WorkerPoolOptions } from './options.js';
import { makeProxy, type PoolCalls, type PoolProxy, PoolView } from './pool-view.js';
import { checkRuntimeFile, RUNTIME_FILE } from './runtime-file.js';
import { RUN_JOB, type ServedJob, type ServedOutcome } from './served-job.js';
import type { PoolStats } from './stats.js';
import { callExtras, EMPTY, Submissions } from './submission.js';
import type { Task } from './task.js';
import type { MapItem, TaskArgs, TaskName, TaskResult, UntypedModule } from './types.js';

/**
 * An executor over a pool of worker threads, in the shape of Python's `concurrent.futures`
 * executors, typed by the worker module's exports:
 *
 * ```ts
 * import type * as tasks from './tasks.js';
 * const pool = new WorkerPool<typeof tasks>({ module: new URL('./tasks.js', import.meta.url), maxWorkers: 2 });
 * const n = await pool.submit('fib', 30);               // number
 * for await (const r of pool.map('fib', [20, 25, 30])) console.log(r);
 * await pool.shutdown();
 * ```
 *
 * Every task settles: with its result, its own error (rebuilt with name, message, stack, cause),
 * a `TaskTimeoutError`, an `AbortError`, or a `WorkerCrashedError` when its worker dies. After
 * `shutdown()`, `submit` and `map` reject with `PoolClosedError`.
 */
export class WorkerPool<M = UntypedModule> implements AsyncDisposable {
  readonly #dispatcher: Dispatcher;
  readonly #submissions: Submissions;
  /** The calls this pool lends its views (`with()`), with their options. */
  readonly #calls: PoolCalls<M> = {
    submit: (call, name, args) => this.#submit(call, name, args),
    map: (call, name, items, options, spread) => this.#map(call, name, items, options, spread),
    view: (call) => new PoolView(this.#calls, call),
  };
  readonly #options: ResolvedPoolOptions;
  readonly #defaults: ResolvedCallOptions;
  #closed = false;
  #shutdown: Promise<void> | undefined;

  constructor(options: WorkerPoolOptions) {
    if (typeof options !== 'object' || options === null) throw invalidType('options', options, 'an options object with at least `module`');
    checkRuntimeFile();
    const resolved = resolvePoolOptions(options);
    const source = resolveModuleSource(options.module);
    checkNotOwnWorker(source.url);
    const initArgs = prepareArguments(resolved.initializer ?? 'initializer', resolved.initArgs, (i) => `initArgs[${i}]`);
    if (initArgs.callbacks !== undefined) {
      initArgs.callbacks.close();
      throw invalidValue(
        'options.initArgs',
        resolved.initArgs,
        'values each worker gets a copy of, without callback(fn): a callback belongs to one task',
      );
    }
    this.#options = resolved;
    this.#defaults = {
      signal: undefined,
      timeoutMs: resolved.taskTimeoutMs,
      transfer: undefined,
      onProgress: undefined,
      priority: 0,
      context: undefined,
    };
    this.#dispatcher = new Dispatcher({
      runtimeFile: RUNTIME_FILE,
      runtimeData: {
        moduleUrl: source.url,
        tsLoaders: source.tsLoaders,
        initializer: resolved.initializer,
        initArgs: initArgs.values,
        initArgsRevive: initArgs.revive,
        maxTasksPerWorker: resolved.maxTasksPerWorker,
      },
      maxWorkers: resolved.maxWorkers,
      minWorkers: resolved.minWorkers,
      idleTimeoutMs: resolved.idleTimeoutMs,
      maxQueue: resolved.maxQueue,
      cancelGraceMs: resolved.cancelGraceMs,
      execArgv: resolved.execArgv,
      resourceLimits: resolved.resourceLimits,
      env: resolved.env,
    });
    this.#submissions = new Submissions(this.#dispatcher);
  }

  /**
   * Resolves once a worker has loaded the module and run the initializer: await it at boot to
   * fail fast. Rejects with the `ERR_WORKER_MODULE` error when the module cannot load (it throws,
   * or calls `process.exit`, or the initializer does), and with `PoolClosedError` when the pool
   * shuts down first. Workers load the module as they start, before their first task.
   */
  ready(): Promise<void> {
    return this.#dispatcher.ready(() => new PoolClosedError());
  }

  /** The most worker threads this pool runs. */
  get maxWorkers(): number {
    return this.#options.maxWorkers;
  }

  /** True once `shutdown()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * True while the queue is full: `maxQueue` tasks wait beyond the free workers, and `submit`
   * would reject with `ERR_QUEUE_FULL`. Always false without `maxQueue`. A producer that would
   * rather wait than catch that error awaits {@link drained} while this is true.
   */
  get needsDrain(): boolean {
    return !this.#dispatcher.hasRoom();
  }

  /**
   * Resolves once the queue has room for a task (at once when it has), or the pool has shut down:
   * backpressure that waits. Room is for whoever submits first:
   *
   * ```ts
   * for (const job of jobs) {
   *   while (pool.needsDrain) await pool.drained();
   *   pool.submit('work', job);
   * }
   * ```
   */
  drained(): Promise<void> {
    return this.#dispatcher.whenRoom();
  }

  /** A snapshot of the pool's workers, queue, counters and latencies. */
  get stats(): PoolStats {
    return this.#dispatcher.stats();
  }

  /**
   * Runs task `name` with `args` in a worker. Returns at once with a {@link Future}. Never
   * throws: a closed pool, a full queue or arguments that cannot cross threads reject the future.
   */
  submit<K extends TaskName<M>>(name: K, ...args: TaskArgs<M, K>): Future<TaskResult<M, K>> {
    return this.#submit(this.#defaults, name, args);
  }

  /**
   * Runs task `name` over `items` (sync or async iterable), one item as its argument, with
   * automatic chunking. Lazy and bounded; results in input order unless `ordered: false`.
   */
  map<K extends TaskName<M>>(
    name: K,
    items: Iterable<MapItem<M, K>> | AsyncIterable<MapItem<M, K>>,
    options?: MapOptions,
  ): MapIterator<TaskResult<M, K>> {
    return this.#map(this.#defaults, name, items, options, false);
  }

  /** Like `map`, with each item an argument list: `starmap('add', [[1, 2], [3, 4]])`. */
  starmap<K extends TaskName<M>>(
    name: K,
    items: Iterable<TaskArgs<M, K>> | AsyncIterable<TaskArgs<M, K>>,
    options?: MapOptions,
  ): MapIterator<TaskResult<M, K>> {
    return this.#map(this.#defaults, name, items, options, true);
  }

  /** A view of this pool whose calls use `options` (signal, timeout, transfer list, progress). */
  with(options: CallOptions): PoolView<M> {
    return this.#calls.view(resolveCallOptions(options, this.#defaults));
  }

  /**
   * An object whose methods are the module's exported functions; each call is a pool task. It is
   * not thenable, prints as `[object WorkerPoolProxy]` and serializes as `{}`: `then`, `toString`,
   * `toJSON` and the other names objects answer themselves are never tasks on it (call such an
   * export with `submit`).
   */
  proxy(): PoolProxy<M> {
    return makeProxy<M>((name, args) => this.#submit(this.#defaults, name, args));
  }

  /**
   * Stops accepting tasks; afterwards `submit` and `map` reject with `PoolClosedError`.
   * Idempotent. With `wait` (default), resolves when every task has settled and every worker has
   * exited; the process can then exit by itself.
   */
  shutdown(options?: ShutdownOptions): Promise<void> {
    const opts = checkOptions('options', options, SHUTDOWN_OPTIONS);
    const timeoutMs = checkOptionalDuration('options.timeoutMs', opts.timeoutMs) ?? Number.POSITIVE_INFINITY;
    checkOptionalBoolean('options.wait', opts.wait);
    checkOptionalBoolean('options.cancelFutures', opts.cancelFutures);
    this.#closed = true;
    if (opts.cancelFutures === true)
      this.#dispatcher.cancelQueued(() => new AbortError('cancelled by pool.shutdown({ cancelFutures: true })'));
    this.#shutdown ??= this.#dispatcher.whenIdle().then(() => this.#dispatcher.destroy());
    if (timeoutMs !== Number.POSITIVE_INFINITY) {
      const stop = (): void => {
        const why = `stopped by pool.shutdown({ timeoutMs: ${timeoutMs} }): not done by then`;
        this.#dispatcher.cancelAll(() => new AbortError(why));
      };
      const deadline = setTimeout(stop, timeoutMs);
      const stopWaiting = (): void => clearTimeout(deadline);
      this.#shutdown.then(stopWaiting, stopWaiting); // both ways: a rejection of this derived promise would go unheard
    }
    return opts.wait === false ? Promise.resolve() : this.#shutdown;
  }

  /** `await using pool = new WorkerPool(...)`: shuts down, waiting for tasks, when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** @internal How `threadgate/cluster`'s `serve` runs a job from its queue (see served-job.ts). */
  [RUN_JOB](job: ServedJob): Promise<ServedOutcome> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve({ error: new PoolClosedError() });
      if (job.signal?.aborted) return resolve({ error: abortErrorFrom(job.signal) });
      const extras: TaskExtras | undefined = job.items === undefined ? undefined : { items: job.items };
      if (extras !== undefined && job.spread === true) extras.spread = true;
      this.#submissions.call(
        {
          fn: job.name,
          args: job.args,
          ...(job.items === undefined ? {} : { mapIndex: 0 }),
          timeoutMs: job.timeoutMs ?? this.#defaults.timeoutMs,
          priority: 0,
          short: false,
          settle: (error, outcome, reached) => resolve({ error, outcome, reached }),
        },
        { extras, transfer: undefined, callbacks: undefined, onProgress: job.onProgress, signal: job.signal },
      );
    });
  }

  // ─── shared by the pool and its views ─────────────────────────────────────────────────────

  #submit<K extends TaskName<M>>(call: ResolvedCallOptions, name: string, args: unknown[]): Future<TaskResult<M, K>> {
    const future = new Future<TaskResult<M, K>>();
    try {
      if (this.#closed) throw new PoolClosedError();
      checkTaskName('name', name);
      checkNotDetached('options.transfer', call.transfer);
      const prepared = prepareArguments(name, args, (i) => `argument ${i}`, call.transfer);
      const callbacks = prepared.callbacks;
      try {
        if (call.signal?.aborted) throw abortErrorFrom(call.signal);
        if (!this.#dispatcher.hasRoom()) throw new QueueFullError(this.#options.maxQueue);
      } catch (error) {
        callbacks?.close();
        throw error;
      }
      const task: Task = this.#submissions.call(
        {
          fn: name,
          args: prepared.values,
          timeoutMs: call.timeoutMs,
          priority: call.priority,
          short: false, // its length is unknown: it waits for a free worker, never behind another task
          settle: (error, outcome) => {
            const [values, , , failure] = outcome ?? EMPTY;
            if (error !== undefined) future[SETTLE](error);
            else if (failure !== undefined) future[SETTLE](deserializeError(failure, { taskName: name, taskId: task.id }));
            else future[SETTLE](undefined, values[0] as TaskResult<M, K>);
          },
        },
        {
          extras: callExtras(prepared.revive, call.context),
          transfer: call.transfer,
          callbacks,
          onProgress: call.onProgress,
          signal: call.signal,
        },
      );
      future.attach(task);
    } catch (error) {
      future[SETTLE](error);
    }
    return future;
  }

  #map<K extends TaskName<M>>(
    call: ResolvedCallOptions,
    name: K,
    items: unknown,
    options: MapOptions | undefined,
    spread: boolean,
  ): MapIterator<TaskResult<M, K>> {
    checkTaskName('name', name);
    const input = checkMapItems(items);
    const resolved = resolveMapOptions(options, call);
    const runner = this.#submissions.chunkRunner(call, name, spread, this.#options.maxWorkers, () => this.#closed);
    return new MapIterator<TaskResult<M, K>>(runner, input, resolved);
  }
}
