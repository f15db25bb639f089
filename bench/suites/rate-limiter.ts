/**
 * Rate limiters: spacing accuracy (the mean gap between starts minus the interval, on the
 * process clock) and raw throughput (no spacing) of RateLimiter and SharedRateLimiter; the
 * shared one also from worker threads.
 */
import { RateLimiter, SharedRateLimiter, WorkerPool } from 'threadgate';
import { type CaseResult, fromSamples, now, runGroup } from '../harness.js';
import type * as Gated from '../workers/gated.js';
import { type Suite, workerFile } from './context.js';

export const rateLimiters: Suite = async (ctx) => {
  const intervalMs = 20;
  const calls = ctx.quick ? 15 : 50;
  const results: CaseResult[] = [];
  const spacingGroup = `spacing: ${calls} calls, minIntervalMs ${intervalMs}, maxConcurrent 5`;

  for (const [name, limiter] of [
    ['RateLimiter', new RateLimiter({ maxConcurrent: 5, minIntervalMs: intervalMs })],
    ['SharedRateLimiter (main thread)', new SharedRateLimiter({ maxConcurrent: 5, minIntervalMs: intervalMs })],
  ] as const) {
    ctx.progress(`rate limiter › ${name}`);
    const starts: number[] = [];
    await Promise.all(Array.from({ length: calls }, () => limiter.call(() => starts.push(now()))));
    results.push(gapsResult(spacingGroup, name, starts, intervalMs));
  }
  {
    ctx.progress('rate limiter › SharedRateLimiter from workers');
    const workers = ctx.cores;
    const pool = new WorkerPool<typeof Gated>({ module: workerFile('gated.ts'), maxWorkers: workers, minWorkers: workers });
    const limiter = new SharedRateLimiter({ maxConcurrent: 5, minIntervalMs: intervalMs });
    const share = Math.ceil(calls / workers);
    const starts = (await Promise.all(Array.from({ length: workers }, () => pool.submit('limitedStarts', limiter, share)))).flat();
    await pool.shutdown();
    results.push(gapsResult(spacingGroup, `SharedRateLimiter (${workers} workers)`, starts, intervalMs));
  }

  const ops = ctx.quick ? 2_000 : 20_000;
  const inThread = new RateLimiter({ maxConcurrent: 8 });
  const shared = new SharedRateLimiter({ maxConcurrent: 8 });
  const burst = (limiter: { call: (fn: () => number) => Promise<unknown> }) => async () => {
    await Promise.all(Array.from({ length: ops }, () => limiter.call(() => 1)));
  };
  results.push(
    ...(await runGroup(
      'rate limiter',
      `throughput: ${ops} calls, maxConcurrent 8, no spacing`,
      [
        { name: 'RateLimiter', ops, run: burst(inThread) },
        { name: 'SharedRateLimiter', ops, run: burst(shared) },
      ],
      ctx.group({ timeMs: ctx.quick ? 100 : 1_500, iterations: 3 }),
    )),
  );
  return results;
};

function gapsResult(group: string, name: string, starts: number[], intervalMs: number): CaseResult {
  const sorted = [...starts].sort((a, b) => a - b);
  const gaps = sorted.slice(1).map((t, i) => t - (sorted[i] as number));
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  return fromSamples('rate limiter', group, name, gaps, {
    meanGapMinusIntervalMs: mean - intervalMs,
    minGapMs: Math.min(...gaps),
    intervalMs,
  });
}
