/**
 * A small seeded generator (mulberry32) for runs that must replay from their seed, such as the
 * soak run's fault mix. test/fixtures/tasks.ts keeps its own copy: worker modules run under
 * Node 24's type stripping, which cannot resolve a relative `.js` import of a `.ts` file.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
