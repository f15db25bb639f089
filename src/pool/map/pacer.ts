/** The longest results are handed out back to back before the event loop turns, and how often the clock is read. */
const YIELD_AFTER_MS = 4;
const CLOCK_EVERY = 32;

/**
 * Lets the event loop turn once results have been handed out back to back for `YIELD_AFTER_MS`.
 * A `for await` over ready results runs as one chain of microtasks, which never yields: while the
 * workers produce faster than the caller consumes (tiny items), the caller's timers and I/O would
 * wait for the whole backlog.
 */
export class Pacer {
  /** When the current run of results handed out back to back began (0: none), and results since the clock was read. */
  #burstFrom = 0;
  #sinceClock = 0;

  /** The caller waits for a message: the event loop turns anyway. */
  waited(): void {
    this.#burstFrom = 0;
  }

  /** `result`, or, once the run has lasted `YIELD_AFTER_MS`, `result` after a turn of the event loop. */
  paced<T>(result: Promise<T>): Promise<T> {
    if (++this.#sinceClock < CLOCK_EVERY) return result;
    this.#sinceClock = 0;
    const now = performance.now();
    if (this.#burstFrom === 0) this.#burstFrom = now;
    else if (now - this.#burstFrom >= YIELD_AFTER_MS) {
      this.#burstFrom = 0;
      return new Promise((resolve) => setImmediate(resolve, result));
    }
    return result;
  }
}
