/**
 * The pool's `node:diagnostics_channel` channels: what tracing, metrics and logging subscribe to.
 * Publishing costs nothing while a channel has no subscriber; watching task starts (which the
 * pool otherwise does not do) happens only while `threadgate:task:start` has one.
 *
 * Per task: `queued`, then `start` (unless it never started: cancelled while waiting, or refused),
 * then `end`, each exactly once and in that order. Per worker: `start`, then `exit`.
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';

/** What every task event names. Task ids are per pool: key by `poolId` and `taskId` together. */
export interface TaskEventBase {
  /** Which pool (numbered from 1 in the order pools are made in this thread). */
  poolId: number;
  taskId: number;
  /** The exported function the task calls. */
  taskName: string;
  /** A map chunk: the map index of its first item, and how many items it carries. */
  mapIndex?: number;
  items?: number;
}

/** `threadgate:task:queued`: submitted, in the caller's own async context (`AsyncLocalStorage` values are there). */
export type TaskQueuedEvent = TaskEventBase;

/** `threadgate:task:start`: a worker has started the task. */
export interface TaskStartEvent extends TaskEventBase {
  threadId: number;
  /** From submit to start. */
  waitMs: number;
}

/** How a task ended; `crashed` means its worker died under it. */
export type TaskOutcome = 'completed' | 'failed' | 'cancelled' | 'timeout' | 'crashed';

/** `threadgate:task:end`: the caller is being told the outcome (a cancelled task's worker may still be stopping it). */
export interface TaskEndEvent extends TaskEventBase {
  outcome: TaskOutcome;
  /** How long it ran in its worker, when it ran to an outcome there; for a map chunk, the whole chunk. */
  runMs: number | undefined;
  /**
   * For every outcome but `completed`: what the caller gets, or for a task's own error a copy
   * rebuilt alike. (For a chunk, `mapIndex` above is its first item's; the caller's error says
   * which item failed.)
   */
  error?: Error;
}

/** `threadgate:worker:start`: a worker thread was created. */
export interface WorkerStartEvent {
  poolId: number;
  threadId: number;
}

/** `threadgate:worker:exit`: a worker thread has exited. */
export interface WorkerExitEvent {
  poolId: number;
  threadId: number;
  exitCode: number;
  /** It ended by itself (an uncaught error, `process.exit`), not by the pool (retirement, idle, kill, shutdown). */
  crashed: boolean;
}

export const CHANNELS = {
  taskQueued: channel('threadgate:task:queued'),
  taskStart: channel('threadgate:task:start'),
  taskEnd: channel('threadgate:task:end'),
  workerStart: channel('threadgate:worker:start'),
  workerExit: channel('threadgate:worker:exit'),
} as const;
