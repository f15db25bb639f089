import type { Worker } from 'node:worker_threads';
import { mayTerminate, seatOf } from '../wire/task-control.js';

/** While a worker to be terminated is inside a shared-memory section, look again this often (ms). */
const KILL_RETRY_MS = 1;
/** The longest shutdown waits for its workers to leave shared-memory sections before terminating them anyway. */
const QUIESCE_MS = 2_000;

/**
 * Every termination the pool makes goes through a worker's seat (wire/task-control.ts): the seat
 * is marked, and the worker is terminated once it is in no shared-memory section, so no kill
 * leaves a semaphore's lock held or its state half-written.
 */
export class Terminations {
  readonly #seats: Int32Array;
  readonly #liveWorker: (threadId: number) => Worker | undefined;
  readonly #threads: () => readonly Worker[];

  /**
   * @param liveWorker the worker with this thread id, while it lives
   * @param threads the pool's workers now
   */
  constructor(seats: Int32Array, liveWorker: (threadId: number) => Worker | undefined, threads: () => readonly Worker[]) {
    this.#seats = seats;
    this.#liveWorker = liveWorker;
    this.#threads = threads;
  }

  /** Terminates a worker: at once when it is in no shared-memory section, else as soon as it has left the one it is in. */
  terminate(threadId: number): void {
    const worker = this.#liveWorker(threadId);
    if (worker === undefined) return; // it has exited already
    if (!this.#mayTerminateNow(threadId)) {
      setTimeout(() => this.terminate(threadId), KILL_RETRY_MS);
      return;
    }
    void worker.terminate();
  }

  /**
   * Marks every worker to be terminated, and waits until none is inside a shared-memory section,
   * for at most `QUIESCE_MS`: code a worker runs outside any task (a timer, an initializer's
   * background job) may be in one when the pool shuts down.
   */
  async quiesce(): Promise<void> {
    const deadline = performance.now() + QUIESCE_MS;
    for (;;) {
      let inSection = false;
      for (const worker of this.#threads()) if (!this.#mayTerminateNow(worker.threadId)) inSection = true;
      if (!inSection || performance.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, KILL_RETRY_MS));
    }
  }

  /** Marks the worker's seat to be terminated; true when it is in no shared-memory section (or has no seat). */
  #mayTerminateNow(threadId: number): boolean {
    const at = seatOf(this.#seats, threadId);
    return at < 0 || mayTerminate(this.#seats, at);
  }
}
