import { SharedSemaphore } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { ACQUIRED, HOLDERS, MAX_HOLDERS, VIOLATIONS } from '../fixtures/tasks.js';
import { type ChildRun, delay, runChild, tasksPool, waitUntil, within } from '../helpers.js';
import { scale, seeds } from '../tier.js';

const shared = (n: number): Int32Array => new Int32Array(new SharedArrayBuffer(n * 4));

/**
 * SharedSemaphore under many threads and kills: workers terminated at random points of their
 * loops, and seeded hammering with random holds, timeouts and aborts. `npm test` runs a few rounds
 * and one seed of each; the stress tier many.
 */
describe('SharedSemaphore under kills and load', () => {
  it('workers killed at random points of a lock-free take/give loop lose no unit and make none up', async () => {
    const churners = 4;
    const pool = tasksPool({ maxWorkers: churners, cancelGraceMs: 0 });
    const sem = new SharedSemaphore(5);
    for (let round = 0; round < scale(3, 30); round++) {
      const running = Array.from({ length: churners }, () => shared(1));
      const churns = running.map((flag) => pool.submit('churnSemaphore', sem, flag));
      await waitUntil(() => running.every((flag) => Atomics.load(flag, 0) === 1), 20_000, 'every churn to start');
      await delay(Math.random() * 5);
      for (const churn of churns) churn.cancel(); // each worker is terminated wherever it is in its loop
      await within(20_000, Promise.allSettled(churns), 'the killed churns');
      await waitUntil(() => sem.available === 5, 10_000, `round ${round}: every unit back, none made up`);
      expect(sem.waiting).toBe(0);
    }
  });

  // In a child process: a stall here blocks the stalled thread's event loop, so no in-process
  // timeout could fail the test. Under --jitless no operation takes a fast path and no code is
  // optimized, so more kills land inside the lock.
  for (const flags of scale([[]], [[], ['--jitless']])) {
    it(`workers killed while they call the semaphore on its locked path never stall the pool's thread${flags.length > 0 ? ` (${flags.join(' ')})` : ''}`, async () => {
      const rounds = scale(8, 40);
      // The bound is for a stalled child; 40 rounds took 33-60 s beside a CPU hog and another suite.
      const run = await runChild('kill-lock-child.mjs', 150_000, [...flags, '--no-warnings'], [String(rounds)]).catch((e: Error) => e);
      expect(run).not.toBeInstanceOf(Error); // it exited by itself: no 'exit' handler waited forever
      expect((run as ChildRun).stdout).toBe(`killed ${rounds * 4}; backed out true; available 1; waiting 0\n`);
      expect((run as ChildRun).code).toBe(0);
    }, 180_000);
  }

  // Every kill path at random moments, with semaphore calls inside tasks and outside them, and the
  // main thread holding no SharedSemaphore (see the fixture). The bound on the main thread's
  // longest event-loop stall is generous for a loaded machine; a frozen thread exceeds any bound.
  for (const seed of seeds(31, { behaviour: 1, stress: 4 })) {
    it(`seed ${seed}: shutdown, retirement, timeouts and cancels mid-call leave the lock free and every unit back`, async () => {
      const rounds = scale(4, 15);
      const run = await runChild('kill-paths-child.mjs', 120_000, ['--expose-gc'], [String(rounds), String(seed)]);
      expect(run.stderr).toBe('');
      const report = JSON.parse(run.stdout) as { rounds: number; bad: unknown[]; maxStallMs: number };
      expect(report.bad, run.stdout).toEqual([]);
      expect(report.rounds).toBe(rounds);
      expect(report.maxStallMs, run.stdout).toBeLessThan(500);
    }, 150_000);
  }

  for (const seed of seeds(11, { behaviour: 1, stress: 6 })) {
    it(`seed ${seed}: 8 threads, random hold, timeouts and aborts: never above capacity, capacity reached, all back`, async () => {
      const pool = tasksPool({ maxWorkers: 8 });
      const sem = new SharedSemaphore(3);
      const counters = shared(5);
      const iterations = scale(800, 1_500);
      const runs = Array.from({ length: 8 }, (_, i) => pool.submit('hammer', sem, counters, iterations, seed * 100 + i));
      const acquired = await within(120_000, Promise.all(runs), `stress seed ${seed}`);
      expect(Atomics.load(counters, VIOLATIONS)).toBe(0);
      expect(Atomics.load(counters, MAX_HOLDERS)).toBe(3);
      expect(Atomics.load(counters, HOLDERS)).toBe(0);
      expect(acquired.reduce((a, b) => a + b, 0)).toBe(Atomics.load(counters, ACQUIRED));
      expect(sem.available).toBe(3);
      expect(sem.waiting).toBe(0); // nobody left asleep
    });
  }
});
