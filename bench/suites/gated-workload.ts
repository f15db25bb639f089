/**
 * The gated workload, shared vs async variant: tasks compute, use a finite resource with K
 * permits (a wait, as for a database connection), and compute again.
 *   (a) async variant: an AsyncSemaphore(K) on the main thread around each whole task;
 *   (b) SharedSemaphore(K) inside the workers, around the resource phase only;
 *   (c) no gate: the unsafe upper bound.
 * Throughput and the most tasks seen inside the resource at once (from shared counters written
 * by every worker): it must never exceed K for (a) and (b).
 */
import { AsyncSemaphore, SharedSemaphore, WorkerPool } from 'threadgate';
import { type Case, type CaseResult, runGroup } from '../harness.js';
import type * as Gated from '../workers/gated.js';
import { type Suite, workerFile } from './context.js';

export const gatedWorkload: Suite = async (ctx) => {
  const results: CaseResult[] = [];
  const phases = { computeMs: 2, resourceMs: 4 };
  const tasks = ctx.quick ? 16 : 48;
  const workerCounts = ctx.quick ? [ctx.cores] : [ctx.cores, ctx.cores * 2];
  for (const workers of workerCounts) {
    for (const k of [1, 2, 4].filter((k) => k <= workers)) {
      let pool: WorkerPool<typeof Gated>;
      const counters = new Int32Array(new SharedArrayBuffer(8));
      const maxSeen = { a: 0, b: 0, c: 0 };
      const track = (variant: keyof typeof maxSeen): void => {
        maxSeen[variant] = Math.max(maxSeen[variant], Atomics.load(counters, 1));
        Atomics.store(counters, 1, 0);
      };
      const asyncGate = new AsyncSemaphore(k);
      const sharedGate = new SharedSemaphore(k);
      const cases: Case[] = [
        {
          name: '(a) AsyncSemaphore around whole tasks',
          ops: tasks,
          setup: async () => {
            pool = new WorkerPool<typeof Gated>({ module: workerFile('gated.ts'), maxWorkers: workers, minWorkers: workers });
            await Promise.all(
              Array.from({ length: workers * 2 }, () => pool.submit('wholeTask', { computeMs: 1, resourceMs: 1 }, new Int32Array(2))),
            );
          },
          run: async () => {
            await Promise.all(Array.from({ length: tasks }, () => asyncGate.withPermit(() => pool.submit('wholeTask', phases, counters))));
            track('a');
          },
        },
        {
          name: '(b) SharedSemaphore around the resource only',
          ops: tasks,
          run: async () => {
            await Promise.all(Array.from({ length: tasks }, () => pool.submit('gatedPhase', phases, counters, sharedGate)));
            track('b');
          },
        },
        {
          name: '(c) no gate (unsafe upper bound)',
          ops: tasks,
          run: async () => {
            await Promise.all(Array.from({ length: tasks }, () => pool.submit('wholeTask', phases, counters)));
            track('c');
          },
          teardown: () => pool.shutdown(),
        },
      ];
      const group = await runGroup(
        'gated workload',
        `${workers} workers, K = ${k}`,
        cases,
        ctx.group({ timeMs: ctx.quick ? 150 : 1_200, iterations: 3 }),
      );
      const [a, b, c] = group as [CaseResult, CaseResult, CaseResult];
      a.extra = { workers, k, maxAtResource: maxSeen.a, tasksPerSec: a.opsPerSec };
      b.extra = { workers, k, maxAtResource: maxSeen.b, tasksPerSec: b.opsPerSec, vsAsync: b.opsPerSec / a.opsPerSec };
      c.extra = { workers, k, maxAtResource: maxSeen.c, tasksPerSec: c.opsPerSec };
      results.push(...group);
    }
  }
  return results;
};
