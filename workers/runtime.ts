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
import { parentPort, threadId } from 'node:worker_threads';
import { announceResourcesTo } from '../src/sync/registry.js';
import { BATCH, GATE, type GateAnnouncement, type Outcome, SKIPPED, type TaskMessage, WORKER_MODULE_KEY } from '../src/wire/protocol.js';
import { serializeError } from '../src/wire/remote-error.js';
import { setTaskControl, takeSeat } from '../src/wire/task-control.js';
import { runChunk } from './chunk-runner.js';
import {
  type ExtrasModule,
  extrasModule,
  holdWhileLoading,
  load,
  loadExtras,
  loaded,
  loadFailure,
  lookup,
  reportExit,
} from './module-loader.js';
import { finish, postOutcome, watchUnsendableResults, withMoved } from './outcomes.js';
import { board, data, isThenable, type TaskFunction } from './runtime-data.js';
import type { RunningTask } from './task-context.js';

// Before any user code: every termination by the pool goes through this thread's seat, and the
// pool hears of every shared gate this thread makes or revives, to give back its units after it.
takeSeat(data.seats, threadId);
announceResourcesTo((handle) => parentPort?.postMessage({ [GATE]: true, threadId, handle } satisfies GateAnnouncement));
(globalThis as { [WORKER_MODULE_KEY]?: string })[WORKER_MODULE_KEY] = data.moduleUrl;
watchUnsendableResults();

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

function start(message: TaskMessage): Outcome | Promise<Outcome> {
  const [fn, slot, id, args, extras] = message;
  if (slot === BATCH) return runBatch(args as TaskMessage[], 0);
  if (slot < 0) return SKIPPED; // the pool's probe for a worker that starts: nothing to run
  if (extrasModule === undefined && (extras?.revive || extras?.progress !== undefined)) return loadExtras().then(() => start(message));
  // QUEUED → RUNNING, unless the pool marked it SKIP first (cancelled before it started).
  if (!board.start(slot, threadId, extras?.items !== undefined, extras?.timed === true, extras?.watchStart === true)) return SKIPPED;
  const startedAt = performance.timeOrigin + performance.now();
  const progress = extras?.progress !== undefined ? (extrasModule as ExtrasModule).connectProgress(extras.progress) : undefined;
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
  if (extras?.items !== undefined) {
    const items = (extras.revive ? revive(running, extras.items) : extras.items) as unknown[];
    return runChunk(running, extras, items, task, startedAt, t0);
  }
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

/** Revives the handles among a task's arguments; the callbacks among them are the task's to release. */
function revive(running: RunningTask, values: unknown[] | undefined): unknown[] {
  const { reviveHandles, takeRevivedCallbacks } = extrasModule as ExtrasModule;
  const live = reviveHandles(values ?? []) as unknown[];
  running.callbacks = takeRevivedCallbacks();
  return live;
}

// Load at once, not at the first task: `pool.ready()` can tell when the module is loaded, a
// module that cannot load is known at boot, and the first task does not wait for it.
process.on('exit', reportExit);
void load();
