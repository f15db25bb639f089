import type { MessagePort } from 'node:worker_threads';
import type { Handle } from './handles.js';
import type { SerializedError } from './remote-error.js';

/**
 * What the pool sends to its worker runtime (one Piscina task per message, or a batch) and what comes back.
 * Task functions' own errors travel as data in an `Outcome`, never as a Piscina rejection, so a
 * rejection from Piscina always means the worker itself failed.
 *
 * The message is a short tuple, not an object: it is structured-cloned once per task, and a
 * small array clones as cheaply as `null` where an object with named fields costs ~10% of the
 * pool's no-op throughput. Rarely used fields live in the optional trailing `TaskExtras`.
 */
export type TaskMessage = [fn: string, slot: number, id: number, args: unknown[] | undefined, extras?: TaskExtras];

/** What only some tasks need. */
export interface TaskExtras {
  /** A map chunk: one entry per item (the argument, or the argument tuple when `spread`). */
  items?: unknown[];
  /** Chunk items are argument tuples (`starmap`). */
  spread?: boolean;
  /**
   * A chunk sized from a guess at what its items cost: once it has run this many ms, it stops after
   * the item in hand and returns what is done (fewer values than items, and no error). The pool
   * sends the rest again, in chunks sized from what it has just learnt.
   */
  cutAfterMs?: number;
  /** Arguments contain handles of shared objects that the runtime must revive. */
  revive?: boolean;
  /** The pool waits for the start of this task (for its timeout, or to publish it): notify the board word. */
  watchStart?: boolean;
  /** A map chunk with a timeout: write each item's start on the board (ITEM_STARTED). */
  timed?: boolean;
  /** The caller's `pool.with({ context })`, for `currentTask().context`. */
  context?: unknown;
  /**
   * Present only when the caller listens to `currentTask().progress()`: the id under which the
   * task's reports go to the pool, on its worker's progress port (see ProgressPort).
   */
  progress?: number;
}

/**
 * The worker ran the task (or chunk) to the end, successfully or not. A tuple, like the
 * message, because it is cloned back once per task.
 */
export type RanOutcome = [
  /** Results: one for a call, one per item for a chunk (up to the failing item, if any). */
  values: unknown[],
  /** When it started, as `performance.timeOrigin + performance.now()` in the worker. */
  startedAt: number,
  /** How long it ran, in milliseconds. */
  runMs: number,
  /** The task's (or the failing item's) error, if it threw. */
  error?: SerializedError,
  /** With `error` in a chunk: the failing item's position inside the chunk. */
  failedAt?: number,
  /** `values` hold handles of shared objects (a SharedSemaphore the task returned): the pool revives them. */
  handles?: true,
  /** The task's progress, when its caller listens and it reported (see TaskProgress). */
  progress?: TaskProgress,
];

/**
 * How a task's progress ends: how many batches of reports went ahead on its worker's progress
 * port, the reports not sent yet, and the worker's thread id. The worker does not wait for its
 * batches to be handled: the pool settles the task once they are, then these.
 */
export type TaskProgress = [sent: number, rest: unknown[], threadId: number];

/** The worker did not run the task: it was cancelled before it started (`SKIP` on the board). */
export const SKIPPED = 0;
export type SkippedOutcome = typeof SKIPPED;

export type Outcome = RanOutcome | SkippedOutcome;

/**
 * How a worker that has run its `maxTasksPerWorker` hands over its last outcome: on its
 * `parentPort` (Piscina re-emits it as a pool `'message'`), while the Piscina task itself never
 * returns. Piscina therefore sees the worker busy and sends it nothing more, and the pool, which
 * now holds the outcome, terminates the worker. Exiting by itself instead would race Piscina,
 * which fails every task of an exited worker whose result it has not read yet, and may already
 * have posted the next task to it.
 */
export interface Retirement {
  [RETIREMENT]: true;
  slot: number;
  id: number;
  threadId: number;
  outcome: RanOutcome;
}

export const RETIREMENT = '@@threadgate/retirement';

/** A runtime's own message on `parentPort`: an object whose `tag` key is `true` (the tags below). */
function isTagged(message: unknown, tag: string): boolean {
  return typeof message === 'object' && message !== null && (message as Record<string, unknown>)[tag] === true;
}

