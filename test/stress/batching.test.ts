import { type Future, WorkerCrashedError } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { random } from '../fixtures/tasks.js';
import { delay, type Tasks, tasksPool, waitUntil, within } from '../helpers.js';
import { seeds } from '../tier.js';

/**
 * A backlog of tiny tasks travels in batches (several tasks, one message). Each test warms the
 * `tiny` function up first, so the pool knows it is tiny, then submits a burst and checks that
 * every task settled on its own, with a run counter per task in shared memory: no task runs
 * twice, and the ones that should run, run once.
 */
const BURST = 600;

type Fate = Parameters<typeof Tasks.tiny>[2];
type Settled = { value: unknown } | { error: Error };

/**
 * A task that returned and then left an uncaught error behind settles either way: with its value
 * if its outcome was sent before the error struck (in a batch it always is), or as crashed if
 * it ran alone, because Piscina sends a lone task's result a microtask later, after the error.
 */
function returnedThenCrashed(outcome: Settled, i: number): boolean {
  return 'value' in outcome ? outcome.value === i * 2 : outcome.error instanceof WorkerCrashedError;
}

async function burst(fate: Fate, meanwhile?: (futures: Future<unknown>[], runs: Int32Array) => Promise<void>, workers = 2) {
  const pool = tasksPool({ maxWorkers: workers, minWorkers: workers, cancelGraceMs: 20 });
  const warm = new Int32Array(new SharedArrayBuffer(64 * 4));
  await Promise.all(Array.from({ length: 64 }, (_, i) => pool.submit('tiny', i, warm)));
  const batchedBefore = pool.stats.batched;
  const runs = new Int32Array(new SharedArrayBuffer(BURST * 4));
  const futures = Array.from({ length: BURST }, (_, i) => pool.submit('tiny', i, runs, fate));
  const settled = Promise.all(
    futures.map((f) =>
      f.then(
        (value): Settled => ({ value }),
        (error: unknown): Settled => ({ error: error as Error }),
      ),
    ),
  );
  await meanwhile?.(futures, runs);
  const outcomes = await within(60_000, settled, 'the burst');
  return { pool, runs, outcomes, batched: pool.stats.batched - batchedBefore };
}

