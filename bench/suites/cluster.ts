/**
 * The cluster (`threadgate/cluster`) on loopback, against a real redis-server: (a) a fine map
 * through `ClusterPool` against plain BullMQ with one job per item; (b) a coarse map over two
 * serving processes of one worker each against a local `WorkerPool` of two workers; (c) a
 * `submit` round trip through Redis against a local one; (d) `RedisSemaphore` acquire + release
 * against raw redis-semaphore. Skipped, with the reason, where redis-server is not installed.
 */
import { spawn } from 'node:child_process';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { MultiSemaphore } from 'redis-semaphore';
import { WorkerPool, workloads } from 'threadgate';
import { ClusterPool, RedisSemaphore } from 'threadgate/cluster';
import type * as Workloads from 'threadgate/workloads';
import { noRedis, type RedisServer, startRedis, startServers } from '../../test/cluster/redis.js';
import { type Case, type CaseResult, runGroup } from '../harness.js';
import {
  BARE_REDIS_COARSE,
  BULLMQ_PER_ITEM,
  CLUSTER_COARSE,
  CLUSTER_FINE,
  CLUSTER_SUBMIT,
  LOCAL_COARSE,
  LOCAL_SUBMIT,
  RAW_REDIS_SEMAPHORE,
  REDIS_SEMAPHORE,
} from './cluster-names.js';
import { type Suite, workerFile } from './context.js';
import { calibrateFib } from './map-scaling.js';

export const cluster: Suite = async (ctx) => {
  if (noRedis !== undefined) {
    console.log(`cluster: skipped (${noRedis})`);
    return [];
  }
  const redis = await startRedis();
  const queue = 'bench';
  const servers = await startServers(2, redis.url, queue, 1, 30_000, workloads);
  const plain = await startPlainBullmq(2, redis, 'bench-plain');
  const bare = await startBareRedisMap(2, redis, 'bench-bare');
  const pool = new ClusterPool<typeof Workloads>({ queue, connection: redis.url });
  await pool.ready();
  const results: CaseResult[] = [];
  try {
    const fineN = calibrateFib(0.002);
    const fineItems = ctx.quick ? 20_000 : 200_000;
    const perItemJobs = ctx.quick ? 200 : 2_000;
    ctx.progress('cluster › fine map');
    results.push(
      ...(await runGroup(
        'cluster',
        `(a) fine map: fib(${fineN}) ~2 µs × ${fineItems} items, per item`,
        [
          {
            name: CLUSTER_FINE,
            ops: fineItems,
            run: async () => {
              await pool.map('fib', new Array<number>(fineItems).fill(fineN)).toArray();
            },
          },
          { name: BULLMQ_PER_ITEM, ops: perItemJobs, run: () => plain.runJobs(perItemJobs, fineN) },
        ],
        ctx.group({ rounds: ctx.quick ? 1 : 8, timeMs: 0, iterations: 1 }),
      )),
    );

    const coarseN = calibrateFib(8);
    const coarse = new Array<number>(40).fill(coarseN);
    const local = new WorkerPool<typeof Workloads>({ module: workloads, maxWorkers: 2, minWorkers: 2 });
    await local.map('fib', coarse).toArray();
    await pool.map('fib', coarse).toArray();
    const submitCases = (name: string, submit: () => PromiseLike<unknown>): Case => ({
      name,
      ops: 1,
      run: async () => void (await submit()),
    });
    try {
      results.push(
        ...(await runGroup(
          'cluster',
          `(b) coarse map: fib(${coarseN}) ~8 ms × 40 items`,
          [
            { name: CLUSTER_COARSE, ops: coarse.length, run: async () => void (await pool.map('fib', coarse).toArray()) },
            { name: LOCAL_COARSE, ops: coarse.length, run: async () => void (await local.map('fib', coarse).toArray()) },
            { name: BARE_REDIS_COARSE, ops: coarse.length, run: () => bare.map(coarse) },
          ],
          ctx.group({ rounds: ctx.quick ? 1 : 8, timeMs: 0, iterations: 2 }),
        )),
        ...(await runGroup(
          'cluster',
          '(c) submit round trip, a no-op task, one at a time',
          [submitCases(CLUSTER_SUBMIT, () => pool.submit('noop')), submitCases(LOCAL_SUBMIT, () => local.submit('noop'))],
          ctx.group({ timeMs: ctx.quick ? 100 : 1_200 }),
        )),
      );
    } finally {
      await local.shutdown();
    }

    const ours = new RedisSemaphore({ key: 'bench-ours', capacity: 4, connection: redis.url });
    const client = new Redis(redis.url);
    try {
      results.push(
        ...(await runGroup(
          'cluster',
          '(d) semaphore: uncontended acquire + release, one at a time',
          [
            {
              name: REDIS_SEMAPHORE,
              ops: 1,
              run: async () => {
                await ours.acquire();
                await ours.release(1);
              },
            },
            {
              name: RAW_REDIS_SEMAPHORE,
              ops: 1,
              run: async () => {
                const lock = new MultiSemaphore(client, 'bench-raw', 4, 1, {
                  lockTimeout: 10_000,
                  refreshInterval: 3_333,
                  retryInterval: 10,
                });
                await lock.acquire();
                await lock.release();
              },
            },
          ],
          ctx.group({ timeMs: ctx.quick ? 100 : 1_200 }),
        )),
      );
    } finally {
      await ours.close();
      client.disconnect();
    }
  } finally {
    await pool.shutdown();
    await servers.stop();
    await plain.stop();
    await bare.stop();
    await redis.stop();
  }
  return results;
};

