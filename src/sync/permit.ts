/**
 * A permit handed out by a semaphore. `release()` is idempotent: the first call returns the
 * permit's weight to its semaphore, later calls do nothing. `using permit = await sem.acquire()`
 * releases it when the block ends.
 */
export class Permit implements Disposable {
  readonly #giveBack: (weight: number) => void;
  /** How many units of the semaphore this permit holds. */
  readonly weight: number;
  #released = false;

  /** @internal Semaphores create permits; user code receives them. */
  constructor(weight: number, giveBack: (weight: number) => void) {
    this.weight = weight;
    this.#giveBack = giveBack;
  }

  /** Whether this permit has been released. */
  get released(): boolean {
    return this.#released;
  }

  /** Returns the permit to its semaphore. Safe to call more than once. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#giveBack(this.weight);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
