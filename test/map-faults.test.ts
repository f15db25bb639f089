import { TaskTimeoutError, WorkerCrashedError } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { random } from './fixtures/tasks.js';
import { tasksPool, within } from './helpers.js';

/**
 * Maps under faults, seeded: short chunks wait in busy workers' inboxes, so a worker that dies
 * (process.exit, or killed when its chunk times out) takes a chunk that never started with it,
 * which must run elsewhere, once. Each run checks: every delivered value is right and in order,
 * the map fails (if it does) no later than its first faulty item and with that item's kind of
 * error, no item ran twice, every item before the failure ran exactly once, and the pool still
 * works, having lost no worker but to an item that exits. Some runs share the pool with a long
 * submit, which must not hold the map back, and every other run has an onProgress listener.
 * `MAP_FAULT_SEEDS=n` runs more seeds.
 */
const SEEDS = Number(process.env.MAP_FAULT_SEEDS ?? 6);
const ITEMS = 600;

type Kind = 'ok' | 'throw' | 'exit' | 'hang';
/** The error a map fails with at a faulty item of each kind (a thrown error keeps its class name). */
const errorOf: Record<Exclude<Kind, 'ok'>, (error: unknown, item: number) => boolean> = {
  throw: (e, item) => e instanceof Error && e.name === 'ValidationError' && e.message === `item ${item} is invalid`,
  exit: (e) => e instanceof WorkerCrashedError && e.exitCode === 7,
  hang: (e) => e instanceof TaskTimeoutError,
};

describe('map under faults', () => {
  it('a worker dying with the next chunk in its inbox counts once, and the map fails at the item', async () => {
    const pool = tasksPool({ maxWorkers: 1, minWorkers: 1 });
    const exitAt = 150;
    const runs = new Int32Array(new SharedArrayBuffer(400 * 4));
    const items = Array.from({ length: 400 }, (_, i) => ({ i, kind: (i === exitAt ? 'exit' : 'ok') as Kind, ms: 1 }));
    const error = await within(
      20_000,
      (async () => {
        for await (const _ of pool.starmap(
          'faultyItem',
          items.map((item) => [item, runs] as const),
        ));
      })().catch((e: unknown) => e as WorkerCrashedError & { mapIndex?: number }),
      'the map',
    );
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error?.mapIndex).toBeLessThanOrEqual(exitAt);
    expect(pool.stats.crashedWorkers).toBe(1);
    expect(await within(5_000, pool.submit('square', 9), 'a task after the map')).toBe(81);
  });

  for (let seed = 500; seed < 500 + SEEDS; seed++) {
    it(`seed ${seed}: right values in order, fails at its first faulty item at the latest, no item runs twice`, async () => {
      const rand = random(seed);
      const rate = seed % 3 === 0 ? 0 : 0.002; // per kind; every third run has no fault at all
      const kinds: Kind[] = Array.from({ length: ITEMS }, () => {
        const r = rand();
        return r < rate ? 'throw' : r < 2 * rate ? 'exit' : r < 3 * rate ? 'hang' : 'ok';
      });
      const items = kinds.map((kind, i) => ({ i, kind, ms: 0.2 + rand() * 0.3 }));
      const runs = new Int32Array(new SharedArrayBuffer(ITEMS * 4));
      const pool = tasksPool({ maxWorkers: 2, minWorkers: 2, cancelGraceMs: 20 });
      await Promise.all([pool.submit('square', 1), pool.submit('square', 2)]); // both workers up
      const long = seed % 2 === 0 ? pool.submit('delayed', 300) : undefined;

      const values: number[] = [];
      const error = await within(
        20_000,
        (async () => {
          for await (const v of pool.starmap(
            'faultyItem',
            items.map((item) => [item, runs] as const),
            // timeoutMs per item: a 20 ms budget for a 1-item chunk was within reach of a busy host's
            // scheduling stalls. Every other run listens to progress: each chunk then carries a port.
            { timeoutMs: 50, ...(seed % 2 === 1 ? { onProgress: () => {} } : {}) },
          ))
            values.push(v);
        })().then(
          () => undefined,
          (e: unknown) => e as Error & { mapIndex?: number },
        ),
        'the map',
      );

      const firstFault = kinds.findIndex((kind) => kind !== 'ok');
      expect(values).toEqual(Array.from({ length: values.length }, (_, i) => i * 2));
      if (firstFault === -1) {
        expect(error).toBeUndefined();
        expect(values).toHaveLength(ITEMS);
      } else {
        const kind = kinds[firstFault] as Exclude<Kind, 'ok'>;
        expect(errorOf[kind](error, firstFault), `${kind} at ${firstFault}: ${error}`).toBe(true);
        expect(error?.mapIndex).toBe(values.length); // delivered everything before the failure
        expect(values.length).toBeLessThanOrEqual(firstFault); // a crash or timeout fails its whole chunk
      }
      for (let i = 0; i < ITEMS; i++) expect(Atomics.load(runs, i), `runs of item ${i}`).toBeLessThanOrEqual(1);
      for (let i = 0; i < values.length; i++) expect(Atomics.load(runs, i), `runs of item ${i}`).toBe(1);
      // Only an item that exits may take a worker down (a timed-out chunk's worker is killed, not crashed).
      expect(pool.stats.crashedWorkers).toBeLessThanOrEqual(kinds.filter((kind) => kind === 'exit').length);
      if (long) expect(await within(5_000, long, 'the long task')).toBe(300);
      expect(await within(5_000, pool.submit('square', 9), 'a task after the map')).toBe(81);
    });
  }
});
