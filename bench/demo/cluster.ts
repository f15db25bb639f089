/**
 * `npm run demo -- cluster`: a redis-server, three serving processes on loopback, one
 * `ClusterPool.map` across them; one server is SIGKILLed mid-run. Draws each process's timeline
 * and checks that every result arrived once, in order, and that the dead server's jobs ran
 * elsewhere within its lock duration + 2 s.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterPool } from 'threadgate/cluster';
import { noRedis, startRedis, startServers } from '../../test/cluster/redis.js';
import type { Scenario } from './scenarios.js';
import type * as DemoTasks from './tasks.js';
import type { Lane } from './timeline.js';

const ITEMS = 150;
const ITEM_MS = 20;
const LOCK_DURATION_MS = 2_000;

export const clusterDemo: Scenario = async ({ onProgress }) => {
  if (noRedis !== undefined) throw new Error(`the cluster demo needs a redis-server: ${noRedis}`);
  const redis = await startRedis();
  const queue = 'demo';
  const servers = await startServers(3, redis.url, queue, 1, LOCK_DURATION_MS, new URL('./tasks.ts', import.meta.url));
  const cluster = new ClusterPool<typeof DemoTasks>({ queue, connection: redis.url });
  try {
    const victim = servers.pids[0] as number;
    const log = join(mkdtempSync(join(tmpdir(), 'threadgate-demo-')), 'starts.log');
    const started = Date.now();
    let killedAt = 0;
    const records: DemoTasks.ClusterItemRecord[] = [];
    for await (const record of cluster.starmap(
      'clusterItem',
      Array.from({ length: ITEMS }, (_, i) => [i, ITEM_MS, log] as [number, number, string]),
      { chunkSize: 5 },
    )) {
      records.push(record);
      onProgress?.(records.length / ITEMS, 'map over 3 servers');
      if (killedAt === 0 && records.length >= ITEMS / 5) {
        servers.kill(0);
        killedAt = Date.now();
      }
    }
    const indices = records.map((r) => r.i);
    const inOrder = indices.every((i, at) => i === at);
    const afterKill = records.filter((r) => r.startedAt >= killedAt).map((r) => r.startedAt);
    const fromVictimAfterKill = records.filter((r) => r.pid === victim && r.endedAt > killedAt).length;
    // Items the dead server had started (its log lines) ran again on a live one: how long after the kill?
    const startedByVictim = new Set(
      readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' ').map(Number))
        .filter(([pid]) => pid === victim)
        .map(([, i]) => i),
    );
    const recovered = records.filter((r) => startedByVictim.has(r.i) && r.pid !== victim);
    const recoveryMs = recovered.length > 0 ? Math.min(...recovered.map((r) => r.startedAt)) - killedAt : 0;
    const lanes: Lane[] = servers.pids.map((pid) => ({
      label: pid === victim ? `server ${pid} †` : `server ${pid}`,
      spans: records
        .filter((r) => r.pid === pid)
        .map((r) => ({ start: r.startedAt - started, end: r.endedAt - started, kind: 'run' as const })),
    }));
    lanes.push({ label: 'killed at', spans: [{ start: killedAt - started, end: killedAt - started + 5, kind: 'wait' }] });
    return {
      name: 'cluster',
      title: `ClusterPool.map over 3 serving processes (redis-server on loopback), one SIGKILLed after ${ITEMS / 5} results`,
      checks: [
        { label: 'results delivered', limit: `= ${ITEMS}`, observed: String(records.length), ok: records.length === ITEMS },
        {
          label: 'each index once, in input order',
          limit: 'yes',
          observed: inOrder ? 'yes' : 'no',
          ok: inOrder && new Set(indices).size === ITEMS,
        },
        {
          label: 'results from the killed server after its death',
          limit: '= 0',
          observed: String(fromVictimAfterKill),
          ok: fromVictimAfterKill === 0,
        },
        {
          label: "the dead server's jobs running elsewhere, after the kill",
          limit: `<= ${LOCK_DURATION_MS + 2_000} ms (lock duration + 2 s)`,
          observed: recovered.length > 0 ? `${recoveryMs} ms (${recovered.length} item(s) it had started)` : 'it had started none',
          ok: recoveryMs <= LOCK_DURATION_MS + 2_000,
        },
      ],
      lanes,
      notes: [
        `  ${afterKill.length} items started after the kill, on the two live servers; BullMQ ran the dead server's held jobs again once their lock (${LOCK_DURATION_MS} ms) ran out.`,
        '  The live servers pause meanwhile: the map is ordered and bounded (buffer), and the next result it owes is in a job locked to the dead server; `ordered: false` or a larger `buffer` keeps them busy.',
        '  Execution is at least once (an item the dead server had finished ran again); delivery is exactly once.',
      ],
    };
  } finally {
    await cluster.shutdown({ cancelFutures: true });
    await servers.stop();
    await redis.stop();
  }
};
