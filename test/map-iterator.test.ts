import { describe, expect, it } from 'vitest';
import { tasksPool, within } from './helpers.js';

describe('the map iterator behaves like an async generator', () => {
  it('next() calls made without awaiting settle in order, each with its own item', async () => {
    const pool = tasksPool();
    const it = pool.map('square', [1, 2, 3, 4, 5, 6]);
    const calls = [it.next(), it.next(), it.next(), it.next(), it.next(), it.next(), it.next()];
    const order: number[] = [];
    calls.forEach((call, i) => void call.then(() => order.push(i)));
    const results = await within(10_000, Promise.all(calls), 'seven concurrent next() calls');
    expect(results.map((r) => r.value)).toEqual([1, 4, 9, 16, 25, 36, undefined]);
    expect(results.map((r) => r.done)).toEqual([false, false, false, false, false, false, true]);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('concurrent next() calls over an async input and completion order each get a distinct item', async () => {
    const pool = tasksPool();
    async function* input() {
      for (let i = 1; i <= 20; i++) yield i;
    }
    const it = pool.map('square', input(), { ordered: false, chunkSize: 3 });
    const calls = Array.from({ length: 22 }, () => it.next());
    const results = await within(10_000, Promise.all(calls), '22 concurrent next() calls');
    const values = results.filter((r) => !r.done).map((r) => r.value as number);
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => (i + 1) ** 2));
    expect(results.slice(20).every((r) => r.done)).toBe(true);
  });

  it('an error reaches the call whose item failed; the calls queued after it end the iteration', async () => {
    const pool = tasksPool();
    const it = pool.map('failOnNegative', [1, 2, -3, 4], { chunkSize: 1 });
    const calls = [it.next(), it.next(), it.next(), it.next()];
    const settled = await within(10_000, Promise.allSettled(calls), 'four concurrent next() calls');
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({ mapIndex: 2 });
    expect((settled[3] as PromiseFulfilledResult<IteratorResult<number>>).value).toEqual({ done: true, value: undefined });
  });

  it('next() after return() settles with done, also when an error was recorded and not delivered', async () => {
    const pool = tasksPool();
    const plain = pool.map('square', [1, 2, 3]);
    await plain.next();
    await plain.return();
    expect(await within(5_000, plain.next(), 'next() after return()')).toEqual({ done: true, value: undefined });

    // Item 1's error comes back while the caller holds item 0: recorded, not delivered.
    const failing = pool.map('failOnNegative', [1, -1], { chunkSize: 1 });
    expect(await within(5_000, failing.next(), 'item 0')).toMatchObject({ done: false });
    await within(5_000, pool.submit('sleep', 50), 'a pause for the failure to come back');
    await failing.return();
    expect(await within(5_000, failing.next(), 'next() after return() with an error recorded')).toEqual({ done: true, value: undefined });
  });

  it('return() answers every next() still waiting with done', async () => {
    const pool = tasksPool();
    const it = pool.map('sleep', [5_000, 5_000]);
    const waiting = [it.next(), it.next()];
    await it.return();
    expect(await within(5_000, Promise.all(waiting), 'the waiting next() calls')).toEqual([
      { done: true, value: undefined },
      { done: true, value: undefined },
    ]);
  });
});

describe('a map through pool.with()', () => {
  it('honours the view onProgress: each value its items report, and refuses a transfer list', async () => {
    const pool = tasksPool();
    const reported: unknown[] = [];
    const view = pool.with({ onProgress: (value) => reported.push(value) });
    expect(await within(10_000, view.map('reportItem', [1, 2, 3, 4]).toArray(), 'the map')).toEqual([1, 2, 3, 4]);
    expect(reported.sort()).toEqual([1, 2, 3, 4]);

    const counts: number[] = [];
    const own = view.map('reportItem', [5, 6], { onProgress: ({ completed }) => counts.push(completed) });
    await within(10_000, own.toArray(), 'a map with its own onProgress');
    expect(counts.length).toBeGreaterThan(0);
    expect(reported).toHaveLength(4); // the map's own option took the view's place

    const moving = pool.with({ transfer: [new ArrayBuffer(8)] });
    expect(() => moving.map('square', [1])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => moving.starmap('add', [[1, 2]])).toThrow(/no transfer list on a map/);
  });
});

describe('read-ahead from an input of unknown length', () => {
  it('grows with what the consumer takes: one that took five and went away has had few items pulled for it', async () => {
    const pool = tasksPool();
    let pulled = 0;
    function* cursor() {
      for (let i = 0; ; i++) {
        pulled++;
        yield i;
      }
    }
    const rows = pool.map('square', cursor());
    for (let i = 0; i < 5; i++) expect(await within(10_000, rows.next(), `row ${i}`)).toEqual({ done: false, value: i * i });
    await new Promise((resolve) => setTimeout(resolve, 200)); // the consumer is busy elsewhere
    expect(pulled).toBeLessThanOrEqual(5 + 64);
    // One that keeps taking gets full-size chunks soon enough: 200k tiny items in well under the bound.
    await rows.return();
    let taken = 0;
    for await (const _ of pool.map(
      'square',
      (function* () {
        for (let i = 0; i < 200_000; i++) yield i;
      })(),
    ))
      taken++;
    expect(taken).toBe(200_000);
  });
});
