/**
 * The worker runtime: the file Piscina loads in every worker of a `WorkerPool`.
 *
 * It imports the user's module once per worker (then runs the `initializer`), dispatches tasks by
 * export name (only the module's own exported functions: nothing inherited, nothing else), runs
 * whole chunks of a map in one message, and batches of tiny tasks (posting each outcome as its
 * task ends), and returns errors as data (name, message, stack, cause, own properties, and which
 * item failed). It runs one task at a time, reports a task's start on the task control board,
 * skips tasks cancelled before they started, and retires the worker after `maxTasksPerWorker`.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parentPort, type TransferListItem, threadId, workerData } from 'node:worker_threads';
import { announceResourcesTo } from '../src/sync/registry.js';
import { closestName } from '../src/validate.js';
import { hasHeldShareable, toHandles } from '../src/wire/handles.js';
import type { Outcome, RanOutcome, Retirement, RuntimeData, TaskExtras, TaskMessage } from '../src/wire/protocol.js';
import {
  BATCH,
  BATCH_OUTCOME,
  type BatchOutcome,
  EXITING,
  type ExitReport,
  FORBIDDEN_TASK_NAMES,
  GATE,
  type GateAnnouncement,
  LOADED,
  type LoadReport,
  RETIREMENT,
  SKIPPED,
  WORKER_MODULE_KEY,
} from '../src/wire/protocol.js';
import { type SerializedError, serializeError } from '../src/wire/remote-error.js';
import { getTaskControl, KILLING, setTaskControl, TaskBoard, takeSeat } from '../src/wire/task-control.js';
import type { RunningTask } from './task-context.js';

type TaskFunction = (...args: unknown[]) => unknown;

const data = workerData as RuntimeData;
const board = new TaskBoard(data.board);
// Before any user code: every termination by the pool goes through this thread's seat, and the
// pool hears of every shared gate this thread makes or revives, to give back its units after it.
takeSeat(data.seats, threadId);
announceResourcesTo((handle) => parentPort?.postMessage({ [GATE]: true, threadId, handle } satisfies GateAnnouncement));
(globalThis as { [WORKER_MODULE_KEY]?: string })[WORKER_MODULE_KEY] = data.moduleUrl;

let exports: Record<string, unknown> | undefined;
/** runtime-extras.ts, once a task has needed it. */
let extrasModule: ExtrasModule | undefined;
let loadingExtras: Promise<void> | undefined;
let loading: Promise<void> | undefined;
let loadFailure: SerializedError | undefined;
/** Loading has ended, with `exports` or a `loadFailure`. */
let loaded = false;
/** The tasks handed over before loading ended (see LoadReport.held). */
let heldWhileLoading: [slot: number, id: number][] = [];
const functions = new Map<string, TaskFunction>();
let tasksRun = 0;

/** Tasks handed to this worker and not finished. Piscina may hand over the next while one runs. */
let unfinished = 0;
/** Settles when the last task handed over has finished: the next one starts after it, never beside it. */
let lastTask: Promise<unknown> = Promise.resolve();
const finished = (): void => {
  unfinished--;
};

export default function run(message: TaskMessage): unknown {
  // [fn, slot, id, args, extras]: see protocol.ts for why a tuple.
  let outcome: Outcome | Promise<Outcome>;
  if (!loaded) holdWhileLoading(message);
  if (unfinished > 0) outcome = lastTask.then(() => start(message));
  else if (!loaded) outcome = load().then(() => start(message));
  else outcome = start(message);
  if (!isThenable(outcome)) return withMoved(outcome); // ran to the end already: nothing to wait for
  unfinished++;
  lastTask = outcome.then(finished, finished);
  return outcome.then(withMoved);
}

/** What each outcome's task gave to `move()`: posted with it as its transfer list. */
const movedWith = new WeakMap<RanOutcome, TransferListItem[]>();

/**
 * The outcome as Piscina posts it: wrapped as Piscina's "movable" (`Piscina.move`, its one way to
 * post a result with a transfer list) when its task moved something. Piscina is loaded in this
 * thread only then: its main module costs a worker ~10 ms to load.
 */
