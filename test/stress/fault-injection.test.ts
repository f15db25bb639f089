import { describe, expect, it } from 'vitest';
import { runFaults } from '../fixtures/faults.js';
import { runChild, TASKS } from '../helpers.js';
import { scale, seeds } from '../tier.js';

/**
 * Seeded fault injection: one seed of 150 tasks in `npm test`, eight of 400 in the stress tier;
 * `SEED=<seed>` replays one. A failing assertion prints the run's whole report.
 */
describe('fault injection', () => {
  for (const seed of seeds(1000, { behaviour: 1, stress: 8 })) {
    it(`seed ${seed}: every future settles once with an outcome its task allows; stats, threads and semaphores hold`, async () => {
      const report = await runFaults(TASKS, { seed, tasks: scale(150, 400) });
      const run = `seed ${seed}: ${JSON.stringify(report)}`;
      expect(report.neverSettled, run).toBe(0);
      expect(report.settledTwice, run).toBe(0);
      expect(report.wrong, run).toEqual([]);
      // Every accepted task is counted exactly once, and nothing is left behind.
      const accepted = report.submitted - report.refusedAfterShutdown;
      expect(report.stats.completed + report.stats.failed + report.stats.cancelled, run).toBe(accepted);
      expect(report.stats.queued, run).toBe(0);
      expect(report.stats.busy, run).toBe(0);
      expect(report.maxWorkersSeen, run).toBeLessThanOrEqual(report.maxWorkers);
      // No worker is lost but by a task that may crash one: cancels, timeouts, ports and
      // listeners never take a healthy worker down.
      expect(report.stats.crashedWorkers, run).toBeLessThanOrEqual(report.mayCrash);
      expect(report.semaphore.maxHeld, run).toBeLessThanOrEqual(report.semaphore.capacity);
      expect(report.semaphore.available, run).toBe(report.semaphore.capacity);
      expect(report.semaphore.waiting, run).toBe(0);
      expect(report.limiter.maxRunning, run).toBeLessThanOrEqual(report.limiter.maxConcurrent);
      expect(report.limiter.available, run).toBe(report.limiter.maxConcurrent);
      expect(report.limiter.waiting, run).toBe(0);
      expect(report.unhandledRejections, run).toBe(0);
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