export function isRetirement(message: unknown): message is Retirement {
  return isTagged(message, RETIREMENT);
}

/**
 * A batch: several plain tasks (their extras at most a progress id) in one Piscina message,
 * `['', BATCH, 0, tasks]`, so a burst of tiny tasks does not pay Piscina's per-message cost for
 * each. Every task keeps its own board slot (start, cancel and kill stay exact per task), and the
 * runtime posts each outcome on its `parentPort` the moment the task ends, so a worker that dies
 * mid-batch loses no finished result (Node delivers those messages before the worker's `'exit'`).
 */
export const BATCH = -2;

/** One task's outcome from a batch, as a `parentPort` message (Piscina re-emits it as `'message'`). */
export type BatchOutcome = [tag: typeof BATCH_OUTCOME, slot: number, id: number, outcome: Outcome];

export const BATCH_OUTCOME = '@@threadgate/outcome';

export function isBatchOutcome(message: unknown): message is BatchOutcome {
  return Array.isArray(message) && message[0] === BATCH_OUTCOME;
}

/** A worker telling its pool of a shared gate it has made or revived (see registry.ts). */
export interface GateAnnouncement {
  [GATE]: true;
  threadId: number;
  handle: Handle;
}

export const GATE = '@@threadgate/gate';

export function isGateAnnouncement(message: unknown): message is GateAnnouncement {
  return isTagged(message, GATE);
}

/**
 * A worker telling its pool how loading its module (and running the initializer) ended: loaded,
 * or failed (`failure`; the worker lives on, failing each task with it).
 */
export interface LoadReport {
  [LOADED]: true;
  threadId: number;
  failure?: SerializedError;
}

export const LOADED = '@@threadgate/loaded';

export function isLoadReport(message: unknown): message is LoadReport {
  return isTagged(message, LOADED);
}

/**
 * A worker ending by itself (`process.exit`), posted from its `'exit'` event, so the pool hears
 * it before it sees the exit: a crash, not the pool's termination (which runs no `'exit'` event
 * in the worker). `held` is present when it ends while loading its module: the tasks (board slot
 * and id) it had been handed meanwhile, whose delivery did not kill it; its module did.
 */
export interface ExitReport {
  [EXITING]: true;
  threadId: number;
  exitCode: number;
  held?: [slot: number, id: number][];
}

export const EXITING = '@@threadgate/exiting';

export function isExitReport(message: unknown): message is ExitReport {
  return isTagged(message, EXITING);
}

/**
 * A worker's progress port, made the first time one of its tasks reports progress and sent to
 * its pool on `parentPort`: every later report of every task of the worker travels on it, as a
 * comlink call `deliver(progressId, values)` (pool/progress.ts), so a task whose caller listens
 * costs no channel of its own.
 */
export interface ProgressPort {
  [PROGRESS_PORT]: true;
  threadId: number;
  port: MessagePort;
}

export const PROGRESS_PORT = '@@threadgate/progress';

export function isProgressPort(message: unknown): message is ProgressPort {
  return isTagged(message, PROGRESS_PORT);
}

/**
 * Set on `globalThis` in a pool's worker to its module's URL, before the module loads: a
 * `WorkerPool` made there for that same module would start workers without end.
 */
export const WORKER_MODULE_KEY = Symbol.for('threadgate.workerModule');

/** What every worker of a pool is started with (Piscina `workerData`). */
export interface RuntimeData {
  moduleUrl: string;
  /** tsx's `register` modules, for a `.ts` module on a Node that cannot strip types; empty otherwise. */
  tsLoaders: string[];
  initializer: string | undefined;
  initArgs: unknown[];
  initArgsRevive: boolean;
  board: Int32Array;
  /** The workers' seats for the kill handshake (task-control.ts). */
  seats: Int32Array;
  maxTasksPerWorker: number;
}

/** Names that are never task names, whatever a module exports: they reach into prototypes or make the namespace thenable. */
export const FORBIDDEN_TASK_NAMES: ReadonlySet<string> = new Set([
  'then',
  'constructor',
  '__proto__',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);
