import { threadId } from 'node:worker_threads';
import { AbortError, callback, WorkerPool } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { delay, runChild, TASKS, tasksPool, waitUntil, within } from './helpers.js';

describe('callback(fn): functions as task arguments', () => {
  it('runs on the caller thread, in call order, and answers the worker', async () => {
    const pool = tasksPool();
    const calls: [number, number][] = [];
    const sum = await within(
      10_000,
      pool.submit(
        'callEach',
        5,
        callback((i: number) => {
          calls.push([i, threadId]);
          return i * i;
        }),
      ),
    );
    expect(sum).toBe(1 + 4 + 9 + 16 + 25);
    expect(calls).toEqual([1, 2, 3, 4, 5].map((i) => [i, threadId]));
  });

  it('every call a task made has run by the time its result arrives, awaited or not', async () => {
    const pool = tasksPool();
    const seen: number[] = [];
    const n = await within(
      10_000,
      pool.submit(
        'fireAndForget',
        200,
        callback((i: number) => void seen.push(i)),
      ),
    );
    expect(n).toBe(200);
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('is released when its task settles: a later call rejects with ERR_CALLBACK_RELEASED', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    let called = 0;
    await within(
      10_000,
      pool.submit(
        'keepCallback',
        callback(() => called++),
      ),
    );
    expect(await within(10_000, pool.submit('callKeptCallback'))).toBe('ERR_CALLBACK_RELEASED');
    expect(called).toBe(0);
  });

  it('a task cancelled while it waits for a callback unwinds at once (the call fails as released) and keeps its worker', async () => {
    const pool = tasksPool({ maxWorkers: 1, cancelGraceMs: 10_000 });
    const worker = await pool.submit('whoAmI');
    let calls = 0;
    const slow = callback(async (i: number) => {
      calls++;
      await delay(100);
      return i;
    });
    const task = pool.submit('callEach', 5, slow);
    await waitUntil(() => calls === 1, 5_000, 'the first call');
    expect(task.cancel()).toBe(true);
    await expect(task).rejects.toBeInstanceOf(AbortError);
    // Within the grace period: the task was not waited out and killed.
    expect(await within(5_000, pool.submit('whoAmI'))).toBe(worker);
    expect(pool.stats.crashedWorkers).toBe(0);
  });

  it("a throw in the caller's function rejects the call in the worker", async () => {
    const pool = tasksPool();
    const seen = await within(
      10_000,
      pool.submit(
        'callAndCatch',
        callback(() => {
          throw new RangeError('no such page');
        }),
      ),
    );
    expect(seen).toBe('RangeError: no such page');
  });

  it('an error it throws reaches the task whole (class name, code, cause); any other thrown value as it is', async () => {
    class QuotaError extends Error {
      readonly code = 'E_QUOTA';
      override name = 'QuotaError';
    }
    const pool = tasksPool();
    const quota = callback(async () => {
      throw new QuotaError('over quota', { cause: new RangeError('429') });
    });
    expect(await within(10_000, pool.submit('describeThrown', quota))).toEqual({
      name: 'QuotaError',
      message: 'over quota',
      code: 'E_QUOTA',
      cause: 'RangeError: 429',
    });
    const thrownString = callback(() => {
      throw 'busy';
    });
    expect(await within(10_000, pool.submit('describeThrown', thrownString))).toEqual({ value: 'busy' });
  });

  it('works nested inside map items, one channel per use', async () => {
    const pool = tasksPool();
    const reported: number[] = [];
    const report = callback((n: number) => void reported.push(n));
    const items = Array.from({ length: 50 }, (_, n) => ({ n, report }));
    const results = await within(10_000, pool.map('reportThrough', items, { chunkSize: 7 }).toArray());
    expect(results).toEqual(items.map((item) => item.n));
    expect(reported.sort((a, b) => a - b)).toEqual(items.map((item) => item.n));
  });

  it('a bare function is refused with a hint; callback() and initArgs check their input', async () => {
    const pool = tasksPool();
    const bare = pool.submit('callEach', 1, ((i: number) => i) as never);
    await expect(bare).rejects.toMatchObject({ code: 'ERR_UNCLONEABLE_ARGUMENT', message: expect.stringContaining('callback(fn)') });
    expect(() => callback(42 as never)).toThrow(/fn must be a function; received 42/);
    expect(() => new WorkerPool({ module: TASKS, initializer: 'init', initArgs: [callback(() => 1)] })).toThrow(
      /options\.initArgs must be values each worker gets a copy of/,
    );
    expect(pool.stats.queued).toBe(0);
  });

  it('leaves no port open: a process that used one exits by itself', async () => {
    const run = await runChild('callback-child.mjs', 20_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('done {"seen":[1,2,3],"sum":60}');
    expect(run.exitedAt - run.lastOutputAt).toBeLessThan(1_000);
  });
});
