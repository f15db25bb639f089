import { AsyncSemaphore, RateLimiter, SharedRateLimiter, SharedSemaphore } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { delay, tasksPool, waitUntil, within } from './helpers.js';

describe('RateLimiter', () => {
  it('refuses bad options with errors that name them', async () => {
    expect(() => new RateLimiter({ maxConcurrent: 0 })).toThrow(/options\.maxConcurrent must be an integer from 1/);
    expect(() => new RateLimiter({ maxConcurrent: 2, minIntervalMs: -1 })).toThrow(/options\.minIntervalMs/);
    expect(() => new RateLimiter({ maxConcurrent: 2, semaphore: new AsyncSemaphore(3) })).toThrow(
      /options\.maxConcurrent must be left out, or equal to options\.semaphore\.capacity \(3\)/,
    );
    expect(() => new RateLimiter({ semaphore: {} as never })).toThrow(/options\.semaphore must be a Semaphore/);
    expect(() => new RateLimiter(undefined as never)).toThrow(/options\.maxConcurrent/);
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    await expect(limiter.call('nope' as never)).rejects.toThrow(/fn must be a function/);
    await expect(limiter.call(async () => 1, { requestId: 5 as never })).rejects.toThrow(/options\.requestId must be a string/);
  });

  it('answers with data, requestId (a UUID by default) and durationMs', async () => {
    const limiter = new RateLimiter({ maxConcurrent: 2 });
    const named = await limiter.call(async () => ({ id: 'u1' }), { requestId: 'req-1' });
    expect(named).toMatchObject({ data: { id: 'u1' }, requestId: 'req-1' });
    expect(named.durationMs).toBeGreaterThanOrEqual(0);
    const anonymous = await limiter.call(() => 5);
    expect(anonymous.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a call's own error rejects the call and frees its slot", async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    await expect(limiter.call(() => Promise.reject(new Error('upstream 500')))).rejects.toThrow('upstream 500');
    expect(limiter.available).toBe(1);
  });

  it('a call aborted while waiting never runs and costs no slot', async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1, minIntervalMs: 50 });
    const first = limiter.call(() => delay(100));
    const controller = new AbortController();
    let ran = false;
    const second = limiter.call(
      () => {
        ran = true;
      },
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 10);
    await expect(second).rejects.toMatchObject({ name: 'AbortError' });
    await first;
    expect(ran).toBe(false);
    expect(limiter.available).toBe(1);
    expect(limiter.waiting).toBe(0);
  });

  it('a call aborted while waiting for its spacing turn never runs and records no start', async () => {
    const limiter = new RateLimiter({ maxConcurrent: 5, minIntervalMs: 200 });
    await limiter.call(() => 1);
    const controller = new AbortController();
    const spaced = limiter.call(() => 'ran', { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(spaced).rejects.toMatchObject({ name: 'AbortError' });
    expect(limiter.available).toBe(5);
  });

  it('can take its concurrency from a given semaphore', async () => {
    const sem = new SharedSemaphore(2);
    const limiter = new RateLimiter({ semaphore: sem });
    const held = sem.tryAcquire(2);
    let ran = false;
    const call = limiter.call(() => {
      ran = true;
    });
    await delay(20);
    expect(ran).toBe(false);
    held?.release();
    await within(2_000, call);
    expect(ran).toBe(true);
  });
});

