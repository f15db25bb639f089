import type { Worker } from 'node:worker_threads';
import { TaskTimeoutError } from '../errors.js';
import { CANCEL, ENDED, IDLE, KILLING, QUEUED, RUNNING, SKIP } from '../wire/task-control.js';
import type { InFlight } from './in-flight.js';
import { isChunk, Phase, type Task } from './task.js';
import type { Terminations } from './terminations.js';

/** What the dispatcher lends to {@link TaskStops}. */
export interface StopsHost {
  readonly inFlight: InFlight;
  readonly terminations: Terminations;
  readonly cancelGraceMs: number;
  /** Fails the task with `error`, stopping it (`Dispatcher.cancel`). */
  fail(task: Task, error: Error): void;
  /** The worker with this thread id, while it lives. */
  liveWorker(threadId: number): Worker | undefined;
}

/**
 * How running tasks are stopped. A timeout counts from the start the worker writes on the board
 * (a map chunk's, from each item's); a running task being stopped is asked first (its
 * `currentTask().signal` aborts: CANCEL) and its worker terminated (KILLING) if it has not
 * returned `cancelGraceMs` later.
 */
export class TaskStops {
  readonly #host: StopsHost;

  constructor(host: StopsHost) {
    this.#host = host;
  }

  /** When the worker marks the task RUNNING: publishes its start, and starts its timeout clock. */
  watchStart(task: Task, slot: number): void {
    const { inFlight } = this.#host;
    const { board } = inFlight;
    const onChange = (): void => {
      if (task.phase !== Phase.InFlight || task.slot !== slot || task.settled) return;
      const state = board.state(slot);
      if (state === QUEUED) {
        this.watchStart(task, slot);
        return;
      }
      if (state === SKIP || state === IDLE) return;
      inFlight.publishStart(task);
      const { timeoutMs } = task.spec;
      if (state === RUNNING && timeoutMs !== Number.POSITIVE_INFINITY) task.timer = setTimeout(() => this.#timeOut(task), timeoutMs);
    };
    const wait = board.whenStarted(slot);
    if (wait.async) wait.value.then(onChange);
    else onChange();
  }

  /** Asks a running task to stop (its signal aborts), then insists after the grace period. */
  stopRunning(task: Task): void {
    const { inFlight, cancelGraceMs } = this.#host;
    inFlight.board.askToStop(task.slot);
    if (cancelGraceMs === 0) this.#kill(task);
    else setTimeout(() => this.#kill(task), cancelGraceMs);
  }

  /** A map chunk's timeout is each item's: it fires once the item in hand has run that long (see ITEM_STARTED). */
  #timeOut(task: Task): void {
    const { board } = this.#host.inFlight;
    task.timer = undefined;
    // Ended before this thread got round to its timer (it was busy): the outcome is on its way.
    if (board.state(task.slot) === ENDED) return;
    const { timeoutMs } = task.spec;
    if (isChunk(task)) {
      const left = timeoutMs - board.itemRanMs(task.slot);
      if (left > 0) {
        task.timer = setTimeout(() => this.#timeOut(task), left);
        return;
      }
      task.reached = board.item(task.slot);
    }
    this.#host.fail(task, new TaskTimeoutError(task.spec.fn, timeoutMs));
  }

  /** Terminates the worker of a task that did not stop in time, once it holds no shared lock. */
  #kill(task: Task): void {
    if (task.phase !== Phase.InFlight) return; // it stopped within the grace period: the worker lives on
    const { board } = this.#host.inFlight;
    // CANCEL → KILLING (or KILLING already, on a retry). ENDED: it ended in its grace period and lives on.
    const state = board.markKilling(task.slot);
    if (state !== CANCEL && state !== KILLING) return;
    const threadId = board.thread(task.slot);
    if (this.#host.liveWorker(threadId) === undefined) return; // it has already exited: Piscina settles the task
    task.killed = true;
    this.#host.terminations.terminate(threadId); // Piscina sees the exit, rejects the task, and starts a replacement
  }
}
