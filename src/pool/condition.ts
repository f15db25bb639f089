/**
 * Promises that resolve once a condition holds: `wait()` resolves at once when it does, and
 * otherwise at the first `check()` that finds it true (called after each change that may make it so).
 */
export class Condition {
  readonly #holds: () => boolean;
  #waiters: (() => void)[] = [];

  constructor(holds: () => boolean) {
    this.#holds = holds;
  }

  wait(): Promise<void> {
    if (this.#holds()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Resolves every waiter if the condition holds now. */
  check(): void {
    if (this.#waiters.length === 0 || !this.#holds()) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