describe('SharedRateLimiter', () => {
  it('refuses bad options and bad handles', () => {
    expect(() => new SharedRateLimiter({ maxConcurrent: -1 })).toThrow(/options\.maxConcurrent/);
    // Both limiters refuse the same intervals, with the same words: one that never lets a second call
    // start, and one too short for the shared clock's microseconds (it would round to no spacing).
    for (const make of [(o: object) => new RateLimiter(o), (o: object) => new SharedRateLimiter(o as never)]) {
      for (const minIntervalMs of [Number.POSITIVE_INFINITY, 0.0004, -1, 2 ** 31])
        expect(() => make({ maxConcurrent: 1, minIntervalMs })).toThrow(
          expect.objectContaining({
            code: 'ERR_OUT_OF_RANGE',
            message: expect.stringMatching(/options\.minIntervalMs must be 0 \(no spacing\), or/),
          }),
        );
      expect(() => make({ maxConcurrent: 1, minIntervalMs: '5' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      expect(() => make({ maxConcurrent: 1, minIntervalMs: 0.001 })).not.toThrow();
    }
    expect(() => SharedRateLimiter.from({} as never)).toThrow(/a SharedRateLimiter handle/);
    const good = new SharedRateLimiter({ maxConcurrent: 1 }).handle;
    expect(() => SharedRateLimiter.from({ ...good, clock: new SharedArrayBuffer(4) })).toThrow(/handle\.clock/);
  });

  it('rebuilds from its handle onto the same limits', async () => {
    const limiter = new SharedRateLimiter({ maxConcurrent: 2, minIntervalMs: 10 });
    const twin = SharedRateLimiter.from(structuredClone(limiter.handle));
    expect(twin.maxConcurrent).toBe(2);
    expect(twin.minIntervalMs).toBe(10);
    await twin.call(() => 1);
    expect(limiter.available).toBe(2);
  });

  it('4 workers × 5 calls: one spacing across all threads, concurrency never above the limit', async () => {
    const pool = tasksPool({ maxWorkers: 4 });
    const limiter = new SharedRateLimiter({ maxConcurrent: 2, minIntervalMs: 40 });
    const counters = new Int32Array(new SharedArrayBuffer(8));
    // Warm the workers first, so the measured calls overlap instead of trickling in as workers boot.
    await Promise.all(Array.from({ length: 4 }, () => pool.submit('busy', 50)));
    const starts = (
      await within(
        30_000,
        Promise.all(
          Array.from({ length: 4 }, () =>
            pool
              .starmap(
                'limitedCall',
                Array.from({ length: 5 }, () => [limiter, counters, 60] as const),
                { chunkSize: 1 },
              )
              .toArray(),
          ),
        ),
      )
    ).flat();
    expect(starts).toHaveLength(20);
    const sorted = [...starts].sort((a, b) => a - b);
    const gaps = sorted.slice(1).map((t, i) => t - (sorted[i] as number));
    // The limiter's own record of each start, on the process-wide clock: spaced exactly (the
    // 1e-6 ms is floating-point rounding of the subtraction, not timing slack).
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(40 - 1e-6);
    expect(Atomics.load(counters, 1)).toBeLessThanOrEqual(2);
    expect(Atomics.load(counters, 1)).toBe(2); // the limit was reached: the test did contend
    expect(limiter.available).toBe(2);
  });
});

describe('SharedRateLimiter when a caller dies', () => {
  it('a call whose worker is killed by a timeout gives its slot back', async () => {
    const pool = tasksPool({ maxWorkers: 2 });
    const limiter = new SharedRateLimiter({ maxConcurrent: 1 });
    const stuck = pool.with({ timeoutMs: 200 }).submit('limitedSpin', limiter);
    await waitUntil(() => limiter.available === 0, 10_000, 'the call to take the slot');
    await expect(within(10_000, stuck)).rejects.toMatchObject({ code: 'ERR_TASK_TIMEOUT' });
    await waitUntil(() => limiter.available === 1, 5_000, 'the slot to come back');
    const { data } = await within(
      5_000,
      limiter.call(() => 'next caller runs'),
    );
    expect(data).toBe('next caller runs');
  });
});

describe('SharedRateLimiter under a burst', () => {
  it('takes thousands of calls at once from one thread (they line up in the thread first)', async () => {
    const limiter = new SharedRateLimiter({ maxConcurrent: 8 });
    let running = 0;
    let max = 0;
    const calls = Array.from({ length: 5_000 }, () =>
      limiter.call(async () => {
        max = Math.max(max, ++running);
        await Promise.resolve();
        running--;
      }),
    );
    await within(20_000, Promise.all(calls));
    expect(max).toBe(8);
    expect(limiter.available).toBe(8);
    expect(limiter.waiting).toBe(0);
  });
});
