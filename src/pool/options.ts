import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import {
  checkDuration,
  checkInteger,
  checkOptions,
  checkTaskTimeout,
  invalidType,
  invalidValue,
  type OptionNames,
  outOfRange,
} from '../validate.js';
import { FORBIDDEN_TASK_NAMES } from '../wire/protocol.js';

/** Options of the {@link WorkerPool} constructor. */
export interface WorkerPoolOptions {
  /**
   * The worker module: an ES module whose exported functions are the tasks, or a CommonJS module
   * whose `module.exports` has them. A `URL` (`new URL('./math.js', import.meta.url)`), a `file:`
   * URL string, or an absolute path. It must exist when the pool is made; a `.js` (`.mjs`, `.cjs`)
   * that does not is loaded from its `.ts` (`.mts`, `.cts`) source, as TypeScript names imports. A
   * `.ts` module loads on a Node that strips types (>= 22.18), and on older ones when tsx is
   * installed: the workers register it themselves (flags alone do not reach worker threads).
   * Otherwise the error says what to do.
   */
  module: URL | string;
  /** The most worker threads, like Python's `max_workers`. An integer >= 1. Default: `os.availableParallelism()`. */
  maxWorkers?: number;
  /**
   * Workers started at once and kept even when idle. An integer from 0 to `maxWorkers`. Default 0.
   * One worker is always started and kept (0 and 1 are alike): Piscina replaces a dead worker only
   * up to its minimum, and tasks waiting in its queue need one. It is unref'd, like every idle
   * worker, so it never keeps the process alive.
   */
  minWorkers?: number;
  /** An idle worker above `minWorkers` exits after this many ms. Default 30,000 (Piscina's 0 churns workers). */
  idleTimeoutMs?: number;
  /**
   * The most tasks waiting beyond the free workers (Piscina's meaning): with 2 idle workers and
   * `maxQueue: 1`, three tasks are accepted, two start at once and one waits. Beyond it `submit`
   * rejects with `QueueFullError` (`ERR_QUEUE_FULL`) and queues nothing; `pool.needsDrain` and
   * `pool.drained()` let a producer wait for room instead. A `map` never fails on it: it waits for
   * room, bounded by its own `buffer`. An integer >= 0, or `Infinity` (default).
   */
  maxQueue?: number;
  /** An exported function run once in each worker before its first task (Python's `initializer`). */
  initializer?: string;
  /** Arguments of `initializer`. Default `[]`. */
  initArgs?: unknown[];
  /**
   * Retire a worker after it has run this many tasks (a map chunk counts as one) and start a
   * fresh one: a cure for slow leaks in task code (Python's `max_tasks_per_child`). The retiring
   * worker's last result is delivered and no queued task is sent to it, so nothing fails and the
   * order is kept; permits its tasks left held come back when it exits. An integer >= 1, or
   * `Infinity` (default).
   */
  maxTasksPerWorker?: number;
  /**
   * The default per-task timeout in ms, counted from the moment the task starts running in a
   * worker (never from submit: queue time does not count). A task past it rejects with
   * `TaskTimeoutError` (`ERR_TASK_TIMEOUT`) and is cancelled. Above 0 (0 cannot be met and is
   * refused), or `Infinity` (default).
   */
  taskTimeoutMs?: number;
  /**
   * How long a cancelled or timed-out running task has to notice `currentTask().signal` and
   * return, keeping its worker; after that its worker is terminated and replaced. Default 100 ms.
   */
  cancelGraceMs?: number;
  /**
   * V8 heap limits for each worker (`worker_threads` `resourceLimits`). A task exceeding them fails
   * with `ERR_WORKER_CRASHED`. `maxOldGenerationSizeMb` must be at least 4 and `stackSizeMb` at
   * least 1: below those, starting a worker crashes the whole process on Node 24 / Node 20.
   */
  resourceLimits?: ResourceLimits;
  /**
   * Node flags of the workers. Default: the parent's `process.execArgv`. Giving this replaces
   * them, as with `new Worker`. (A `.ts` module's loader does not depend on it: see `module`.)
   */
  execArgv?: string[];
  /**
   * The workers' `process.env` (`worker_threads` `env`). Default: a copy of the parent's, taken
   * when each worker starts. Values are strings. (Per-worker data beyond that is what
   * `initializer` and `initArgs` are for.)
   */
  env?: Record<string, string>;
}

export interface ResolvedPoolOptions {
  maxWorkers: number;
  minWorkers: number;
  idleTimeoutMs: number;
  maxQueue: number;
  initializer: string | undefined;
  initArgs: unknown[];
  maxTasksPerWorker: number;
  taskTimeoutMs: number;
  cancelGraceMs: number;
  resourceLimits: ResourceLimits | undefined;
  execArgv: string[] | undefined;
  env: Record<string, string> | undefined;
}

