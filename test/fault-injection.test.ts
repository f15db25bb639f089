import { describe, expect, it } from 'vitest';
import { runFaults } from './fixtures/faults.js';
import { runChild, TASKS } from './helpers.js';

/**
 * Seeded fault injection. `npm test` runs FAULT_SEEDS seeds (default 3) of FAULT_TASKS tasks
 * (default 400); replay one failure with FAULT_SEED=<seed>. Every report is printed, so a run's
 * seeds are on record.
 */
const seeds = process.env.FAULT_SEED
  ? [Number(process.env.FAULT_SEED)]
  : Array.from({ length: Number(process.env.FAULT_SEEDS ?? 3) }, (_, i) => 1000 + i);
const tasks = Number(process.env.FAULT_TASKS ?? 400);

describe('fault injection', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: every future settles once with an outcome its task allows; stats, threads and semaphores hold`, async () => {
      const report = await runFaults(TASKS, { seed, tasks });
      console.log(`fault injection seed ${seed}: ${JSON.stringify(report)}`);
      expect(report.neverSettled).toBe(0);
      expect(report.settledTwice).toBe(0);
      expect(report.wrong).toEqual([]);
      // Every accepted task is counted exactly once, and nothing is left behind.
      const accepted = report.submitted - report.refusedAfterShutdown;
      expect(report.stats.completed + report.stats.failed + report.stats.cancelled).toBe(accepted);
      expect(report.stats.queued).toBe(0);
      expect(report.stats.busy).toBe(0);
      expect(report.maxWorkersSeen).toBeLessThanOrEqual(report.maxWorkers);
      // No worker is lost but by a task that may crash one: cancels, timeouts, ports and
      // listeners never take a healthy worker down.
      expect(report.stats.crashedWorkers).toBeLessThanOrEqual(report.mayCrash);
      expect(report.semaphore.maxHeld).toBeLessThanOrEqual(report.semaphore.capacity);
      expect(report.semaphore.available).toBe(report.semaphore.capacity);
      expect(report.semaphore.waiting).toBe(0);
      expect(report.limiter.maxRunning).toBeLessThanOrEqual(report.limiter.maxConcurrent);
      expect(report.limiter.available).toBe(report.limiter.maxConcurrent);
      expect(report.limiter.waiting).toBe(0);
      expect(report.unhandledRejections).toBe(0);
    }, 120_000);
  }

  it('a process that went through a fault run exits by itself once the pool is shut down', async () => {
    const run = await runChild('fault-child.ts', 90_000, ['--import', 'tsx']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')));
    expect(report.wrong).toEqual([]);
    expect(report.neverSettled).toBe(0);
    expect(run.exitedAt - run.lastOutputAt).toBeLessThan(1_000);
  }, 100_000);
});
