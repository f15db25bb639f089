/** The weight while held; its negation once released. One field, not two: every acquire makes one. */
const UNITS = Symbol('units');
/** The semaphore's function that takes units back. */
const GIVE_BACK = Symbol('giveBack');

/**
 * A permit handed out by a semaphore. `release()` is idempotent: the first call returns the
 * permit's weight to its semaphore, later calls do nothing. `using permit = await sem.acquire()`
 * releases it when the block ends. Semaphores make permits; `new Permit()` throws.
 */
export class Permit implements Disposable {
  declare private [UNITS]: number;
  declare private [GIVE_BACK]: (weight: number) => void;

  private constructor() {
    throw new TypeError('Permits are made by semaphores: call acquire(), acquireSync() or tryAcquire()');
  }

  /** How many units of the semaphore this permit holds (or held, once released). */
  get weight(): number {
    return Math.abs(this[UNITS]);
  }

  /** Whether this permit has been released. */
  get released(): boolean {
    return this[UNITS] < 0;
  }

  /** Returns the permit to its semaphore. Safe to call more than once. */
  release(): void {
    const units = this[UNITS];
    if (units < 0) return;
    this[UNITS] = -units;
    this[GIVE_BACK](units);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  /** What `console.log` and `util.inspect` show: the weight and state, not the internal keys. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Permit { weight: ${this.weight}, released: ${this.released} }`;
  }
}

/**
 * Makes a permit of `weight` units, given back through `giveBack`.
 *
 * Why `Object.create` and two stores, not a constructor with private fields: a promise resolved
 * with an object looks up `then` on it, along its whole prototype chain, ~40 ns, a third of an
 * awaited uncontended acquire. Optimized code skips the lookup when it knows the object's map
 * and that no `then` sits on that map's chain. It knows that after `Object.create(p)` with `p` a
 * constant, but not after `new` of a class or function (Node 20 and 24 alike: `Promise.resolve`
 * of a fresh object 24 ns this way, 58 ns through `new`). `p` is a `const` inside a closure
 * because the bundler turns top-level `const`s into `var`s, which optimized code must reload.
 */
export const newPermit: (weight: number, giveBack: (weight: number) => void) => Permit = (() => {
  const prototype = Permit.prototype;
  return (weight, giveBack) => {
    const permit: Permit = Object.create(prototype);
    permit[UNITS] = weight;
    permit[GIVE_BACK] = giveBack;
    return permit;
  };
})();