describe('batches of tiny tasks', () => {
  it('a burst goes out in batches, and every task settles with its own result', async () => {
    const { runs, outcomes, batched } = await burst({});
    expect(batched).toBeGreaterThan(BURST / 2);
    expect(outcomes).toEqual(Array.from({ length: BURST }, (_, i) => ({ value: i * 2 })));
    for (let i = 0; i < BURST; i++) expect(Atomics.load(runs, i), `runs of task ${i}`).toBe(1);
  });

  it('a worker exiting mid-batch loses no finished result, and the tasks after it run elsewhere, once', async () => {
    const exitAt = 300;
    const { pool, runs, outcomes, batched } = await burst({ exitAt });
    expect(batched).toBeGreaterThan(BURST / 2);
    for (const [i, outcome] of outcomes.entries()) {
      if (i === exitAt) expect(outcome).toMatchObject({ error: expect.any(WorkerCrashedError) });
      else expect(outcome, `task ${i}`).toEqual({ value: i * 2 });
      expect(Atomics.load(runs, i), `runs of task ${i}`).toBe(1);
    }
    expect(((outcomes[exitAt] as { error: WorkerCrashedError }).error as WorkerCrashedError).exitCode).toBe(9);
    expect(pool.stats.crashedWorkers).toBe(1);
    expect(await pool.submit('square', 3)).toBe(9);
  });

  it('with one worker, the tasks a dying worker held run after it in their own order, and it counts once', async () => {
    // The dead worker's batch is failed by Piscina; the next batch waits in Piscina's queue and
    // must not overtake what the dead one never started.
    const exitAt = 200;
    const log = new Int32Array(new SharedArrayBuffer((BURST + 1) * 4));
    const { pool, runs, outcomes } = await burst({ exitAt, log }, undefined, 1);
    expect(outcomes.filter((outcome) => 'error' in outcome)).toHaveLength(1);
    for (let i = 0; i < BURST; i++) expect(Atomics.load(runs, i), `runs of task ${i}`).toBe(1);
    const order = Array.from(log.subarray(1, 1 + Atomics.load(log, 0)));
    expect(order).toEqual(Array.from({ length: BURST }, (_, i) => i)); // one worker: the run order is the queue's
    expect(pool.stats.crashedWorkers).toBe(1);
  });

  it('a running task killed mid-batch takes no other task with it; one cancelled while queued never runs', async () => {
    const hangAt = 250;
    const skipAt = 590;
    const { pool, runs, outcomes } = await burst({ hangAt }, async (futures, runs) => {
      // No turn of the event loop since the burst was submitted: only the first few messages
      // have gone out, so this one is certainly still queued. (The seeded runs below cancel
      // tasks at random moments, batched or not.)
      (futures[skipAt] as Future<unknown>).cancel();
      await waitUntil(() => Atomics.load(runs, hangAt) === 1, 10_000, 'the hanging task to start');
      await delay(5);
      (futures[hangAt] as Future<unknown>).cancel(); // running, never looks at its signal: killed after the grace
    });
    for (const [i, outcome] of outcomes.entries()) {
      if (i === hangAt || i === skipAt) expect(outcome, `task ${i}`).toMatchObject({ error: { name: 'AbortError' } });
      else expect(outcome, `task ${i}`).toEqual({ value: i * 2 });
      expect(Atomics.load(runs, i), `runs of task ${i}`).toBe(i === skipAt ? 0 : 1);
    }
    expect(await pool.submit('square', 4)).toBe(16);
  });

  it('a worker failing on an uncaught error right after a task keeps every result it had sent', async () => {
    const uncaughtAfter = Array.from({ length: 14 }, (_, k) => 30 + 40 * k); // 14 workers die: 14 chances for the race
    const { pool, runs, outcomes } = await burst({ uncaughtAfter });
    // The error arrives on another port than the outcomes: tasks are judged only once every
    // outcome the worker sent has been read, so none is taken for crashed or run again.
    for (const [i, outcome] of outcomes.entries()) {
      if (uncaughtAfter.includes(i)) expect(returnedThenCrashed(outcome, i), `task ${i}: ${JSON.stringify(outcome)}`).toBe(true);
      else expect(outcome, `task ${i}`).toEqual({ value: i * 2 });
      expect(Atomics.load(runs, i), `runs of task ${i}`).toBe(1);
    }
    expect(pool.stats.crashedWorkers).toBeGreaterThanOrEqual(1);
  });

  it('a result that cannot be cloned fails its own task only', async () => {
    const uncloneableAt = 123;
    const { runs, outcomes } = await burst({ uncloneableAt });
    for (const [i, outcome] of outcomes.entries()) {
      // In a batch the runtime posts each outcome itself and turns the clone failure into the
      // task's error; a task that went out alone is answered by Piscina, whose failed post takes
      // the worker down, but the runtime names the task and the error first: the same error.
      if (i === uncloneableAt)
        expect('error' in outcome && outcome.error.name, `task ${i}: ${JSON.stringify(outcome)}`).toBe('DataCloneError');
      else expect(outcome, `task ${i}`).toEqual({ value: i * 2 });
      expect(Atomics.load(runs, i), `runs of task ${i}`).toBe(1);
    }
  });

  // Seeded: a worker exiting and workers failing on uncaught errors mid-batch, and cancels at
  // random moments, all in one burst: one seed in `npm test`, eight in the stress tier.
  for (const seed of seeds(700, { behaviour: 1, stress: 8 })) {
    it(`seed ${seed}: under exits, uncaught errors and random cancels, every task settles as allowed and none runs twice`, async () => {
      const rand = random(seed);
      const pick = (): number => Math.floor(rand() * BURST);
      const exitAt = pick();
      const uncaughtAfter = [pick(), pick(), pick()];
      const cancels = new Set(Array.from({ length: 40 }, pick));
      const { pool, runs, outcomes } = await burst({ exitAt, uncaughtAfter }, async (futures) => {
        for (const i of cancels) {
          if (rand() < 0.5) await delay(rand() * 3);
          (futures[i] as Future<unknown>).cancel();
        }
      });
      for (const [i, outcome] of outcomes.entries()) {
        const ran = Atomics.load(runs, i);
        expect(ran, `runs of task ${i}`).toBeLessThanOrEqual(1);
        if (cancels.has(i) && 'error' in outcome && outcome.error.name === 'AbortError') continue; // cancelled in time
        if (i === exitAt) expect(outcome, `task ${i}`).toMatchObject({ error: expect.any(WorkerCrashedError) });
        else if (uncaughtAfter.includes(i)) expect(returnedThenCrashed(outcome, i), `task ${i}: ${JSON.stringify(outcome)}`).toBe(true);
        else expect(outcome, `task ${i}`).toEqual({ value: i * 2 });
        expect(ran, `runs of task ${i}`).toBe(1);
      }
      expect(await pool.submit('square', 5)).toBe(25);
    });
  }
});