function withMoved(outcome: Outcome): unknown {
  const moved = outcome === SKIPPED ? undefined : movedWith.get(outcome);
  if (moved === undefined) return outcome;
  piscinaMove ??= (createRequire(import.meta.url)('piscina') as { move: (value: object) => unknown }).move;
  return piscinaMove({ [Symbol.for('Piscina.transferable')]: moved, [Symbol.for('Piscina.valueOf')]: outcome });
}
let piscinaMove: ((value: object) => unknown) | undefined;

function start(message: TaskMessage): Outcome | Promise<Outcome> {
  const [fn, slot, id, args, extras] = message;
  if (slot === BATCH) return runBatch(args as TaskMessage[], 0);
  if (slot < 0) return SKIPPED; // the pool's probe for a worker that starts: nothing to run
  if (extrasModule === undefined && (extras?.revive || extras?.progress)) return loadExtras().then(() => start(message));
  // QUEUED → RUNNING, unless the pool marked it SKIP first (cancelled before it started).
  if (!board.start(slot, threadId, extras?.items !== undefined, extras?.timed === true, extras?.watchStart === true)) return SKIPPED;
  const startedAt = performance.timeOrigin + performance.now();
  const progress = extras?.progress ? (extrasModule as ExtrasModule).connectProgress(extras.progress) : undefined;
  const running: RunningTask = { board, slot, id, progress };
  if (extras?.context !== undefined) running.callContext = extras.context;
  setTaskControl(running);
  if (loadFailure !== undefined) return finish(startedAt, 0, [], loadFailure);
  let task: TaskFunction;
  try {
    task = lookup(fn);
  } catch (error) {
    return finish(startedAt, 0, [], serializeError(error));
  }
  const t0 = performance.now();
  if (extras?.items !== undefined) return runChunk(running, extras, task, startedAt, t0);
  let result: unknown;
  try {
    result = task(...(extras?.revive ? revive(running, args) : (args ?? [])));
  } catch (error) {
    return finish(startedAt, t0, [], serializeError(error));
  }
  if (!isThenable(result)) return finish(startedAt, t0, [result]);
  return Promise.resolve(result).then(
    (value) => finish(startedAt, t0, [value]),
    (error: unknown) => finish(startedAt, t0, [], serializeError(error)),
  );
}

/**
 * Runs the tasks of a batch one after the other, from `from` on, posting each outcome the moment
 * its task ends (see protocol.ts). The batch's own Piscina result carries nothing.
 */
function runBatch(tasks: TaskMessage[], from: number): Outcome | Promise<Outcome> {
  for (let i = from; i < tasks.length; i++) {
    const task = tasks[i] as TaskMessage;
    const outcome = start(task);
    if (isThenable(outcome)) {
      return outcome.then((settled) => {
        postOutcome(task, settled);
        return runBatch(tasks, i + 1);
      });
    }
    postOutcome(task, outcome);
  }
  return SKIPPED;
}

function postOutcome([, slot, id]: TaskMessage, outcome: Outcome): void {
  const message: BatchOutcome = [BATCH_OUTCOME, slot, id, outcome];
  try {
    parentPort?.postMessage(message, outcome === SKIPPED ? undefined : movedWith.get(outcome));
  } catch (error) {
    // The result cannot be cloned (a function, a class instance with private state...): the
    // task fails with that error instead of taking its worker and the rest of the batch down.
    const ran: RanOutcome = outcome === SKIPPED ? [[], 0, 0] : outcome;
    const unsendable = firstUnsendable(ran[0]);
    postFailedAt(slot, id, ran, unsendable?.at ?? 0, unsendable?.error ?? error);
  }
}

/** The first of `values` that cannot be sent to another thread, and why; undefined if all can. */
function firstUnsendable(values: unknown[]): { at: number; error: unknown } | undefined {
  for (let at = 0; at < values.length; at++) {
    try {
      structuredClone(values[at]);
    } catch (error) {
      return { at, error };
    }
  }
  return undefined;
}

