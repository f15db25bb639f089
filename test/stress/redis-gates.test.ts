/**
 * `RedisSemaphore` and `RedisRateLimiter` across real processes on a real redis-server: bounded
 * (checked by an independent counter), leases of the dead return, aborted waiters leave nothing,
 * and a rate limit on Redis's clock. The stress tier runs #21's sizes (4 × 200 acquires, 60 calls);
 * `npm test` a quarter and a half of them.
 */

const ACQUIRES = scale(50, 200);
const CALLS_PER_PROCESS = scale(10, 20);

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RedisSemaphore } from 'threadgate/cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noRedis, type RedisServer, startRedis } from '../cluster/redis.js';
import { runChild, within } from '../helpers.js';
import { scale } from '../tier.js';

const key = (): string => `gate${crypto.randomUUID().slice(0, 8)}`;

describe.skipIf(noRedis !== undefined)('Redis gates across processes', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it(`RedisSemaphore: 4 processes × ${ACQUIRES} random-weight acquires never hold more than the capacity`, async () => {
    const k = key();
    const capacity = 4;
    const runs = await Promise.all(
      [1, 2, 3, 4].map((seed) =>
        runChild('redis-gate-child.mjs', 60_000, [], ['hammer', redis.url, k, String(capacity), String(ACQUIRES), String(seed)]),
      ),
    );
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const most = Math.max(...runs.map((run) => (JSON.parse(run.stdout) as { most: number }).most));
    expect(most).toBeLessThanOrEqual(capacity);
    expect(most).toBeGreaterThan(1); // the processes did overlap
  });

  it('RedisSemaphore: the units of a holder killed while holding return within its lease', async () => {
    const k = key();
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('../fixtures/redis-gate-child.mjs', import.meta.url)), 'hold', redis.url, k, '3', '3'],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await within(
      15_000,
      new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve())),
      'the holder acquiring',
    );
    await using sem = new RedisSemaphore({ key: k, capacity: 3, connection: redis.url });
    expect(await sem.tryAcquire(1)).toBeUndefined();
    child.kill('SIGKILL');
    const killedAt = performance.now();
    const permit = await within(5_000, sem.acquire({ weight: 3 }), 'the lease running out');
    expect(performance.now() - killedAt).toBeLessThan(1_000 + 500); // leaseMs 1,000 in the child, plus polling
    permit.release();
  });

  it('RedisSemaphore: a waiter that aborts or times out leaves nothing taken', async () => {
    const k = key();
    await using sem = new RedisSemaphore({ key: k, capacity: 2, connection: redis.url });
    const all = await sem.acquire({ weight: 2 });
    const controller = new AbortController();
    const waiting = sem.acquire({ signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(within(2_000, waiting)).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await expect(within(2_000, sem.acquire({ timeoutMs: 50 }))).rejects.toMatchObject({ code: 'ERR_ACQUIRE_TIMEOUT' });
    all.release();
    await using other = new RedisSemaphore({ key: k, capacity: 2, connection: redis.url });
    const whole = await within(2_000, other.acquire({ weight: 2 }), 'the whole capacity');
    expect(whole.weight).toBe(2);
    expect(sem.held).toBe(0);
    whole.release();
  });

  it('RedisSemaphore: withPermit, release(n) of whole permits, and bad arguments named', async () => {
    await using sem = new RedisSemaphore({ key: key(), capacity: 3, connection: redis.url });
    expect(await sem.withPermit(async () => sem.held, { weight: 2 })).toBe(2);
    expect(sem.held).toBe(0);
    await sem.acquire({ weight: 2 });
    await sem.acquire();
    await expect(sem.release(4)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await sem.release(3);
    expect(sem.held).toBe(0);
    await expect(sem.release(1)).rejects.toMatchObject({ code: 'ERR_SEMAPHORE_OVER_RELEASE' });
    await expect(sem.acquire({ weight: 4 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: /options\.weight/ });
    expect(() => new RedisSemaphore({ key: 'k', capacity: 0, connection: redis.url })).toThrow(/options\.capacity/);
  });

  it(`RedisRateLimiter: 3 processes, ${3 * CALLS_PER_PROCESS} calls: starts ≥ 50 ms apart and never more than 2 at once, on Redis time`, async () => {
    const k = key();
    const runs = await Promise.all(
      [1, 2, 3].map(() => runChild('redis-gate-child.mjs', 60_000, [], ['limit', redis.url, k, String(CALLS_PER_PROCESS)])),
    );
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const spans = runs.flatMap((run) => JSON.parse(run.stdout) as { startedAt: number; from: number; to: number }[]);
    expect(spans).toHaveLength(3 * CALLS_PER_PROCESS);
    const starts = spans.map((s) => s.startedAt).sort((a, b) => a - b);
    const gaps = starts.slice(1).map((start, i) => start - (starts[i] as number));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(50);
    // At most two calls between their start and their end, at any moment.
    const events = spans.flatMap((s) => [
      [s.startedAt, 1],
      [s.to, -1],
    ]) as [number, number][];
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let running = 0;
    let most = 0;
    for (const [, change] of events) {
      running += change;
      most = Math.max(most, running);
    }
    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBe(2); // 120 ms calls started 50 ms apart: three would overlap, but for the limit
  });
});
