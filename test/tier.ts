/**
 * The tier a test file runs in, set by its vitest project (vitest.config.ts). Seeded and looped
 * tests scale with it: `npm test` (behaviour) runs each at a size that catches a regression in
 * seconds; `npm run test:stress` runs the files in test/stress/ with many seeds, rounds and runs.
 */
export const STRESS = process.env.THREADGATE_TIER === 'stress';

/** `behaviour` in `npm test`, `stress` in `npm run test:stress`. */
export function scale<T>(behaviour: T, stress: T): T {
  return STRESS ? stress : behaviour;
}

/**
 * The seeds a seeded test runs: `count` seeds from `first`, per tier. `SEEDS=n` runs n of them
 * instead; `SEED=s` replays seed s alone (every failing assertion names its seed).
 */
export function seeds(first: number, count: { behaviour: number; stress: number }): number[] {
  if (process.env.SEED !== undefined) return [Number(process.env.SEED)];
  const n = process.env.SEEDS !== undefined ? Number(process.env.SEEDS) : scale(count.behaviour, count.stress);
  return Array.from({ length: n }, (_, i) => first + i);
}