/** Fails task `slot`/`id` with `error` at value `at`, keeping the values before it, as for a map's failing item. */
function postFailedAt(slot: number, id: number, [values, startedAt, runMs]: RanOutcome, at: number, error: unknown): void {
  const failed: RanOutcome = [values.slice(0, at), startedAt, runMs, serializeError(error), at];
  parentPort?.postMessage([BATCH_OUTCOME, slot, id, failed] satisfies BatchOutcome);
}

/** Revives the handles among a task's arguments; the callbacks among them are the task's to release. */
function revive(running: RunningTask, values: unknown[] | undefined): unknown[] {
  const { reviveHandles, takeRevivedCallbacks } = extrasModule as ExtrasModule;
  const live = reviveHandles(values ?? []) as unknown[];
  running.callbacks = takeRevivedCallbacks();
  return live;
}

/** Runs a map chunk item by item, synchronously until an item returns a promise. */
function runChunk(running: RunningTask, extras: TaskExtras, fn: TaskFunction, startedAt: number, t0: number): Outcome | Promise<Outcome> {
  const items = (extras.revive ? revive(running, extras.items) : extras.items) as unknown[];
  // Filled by appending, never preallocated: a holey array (`new Array(n)`) takes V8's slow
  // structured-clone path, ~140 ns an item instead of ~26 for numbers.
  const values: unknown[] = [];
  const spread = extras.spread ? (item: unknown) => fn(...(item as unknown[])) : (item: unknown) => fn(item);
  // Each item's place (and, under a timeout, its start) on the board: see ITEM in task-control.ts.
  const { slot } = running;
  const timed = extras.timed === true;
  const call = (item: unknown, i: number): unknown => {
    board.enterItem(slot, i, timed);
    return spread(item);
  };
  const { cutAfterMs } = extras;
  // The clock is read every `stride` items, about 64 times a chunk: ~30 ns a read, next to 1 µs items.
  const stride = Math.max(1, Math.floor(items.length / 64));
  let untilCheck = stride;
  for (let i = 0; i < items.length; i++) {
    let result: unknown;
    try {
      result = call(items[i], i);
    } catch (error) {
      values.length = i;
      return finish(startedAt, t0, values, serializeError(error), i);
    }
    if (isThenable(result)) return continueAsync(call, items, values, i, result, startedAt, t0, cutAfterMs);
    values.push(result);
    if (cutAfterMs !== undefined && --untilCheck === 0) {
      if (performance.now() - t0 > cutAfterMs && i + 1 < items.length) break; // the pool sends the rest again
      untilCheck = stride;
    }
  }
  return finish(startedAt, t0, values);
}

async function continueAsync(
  call: (item: unknown, i: number) => unknown,
  items: unknown[],
  values: unknown[],
  from: number,
  pending: PromiseLike<unknown>,
  startedAt: number,
  t0: number,
  cutAfterMs: number | undefined,
): Promise<Outcome> {
  let i = from;
  try {
    values.push(await pending);
    for (i = from + 1; i < items.length; i++) {
      if (cutAfterMs !== undefined && performance.now() - t0 > cutAfterMs) break; // the pool sends the rest again
      values.push(await call(items[i], i));
    }
  } catch (error) {
    values.length = i;
    return finish(startedAt, t0, values, serializeError(error), i);
  }
  return finish(startedAt, t0, values);
}

function finish(startedAt: number, t0: number, values: unknown[], error?: SerializedError, failedAt?: number): Outcome | Promise<Outcome> {
  const running = getTaskControl() as RunningTask;
  setTaskControl(undefined);
  const runMs = t0 === 0 ? 0 : performance.now() - t0;
  const sent = hasHeldShareable() ? (toHandles(values) as unknown[]) : values;
  const outcome: RanOutcome =
    sent !== values
      ? [sent, startedAt, runMs, error, failedAt, true]
      : error === undefined
        ? [values, startedAt, runMs]
        : failedAt === undefined
          ? [values, startedAt, runMs, error]
          : [values, startedAt, runMs, error, failedAt];
  if (running.moved !== undefined) movedWith.set(outcome, running.moved);
  // Report done only once the caller has handled every progress report and answered every
  // callback call: they travel on other ports, and the caller closes those when it sees the result.
  const { progress, callbacks } = running;
  if (progress === undefined && callbacks === undefined) return settle(running, outcome);
  const delivered = progress?.flush();
  const answered = callbacks?.drain();
  const done = (): Outcome | Promise<Outcome> => {
    progress?.close();
    callbacks?.release();
    return settle(running, outcome);
  };
  if (delivered === undefined && answered === undefined) return done();
  return Promise.allSettled([delivered, answered]).then(done);
}

