import { TaskTimeoutError, WorkerCrashedError } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { tasksPool, within } from './helpers.js';

/** Runs a map to its end or its error: the values delivered, and the error. */
async function collect(
  results: AsyncIterable<unknown>,
): Promise<{ values: unknown[]; error: (Error & { mapIndex?: number }) | undefined }> {
  const values: unknown[] = [];
  try {
    for await (const value of results) values.push(value);
  } catch (error) {
    return { values, error: error as Error & { mapIndex?: number } };
  }
  return { values, error: undefined };
}

describe('a map item that takes its chunk down', () => {
  it('a worker that exits inside a chunk: the items before it are delivered, mapIndex names it, and only the finished ones of its chunk run again', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const runs = new Int32Array(new SharedArrayBuffer(1000 * 4));
    const items = Array.from(
      { length: 1000 },
      (_, i) => [i, runs, { exitAt: 550 }] as [number, Int32Array, { exitAt?: number; hangAt?: number }],
    );
    const { values, error } = await within(20_000, collect(pool.starmap('tiny', items, { chunkSize: 1000 })), 'the map');
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error?.mapIndex).toBe(550);
    expect(values).toEqual(Array.from({ length: 550 }, (_, i) => i * 2));
    // Items 0-549 finished, died with the worker, and ran once more for their results; 550 ran once; none after it ran.
    expect(Array.from(runs.subarray(0, 550)).every((n) => n === 2)).toBe(true);
    expect(runs[550]).toBe(1);
    expect(Array.from(runs.subarray(551)).every((n) => n === 0)).toBe(true);
  });

  it('in completion order the error comes at once, and nothing runs again', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const runs = new Int32Array(new SharedArrayBuffer(100 * 4));
    const items = Array.from(
      { length: 100 },
      (_, i) => [i, runs, { exitAt: 40 }] as [number, Int32Array, { exitAt?: number; hangAt?: number }],
    );
    const { error } = await within(20_000, collect(pool.starmap('tiny', items, { chunkSize: 100, ordered: false })), 'the map');
    expect(error).toMatchObject({ code: 'ERR_WORKER_CRASHED', mapIndex: 40 });
    expect(Math.max(...runs)).toBe(1);
  });

  it('a hung item under timeoutMs fails the map at its index about timeoutMs after it started, not after items × timeoutMs', async () => {
    const pool = tasksPool({ maxWorkers: 1, cancelGraceMs: 10 });
    const runs = new Int32Array(new SharedArrayBuffer(200 * 4));
    const items = Array.from(
      { length: 200 },
      (_, i) => [i, runs, { hangAt: 100 }] as [number, Int32Array, { exitAt?: number; hangAt?: number }],
    );
    const started = performance.now();
    const { values, error } = await within(20_000, collect(pool.starmap('tiny', items, { chunkSize: 200, timeoutMs: 50 })), 'the map');
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error?.mapIndex).toBe(100);
    expect(values).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    // The whole chunk's share would be 200 × 50 ms = 10 s; one item's, 50 ms (plus a worker start for the re-run).
    expect(elapsed).toBeLessThan(5_000);
    expect(Array.from(runs.subarray(101)).every((n) => n === 0)).toBe(true);
  });

  it('a per-item timeout does not fail a chunk whose items each finish in time, however long the chunk runs', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const squares = await within(
      20_000,
      pool
        .map(
          'slowSquare',
          Array.from({ length: 40 }, (_, i) => i),
          { chunkSize: 40, timeoutMs: 40 },
        )
        .toArray(),
      'the map',
    );
    expect(squares).toEqual(Array.from({ length: 40 }, (_, i) => i * i));
  });
});
