import { PoolClosedError } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { delay, runChild, tasksPool, within } from './helpers.js';

type CodedError = Error & { code?: string; exitCode?: number; cause?: { code?: string } };

describe('pool.ready(): fail fast at boot', () => {
  it('resolves once a worker has loaded the module and run the initializer', async () => {
    const pool = tasksPool({ initializer: 'init', initArgs: ['booted'] });
    await within(10_000, pool.ready(), 'ready()');
    expect(await pool.submit('getInit')).toBe('booted');
    await within(1_000, pool.ready(), 'ready() once more'); // settled for good
  });

  it('rejects with ERR_WORKER_MODULE when the module throws while imported, or the initializer throws', async () => {
    const broken = tasksPool({ module: new URL('./fixtures/broken-module.mjs', import.meta.url) });
    const error = (await within(
      10_000,
      broken.ready().catch((e: unknown) => e),
      'ready()',
    )) as CodedError;
    expect(error).toMatchObject({ code: 'ERR_WORKER_MODULE', message: expect.stringMatching(/no config file/) });
    const failing = tasksPool({ initializer: 'failingInit', initArgs: ['the database is down'] });
    await expect(within(10_000, failing.ready(), 'ready()')).rejects.toMatchObject({ code: 'ERR_WORKER_MODULE' });
  });

  it('rejects with PoolClosedError when the pool shuts down before any worker has loaded', async () => {
    const pool = tasksPool();
    // Loading may win the race with shutdown; if it does not, the rejection says why.
    const early = pool.ready().then(
      () => 'loaded',
      (e: unknown) => e,
    );
    await pool.shutdown();
    const outcome = await within(10_000, early, 'ready()');
    if (outcome !== 'loaded') expect(outcome).toBeInstanceOf(PoolClosedError);
    const late = await within(
      1_000,
      pool.ready().then(
        () => 'loaded',
        (e: unknown) => e,
      ),
      'ready() after shutdown',
    );
    expect(late === 'loaded' || late instanceof PoolClosedError).toBe(true);
  });
});

describe('a worker module that ends its worker while loading', () => {
  it('process.exit in the module: ERR_WORKER_MODULE with the exit code, for ready() and every task, and no crash loop', async () => {
    const pool = tasksPool({ module: new URL('./fixtures/exit-at-load.mjs', import.meta.url) });
    const ready = (await within(
      10_000,
      pool.ready().catch((e: unknown) => e),
      'ready()',
    )) as CodedError;
    expect(ready).toMatchObject({
      code: 'ERR_WORKER_MODULE',
      exitCode: 3,
      message: expect.stringMatching(/process\.exit\(3\) while loading/),
    });
    const settled = await within(10_000, Promise.allSettled([1, 2, 3, 4, 5].map((n) => pool.submit('square', n))), 'five tasks');
    for (const outcome of settled)
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_WORKER_MODULE', exitCode: 3 });
    const deaths = pool.stats.crashedWorkers;
    await delay(300); // no worker keeps being replaced
    expect(pool.stats.crashedWorkers).toBe(deaths);
  });

  // Three exits in a row break the pool. A pool of n workers may have n - 1 more starting by
  // then (Piscina starts one per queued task, up to n), which start, exit and are not replaced.
  it.each([1, 2])(
    'process.exit in the initializer: every task fails with it, after at most 3 + (maxWorkers %i - 1) workers started',
    async (maxWorkers) => {
      const starts = new Int32Array(new SharedArrayBuffer(4));
      const pool = tasksPool({ maxWorkers, initializer: 'exitInInit', initArgs: [starts, 4] });
      const settled = await within(
        10_000,
        Promise.allSettled(Array.from({ length: 8 }, (_, n) => pool.submit('square', n))),
        'eight tasks',
      );
      for (const outcome of settled) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toMatchObject({
          code: 'ERR_WORKER_MODULE',
          exitCode: 4,
          message: expect.stringMatching(/initializer 'exitInInit'/),
        });
      }
      await delay(300); // no worker keeps being replaced
      expect(Atomics.load(starts, 0)).toBeLessThanOrEqual(3 + maxWorkers - 1);
      await expect(pool.submit('square', 1)).rejects.toMatchObject({ code: 'ERR_WORKER_MODULE' });
    },
  );
});

describe('a module that is both the main file and the worker module', () => {
  it('without an isMainThread guard: the pool each worker would make is refused, the main thread is told why, the process ends', async () => {
    const run = await runChild('own-pool.mjs', 30_000);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/ready\(\): ERR_WORKER_MODULE .*isMainThread.* \| cause: ERR_POOL_IN_OWN_WORKER/);
    expect(run.stdout).toMatch(/submit: ERR_WORKER_MODULE/);
  });

  it('a pool made in a worker for another module works', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    expect(await within(20_000, pool.submit('viaNestedPool', 21), 'a task through a nested pool')).toBe(42);
  });
});
