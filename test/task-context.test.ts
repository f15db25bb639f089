import { AbortError, type MapProgress } from 'threadgate';
import { currentTask } from 'threadgate/worker';
import { describe, expect, it } from 'vitest';
import { delay, tasksPool, waitUntil, within } from './helpers.js';

describe('currentTask(): cooperative cancellation', () => {
  it('a synchronous CPU loop polling signal.aborted stops within the grace period and keeps its worker', async () => {
    const pool = tasksPool({ maxWorkers: 1, cancelGraceMs: 5_000 });
    const before = await pool.submit('whoAmI');
    const task = pool.submit('spinUntilCancelled');
    await waitUntil(() => task.running, 5_000, 'the task to start');
    const cancelledAt = performance.now();
    expect(task.cancel()).toBe(true);
    await expect(task).rejects.toBeInstanceOf(AbortError);
    expect(await within(5_000, pool.submit('whoAmI'))).toBe(before); // the same worker, not a replacement
    expect(performance.now() - cancelledAt).toBeLessThan(5_000);
    expect(pool.stats.crashedWorkers).toBe(0);
  });

  it('a timeout aborts the signal too', async () => {
    const pool = tasksPool({ maxWorkers: 1, cancelGraceMs: 5_000 });
    const before = await pool.submit('whoAmI');
    await expect(within(5_000, pool.with({ timeoutMs: 100 }).submit('spinUntilCancelled'))).rejects.toMatchObject({
      code: 'ERR_TASK_TIMEOUT',
    });
    expect(await within(5_000, pool.submit('whoAmI'))).toBe(before);
  });

  it('gives each task its id, and refuses to be called outside a task', async () => {
    const pool = tasksPool();
    const future = pool.submit('taskId');
    expect(typeof (await future)).toBe('number');
    expect(() => currentTask()).toThrow(/outside a threadgate task/);
  });
});

describe('currentTask(): progress', () => {
  it('delivers every progress event of a submit, in order, before the result', async () => {
    const pool = tasksPool();
    const seen: unknown[] = [];
    const result = await pool.with({ onProgress: (value) => seen.push(value) }).submit('reportProgress', 50);
    expect(result).toBe(50);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => ({ done: i + 1, total: 50 })));
  });

  it('a synchronous loop reporting every 10 µs: every report arrives, in order, and they arrive while it runs', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    await pool.submit('add', 1, 1); // the worker is up: the timer below measures the task alone
    const seen: number[] = [];
    let seenHalfway = -1;
    const halfway = setTimeout(() => {
      seenHalfway = seen.length;
    }, 200);
    const reports = await within(10_000, pool.with({ onProgress: (value) => seen.push(value as number) }).submit('reportWhileBusy', 400));
    clearTimeout(halfway);
    expect(reports).toBeGreaterThan(1_000);
    expect(seen).toEqual(Array.from({ length: reports }, (_, i) => i));
    // Batched, but not held back until the loop ends: a progress bar moves while the task runs.
    expect(seenHalfway).toBeGreaterThan(0);
    expect(seenHalfway).toBeLessThan(reports);
  });

  it('a report that cannot cross threads throws DataCloneError at the call; the others arrive', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const seen: unknown[] = [];
    expect(await within(5_000, pool.with({ onProgress: (value) => seen.push(value) }).submit('reportUncloneable'))).toBe('DataCloneError');
    expect(seen).toEqual([1, 3]);
    expect(pool.stats.crashedWorkers).toBe(0);
  });

  it('a report from code the task left running, after it ended, is dropped: the worker lives on', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const worker = await pool.submit('whoAmI');
    const seen: unknown[] = [];
    expect(await pool.with({ onProgress: (value) => seen.push(value) }).submit('reportLate')).toBe('returned');
    await delay(80);
    expect(await pool.submit('whoAmI')).toBe(worker);
    expect(pool.stats.crashedWorkers).toBe(0);
    expect(seen).toEqual([]);
  });

  it('delivers task progress from every item of a chunked map', async () => {
    const pool = tasksPool();
    const values: number[] = [];
    const results = await pool
      .map(
        'reportItem',
        Array.from({ length: 200 }, (_, i) => i),
        {
          chunkSize: 25,
          onProgress: (p) => {
            if (p.value !== undefined) values.push(p.value as number);
          },
        },
      )
      .toArray();
    expect(results).toHaveLength(200);
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it.each([
    [
      'throws',
      (error: unknown) => () => {
        throw error;
      },
    ],
    [
      'returns a rejected promise',
      (error: unknown) => async () => {
        throw error;
      },
    ],
  ])('an onProgress that %s fails its own task with that error and stops it; the worker lives on', async (_how, listener) => {
    const pool = tasksPool({ maxWorkers: 1 });
    const worker = await pool.submit('whoAmI');
    const broken = new Error('listener broke');
    const error = await within(
      5_000,
      pool
        .with({ onProgress: listener(broken) })
        .submit('reportUntilCancelled')
        .catch((e: unknown) => e),
    );
    expect(error).toBe(broken);
    expect(await within(5_000, pool.submit('whoAmI'))).toBe(worker); // stopped cooperatively, not crashed
    expect(pool.stats).toMatchObject({ crashedWorkers: 0, failed: 1 });
    const odd = await within(
      5_000,
      pool
        .with({ onProgress: listener('not an Error') })
        .submit('reportUntilCancelled')
        .catch((e: unknown) => e),
    );
    expect(odd).toMatchObject({ message: 'onProgress threw "not an Error"', cause: 'not an Error' });
  });

  it('reports of a task that ends within its first ms come with its result: all delivered first, an async listener awaited, a throw fails the call', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    await pool.submit('add', 1, 1); // the worker is up
    const steps = (n: number) => Array.from({ length: n }, (_, i) => ({ done: i + 1, total: n }));
    const seen: unknown[] = [];
    let settledListeners = 0;
    const slow = pool.with({
      onProgress: async (value) => {
        seen.push(value);
        await new Promise((resolve) => setTimeout(resolve, 20));
        settledListeners++;
      },
    });
    expect(await within(5_000, slow.submit('reportProgress', 3))).toBe(3);
    expect(seen).toEqual(steps(3));
    expect(settledListeners).toBe(3); // the result waited for the listener's promises

    const broken = new Error('listener broke at the last report');
    const failing = pool.with({
      onProgress: (value) => {
        if ((value as { done: number }).done === 3) throw broken;
      },
    });
    const before = pool.stats;
    expect(
      await within(
        5_000,
        failing.submit('reportProgress', 3).catch((e: unknown) => e),
      ),
    ).toBe(broken);
    expect(await within(5_000, pool.submit('add', 2, 3))).toBe(5);
    // The failed call counts as failed, the add as completed.
    expect(pool.stats).toMatchObject({ failed: before.failed + 1, completed: before.completed + 1, crashedWorkers: 0 });
  });

  it('an onProgress that throws fails a map with that error at the next item, cancelling the rest; the workers live on', async () => {
    const pool = tasksPool();
    const broken = new Error('map listener broke');
    for (const [task, breakAt] of [
      ['square', (p: MapProgress) => p.completed >= 30], // the report after a chunk
      ['reportItem', (p: MapProgress) => p.value === 25], // a task's own report
    ] as const) {
      const seen: number[] = [];
      const consume = async (): Promise<void> => {
        const items = Array.from({ length: 5_000 }, (_, i) => i);
        for await (const value of pool.map(task, items, {
          chunkSize: 10,
          onProgress: (p) => {
            if (breakAt(p)) throw broken;
          },
        })) {
          seen.push(value as number);
        }
      };
      expect(
        await within(
          10_000,
          consume().catch((e: unknown) => e),
        ),
      ).toBe(broken);
      expect(seen.length).toBeLessThan(5_000);
    }
    expect(pool.stats.crashedWorkers).toBe(0);
    expect(await within(5_000, pool.submit('add', 2, 3))).toBe(5);
  });

  it('a task without onProgress reports into nothing, at no cost', async () => {
    const pool = tasksPool();
    expect(await pool.submit('reportProgress', 10)).toBe(10);
  });
});