/** Plain BullMQ workers in their own processes (bench/workers/bullmq-server.mjs), and a way to run a batch of jobs on them. */
async function startPlainBullmq(count: number, redis: RedisServer, queue: string) {
  const children = await startChildren('bullmq-server.mjs', [redis.url, queue, '1'], count);
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const jobs = new Queue(queue, { connection });
  const events = new QueueEvents(queue, { connection });
  await events.waitUntilReady();
  let batch = 0;
  return {
    stop: async (): Promise<void> => {
      await events.close();
      await jobs.close();
      await children.stop();
    },
    /** Adds `count` jobs of fib(n) at once and resolves when every one has completed. */
    runJobs: async (count: number, n: number): Promise<void> => {
      const prefix = `b${++batch}-`;
      let left = count;
      const done = new Promise<void>((resolve) => {
        const onCompleted = ({ jobId }: { jobId: string }): void => {
          if (jobId.startsWith(prefix) && --left === 0) {
            events.off('completed', onCompleted);
            resolve();
          }
        };
        events.on('completed', onCompleted);
      });
      await jobs.addBulk(
        Array.from({ length: count }, (_, i) => ({ name: 'fib', data: { n }, opts: { jobId: `${prefix}${i}`, removeOnComplete: true } })),
      );
      await done;
    },
  };
}

/**
 * The ceiling of (b): processes that take chunks from a Redis list and push results back
 * (bench/workers/redis-bare-server.mjs), the items split evenly, one chunk per process: what two
 * processes on this host reach through Redis with nothing else in the way.
 */
async function startBareRedisMap(count: number, redis: RedisServer, prefix: string) {
  const children = await startChildren('redis-bare-server.mjs', [redis.url, prefix], count);
  const client = new Redis(redis.url);
  let run = 0;
  return {
    map: async (items: number[]): Promise<void> => {
      const id = ++run;
      const share = Math.ceil(items.length / count);
      for (let i = 0; i < count; i++)
        await client.lpush(`${prefix}:in`, JSON.stringify({ id, items: items.slice(i * share, (i + 1) * share) }));
      // Each call has a result list of its own: calls never take each other's results.
      for (let i = 0; i < count; i++) {
        const taken = await client.brpop(`${prefix}:out:${id}`, 30);
        if (taken === null) throw new Error('the bare Redis map lost a chunk (no result within 30 s)');
      }
    },
    stop: async (): Promise<void> => {
      client.disconnect();
      await children.stop();
    },
  };
}

/** `count` processes running a script of bench/workers/, once each has printed "ready"; `stop()` SIGTERMs them and waits. */
async function startChildren(script: string, args: string[], count: number): Promise<{ stop(): Promise<void> }> {
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [workerFile(script).pathname, ...args], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
          child.once('exit', (code) => reject(new Error(`${script} exited with code ${code} before it was ready`)));
        }),
    ),
  );
  return {
    stop: async () => {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
