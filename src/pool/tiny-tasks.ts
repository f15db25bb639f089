/**
 * Which tasks are tiny enough to travel in batches (several in one message, see protocol.ts): plain
 * calls of a function that has lately run briefly. A task in a batch waits for the ones before it
 * in the same worker, so only functions with a record of short runs qualify.
 */
import type { TaskExtras } from '../wire/protocol.js';
import { CHANNELS } from './diagnostics.js';
import { isChunk, type Task } from './task.js';

/** Runs a function needs on record before it can be called tiny. */
const FAST_RUNS = 8;
/** The most a tiny function takes on average lately, in ms. */
const FAST_MS = 0.25;
/** Weight of the newest run in a function's average. */
const SMOOTHING = 0.2;

export class TinyTasks {
  /** Batching needs one task per worker at a time to keep retirement exact: off under `maxTasksPerWorker`. */
  readonly #enabled: boolean;
  /** Recent average run time (ms) and run count of each task function. */
  readonly #byFunction = new Map<string, { runs: number; ms: number }>();

  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  /**
   * A plain call (nothing to revive, no transfer, no timeout, not a chunk; progress allowed) of a
   * function that has run `FAST_RUNS` times, averaging `FAST_MS` or less lately.
   */
  isTiny(task: Task): boolean {
    const { spec } = task;
    if (
      !this.#enabled ||
      CHANNELS.taskStart.hasSubscribers || // each start is watched: one task per message
      (spec.extras !== undefined && !onlyProgress(spec.extras)) ||
      spec.transfer !== undefined ||
      spec.timeoutMs !== Number.POSITIVE_INFINITY ||
      spec.short
    ) {
      return false;
    }
    const speed = this.#byFunction.get(spec.fn);
    return speed !== undefined && speed.runs >= FAST_RUNS && speed.ms <= FAST_MS;
  }

  /** Learns how long a function takes, from a task that ran `runMs` (a chunk, many calls in one run, teaches nothing). */
  learn(task: Task, runMs: number): void {
    if (isChunk(task)) return;
    const speed = this.#byFunction.get(task.spec.fn);
    if (speed === undefined) this.#byFunction.set(task.spec.fn, { runs: 1, ms: runMs });
    else {
      speed.runs++;
      speed.ms = SMOOTHING * runMs + (1 - SMOOTHING) * speed.ms;
    }
  }
}

/** Extras that carry nothing but a progress id: its reports travel on the worker's port, whatever message the task came in. */
function onlyProgress(extras: TaskExtras): boolean {
  for (const key in extras) if (key !== 'progress') return false;
  return true;
}