describe('maxTasksPerWorker', () => {
  it('retires a worker after N tasks and runs queued work on a fresh one, failing nothing', async () => {
    const pool = tasksPool({ maxWorkers: 1, maxTasksPerWorker: 3 });
    const runs = await within(20_000, Promise.all(Array.from({ length: 8 }, () => pool.submit('countHere'))));
    const perThread = new Map<number, number[]>();
    for (const r of runs) perThread.set(r.threadId, [...(perThread.get(r.threadId) ?? []), r.count]);
    for (const counts of perThread.values()) {
      expect(Math.max(...counts)).toBeLessThanOrEqual(3); // no worker ran more than 3
      expect([...counts].sort()).toEqual(counts.map((_, i) => i + 1)); // each ran 1, 2, ... in turn
    }
    expect(perThread.size).toBe(3); // 8 tasks at 3 per worker: two retired, a third took the rest
    expect(pool.stats.failed).toBe(0);
    expect(pool.stats.crashedWorkers).toBe(0);
  });

  // A retiring worker's last result must not be lost in its exit, nor may the next task be
  // handed to it while it goes (both happened when the worker called process.exit itself).
  it.each([1, 2])('maxTasksPerWorker %i under a full queue of async tasks: every task completes', async (max) => {
    const pool = tasksPool({ maxWorkers: 2, maxTasksPerWorker: max });
    const jobs = Array.from({ length: 16 }, (_, i) => pool.submit('delayed', i % 3));
    const values = await within(20_000, Promise.all(jobs));
    expect(values).toEqual(Array.from({ length: 16 }, (_, i) => i % 3));
    expect(pool.stats).toMatchObject({ completed: 16, failed: 0, crashedWorkers: 0 });
  });

  // Regression: a map chunk waited in the inbox of a worker about to retire. Terminated with it,
  // the chunk before it could lose its posted result (the map failed with ERR_WORKER_CRASHED), and
  // one carrying a progress port could not run again elsewhere (it failed at once).
  it.each([false, true])('a map of short chunks completes across retirements, every item once (onProgress: %s)', async (withProgress) => {
    const pool = tasksPool({ maxWorkers: 1, maxTasksPerWorker: 2 });
    const runs = new Int32Array(new SharedArrayBuffer(1_000 * 4));
    const items = Array.from({ length: 1_000 }, (_, i): [{ i: number; kind: 'ok'; ms: number }, Int32Array] => [
      { i, kind: 'ok', ms: 0.01 },
      runs,
    ]);
    const progress = withProgress ? { onProgress: () => {} } : {};
    const values = await within(30_000, pool.starmap('faultyItem', items, { chunkSize: 50, ...progress }).toArray());
    expect(values).toEqual(items.map(([{ i }]) => i * 2));
    expect(Array.from(runs).every((n) => n === 1)).toBe(true);
    expect(pool.stats).toMatchObject({ completed: 1000, failed: 0, crashedWorkers: 0 });
  });
});
