/**
 * How `from(handle)` builds a shared gate on parts that exist already (a semaphore's memory, a
 * limiter's semaphores): the constructor finds them under a key of its options argument that only
 * this module can make, so no caller can pass them. The factory that does so lives outside the
 * class: esbuild renames a class that names itself in its own body (`SharedSemaphore.name` would
 * read `_SharedSemaphore` in the built package; test/builds.test.ts).
 */
const ADOPTED: unique symbol = Symbol('adopted');

/** An options argument that carries `parts` to the constructor. */
export function adoptedOptions<O, T>(parts: T): O {
  return { [ADOPTED]: parts } as O;
}

/** The parts a constructor's options argument carries, if `adoptedOptions` made it. */
export function adoptedParts<T>(options: unknown): T | undefined {
  return typeof options === 'object' && options !== null ? (options as { [ADOPTED]?: T })[ADOPTED] : undefined;
}
