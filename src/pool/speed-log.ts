/**
 * How long each task function has taken lately, so the dispatcher can batch calls of functions
 * known to be tiny (several in one message, see protocol.ts). A task in a batch waits for the ones
 * before it in the same worker, so only functions with a record of short runs qualify.
 */

/** Runs a function needs on record before it can be called tiny. */
const FAST_RUNS = 8;
/** The most a tiny function takes on average lately, in ms. */
const FAST_MS = 0.25;
/** Weight of the newest run in a function's average. */
const SMOOTHING = 0.2;

export class SpeedLog {
  readonly #byFunction = new Map<string, { runs: number; ms: number }>();

  /** True once `fn` has run `FAST_RUNS` times, averaging `FAST_MS` or less lately. */
  isTiny(fn: string): boolean {
    const speed = this.#byFunction.get(fn);
    return speed !== undefined && speed.runs >= FAST_RUNS && speed.ms <= FAST_MS;
  }

  /** Records one plain call of `fn` that ran `runMs`. */
  record(fn: string, runMs: number): void {
    const speed = this.#byFunction.get(fn);
    if (speed === undefined) this.#byFunction.set(fn, { runs: 1, ms: runMs });
    else {
      speed.runs++;
      speed.ms = SMOOTHING * runMs + (1 - SMOOTHING) * speed.ms;
    }
  }
}
