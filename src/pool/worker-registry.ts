/**
 * The pool's live workers by thread id, and what outlives them for a while: each exit code (a
 * task failed by a worker's death names it) and whether the worker ended by itself (a crash, not
 * the pool's doing). Also the shared gates each worker has touched, reclaimed when it exits, so a
 * dead worker's permits come back, and its seat, freed then.
 */
import type { Worker } from 'node:worker_threads';
import { reviveHandles } from '../revive.js';
import type { ThreadScopedResource } from '../sync/registry.js';
import type { Handle } from '../wire/handles.js';
import { freeSeat, seatOf } from '../wire/task-control.js';
import { CHANNELS, type WorkerExitEvent, type WorkerStartEvent } from './diagnostics.js';

/** Exit codes kept for workers that have gone (the newest). */
const EXIT_CODES_KEPT = 64;

export class WorkerRegistry {
  readonly #poolId: number;
  /** The workers' seats (wire/task-control.ts): a worker's is freed when it exits. */
  readonly #seats: Int32Array;
  /** Live workers by thread id, to terminate the one running a task that must be stopped. */
  readonly #live = new Map<number, Worker>();
  readonly #exitCodes = new Map<number, number>();
  /** Live workers that are ending by themselves (`process.exit`, an uncaught error). */
  readonly #endingBySelf = new Set<number>();
  /** The shared gates each live worker has made or received, kept until it has exited and been reclaimed. */
  readonly #gatesOf = new Map<number, Set<ThreadScopedResource>>();

  constructor(poolId: number, seats: Int32Array) {
    this.#poolId = poolId;
    this.#seats = seats;
  }

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

  /** A worker has made or received the shared gate of `handle`: its units are reclaimed when the worker exits. */
  addGate(threadId: number, handle: Handle): void {
    const gate = reviveHandles(handle) as ThreadScopedResource;
    const gates = this.#gatesOf.get(threadId);
    if (gates === undefined) this.#gatesOf.set(threadId, new Set([gate]));
    else gates.add(gate);
  }

  /**
   * Tracks a new worker until it exits; then reclaims its gates, frees its seat and publishes
   * its exit (`threadgate:worker:exit`), with whether it crashed (ended by itself, or by an
   * uncaught error).
   */
  track(worker: Worker): void {
    const { threadId } = worker;
    const poolId = this.#poolId;
    if (CHANNELS.workerStart.hasSubscribers) CHANNELS.workerStart.publish({ poolId, threadId } satisfies WorkerStartEvent);
    this.#live.set(threadId, worker);
    worker.once('error', () => this.#endingBySelf.add(threadId));
    worker.once('exit', (code: number) => {
      const crashed = this.#endingBySelf.delete(threadId);
      this.#live.delete(threadId);
      this.#exitCodes.set(threadId, code);
      if (this.#exitCodes.size > EXIT_CODES_KEPT) this.#exitCodes.delete(this.#exitCodes.keys().next().value as number);
      for (const gate of this.#gatesOf.get(threadId) ?? []) gate.reclaim(threadId);
      this.#gatesOf.delete(threadId);
      if (CHANNELS.workerExit.hasSubscribers)
        CHANNELS.workerExit.publish({ poolId, threadId, exitCode: code, crashed } satisfies WorkerExitEvent);
      const seat = seatOf(this.#seats, threadId);
      if (seat >= 0) freeSeat(this.#seats, seat);
    });
  }
}
