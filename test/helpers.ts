import { WorkerPool, type WorkerPoolOptions } from 'threadgate';
import { afterEach } from 'vitest';
import type * as Tasks from './fixtures/tasks.js';

export type { Tasks };
export const TASKS = new URL('./fixtures/tasks.ts', import.meta.url);

const open: WorkerPool<typeof Tasks>[] = [];

/** A pool over the test fixture module, shut down (without waiting on stuck tasks) after the test. */
export function tasksPool(options: Partial<WorkerPoolOptions> = {}): WorkerPool<typeof Tasks> {
  const pool = new WorkerPool<typeof Tasks>({ module: TASKS, maxWorkers: 2, ...options });
  open.push(pool);
  return pool;
}

afterEach(async () => {
  const pools = open.splice(0);
  await Promise.all(pools.map((pool) => pool.shutdown({ cancelFutures: true })));
});

/** Resolves after `ms`. */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects if `promise` has not settled within `ms`: every wait in a test is bounded. */
export function within<T>(ms: number, promise: PromiseLike<T>, what = 'operation'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    Promise.resolve(promise).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
