import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { QueueFullError } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { tasksPool, waitUntil, within } from './helpers.js';

describe('maxQueue bounds the tasks waiting beyond the free workers', () => {
  it('maxQueue: 0 admits one task per idle worker and refuses the next', async () => {
    const pool = tasksPool({ maxWorkers: 2, maxQueue: 0 });
    const a = pool.submit('delayed', 100);
    const b = pool.submit('delayed', 100);
    const c = pool.submit('delayed', 100);
    await expect(c).rejects.toBeInstanceOf(QueueFullError);
    expect(await within(10_000, Promise.all([a, b]), 'the two admitted tasks')).toEqual([100, 100]);
  });

  it('maxQueue: 1 with two idle workers admits three of a burst of four', async () => {
    const pool = tasksPool({ maxWorkers: 2, maxQueue: 1 });
    const burst = [1, 2, 3, 4].map((n) => pool.submit('square', n));
    const settled = await within(10_000, Promise.allSettled(burst), 'the burst');
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect((settled[3] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_QUEUE_FULL' });
  });

  it('a map never fails on maxQueue: it waits for room, on an idle pool and beside a full queue', async () => {
    const pool = tasksPool({ maxWorkers: 2, maxQueue: 2 });
    const squares = await within(
      20_000,
      pool
        .map(
          'square',
          Array.from({ length: 200 }, (_, i) => i),
          { chunkSize: 1 },
        )
        .toArray(),
      'a map',
    );
    expect(squares).toEqual(Array.from({ length: 200 }, (_, i) => i * i));

    const blockers = [pool.submit('delayed', 150), pool.submit('delayed', 150), pool.submit('delayed', 150), pool.submit('delayed', 150)];
    expect(pool.needsDrain).toBe(true);
    const mapped = await within(20_000, pool.map('square', [1, 2, 3, 4, 5], { chunkSize: 1 }).toArray(), 'a map beside a full queue');
    expect(mapped).toEqual([1, 4, 9, 16, 25]);
    await within(10_000, Promise.all(blockers), 'the blockers');
  });

  it('needsDrain and drained(): a producer that waits for room never sees ERR_QUEUE_FULL and loses nothing', async () => {
    const pool = tasksPool({ maxWorkers: 2, maxQueue: 3 });
    expect(pool.needsDrain).toBe(false);
    await within(1_000, pool.drained(), 'drained() with room');
    const futures = [];
    let waits = 0;
    for (let i = 0; i < 40; i++) {
      while (pool.needsDrain) {
        waits++;
        await within(10_000, pool.drained(), 'room in the queue');
      }
      futures.push(pool.submit('delayed', 5));
    }
    expect(await within(20_000, Promise.all(futures), 'every task')).toEqual(Array(40).fill(5));
    expect(waits).toBeGreaterThan(0); // the producer was faster than the workers, and waited
    expect(pool.needsDrain).toBe(false);
  });

  it('drained() waits while the queue is full and resolves when a task leaves it', async () => {
    const pool = tasksPool({ maxWorkers: 1, maxQueue: 0 });
    const running = pool.submit('delayed', 200);
    await waitUntil(() => pool.needsDrain, 5_000, 'a full queue');
    let resolved = false;
    const room = pool.drained().then(() => {
      resolved = true;
    });
    await within(5_000, pool.map('square', [1]).toArray(), 'a map, which waits for room too'); // ~200 ms later
    expect(await running).toBe(200);
    await within(5_000, room, 'drained() once the task ended');
    expect(resolved).toBe(true);
    expect(pool.needsDrain).toBe(false);
  });
});

describe('a task cancelled while queued', () => {
  it('lets go of its arguments at once, though its caller keeps the future, behind a busy worker', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const pool = tasksPool({ maxWorkers: 1 });
    const blocker = pool.submit('delayed', 1_000);
    await waitUntil(() => blocker.running, 5_000, 'the blocker to start');
    const kept: unknown[] = [];
    const refs: WeakRef<ArrayBuffer>[] = [];
    // In a function of its own: a suspended async frame keeps its last loop value alive.
    const churn = (): void => {
      for (let i = 0; i < 400; i++) {
        const bytes = new ArrayBuffer(64 * 1024);
        refs.push(new WeakRef(bytes));
        const future = pool.submit('sumBytes', bytes);
        future.cancel();
        kept.push(future);
      }
    };
    churn();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const alive = refs.filter((ref) => ref.deref() !== undefined).length;
    // One task may wait in the busy worker's inbox, its message already with Piscina.
    expect(alive).toBeLessThanOrEqual(1);
    expect(pool.stats.queued).toBeLessThanOrEqual(1);
    expect(kept).toHaveLength(400);
    await blocker;
  });
});

describe('priority: pool.with({ priority })', () => {
  it('a task of higher priority starts before every waiting task of lower priority; FIFO within a priority', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const order: string[] = [];
    const track = (label: string, future: PromiseLike<unknown>): Promise<void> =>
      Promise.resolve(future).then(() => void order.push(label));
    const blocker = pool.submit('delayed', 60);
    await waitUntil(() => blocker.running, 5_000, 'the blocker to start');
    const bulk = Array.from({ length: 8 }, (_, i) => track(`bulk ${i}`, pool.submit('delayed', 10)));
    const urgent = track('urgent', pool.with({ priority: 1 }).submit('delayed', 1));
    const later = track('later', pool.with({ priority: 1 }).submit('delayed', 1));
    await within(10_000, Promise.all([blocker, ...bulk, urgent, later]), 'every task');
    // At most one bulk task was already handed over (Piscina holds two messages per worker).
    expect(order.indexOf('urgent')).toBeLessThanOrEqual(1);
    expect(order.indexOf('later')).toBe(order.indexOf('urgent') + 1);
    expect(order.filter((label) => label.startsWith('bulk'))).toEqual(Array.from({ length: 8 }, (_, i) => `bulk ${i}`));
  });

  it('a large map at a negative priority lets default submits through after at most a chunk per worker', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    let mapped = 0;
    const bulk = (async () => {
      for await (const _ of pool.with({ priority: -1 }).map('delayed', Array(30).fill(10), { chunkSize: 1 })) mapped++;
    })();
    await waitUntil(() => mapped >= 2, 5_000, 'the map to be under way');
    const before = mapped;
    await within(5_000, pool.submit('square', 7), 'a default submit');
    expect(mapped - before).toBeLessThanOrEqual(2);
    await within(10_000, bulk, 'the map');
    expect(mapped).toBe(30);
  });

  it('refuses a priority that is not an integer', () => {
    const pool = tasksPool();
    expect(() => pool.with({ priority: 1.5 })).toThrow(/options\.priority must be an integer/);
    expect(() => pool.with({ priority: 'high' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});
