import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/**
 * Durations over the pool's whole life, in a `perf_hooks` histogram (as Piscina keeps them):
 * fixed memory over millions of tasks, percentiles without sorting. Recorded in microseconds,
 * reported in milliseconds.
 */
export class LatencyHistogram {
  readonly #histogram: RecordableHistogram = createHistogram();

  record(ms: number): void {
    this.#histogram.record(Math.max(1, Math.round(ms * 1000))); // a histogram holds integers >= 1
  }

  /** p50, p90, p99, max and mean, in milliseconds, and how many were recorded (zeros when none). */
  summary(): Percentiles {
    const h = this.#histogram;
    if (h.count === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0, count: 0 };
    const ms = (us: number): number => us / 1000;
    return {
      p50: ms(h.percentile(50)),
      p90: ms(h.percentile(90)),
      p99: ms(h.percentile(99)),
      max: ms(h.max),
      mean: ms(h.mean),
      count: h.count,
    };
  }
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Samples recorded. */
  count: number;
}

/** A snapshot of a pool's state and history (`pool.stats`). */
export interface PoolStats {
  /** Worker threads alive now. */
  workers: number;
  /** Tasks running in a worker now. */
  busy: number;
  /** Tasks waiting for a worker. */
  queued: number;
  /** Tasks that returned a result, counting each item of a map that did (not each chunk). */
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
  /** How long tasks ran in their worker, ms, since the pool started (a map chunk is one run). */
  runTime: Percentiles;
  /** How long tasks waited between submit and start, ms, since the pool started. */
  waitTime: Percentiles;
}

/** What a pool counts over its life, for `pool.stats`. */
export class PoolCounters {
  completed = 0;
  failed = 0;
  cancelled = 0;
  crashedWorkers = 0;
  batched = 0;
  readonly #createdAt = performance.now();
  #busyMs = 0;
  readonly #runTime = new LatencyHistogram();
  readonly #waitTime = new LatencyHistogram();

  /** A task ran `runMs` in its worker after waiting `waitMs` since it was submitted. */
  recordRun(runMs: number, waitMs: number): void {
    this.#busyMs += runMs;
    this.#runTime.record(runMs);
    this.#waitTime.record(Math.max(0, waitMs));
  }

  /** The counts, with the pool's state now. */
  snapshot(now: { workers: number; busy: number; queued: number; maxWorkers: number }): PoolStats {
    const elapsed = performance.now() - this.#createdAt;
    return {
      workers: now.workers,
      busy: now.busy,
      queued: now.queued,
      completed: this.completed,
      failed: this.failed,
      cancelled: this.cancelled,
      crashedWorkers: this.crashedWorkers,
      batched: this.batched,
      utilization: elapsed > 0 ? Math.min(1, this.#busyMs / (elapsed * now.maxWorkers)) : 0,
      runTime: this.#runTime.summary(),
      waitTime: this.#waitTime.summary(),
    };
  }
}
