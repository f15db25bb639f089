import { describe, expect, it } from 'vitest';
import { tasksPool, waitUntil, within } from './helpers.js';

describe('WorkerPool: submit', () => {
  it('runs a task in a worker and resolves with its result', async () => {
    const pool = tasksPool();
    const future = pool.submit('add', 2, 3);
    expect(await within(10_000, future)).toBe(5);
    expect(future.done).toBe(true);
    expect(future.state).toBe('finished');
  });

  it('awaits async task functions', async () => {
    const pool = tasksPool();
    expect(await pool.submit('addLater', 20, 22)).toBe(42);
  });

  it('runs the initializer once per worker before its first task', async () => {
    const pool = tasksPool({ initializer: 'init', initArgs: [{ db: 'ready' }], maxWorkers: 1 });
    expect(await pool.submit('getInit')).toEqual({ db: 'ready' });
  });

  it('uses no more than maxWorkers distinct threads, and uses all of them', async () => {
    const pool = tasksPool({ maxWorkers: 2 });
    const ids = await Promise.all(Array.from({ length: 20 }, () => pool.submit('busy', 20)));
    const distinct = new Set(ids);
    expect(distinct.size).toBe(2);
    expect(pool.maxWorkers).toBe(2);
  });

  it('never queues a task behind a running one while another worker frees first', async () => {
    const pool = tasksPool({ maxWorkers: 2, minWorkers: 2 });
    await Promise.all([pool.submit('square', 1), pool.submit('square', 2)]); // both workers up
    const order: string[] = [];
    const long = pool.submit('delayed', 1_500).then(() => order.push('long'));
    const short = pool.submit('delayed', 50).then(() => order.push('short'));
    // Each worker has room for one more in its inbox: were tasks handed to busy workers, one of
    // these would wait for the long task although the other worker is free after 50 ms.
    const later = Array.from({ length: 4 }, (_, i) => pool.submit('delayed', 10).then(() => order.push(`later ${i}`)));
    await within(5_000, Promise.all([long, short, ...later]), 'every task');
    expect(order.at(-1)).toBe('long');
  });

  it('exposes stats consistent with what ran', async () => {
    const pool = tasksPool();
    await Promise.all(Array.from({ length: 10 }, (_, i) => pool.submit('square', i)));
    await pool.submit('fail', 'x').catch(() => {});
    const stats = pool.stats;
    expect(stats.completed).toBe(10);
    expect(stats.failed).toBe(1);
    expect(stats.queued).toBe(0);
    expect(stats.busy).toBe(0);
    expect(stats.workers).toBeGreaterThanOrEqual(1);
    expect(stats.workers).toBeLessThanOrEqual(2);
    expect(stats.runTime.max).toBeGreaterThanOrEqual(stats.runTime.p50);
  });

  it('stats see live tasks, a long run and a long wait, and utilization as a fraction', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    await pool.submit('add', 1, 1); // the worker is up
    const running = pool.submit('busy', 150);
    const waiting = pool.submit('add', 2, 2);
    await waitUntil(() => running.running, 5_000, 'the busy task to start');
    expect(pool.stats).toMatchObject({ busy: 1, queued: 1 });
    await within(5_000, Promise.all([running, waiting]));
    const stats = pool.stats;
    expect(stats).toMatchObject({ busy: 0, queued: 0, completed: 3 });
    expect(stats.runTime.max).toBeGreaterThanOrEqual(140); // busy(150) ran that long in its worker
    expect(stats.waitTime.max).toBeGreaterThanOrEqual(100); // add(2, 2) waited behind it
    expect(stats.runTime.p50).toBeLessThanOrEqual(stats.runTime.p90);
    expect(stats.utilization).toBeGreaterThan(0);
    expect(stats.utilization).toBeLessThanOrEqual(1);
  });

  it('calls module functions through a typed proxy', async () => {
    const pool = tasksPool();
    const remote = pool.proxy();
    expect(await remote.add(1, 2)).toBe(3);
    expect(await remote.square(9)).toBe(81);
    expect((remote as unknown as { then?: unknown }).then).toBeUndefined();
  });

  it('prints as an object and is not thenable: the names that are never tasks are not sent', async () => {
    const pool = tasksPool();
    const remote = pool.proxy();
    expect(await within(2_000, Promise.resolve(remote))).toBe(remote);
    expect(String(remote)).toBe('[object WorkerPoolProxy]');
    expect(`${remote}`).toBe('[object WorkerPoolProxy]');
    expect(remote.toString).toBe(Object.prototype.toString);
    expect(JSON.stringify(remote)).toBe('{}'); // no task named 'toJSON' is sent
    expect(pool.stats.completed + pool.stats.failed).toBe(0);
    expect(pool.stats.queued + pool.stats.busy).toBe(0);
  });
});