/**
 * Marks the task ENDED on the board and returns the outcome to Piscina, except in two cases where
 * the Piscina task never returns, so Piscina sends this worker nothing more until the pool
 * terminates it:
 * - the pool is terminating this worker (KILLING): the task stopped early, maybe with permits of
 *   a shared semaphore still held. Handed back, it would free the worker
 *   for another task, which the kill would take down, or which would run beside those permits;
 * - the last task of a worker that has run its `maxTasksPerWorker`: its outcome goes to the pool
 *   as a `Retirement`.
 */
function settle(running: RunningTask, outcome: RanOutcome): Outcome | Promise<Outcome> {
  // RUNNING or CANCEL → ENDED: the pool's timeout and kill stand down. KILLING means the pool won.
  if (running.board.end(running.slot) === KILLING) return new Promise<never>(() => {});
  if (++tasksRun < data.maxTasksPerWorker) {
    handedBack(running, outcome);
    return outcome;
  }
  const retirement: Retirement = { [RETIREMENT]: true, slot: running.slot, id: running.id, threadId, outcome };
  parentPort?.postMessage(retirement, movedWith.get(outcome));
  return new Promise<never>(() => {});
}

/**
 * The last two outcomes handed back (a worker holds at most two tasks). Piscina posts a lone
 * task's outcome itself, after `run` returns; when that fails because the result cannot be cloned
 * (a function, say), Piscina rethrows the `DataCloneError` as an uncaught error, which ends the
 * worker and reaches the pool as an empty object (a DOMException loses its fields on the way).
 * Before the worker dies, the monitor below tells the pool which task it was and why, as a batch
 * outcome would, so that task fails with the `DataCloneError` itself.
 */
let latestOutcome: { running: RunningTask; outcome: RanOutcome } | undefined;
let previousOutcome: typeof latestOutcome;
let forgetting = false;
/** Keeps an outcome until Piscina has posted it: that happens before the running microtasks drain, and a tick runs after. */
function handedBack(running: RunningTask, outcome: RanOutcome): void {
  previousOutcome = latestOutcome;
  latestOutcome = { running, outcome };
  if (forgetting) return;
  forgetting = true;
  process.nextTick(forgetOutcomes);
}
function forgetOutcomes(): void {
  forgetting = false;
  latestOutcome = previousOutcome = undefined;
}

process.on('uncaughtExceptionMonitor', (error: unknown) => {
  if ((error as { name?: unknown } | null)?.name !== 'DataCloneError') return;
  for (const handed of [previousOutcome, latestOutcome]) {
    if (handed === undefined) continue;
    const unsendable = firstUnsendable(handed.outcome[0]);
    if (unsendable !== undefined) postFailedAt(handed.running.slot, handed.running.id, handed.outcome, unsendable.at, unsendable.error);
  }
});

/** Only the module's own exported functions, never anything inherited or forbidden. */
function lookup(name: string): TaskFunction {
  const cached = functions.get(name);
  if (cached !== undefined) return cached;
  const ns = exports as Record<string, unknown>;
  const value = Object.hasOwn(ns, name) && !FORBIDDEN_TASK_NAMES.has(name) ? ns[name] : undefined;
  if (typeof value !== 'function') {
    const available = Object.keys(ns).filter((k) => typeof ns[k] === 'function' && !FORBIDDEN_TASK_NAMES.has(k));
    const why =
      value === undefined
        ? 'is not exported by'
        : `is exported by ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not a function, in`;
    const guess = value === undefined ? closestName(name, available) : undefined;
    const error = new TypeError(
      `task '${name}' ${why} the worker module ${data.moduleUrl}${guess ? ` (did you mean '${guess}'?)` : ''}; its exported functions are: ${available.join(', ') || '(none)'}`,
    ) as TypeError & { code: string };
    error.code = 'ERR_UNKNOWN_TASK';
    throw error;
  }
  functions.set(name, value as TaskFunction);
  return value as TaskFunction;
}

