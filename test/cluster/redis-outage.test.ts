/**
 * Redis goes away mid-map: what waits on it fails, with a coded error and the cause, in bounded
 * time; nothing hangs; after Redis is back, new calls run and nothing earlier is delivered again.
 */
import { ClusterPool } from 'threadgate/cluster';
import { describe, expect, it } from 'vitest';
import { SWEEP_AFTER_MS, SWEEP_EVERY_MS } from '../../src/cluster/jobs.js';
import type * as Tasks from '../fixtures/tasks.js';
import { delay, within } from '../helpers.js';
import { noRedis, startRedis, startServers } from './redis.js';

// A server of one's own, which the test kills: not one given by REDIS_URL.
describe.skipIf(noRedis !== undefined || process.env.REDIS_URL !== undefined)('a Redis outage', () => {
  it('fails every pending call and the map with ERR_CLUSTER_CONNECTION_LOST, then serves again once Redis is back', async () => {
    const redis = await startRedis();
    const queue = `q${crypto.randomUUID().slice(0, 8)}`;
    const servers = await startServers(2, redis.url, queue, 1, 2_000);
    const lostAfterMs = 1_000;
    const cluster = new ClusterPool<typeof Tasks>({ queue, connection: redis.url, lostAfterMs });
    try {
      await within(10_000, cluster.ready(), 'the cluster connecting');
      const futures: Promise<unknown>[] = [];
      const delivered: number[] = [];
      let killedAt = 0;
      const consume = async (): Promise<void> => {
        for await (const value of cluster.map(
          'sleep',
          Array.from({ length: 400 }, () => 20),
          { chunkSize: 2 },
        )) {
          delivered.push(value);
          if (killedAt === 0 && delivered.length >= 8) {
            futures.push(cluster.submit('sleep', 5_000), cluster.submit('add', 1, 2));
            killedAt = performance.now();
            void redis.kill();
          }
        }
      };
      const mapError = await within(
        lostAfterMs + 10_000,
        consume().then(
          () => undefined,
          (e: unknown) => e as Error,
        ),
      );
      expect(mapError).toMatchObject({ code: 'ERR_CLUSTER_CONNECTION_LOST' });
      expect(mapError?.cause).toBeDefined();
      expect(performance.now() - killedAt).toBeLessThan(lostAfterMs + 5_000);
      for (const future of futures) await expect(within(1_000, future)).rejects.toMatchObject({ code: 'ERR_CLUSTER_CONNECTION_LOST' });
      const deliveredBefore = delivered.length;

      await redis.restart();
      expect(await within(30_000, cluster.submit('add', 2, 3), 'a call after the restart')).toBe(5);
      await delay(200);
      expect(delivered).toHaveLength(deliveredBefore);
      expect(cluster.stats.pending).toBe(0);
    } finally {
      await cluster.shutdown({ cancelFutures: true });
      // Killed, not closed: a graceful close is tested elsewhere, and after an outage BullMQ takes
      // seconds to give up its blocking read.
      servers.kill(0);
      servers.kill(1);
      await servers.stop();
      await redis.stop();
    }
  });

  it('a job removed by someone else, or lost in a Redis restart shorter than lostAfterMs, fails instead of waiting forever', async () => {
    const redis = await startRedis();
    const queue = `q${crypto.randomUUID().slice(0, 8)}`; // no server: jobs wait in Redis
    const cluster = new ClusterPool<typeof Tasks>({ queue, connection: redis.url });
    const { Queue } = await import('bullmq');
    const inspect = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null } });
    inspect.on('error', () => {});
    try {
      const removed = cluster.submit('add', 1, 2);
      await within(
        5_000,
        waitFor(async () => (await inspect.getWaitingCount()) === 1),
        'the job waiting',
      );
      const [job] = await inspect.getWaiting();
      await job?.remove();
      await expect(within(2_000, removed)).rejects.toMatchObject({ code: 'ERR_CLUSTER_JOB_FAILED', message: /removed/ });

      const lost = cluster.submit('add', 3, 4);
      await within(
        5_000,
        waitFor(async () => (await inspect.getWaitingCount()) === 1),
        'the second job waiting',
      );
      // Seen from another connection, the job is in Redis; its add's reply to the pool may still be
      // on its way. Killed before that reply lands, ioredis resends the add to the restarted Redis,
      // and the job, rightly, waits there for a server instead of being lost.
      await delay(200);
      await redis.kill();
      await redis.restart(); // empty: the job is gone, and no event will ever tell
      await expect(within(SWEEP_AFTER_MS + SWEEP_EVERY_MS + 3_000, lost)).rejects.toMatchObject({
        code: 'ERR_CLUSTER_JOB_FAILED',
        message: /no longer in Redis/,
      });
    } finally {
      await inspect.close();
      await cluster.shutdown({ cancelFutures: true });
      await redis.stop();
    }
  });
});

/** Polls `condition` every 20 ms until it holds. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await delay(20);
}
