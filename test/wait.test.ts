import { AbortError, asCompleted, WaitTimeoutError, wait } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { delay, tasksPool, waitUntil, within } from './helpers.js';

/** Python's `as_completed` and `wait`, on real pool futures (and plain promises). */

/** A pool whose two workers are up, so that timings in a test are not a worker's start-up. */
async function warmPool(workers = 2) {
  const pool = tasksPool({ maxWorkers: workers, minWorkers: workers });
  await Promise.all(Array.from({ length: workers }, (_, i) => pool.submit('add', i, 1)));
  return pool;
}
describe('asCompleted', () => {
  it('yields each future as it settles, fastest first, with failed and cancelled ones, and plain promises too', async () => {
    const pool = await warmPool(3);
    const slow = pool.submit('delayed', 1_200);
    const fast = pool.submit('delayed', 10);
    const failing = pool.submit('rejectLater', 'no');
    const cancelled = pool.submit('delayed', 5_000);
    const plain = new Promise<string>((resolve) => setTimeout(() => resolve('plain'), 500));
    expect(cancelled.cancel()).toBe(true);
    const order: unknown[] = [];
    for await (const settled of asCompleted<PromiseLike<unknown>>([slow, fast, failing, cancelled, plain, fast])) order.push(settled);
    expect(order).toHaveLength(5); // `fast` given twice, yielded once, as Python's set of futures
    expect(order.at(-1)).toBe(slow);
    expect(order.indexOf(fast)).toBeLessThan(order.indexOf(plain));
    expect(new Set(order)).toEqual(new Set([slow, fast, failing, cancelled, plain]));
    await expect(failing).rejects.toThrow('no');
    await expect(cancelled).rejects.toBeInstanceOf(AbortError);
  });

  it('throws WaitTimeoutError, naming how many are unfinished, if time runs out first', async () => {
    const pool = await warmPool();
    const futures = [pool.submit('delayed', 10), pool.submit('delayed', 3_000)];
    // TypeScript types a `for await` variable as the awaited value; at run time it is the future.
    const yielded: unknown[] = [];
    const error = await within(
      5_000,
      (async () => {
        for await (const future of asCompleted(futures, { timeoutMs: 300 })) yielded.push(future);
      })().catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error).toMatchObject({ code: 'ERR_WAIT_TIMEOUT' });
    expect((error as Error).message).toMatch(/^1 future\(s\) were still pending/);
    expect(yielded).toEqual([futures[0]]);
    futures[1]?.cancel();
  });

  it('answers next() calls made before the previous one settled in turn, as an async generator does', async () => {
    const pool = await warmPool();
    const futures = [pool.submit('delayed', 30), pool.submit('delayed', 10)];
    const iterator = asCompleted(futures);
    const [a, b, c] = await within(5_000, Promise.all([iterator.next(), iterator.next(), iterator.next()]));
    expect(new Set([a.value, b.value])).toEqual(new Set(futures));
    expect(c).toEqual({ value: undefined, done: true });
  });

  it('return() ends the iteration, also while a next() waits', async () => {
    const pool = await warmPool();
    const slow = pool.submit('delayed', 3_000);
    const iterator = asCompleted([slow], { timeoutMs: 10_000 });
    const pending = iterator.next();
    await delay(50); // that next() is now waiting for a future to settle
    expect(await within(1_000, iterator.return?.() ?? Promise.reject(new Error('no return()')))).toEqual({ value: undefined, done: true });
    expect(await within(1_000, pending)).toEqual({ value: undefined, done: true });
    slow.cancel();
  });

  it('checks its arguments when called', () => {
    expect(() => asCompleted(42 as never)).toThrow(/futures must be an iterable of futures or promises; received 42/);
    expect(() => asCompleted([], { timeoutMs: -1 })).toThrow(/options\.timeoutMs/);
  });
});