const POOL_OPTIONS: OptionNames<WorkerPoolOptions> = {
  of: 'WorkerPool',
  names: {
    module: true,
    maxWorkers: true,
    minWorkers: true,
    idleTimeoutMs: true,
    maxQueue: true,
    initializer: true,
    initArgs: true,
    maxTasksPerWorker: true,
    taskTimeoutMs: true,
    cancelGraceMs: true,
    resourceLimits: true,
    execArgv: true,
    env: true,
  },
  elsewhere: {
    filename: 'module',
    maxThreads: 'maxWorkers',
    minThreads: 'minWorkers',
    max_workers: 'maxWorkers',
    idleTimeout: 'idleTimeoutMs',
    initargs: 'initArgs',
    max_tasks_per_child: 'maxTasksPerWorker',
  },
};
const RESOURCE_LIMITS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'];

/** Validates every option except `module` (see module-source.ts). */
export function resolvePoolOptions(options: WorkerPoolOptions): ResolvedPoolOptions {
  checkOptions('options', options, POOL_OPTIONS);
  const maxWorkers = checkInteger('options.maxWorkers', options.maxWorkers ?? availableParallelism(), 1, 4096);
  const minWorkers = checkInteger('options.minWorkers', options.minWorkers ?? 0, 0, maxWorkers);
  const idleTimeoutMs = checkDuration('options.idleTimeoutMs', options.idleTimeoutMs ?? 30_000);
  const maxQueue = checkCount('options.maxQueue', options.maxQueue ?? Number.POSITIVE_INFINITY, 0);
  const maxTasksPerWorker = checkCount('options.maxTasksPerWorker', options.maxTasksPerWorker ?? Number.POSITIVE_INFINITY, 1);
  const taskTimeoutMs = checkTaskTimeout('options.taskTimeoutMs', options.taskTimeoutMs ?? Number.POSITIVE_INFINITY);
  const cancelGraceMs = checkDuration('options.cancelGraceMs', options.cancelGraceMs ?? 100);
  if (cancelGraceMs === Number.POSITIVE_INFINITY)
    throw invalidValue('options.cancelGraceMs', cancelGraceMs, 'a finite number of milliseconds');
  const initializer = options.initializer === undefined ? undefined : checkTaskName('options.initializer', options.initializer);
  const initArgs = options.initArgs ?? [];
  if (!Array.isArray(initArgs)) throw invalidType('options.initArgs', initArgs, 'an array of arguments for the initializer');
  if (options.initArgs !== undefined && initializer === undefined) {
    throw invalidValue('options.initArgs', initArgs, 'given only together with options.initializer');
  }
  const resourceLimits = checkResourceLimits(options.resourceLimits);
  const execArgv = options.execArgv;
  if (execArgv !== undefined && (!Array.isArray(execArgv) || execArgv.some((a) => typeof a !== 'string'))) {
    throw invalidType('options.execArgv', execArgv, 'an array of strings (Node command-line flags)');
  }
  const env = options.env;
  if (env !== undefined && (typeof env !== 'object' || env === null || Object.values(env).some((v) => typeof v !== 'string'))) {
    throw invalidType('options.env', env, "an object of environment variables whose values are strings (the workers' process.env)");
  }
  return {
    maxWorkers,
    minWorkers,
    idleTimeoutMs,
    maxQueue,
    initializer,
    initArgs,
    maxTasksPerWorker,
    taskTimeoutMs,
    cancelGraceMs,
    resourceLimits,
    execArgv,
    env,
  };
}

/** A name that can be a task: a non-empty string that is not a prototype or thenable hook. */
export function checkTaskName(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '')
    throw invalidType(name, value, "the name of a function the worker module exports (a non-empty string, e.g. 'fib')");
  if (FORBIDDEN_TASK_NAMES.has(value)) {
    throw invalidValue(
      name,
      value,
      "the name of a function the worker module exports itself; built-in object members and 'then' are never tasks",
    );
  }
  return value;
}

function checkCount(name: string, value: unknown, min: number): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  return checkInteger(name, value, min);
}

const MIN_MB: Record<string, number> = { stackSizeMb: 1, maxOldGenerationSizeMb: 4 };

function checkResourceLimits(value: unknown): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null)
    throw invalidType('options.resourceLimits', value, 'an object of worker_threads resource limits');
  for (const [key, v] of Object.entries(value)) {
    if (!RESOURCE_LIMITS.includes(key)) {
      throw invalidValue(`options.resourceLimits.${key}`, v, `not set: resource limits are ${RESOURCE_LIMITS.join(', ')}`);
    }
    if (typeof v !== 'number' || !(v > 0)) throw invalidType(`options.resourceLimits.${key}`, v, 'a number of megabytes > 0');
    // Below these, starting a worker takes the whole process down, not just the worker: Node 20
    // throws a RangeError in the parent under a ~0.3 MB stack, and Node 24 aborts with a fatal
    // OOM ("GC during deserialization") under a 3 MB old generation. No task could run anyway.
    const min = MIN_MB[key];
    if (min !== undefined && v < min) {
      throw outOfRange(
        `options.resourceLimits.${key}`,
        v,
        `at least ${min} MB: smaller limits crash the whole process when a worker starts`,
      );
    }
  }
  return value as ResourceLimits;
}
