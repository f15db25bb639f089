import { workerData } from 'node:worker_threads';
import type { RuntimeData } from '../src/wire/protocol.js';
import { TaskBoard } from '../src/wire/task-control.js';

/** What the pool gave this worker (protocol.ts): the module, its initializer, the board and seats. */
export const data = workerData as RuntimeData;
/** The task control board the pool shares with its workers (task-control.ts). */
export const board = new TaskBoard(data.board);

export type TaskFunction = (...args: unknown[]) => unknown;

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
  );
}
