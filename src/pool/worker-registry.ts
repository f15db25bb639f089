/**
 * The pool's live workers by thread id, and what outlives them for a while: each exit code (a
 * task failed by a worker's death names it) and whether the worker ended by itself (a crash, not
 * the pool's doing). Also the shared gates each worker has touched, reclaimed when it exits, so a
 * dead worker's permits come back.
 */
import type { Worker } from 'node:worker_threads';
import type { ThreadScopedResource } from '../sync/registry.js';

/** Exit codes kept for workers that have gone (the newest). */
const EXIT_CODES_KEPT = 64;

export class WorkerRegistry {
  /** Live workers by thread id, to terminate the one running a task that must be stopped. */
  readonly #live = new Map<number, Worker>();
  readonly #exitCodes = new Map<number, number>();
  /** Live workers that are ending by themselves (`process.exit`, an uncaught error). */
  readonly #endingBySelf = new Set<number>();
  /** The shared gates each live worker has made or received, kept until it has exited and been reclaimed. */
  readonly #gatesOf = new Map<number, Set<ThreadScopedResource>>();

  /** A live worker, by thread id. */
  get(threadId: number): Worker | undefined {
    return this.#live.get(threadId);
  }

  /** The exit code of a worker that has exited (one of the latest `EXIT_CODES_KEPT`). */
  exitCodeOf(threadId: number): number | undefined {
    return this.#exitCodes.get(threadId);
  }

  /** A worker says it is ending by itself: its exit is a crash. */
  endingBySelf(threadId: number): void {
    this.#endingBySelf.add(threadId);
  }

  /** A worker has made or received `gate`: its units are reclaimed when the worker exits. */
  addGate(threadId: number, gate: ThreadScopedResource): void {
    const gates = this.#gatesOf.get(threadId);
    if (gates === undefined) this.#gatesOf.set(threadId, new Set([gate]));
    else gates.add(gate);
  }

  /**
   * Tracks a new worker until it exits; then reclaims its gates and calls `onExit` with its code
   * and whether it crashed (ended by itself, or by an uncaught error).
   */
  track(worker: Worker, onExit: (threadId: number, exitCode: number, crashed: boolean) => void): void {
    const { threadId } = worker;
    this.#live.set(threadId, worker);
    worker.once('error', () => this.#endingBySelf.add(threadId));
    worker.once('exit', (code: number) => {
      const crashed = this.#endingBySelf.delete(threadId);
      this.#live.delete(threadId);
      this.#exitCodes.set(threadId, code);
      if (this.#exitCodes.size > EXIT_CODES_KEPT) this.#exitCodes.delete(this.#exitCodes.keys().next().value as number);
      for (const gate of this.#gatesOf.get(threadId) ?? []) gate.reclaim(threadId);
      this.#gatesOf.delete(threadId);
      onExit(threadId, code, crashed);
    });
  }
}