describe('WorkerPool: map', () => {
  it('returns 10k results in input order', async () => {
    const pool = tasksPool();
    const items = Array.from({ length: 10_000 }, (_, i) => i);
    const results = await within(20_000, pool.map('square', items).toArray());
    expect(results).toEqual(items.map((i) => i * i));
  });

  it('reads a hole in an input array as undefined, as for...of does', async () => {
    const pool = tasksPool();
    const items = new Array<number>(6);
    items[0] = 2;
    items[4] = 3; // holes at 1, 2, 3 and 5
    const expected = [...items].map((n) => n * n); // [4, NaN, NaN, NaN, 9, NaN]
    expect(await within(10_000, pool.map('square', items).toArray())).toEqual(expected);
    expect(await within(10_000, pool.map('square', items, { chunkSize: 4 }).toArray())).toEqual(expected);
  });

  it('yields in completion order with ordered: false, in input order by default', async () => {
    const pool = tasksPool({ maxWorkers: 2 });
    const unordered: number[] = [];
    for await (const ms of pool.map('delayed', [400, 10], { ordered: false, chunkSize: 1 })) unordered.push(ms);
    expect(unordered).toEqual([10, 400]);
    expect(await pool.map('delayed', [400, 10], { chunkSize: 1 }).toArray()).toEqual([400, 10]);
  });

  it('accepts async iterables', async () => {
    const pool = tasksPool();
    async function* numbers(): AsyncGenerator<number> {
      for (let i = 0; i < 100; i++) {
        if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        yield i;
      }
    }
    expect(await pool.map('square', numbers()).toArray()).toEqual(Array.from({ length: 100 }, (_, i) => i * i));
  });

  it('starmap spreads each tuple as arguments', async () => {
    const pool = tasksPool();
    const sums = await pool
      .starmap('add', [
        [1, 2],
        [3, 4],
        [5, 6],
      ])
      .toArray();
    expect(sums).toEqual([3, 7, 11]);
  });

  it('a chunk sized from cheap first items is cut short when later items prove dear: both workers share those', async () => {
    const pool = tasksPool({ maxWorkers: 2, minWorkers: 2 });
    await within(10_000, Promise.all([pool.submit('busy', 1), pool.submit('busy', 1)])); // both workers up
    function* costs(): Generator<number> {
      for (let i = 0; i < 300; i++) yield 0; // as cheap as an item gets: chunks grow large
      for (let i = 0; i < 60; i++) yield 5;
    }
    const threads = await within(20_000, pool.map('busy', costs()).toArray());
    expect(threads).toHaveLength(360);
    const dear = new Map<number, number>();
    for (const thread of threads.slice(300)) dear.set(thread, (dear.get(thread) ?? 0) + 1);
    // Uncut, the chunk that took the first dear item took all 60, on one worker.
    expect(dear.size).toBe(2);
    for (const count of dear.values()) expect(count).toBeGreaterThanOrEqual(10);
  });

  it('an item that cannot be sent fails the map at that item: every item before it still runs', async () => {
    const pool = tasksPool();
    const items = [0, 1, 2, 3, 4, () => 5, 6, 7];
    for (const chunkSize of [4, 1, 'auto'] as const) {
      const results: number[] = [];
      const error = await within(
        10_000,
        (async () => {
          for await (const r of pool.map('square', items as number[], { chunkSize })) results.push(r);
        })().then(
          () => undefined,
          (e: Error & { code?: string; mapIndex?: number }) => e,
        ),
      );
      expect(results, `chunkSize ${chunkSize}`).toEqual([0, 1, 4, 9, 16]);
      expect(error?.code).toBe('ERR_UNCLONEABLE_ARGUMENT');
      expect(error?.mapIndex).toBe(5);
      expect(error?.message).toContain('item 5');
    }
  });

  it('starmap refuses an item that is not an argument list, at that item, before sending it', async () => {
    const pool = tasksPool();
    const results: number[] = [];
    const error = await within(
      10_000,
      (async () => {
        for await (const r of pool.starmap('add', [[1, 2], [3, 4], 5, [6, 7]] as [number, number][], { chunkSize: 4 })) results.push(r);
      })().then(
        () => undefined,
        (e: Error & { code?: string; mapIndex?: number }) => e,
      ),
    );
    expect(results).toEqual([3, 7]);
    expect(error?.name).toBe('TypeError');
    expect(error?.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(error?.mapIndex).toBe(2);
    expect(error?.message).toContain('item 2 must be an array of arguments');
  });

  it('is lazy and bounded: an infinite generator is pulled at most ~buffer ahead', async () => {
    const pool = tasksPool();
    let pulled = 0;
    function* forever(): Generator<number> {
      for (let i = 0; ; i++) {
        pulled++;
        yield i;
      }
    }
    const it = pool.map('square', forever(), { buffer: 8 });
    expect(pulled).toBe(0); // nothing before the first next()
    let consumed = 0;
    for await (const value of it) {
      expect(value).toBe(consumed * consumed);
      consumed++;
      expect(pulled - consumed).toBeLessThanOrEqual(8);
      if (consumed === 500) break;
    }
    expect(pulled).toBeLessThanOrEqual(500 + 8);
  });

  it('by default keeps two chunks per worker in flight and pulls at most four per worker, whatever the chunk size', async () => {
    // A flat cap of 65,536 items ahead used to bind first: with chunks of 40,000 a second never
    // fitted beside the first, and the map ran one chunk at a time on one worker.
    const pool = tasksPool({ minWorkers: 2 });
    await pool.map('square', [1, 2, 3, 4]).toArray(); // both workers up
    let pulled = 0;
    function* items(): Generator<number> {
      for (let i = 0; i < 400_000; i++) {
        pulled++;
        yield i;
      }
    }
    const it = pool.map('square', items(), { chunkSize: 40_000 });
    const first = await within(10_000, it.next(), 'the first result');
    expect(first.value).toBe(0);
    expect(pulled).toBeGreaterThanOrEqual(4 * 40_000); // 2 workers × 2 chunks in flight
    expect(pulled).toBeLessThanOrEqual(2 * 4 * 40_000); // 2 workers × 4 chunks pulled ahead
    await it.return();
  });

  it('a task error surfaces at its item, with its index, and the rest is cancelled', async () => {
    const pool = tasksPool();
    const seen: number[] = [];
    const items = [1, 2, 3, -4, 5, 6, 7];
    const error = await (async () => {
      for await (const v of pool.map('failOnNegative', items, { chunkSize: 2 })) seen.push(v);
    })().catch((e: unknown) => e as Error & { mapIndex?: number; field?: string });
    expect(seen).toEqual([2, 4, 6]);
    expect(error).toBeInstanceOf(Error);
    expect(error?.name).toBe('ValidationError');
    expect(error?.message).toBe('negative: -4');
    expect(error?.mapIndex).toBe(3);
    expect(error?.field).toBe('n');
  });

  it('an input that throws: the items it gave are delivered first, then its error; sync and async', async () => {
    const pool = tasksPool();
    const broken = new Error('the source broke');
    function* sync(): Generator<number> {
      for (let i = 0; i < 5; i++) yield i;
      throw broken;
    }
    async function* async(): AsyncGenerator<number> {
      yield* sync();
    }
    for (const [input, chunkSize] of [
      [sync, 'auto'],
      [async, 'auto'],
      [sync, 3],
      [async, 3],
    ] as const) {
      const seen: number[] = [];
      const error = await within(
        10_000,
        (async () => {
          for await (const v of pool.map('square', input(), { chunkSize })) seen.push(v);
        })().catch((e: unknown) => e),
      );
      expect(error, `${input.name}, chunkSize ${chunkSize}`).toBe(broken);
      expect(seen, `${input.name}, chunkSize ${chunkSize}`).toEqual([0, 1, 4, 9, 16]);
    }
  });

  it('leaving a for await early cancels what is pending and closes the input', async () => {
    const pool = tasksPool({ maxWorkers: 2 });
    let closed = false;
    function* items(): Generator<number> {
      try {
        for (let i = 0; i < 1000; i++) yield 50;
      } finally {
        closed = true;
      }
    }
    for await (const _ of pool.map('sleep', items(), { chunkSize: 1 })) break;
    expect(closed).toBe(true);
    // A cancelled chunk waiting in a busy worker's inbox never runs (SKIP), but leaves the count
    // only when that worker's running task ends: after the cancel grace and a kill, under load.
    await waitUntil(() => pool.stats.queued === 0, 5_000, 'the cancelled chunks to leave the queue');
    const stats = pool.stats;
    expect(stats.completed + stats.cancelled).toBeLessThan(20);
  });

  it('runs one chunk at a time per worker, also when short chunks wait in its inbox', async () => {
    const pool = tasksPool({ maxWorkers: 2, minWorkers: 2 });
    // ~1 ms async items: chunks are sized short, so the next one is handed to a busy worker.
    const seen = await within(20_000, pool.map('overlapHere', new Array(600).fill(1)).toArray(), 'the map');
    expect(seen).toHaveLength(600);
    expect(seen.every((s) => s.running === 1 && s.sameTask)).toBe(true);
  });

  it('never parks a map chunk behind a long task while another worker frees first', async () => {
    const pool = tasksPool({ maxWorkers: 2, minWorkers: 2 });
    await Promise.all([pool.submit('square', 1), pool.submit('square', 2)]); // both workers up
    // Runs until cancelled, on timers (no CPU): a map chunk parked behind it would never start,
    // so the map ending at all proves none was, however slow the host.
    const long = pool.submit('reportUntilCancelled');
    await waitUntil(() => long.running, 5_000, 'the long task to start');
    // ~2 ms items: after the first chunks, every chunk is short and could wait in a busy inbox.
    const squares = await within(20_000, pool.map('busy', new Array(400).fill(2)).toArray(), 'the map');
    expect(squares).toHaveLength(400);
    expect(long.running).toBe(true);
    expect(long.cancel()).toBe(true);
  });

  it('reports completed counts through onProgress, ending at the total', async () => {
    const pool = tasksPool();
    const counts: number[] = [];
    await pool
      .map(
        'square',
        Array.from({ length: 10_000 }, (_, i) => i),
        { onProgress: (p) => p.value === undefined && counts.push(p.completed) },
      )
      .toArray();
    expect(counts.at(-1)).toBe(10_000);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThan(counts[i - 1] as number);
  });
});

describe('move(): a result moved to the caller, not copied', () => {
  it('arrives whole and leaves the worker empty: plain or nested, from submit, map, a batch of tiny tasks and a retiring worker', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    expect(Array.from((await within(10_000, pool.submit('movedBytes', 4, 7))) as Uint8Array)).toEqual([7, 7, 7, 7]);
    const nested = (await within(10_000, pool.submit('movedBytes', 3, 2, true))) as { bytes: Uint8Array; n: number };
    expect([nested.n, ...nested.bytes]).toEqual([3, 2, 2, 2]);
    const mapped = (await within(10_000, pool.map('movedBytes', [1, 2, 3]).toArray())) as Uint8Array[];
    expect(mapped.map((bytes) => bytes.length)).toEqual([1, 2, 3]);
    expect(await within(10_000, pool.submit('movedAway'))).toEqual([5, 5]);

    // A burst of tiny tasks goes out in batches, whose outcomes the runtime posts itself.
    for (let i = 0; i < 20; i++) await pool.submit('movedBytes', 8, 1); // learns the task is tiny
    const batchedBefore = pool.stats.batched;
    const burst = (await within(
      10_000,
      Promise.all(Array.from({ length: 200 }, (_, i) => pool.submit('movedBytes', 8, i % 256))),
    )) as Uint8Array[];
    expect(pool.stats.batched).toBeGreaterThan(batchedBefore);
    expect(burst.every((bytes, i) => bytes.length === 8 && bytes[0] === i % 256)).toBe(true);
    expect(await within(10_000, pool.submit('movedAway'))).toEqual([220, 220]);

    // The last task of a retiring worker hands its outcome over in a message of its own.
    const retiring = tasksPool({ maxWorkers: 1, maxTasksPerWorker: 1 });
    expect(Array.from((await within(10_000, retiring.submit('movedBytes', 2, 9))) as Uint8Array)).toEqual([9, 9]);
  });

  it('refuses what it cannot move; outside a task it moves nothing', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const messages = await within(10_000, pool.submit('misuseMove'));
    expect(messages).toHaveLength(4);
    expect(messages.slice(0, 3).every((m) => m.startsWith('ERR_INVALID_ARG_TYPE: value must be an ArrayBuffer, a typed array'))).toBe(true);
    expect(messages[3]).toMatch(/^ERR_INVALID_ARG_VALUE: value must be a buffer with contents, not one moved already/);
    const { move } = await import('threadgate/worker');
    const buffer = new ArrayBuffer(1);
    expect(move(buffer)).toBe(buffer);
    expect(buffer.byteLength).toBe(1);
  });
});