describe('wait', () => {
  it('ALL_COMPLETED (the default) waits for every future, failed ones included, and never rejects', async () => {
    const pool = tasksPool();
    const futures = [pool.submit('delayed', 50), pool.submit('rejectLater', 'x'), pool.submit('delayed', 10)];
    const { done, notDone } = await within(5_000, wait(futures));
    expect(done).toEqual(new Set(futures));
    expect(notDone.size).toBe(0);
    await expect(futures[1]).rejects.toThrow('x');
  });

  it('FIRST_COMPLETED returns when the first future settles', async () => {
    const pool = await warmPool();
    const fast = pool.submit('delayed', 10);
    const slow = pool.submit('delayed', 2_000);
    const { done, notDone } = await within(5_000, wait([slow, fast], { returnWhen: 'FIRST_COMPLETED' }));
    expect(done).toEqual(new Set([fast]));
    expect(notDone).toEqual(new Set([slow]));
    expect(slow.done).toBe(false);
    slow.cancel();
  });

  it('FIRST_EXCEPTION returns when a future fails, not when one is cancelled; with no failure, when all complete', async () => {
    const pool = tasksPool({ maxWorkers: 3 });
    const slow = pool.submit('delayed', 2_000);
    const failing = pool.submit('rejectLater', 'boom');
    const first = await within(5_000, wait([slow, failing], { returnWhen: 'FIRST_EXCEPTION' }));
    expect(first.done).toEqual(new Set([failing]));
    expect(first.notDone).toEqual(new Set([slow]));
    slow.cancel();

    const cancelled = pool.submit('delayed', 5_000);
    const finishing = pool.submit('delayed', 200);
    const waiting = wait([cancelled, finishing], { returnWhen: 'FIRST_EXCEPTION' });
    await waitUntil(() => finishing.running, 5_000, 'the second task to start');
    expect(cancelled.cancel()).toBe(true);
    const second = await within(5_000, waiting);
    expect(finishing.done).toBe(true); // the cancel did not end the wait: Python's rule
    expect(second.done).toEqual(new Set([cancelled, finishing]));
    expect(second.notDone.size).toBe(0);
  });

  it('returns at timeoutMs with what has not settled in notDone; an empty list returns at once', async () => {
    const pool = await warmPool();
    const fast = pool.submit('delayed', 10);
    const slow = pool.submit('delayed', 3_000);
    const { done, notDone } = await within(5_000, wait([fast, slow], { timeoutMs: 300 }));
    expect(done).toEqual(new Set([fast]));
    expect(notDone).toEqual(new Set([slow]));
    slow.cancel();
    expect(await within(1_000, wait([]))).toEqual({ done: new Set(), notDone: new Set() });
  });

  it('checks its arguments', () => {
    expect(() => wait(42 as never)).toThrow(/futures must be an iterable of futures or promises; received 42/);
    expect(() => wait([], { returnWhen: 'SOMETIMES' as never })).toThrow(
      /options\.returnWhen must be 'FIRST_COMPLETED', 'FIRST_EXCEPTION' or 'ALL_COMPLETED'; received "SOMETIMES"/,
    );
    expect(() => wait([], { timeoutMs: Number.NaN })).toThrow(/options\.timeoutMs/);
  });
});

describe('wait and asCompleted refuse what is not a future', () => {
  it('a value that is not a future or a promise is refused at once, with a coded error naming its index', async () => {
    for (const call of [() => wait([Promise.resolve(1), 42 as never]), () => asCompleted([Promise.resolve(1), 42 as never])]) {
      expect(call).toThrow(
        expect.objectContaining({
          code: 'ERR_INVALID_ARG_TYPE',
          message: expect.stringMatching(/futures\[1\] must be a future or a promise/),
        }),
      );
    }
    expect(() => wait(5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('wait with futures of another copy of threadgate', () => {
  it('a cancelled future of the CommonJS cluster entry is not an exception (FIRST_EXCEPTION keeps waiting)', async () => {
    const { createRequire } = await import('node:module');
    const { ClusterPool } = createRequire(import.meta.url)('../dist/cluster.cjs') as typeof import('threadgate/cluster');
    const cluster = new ClusterPool({ queue: 'nowhere', connection: 'redis://127.0.0.1:1', connectTimeoutMs: 50 });
    const cancelled = cluster.with({ signal: AbortSignal.abort() }).submit('anything');
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
    expect(cancelled.cancelled).toBe(true);
    const never = new Promise<never>(() => {});
    const later = delay(50).then(() => 'later');
    const { done, notDone } = await within(5_000, wait([cancelled, later, never], { returnWhen: 'FIRST_EXCEPTION', timeoutMs: 300 }));
    expect(done.has(later)).toBe(true); // it kept waiting past the cancel
    expect([...notDone]).toEqual([never]);
    await cluster.shutdown();
  });
});
