/**
 * Keeps the most recent durations (a fixed ring, so memory stays flat over millions of tasks)
 * and answers percentiles over them.
 */
export class LatencyWindow {
  readonly #samples: Float64Array;
  #count = 0;

  constructor(size = 2048) {
    this.#samples = new Float64Array(size);
  }

  record(ms: number): void {
    this.#samples[this.#count++ % this.#samples.length] = ms;
  }

  /** p50, p90, p99 and max over the window, in milliseconds (zeros when empty). */
  summary(): Percentiles {
    const n = Math.min(this.#count, this.#samples.length);
    if (n === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
    const sorted = this.#samples.slice(0, n).sort();
    const at = (q: number): number => sorted[Math.min(n - 1, Math.floor(q * n))] as number;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1] as number };
  }
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** A snapshot of a pool's state and history (`pool.stats`). */
export interface PoolStats {
  /** Worker threads alive now. */
  workers: number;
  /** Tasks running in a worker now. */
  busy: number;
  /** Tasks waiting for a worker. */
  queued: number;
  /** Tasks that returned a result. */
  completed: number;
  /** Tasks that ended in an error: their own, a timeout, or a crash of their worker. */
  failed: number;
  /** Tasks that were cancelled. */
  cancelled: number;
  /** Workers that died while running a task, or exited abnormally. */
  crashedWorkers: number;
  /**
   * Tasks that went to a worker in a batch with others: when plain calls of a function that
   * takes at most ~0.25 ms queue up, up to 16 travel in one message (each still starts, settles
   * and can be cancelled on its own). See "Tiny tasks travel in batches" in the README.
   */
  batched: number;
  /** Fraction of the pool's capacity (maxWorkers × time since creation) spent running tasks, 0..1. */
  utilization: number;
  /** How long recent tasks ran in their worker, ms. */
  runTime: Percentiles;
  /** How long recent tasks waited between submit and start, ms. */
  waitTime: Percentiles;
}