describe('a result crosses by structured clone, as its type says', () => {
  it('a class instance arrives as a plain object of its fields; a Buffer as a Uint8Array', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const point = await pool.submit('makePoint', 3, 4);
    expect(point).toEqual({ x: 3, y: 4 });
    expect(Object.getPrototypeOf(point)).toBe(Object.prototype);
    expect('norm' in point).toBe(false);
    const mixed = await pool.submit('pointsAndBytes');
    expect(mixed.bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(mixed.bytes)).toBe(false);
    expect(mixed.when).toEqual(new Date(0));
    expect(mixed.points).toEqual([{ x: 1, y: 2 }]);
  });
});

describe('stats count what a caller counts', () => {
  it('completed counts each map item, and the latencies count each run since the start', async () => {
    const pool = tasksPool();
    await within(
      10_000,
      pool
        .map(
          'square',
          Array.from({ length: 100 }, (_, i) => i),
          { chunkSize: 10 },
        )
        .toArray(),
      'the map',
    );
    await within(10_000, pool.map('failOnNegative', [1, 2, -1, 4], { chunkSize: 4 }).toArray(), 'a failing map').catch(() => {});
    await pool.submit('square', 3);
    const { completed, failed, runTime, waitTime } = pool.stats;
    expect(completed).toBe(100 + 2 + 1); // the failing chunk's two items before its error count
    expect(failed).toBe(1);
    expect(runTime.count).toBe(10 + 1 + 1);
    expect(waitTime.count).toBe(runTime.count);
    expect(runTime.mean).toBeGreaterThan(0);
    expect(runTime.p99).toBeLessThanOrEqual(runTime.max);
  });
});
