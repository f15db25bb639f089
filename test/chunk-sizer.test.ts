// The automatic chunk sizes of `pool.map`, as a policy: pure arithmetic on what the sizer has
// been told items cost, so these figures are exact. Whether the policy pays off is the
// benchmark's to say (`npm run bench -- --suite map-scaling`).
import { describe, expect, it } from 'vitest';
import { ChunkSizer } from '../src/pool/map/chunk-sizer.js';

/** Items the consumer has taken: enough that read-ahead from an input of unknown length is not what binds. */
const TAKEN = 1_000_000;

/** An automatic sizer for `workers` workers that has seen items of `perItemMs` each. */
function learned(perItemMs: number, workers = 2): ChunkSizer {
  const sizer = new ChunkSizer(undefined, undefined, () => workers);
  sizer.observe(perItemMs * 10, 10);
  return sizer;
}

describe('ChunkSizer', () => {
  it('sends single items until it has measured one', () => {
    const sizer = new ChunkSizer(undefined, undefined, () => 2);
    expect(sizer.probing).toBe(true);
    expect(sizer.next(1_000, TAKEN)).toBe(1);
    expect(sizer.next(undefined, TAKEN)).toBe(1);
    sizer.observe(5, 1);
    expect(sizer.probing).toBe(false);
  });

  it('with an unknown length, sizes every chunk to about 20 ms of work', () => {
    expect(learned(1).next(undefined, TAKEN)).toBe(20);
    expect(learned(0.002).next(undefined, TAKEN)).toBe(10_000);
    expect(learned(100).next(undefined, TAKEN)).toBe(1); // an item longer than the target goes alone
  });

  it('with a known length, takes half a worker share of what is left (guided), between 0.5 and 50 ms of work', () => {
    const sizer = learned(1); // 1 ms items, 2 workers: a share of R is R / 4
    expect(sizer.next(10_000, TAKEN)).toBe(50); // capped at 50 ms of work
    expect(sizer.next(120, TAKEN)).toBe(30);
    expect(sizer.next(40, TAKEN)).toBe(10);
    expect(sizer.next(3, TAKEN)).toBe(1);
    expect(learned(0.002).next(400, TAKEN)).toBe(250); // never below 0.5 ms of work
    expect(learned(0.002).next(100, TAKEN)).toBe(250);
    expect(learned(10, 4).next(40, TAKEN)).toBe(5); // 4 workers: R / 8
  });

  it('shrinks chunks as the end nears: a 40-item map of 10 ms items takes 13 chunks after its two probes', () => {
    const sizer = learned(10);
    const sizes: number[] = [];
    for (let left = 40; left > 0; left -= sizes.at(-1) as number) sizes.push(sizer.next(left, TAKEN));
    expect(sizes).toEqual([5, 5, 5, 5, 5, 4, 3, 2, 2, 1, 1, 1, 1]);
  });

  it('never exceeds 16,384 items, however cheap they are', () => {
    expect(learned(0.000_1).next(10_000_000, TAKEN)).toBe(16_384);
    expect(learned(0.000_1).next(undefined, TAKEN)).toBe(16_384);
  });

  it('bounds the items pulled ahead by 4 chunks per worker of the size it would send now (at least 64)', () => {
    expect(learned(1).bufferLimit(10_000, TAKEN)).toBe(400); // 4 × 2 workers × 50
    expect(learned(1).bufferLimit(undefined, TAKEN)).toBe(160); // 4 × 2 × 20
    expect(learned(1).bufferLimit(8, TAKEN)).toBe(64);
  });

  it('leaves room for twice the chunks in flight whatever their size, so a chunk that finishes early never waits for room', () => {
    for (const workers of [1, 2, 16]) {
      const sizer = learned(0.000_1, workers); // the largest chunks there are
      const chunk = sizer.next(undefined, TAKEN);
      expect(sizer.bufferLimit(undefined, TAKEN)).toBeGreaterThanOrEqual(2 * 2 * workers * chunk); // 2 in flight per worker, twice over
      expect(sizer.bufferLimit(undefined, TAKEN)).toBe(65_536 * workers);
    }
  });

  it('keeps what the caller fixed: chunkSize as given, buffer as given and splitting chunks across the workers', () => {
    expect(new ChunkSizer(7, undefined, () => 2).next(1_000, TAKEN)).toBe(7);
    expect(new ChunkSizer(7, undefined, () => 2).bufferLimit(1_000, TAKEN)).toBe(64);
    expect(new ChunkSizer(undefined, 8, () => 2).bufferLimit(1_000, TAKEN)).toBe(8);
    const buffered = new ChunkSizer(undefined, 8, () => 2);
    buffered.observe(1, 1);
    expect(buffered.next(1_000, TAKEN)).toBe(2); // 8 items ahead over 2 chunks × 2 workers
    expect(new ChunkSizer(7, 3, () => 2).next(1_000, TAKEN)).toBe(3);
  });

  it('from an input of unknown length, reads ahead in proportion to what the consumer has taken', () => {
    const sizer = learned(0.000_1); // 16,384-item chunks once the consumer keeps up
    expect(sizer.bufferLimit(undefined, 5)).toBe(64); // took five: 64 items ahead at most
    expect(sizer.next(undefined, 5)).toBe(16); // 64 over 2 chunks × 2 workers
    expect(sizer.bufferLimit(undefined, 1_000)).toBe(4_000);
    expect(sizer.next(undefined, 1_000)).toBe(1_000);
    expect(sizer.bufferLimit(undefined, 40_000)).toBe(131_072); // the usual bound: 4 chunks per worker
    expect(sizer.bufferLimit(1_000_000, 5)).toBe(65_536 * 2); // a known length has nothing to protect
    expect(new ChunkSizer(1_000, undefined, () => 2).next(undefined, 5)).toBe(1_000); // nor a chunk size the caller fixed
  });
});
