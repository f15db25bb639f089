/**
 * `ClusterPool` and `serve` against a real redis-server and real serving processes: results equal a
 * local pool's, in order, each once; a serving process killed mid-map has its jobs run elsewhere;
 * a Redis that goes away fails what waits, with a coded error, in bounded time.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callback, SharedSemaphore } from 'threadgate';
import { ClusterPool } from 'threadgate/cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as Tasks from '../fixtures/tasks.js';
import { tasksPool, within } from '../helpers.js';
import { noRedis, type RedisServer, type Servers, startRedis, startServers } from './redis.js';

const queueName = (): string => `q${crypto.randomUUID().slice(0, 8)}`;

describe.skipIf(noRedis !== undefined)('ClusterPool across serving processes', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  describe('three servers', () => {
    let servers: Servers;
    let cluster: ClusterPool<typeof Tasks>;
    const queue = queueName();
    beforeAll(async () => {
      servers = await startServers(3, redis.url, queue);
      cluster = new ClusterPool<typeof Tasks>({ queue, connection: redis.url });
      await within(10_000, cluster.ready(), 'the cluster connecting');
    });
    afterAll(async () => {
      await cluster?.shutdown();
      await servers?.stop();
    });

    it('learns how many workers serve the queue', () => {
      expect(cluster.stats.workers).toBe(3);
    });

    it('maps 2,000 items to what a local pool gives, in order', async () => {
      const items = Array.from({ length: 2_000 }, (_, i) => i - 1_000);
      const local = await tasksPool().map('square', items).toArray();
      const remote = await within(30_000, cluster.map('square', items).toArray(), 'the cluster map');
      expect(remote).toEqual(local);
      const unordered = await within(30_000, cluster.map('square', items, { ordered: false }).toArray(), 'the unordered map');
      expect(unordered.sort((a, b) => a - b)).toEqual([...local].sort((a, b) => a - b));
    });

    it('starmaps argument lists, and fails a map at the item that throws, after the items before it', async () => {
      expect(
        await cluster
          .starmap('add', [
            [1, 2],
            [3, 4],
            [5, 6],
          ])
          .toArray(),
      ).toEqual([3, 7, 11]);
      const seen: number[] = [];
      const error = await (async () => {
        try {
          for await (const value of cluster.map('failOnNegative', [1, 2, 3, -4, 5], { chunkSize: 2 })) seen.push(value);
        } catch (e) {
          return e as Error & { mapIndex?: number; code?: string };
        }
      })();
      expect(seen).toEqual([2, 4, 6]);
      expect(error).toMatchObject({ name: 'ValidationError', mapIndex: 3 });
    });

    it('rebuilds a task error as a local pool does: name, message, code, stack, task name', async () => {
      const local = await tasksPool()
        .submit('fail', 'bad input')
        .then(
          () => undefined,
          (e: unknown) => e as Error & Record<string, unknown>,
        );
      const remote = await cluster.submit('fail', 'bad input').then(
        () => undefined,
        (e: unknown) => e as Error & Record<string, unknown>,
      );
      expect(remote).toBeInstanceOf(Error);
      for (const key of ['name', 'message', 'code', 'field', 'taskName'] as const) expect(remote?.[key]).toEqual(local?.[key]);
      expect(remote?.stack).toContain('bad input');
      expect(remote?.stack).toContain('tasks.gen.mjs');
    });

    it('keeps what structured clone keeps, both ways', async () => {
      const input = { when: new Date(86_400_000), big: 2n ** 70n, bytes: new Uint8Array([1, 2, 3]), tags: new Set(['a']) };
      const { input: echoed, made } = (await cluster.submit('richValues', input)) as { input: typeof input; made: unknown[] };
      expect(echoed).toEqual(input);
      expect(made[0]).toEqual(new Date(0));
      expect(made[1]).toEqual(new Map([['k', 1n]]));
      expect(made[3]).toBeInstanceOf(Float64Array);
      expect(made[4]).toBeInstanceOf(RangeError);
      expect((made[4] as Error).cause).toBeInstanceOf(Error);
    });

    it('keeps the class of a timeout, and reports progress from the server', async () => {
      const timeout = await cluster
        .with({ timeoutMs: 50 })
        .submit('sleep', 2_000)
        .catch((e: unknown) => e);
      expect(timeout).toMatchObject({ name: 'TaskTimeoutError', code: 'ERR_TASK_TIMEOUT' });
      const { TaskTimeoutError } = await import('threadgate');
      expect(timeout).toBeInstanceOf(TaskTimeoutError);
      const progress: unknown[] = [];
      expect(await cluster.with({ onProgress: (value) => progress.push(value) }).submit('reportProgress', 3)).toBe(3);
      expect(progress).toHaveLength(3);
    });

    it('takes an ioredis instance or options as its connection, and leaves a given instance open', async () => {
      const { Redis } = await import('ioredis');
      const mine = new Redis(redis.url);
      const viaInstance = new ClusterPool<typeof Tasks>({ queue, connection: mine });
      const viaOptions = new ClusterPool<typeof Tasks>({ queue, connection: { host: '127.0.0.1', port: redis.port } });
      try {
        expect(await within(10_000, Promise.all([viaInstance.submit('add', 1, 2), viaOptions.submit('add', 3, 4)]))).toEqual([3, 7]);
      } finally {
        await viaInstance.shutdown();
        await viaOptions.shutdown();
      }
      expect(mine.status).toBe('ready');
      expect(await mine.ping()).toBe('PONG');
      mine.disconnect();
    });

    it("a map's onProgress gets its items' progress values and the counts, from the servers", async () => {
      const values: unknown[] = [];
      let completed = 0;
      const results = await cluster
        .map('reportItem', [1, 2, 3, 4], {
          chunkSize: 2,
          onProgress: (progress) => {
            if ('value' in progress) values.push(progress.value);
            else completed = progress.completed;
          },
        })
        .toArray();
      expect(results).toEqual([1, 2, 3, 4]);
      expect(values.sort()).toEqual([1, 2, 3, 4]);
      expect(completed).toBe(4);
    });

    it('a progress report it cannot read (written by someone else) is dropped, and results keep coming', async () => {
      const { Queue } = await import('bullmq');
      const inspect = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
      try {
        const seen: unknown[] = [];
        const running = cluster.with({ onProgress: (value) => seen.push(value) }).submit('sleep', 400);
        await within(5_000, waitRunning(running), 'the job starting');
        const [job] = await inspect.getActive();
        await job?.updateProgress({ p: 'not a report' });
        expect(await within(5_000, running)).toEqual(expect.any(Number));
        expect(await within(5_000, cluster.submit('add', 1, 1))).toBe(2);
        expect(seen).toEqual([]);
      } finally {
        await inspect.close();
      }
    });

    it('cancels a running job where it runs: the server is free again at once', async () => {
      const controller = new AbortController();
      const future = cluster.with({ signal: controller.signal }).submit('spinUntilCancelled');
      await within(5_000, waitRunning(future), 'the job starting');
      controller.abort();
      await expect(future).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
      // Three servers of one worker each: three 300 ms sleeps end together only if none is still spinning.
      const started = performance.now();
      await within(10_000, Promise.all([1, 2, 3].map(() => cluster.submit('sleep', 300))), 'three sleeps');
      expect(performance.now() - started).toBeLessThan(900);
    });

    it('refuses on the caller what cannot cross machines, naming it', () => {
      const sem = new SharedSemaphore(1);
      expect(() => cluster.with({ transfer: [new ArrayBuffer(1)] } as never)).toThrow(/options\.transfer.*copied to another machine/);
      return Promise.all([
        expect(cluster.submit('useSemaphore', sem, new Int32Array(8), 1)).rejects.toMatchObject({
          code: 'ERR_INVALID_ARG_VALUE',
          message: expect.stringMatching(/argument 0 .*SharedSemaphore/),
        }),
        expect(
          cluster.submit(
            'callEach',
            1,
            callback(async () => 1),
          ),
        ).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' }),
        expect(cluster.submit('' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' }),
        expect(cluster.submit('add', 1, (() => 2) as never)).rejects.toMatchObject({ code: 'ERR_UNCLONEABLE_ARGUMENT' }),
      ]);
    });
  });

  it('a server killed mid-map: its jobs run elsewhere within the lock duration + 2 s, each item delivered once, in order', async () => {
    const queue = queueName();
    const lockDurationMs = 2_000;
    const servers = await startServers(3, redis.url, queue, 1, lockDurationMs);
    const cluster = new ClusterPool<typeof Tasks>({ queue, connection: redis.url });
    const log = join(mkdtempSync(join(tmpdir(), 'threadgate-cluster-')), 'starts.log');
    try {
      const items = Array.from({ length: 240 }, (_, i) => ({ i, ms: 10, log }));
      const delivered: { i: number; pid: number }[] = [];
      let killedAt = 0;
      const victim = servers.pids[0] as number;
      const starts = (): [pid: number, i: number, at: number][] =>
        readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .map((line) => line.split(' ').map(Number) as [number, number, number]);
      // Killed while it runs an item (its latest start is younger than an item): it holds a job
      // that must be recovered. Watched apart from the results, which an ordered map may hold back.
      const watcher = setInterval(() => {
        if (killedAt !== 0 || delivered.length < 24) return;
        const latest = Math.max(
          ...starts()
            .filter(([pid]) => pid === victim)
            .map(([, , at]) => at),
        );
        if (Date.now() - latest >= 8) return;
        servers.kill(0);
        killedAt = Date.now();
      }, 2);
      const consume = async (): Promise<void> => {
        for await (const result of cluster.map('logged', items, { chunkSize: 8 })) delivered.push(result);
      };
      await within(60_000, consume(), 'the map').finally(() => clearInterval(watcher));
      expect(killedAt).toBeGreaterThan(0);
      expect(delivered.map((r) => r.i)).toEqual(items.map(({ i }) => i));
      // Items the victim had started whose results came from another server: when did they start there?
      const rerun = new Set(delivered.filter((r) => r.pid !== victim).map((r) => r.i));
      const startedByVictim = new Set(
        starts()
          .filter(([pid, , at]) => pid === victim && at <= killedAt)
          .map(([, i]) => i),
      );
      const rerunAt = starts()
        .filter(([pid, i, at]) => pid !== victim && startedByVictim.has(i) && rerun.has(i) && at >= killedAt)
        .map(([, , at]) => at);
      expect(rerunAt.length).toBeGreaterThan(0);
      expect(Math.min(...rerunAt) - killedAt).toBeLessThan(lockDurationMs + 2_000);
    } finally {
      await cluster.shutdown();
      await servers.stop();
    }
  });

  it('a cancelled waiting job leaves the queue; a SIGTERMed server finishes the jobs it holds, then exits by itself', async () => {
    const queue = queueName();
    const servers = await startServers(1, redis.url, queue); // one worker: it takes two jobs at a time
    const cluster = new ClusterPool<typeof Tasks>({ queue, connection: redis.url });
    const { Queue } = await import('bullmq');
    const inspect = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const held = [cluster.submit('sleep', 600), cluster.submit('sleep', 600)];
      await within(5_000, waitRunning(held[0] as never), 'the first job starting');
      const controller = new AbortController();
      const waiting = cluster.with({ signal: controller.signal }).submit('add', 1, 2);
      await within(
        5_000,
        waitFor(async () => (await inspect.getWaitingCount()) === 1),
        'the third job waiting in Redis',
      );
      controller.abort();
      await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
      await within(
        5_000,
        waitFor(async () => (await inspect.getWaitingCount()) === 0),
        'the cancelled job leaving the queue',
      );
      const stopping = performance.now();
      await within(15_000, servers.stop(), 'the server stopping');
      expect(performance.now() - stopping).toBeLessThan(5_000); // by itself, not killed after 10 s
      expect(await within(1_000, Promise.all(held))).toEqual([expect.any(Number), expect.any(Number)]); // sleep returns its threadId
    } finally {
      await inspect.close();
      await cluster.shutdown({ cancelFutures: true });
      await servers.stop();
    }
  });

  it('fails with ERR_CLUSTER_CONNECT within connectTimeoutMs when Redis cannot be reached', async () => {
    const { freePort } = await import('./redis.js');
    const cluster = new ClusterPool<typeof Tasks>({
      queue: 'nowhere',
      connection: `redis://127.0.0.1:${await freePort()}`,
      connectTimeoutMs: 300,
    });
    const started = performance.now();
    await expect(within(5_000, cluster.submit('add', 1, 2))).rejects.toMatchObject({ code: 'ERR_CLUSTER_CONNECT' });
    expect(performance.now() - started).toBeLessThan(2_000);
    await expect(within(5_000, cluster.map('square', [1]).toArray())).rejects.toMatchObject({ code: 'ERR_CLUSTER_CONNECT' });
    await cluster.shutdown();
  });

  it('checks its options, naming the option and what is allowed', () => {
    expect(() => new ClusterPool({ queue: 'a:b', connection: redis.url })).toThrow(/options\.queue .*without ':'/);
    expect(() => new ClusterPool({ queue: 'a', connection: 'http://x' })).toThrow(/options\.connection must be a 'redis:\/\/'/);
    expect(() => new ClusterPool({ queue: 'a', connection: redis.url, taskTimeout: 5 } as never)).toThrow(/did you mean taskTimeoutMs/);
  });
});

/** Polls `condition` every 20 ms until it holds. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Resolves once `future` reports it is running. */
async function waitRunning(future: { state: string }): Promise<void> {
  while (future.state !== 'running') await new Promise((resolve) => setTimeout(resolve, 5));
}
