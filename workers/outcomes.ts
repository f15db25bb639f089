import { createRequire } from 'node:module';
import { parentPort, type TransferListItem, threadId } from 'node:worker_threads';
import { hasHeldShareable, toHandles } from '../src/wire/handles.js';
import {
  BATCH_OUTCOME,
  type BatchOutcome,
  type Outcome,
  type RanOutcome,
  RETIREMENT,
  type Retirement,
  SKIPPED,
  type TaskMessage,
} from '../src/wire/protocol.js';
import { type SerializedError, serializeError } from '../src/wire/remote-error.js';
import { getTaskControl, KILLING, setTaskControl } from '../src/wire/task-control.js';
import { data } from './runtime-data.js';
import type { RunningTask } from './task-context.js';

/*
 * How a task's end reaches the pool: its outcome (values or error, what it moved), once its
 * progress and callbacks are done; ENDED on the board; handed back to Piscina, or posted on its
 * own (a batch's task, a retiring worker's last task, a result Piscina could not post).
 */

let tasksRun = 0;

/** What each outcome's task gave to `move()`: posted with it as its transfer list. */
const movedWith = new WeakMap<RanOutcome, TransferListItem[]>();

/**
 * The outcome as Piscina posts it: wrapped as Piscina's "movable" (`Piscina.move`, its one way to
 * post a result with a transfer list) when its task moved something. Piscina is loaded in this
 * thread only then: its main module costs a worker ~10 ms to load.
 */
export function withMoved(outcome: Outcome): unknown {
  const moved = outcome === SKIPPED ? undefined : movedWith.get(outcome);
  if (moved === undefined) return outcome;
  piscinaMove ??= (createRequire(import.meta.url)('piscina') as { move: (value: object) => unknown }).move;
  return piscinaMove({ [Symbol.for('Piscina.transferable')]: moved, [Symbol.for('Piscina.valueOf')]: outcome });
}
let piscinaMove: ((value: object) => unknown) | undefined;

export function postOutcome([, slot, id]: TaskMessage, outcome: Outcome): void {
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

export function finish(
  startedAt: number,
  t0: number,
  values: unknown[],
  error?: SerializedError,
  failedAt?: number,
): Outcome | Promise<Outcome> {
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
  const { progress, callbacks } = running;
  const reported = progress?.end();
  if (reported !== undefined) {
    // Dense, not holey: the pool settles the task once every report is handled.
    while (outcome.length < 6) outcome.push(undefined as never);
    outcome.push(reported);
  }
  if (callbacks === undefined) return settle(running, outcome);
  // Report done only once the caller has answered every callback call: they travel on other
  // ports, and the caller closes those when it sees the result.
  const answered = callbacks.drain();
  const done = (): Outcome | Promise<Outcome> => {
    callbacks.release();
    return settle(running, outcome);
  };
  return answered === undefined ? done() : answered.then(done, done);
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

/** Watches for Piscina's own post of a lone result failing (see above). */
export function watchUnsendableResults(): void {
  process.on('uncaughtExceptionMonitor', (error: unknown) => {
    if ((error as { name?: unknown } | null)?.name !== 'DataCloneError') return;
    for (const handed of [previousOutcome, latestOutcome]) {
      if (handed === undefined) continue;
      const unsendable = firstUnsendable(handed.outcome[0]);
      if (unsendable !== undefined) postFailedAt(handed.running.slot, handed.running.id, handed.outcome, unsendable.at, unsendable.error);
    }
  });
}
