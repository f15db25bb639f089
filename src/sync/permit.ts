/**
 * A permit handed out by a semaphore. `release()` is idempotent: the first call returns the
 * permit's weight to its semaphore, later calls do nothing. `using permit = await sem.acquire()`
 * releases it when the block ends.
 */
export class Permit implements Disposable {
  readonly #giveBack: (weight: number) => void;
  /** The weight while held; its negation once released. One field, not two: every acquire makes one. */
  #units: number;

  /** @internal Semaphores create permits; user code receives them. */
  constructor(weight: number, giveBack: (weight: number) => void) {
    this.#units = weight;
    this.#giveBack = giveBack;
  }

  /** How many units of the semaphore this permit holds (or held, once released). */
  get weight(): number {
    return Math.abs(this.#units);
  }

  /** Whether this permit has been released. */
  get released(): boolean {
    return this.#units < 0;
  }

  /** Returns the permit to its semaphore. Safe to call more than once. */
  release(): void {
    const units = this.#units;
    if (units < 0) return;
    this.#units = -units;
    this.#giveBack(units);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