type ExtrasModule = typeof import('./runtime-extras.js');

/** Loads runtime-extras.ts, once: before the first task with shared objects, callbacks or progress starts. */
function loadExtras(): Promise<void> {
  loadingExtras ??= import('./runtime-extras.js').then((module) => {
    extrasModule = module;
  });
  return loadingExtras;
}

function load(): Promise<void> {
  loading ??= (async () => {
    let stage = 'register TypeScript support (tsx) for';
    try {
      for (const loader of data.tsLoaders) {
        const { register } = (await import(loader)) as { register: () => unknown };
        register();
      }
      stage = 'load';
      const ns = (await import(data.moduleUrl)) as Record<string, unknown>;
      exports = commonJsExports(data.moduleUrl) ?? ns;
      if (data.initializer !== undefined) {
        stage = `run the initializer '${data.initializer}' of`;
        const init = lookup(data.initializer);
        let args = data.initArgs;
        if (data.initArgsRevive) {
          await loadExtras();
          args = (extrasModule as ExtrasModule).reviveHandles(args) as unknown[];
        }
        await init(...args);
      }
    } catch (error) {
      const serialized = serializeError(error);
      const hint = (error as { code?: string })?.code === 'ERR_UNKNOWN_FILE_EXTENSION' ? ` ${TS_HINT}` : '';
      loadFailure = {
        base: 'Error',
        name: 'Error',
        message: `could not ${stage} the worker module ${data.moduleUrl}: ${serialized.message}${hint}`,
        cause: serialized,
        props: { code: 'ERR_WORKER_MODULE' },
      };
    }
    loaded = true;
    heldWhileLoading = [];
    parentPort?.postMessage({ [LOADED]: true, threadId, ...(loadFailure ? { failure: loadFailure } : {}) } satisfies LoadReport);
  })();
  return loading;
}

function holdWhileLoading([, slot, id, args]: TaskMessage): void {
  if (slot === BATCH) for (const [, s, i] of args as TaskMessage[]) heldWhileLoading.push([s, i]);
  else if (slot >= 0) heldWhileLoading.push([slot, id]);
}

/** Something called `process.exit` (the module or initializer while loading, or a task): say so before the thread ends. */
function reportExit(exitCode: number): void {
  parentPort?.postMessage({ [EXITING]: true, threadId, exitCode, ...(loaded ? {} : { held: heldWhileLoading }) } satisfies ExitReport);
}

/**
 * A CommonJS module's tasks are the properties of its `module.exports`, as TypeScript types them.
 * Its import namespace is not enough: Node finds the names it can see by reading the code
 * (`exports.x = …`, `module.exports = { x }`), never ones an object gets at run time
 * (`api.x = …; module.exports = api`). Node loads a CommonJS module through `require`'s cache,
 * an ES module never: that is how the two are told apart.
 */
function commonJsExports(url: string): Record<string, unknown> | undefined {
  const require = createRequire(url);
  const exported: unknown = require.cache[require.resolve(fileURLToPath(url))]?.exports;
  return exported !== null && (typeof exported === 'object' || typeof exported === 'function')
    ? (exported as Record<string, unknown>)
    : undefined;
}

const TS_HINT =
  'To run a .ts worker module, start Node with a TypeScript loader (`tsx`, or `node --import tsx`), use Node >= 22.18 (type stripping), or point `module` at the compiled .js file.';

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
  );
}

// Load at once, not at the first task: `pool.ready()` can tell when the module is loaded, a
// module that cannot load is known at boot, and the first task does not wait for it.
process.on('exit', reportExit);
void load();
