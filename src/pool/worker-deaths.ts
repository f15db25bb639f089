import { WorkerCrashedError } from '../errors.js';
import { QUEUED } from '../wire/task-control.js';
import type { InFlight } from './in-flight.js';
import type { PoolCounters } from './stats.js';
import { isChunk, type Task } from './task.js';
import type { TaskQueue } from './task-queue.js';
import type { WorkerRegistry } from './worker-registry.js';

/**
 * A task whose worker died before starting it is run again, at most this many times. The bound
 * is for a task whose delivery itself kills workers (a message too big for their heap, say). An
 * innocent task can bounce too: when workers die often (uncaught errors after other tasks), a
 * task sent back to the head of the line lands behind the next dying worker's running batch again
 * and again: the bound must be far above what such bouncing reaches, and still end the
 * pathological case after a few attempts.
 */
const MAX_RETRIES = 10;

/** What the dispatcher lends to {@link WorkerDeaths}. */
export interface DeathsHost {
  readonly inFlight: InFlight;
  readonly workers: WorkerRegistry;
  readonly counters: PoolCounters;
  /** Where tasks to run again go back, in their places (`TaskQueue.putBack`). */
  readonly queue: TaskQueue;
  /** The pool is shutting down: nothing runs again, and deaths are the pool's own doing. */
  destroyed(): boolean;
  /** Hands queued tasks to Piscina while there is room. */
  pump(): void;
  /** Wakes who waits for room, or for the pool to be idle. */
  checkIdle(): void;
}

/**
 * What happens to the tasks Piscina failed: a message Node could not post fails its tasks with
 * Node's error; a worker's death runs again what it never started and fails what it had, with
 * `ERR_WORKER_CRASHED`, once its exit is seen.
 */
export class WorkerDeaths {
  readonly #host: DeathsHost;
  /** Messages failed by a worker's death, gathered by the error Piscina failed them with (see `lost`). */
  readonly #dying = new Map<unknown, Task[]>();

  constructor(host: DeathsHost) {
    this.#host = host;
  }

  /**
   * Piscina failed the message carrying `tasks` with `error`: either posting it threw, or its
   * worker died.
   */
  failed(tasks: Task[], error: unknown): void {
    if (isPostFailure(error)) this.#notPosted(tasks, error);
    else this.#lost(tasks, error);
  }

  /**
   * Node refused to post a message (something in it cannot be cloned or moved; the arguments'
   * checks catch every case they know). Its worker never saw it: the tasks fail with Node's error.
   */
  #notPosted(tasks: Task[], error: unknown): void {
    const { inFlight, counters } = this.#host;
    for (const task of tasks) {
      if (!inFlight.holds(task)) continue;
      inFlight.free(task);
      if (task.settled) continue;
      counters.failed++;
      task.notify(error as Error, undefined);
    }
    this.#host.pump();
    this.#host.checkIdle();
  }

  /**
   * Piscina fails every message a dying worker holds in one loop, with one error, so the
   * rejections of them all have run by the time the microtask queued by the first one runs: the
   * death is then handled once, whole (#onDeath).
   */
  #lost(tasks: Task[], error: unknown): void {
    const gathered = this.#dying.get(error);
    if (gathered !== undefined) {
      gathered.push(...tasks);
      return;
    }
    this.#dying.set(error, [...tasks]);
    queueMicrotask(() => {
      const held = this.#dying.get(error) as Task[];
      this.#dying.delete(error);
      this.#onDeath(held, error);
    });
  }

  /**
   * What a dead worker held. Tasks it never started run again at once, in their places in the
   * queue. The others are judged after the worker's `'exit'`: outcomes it posted before dying (a
   * batch's, or a result Piscina could not clone, see workers/outcomes.ts) arrive before it, so a task
   * still unsettled then had started, and fails with its worker. The death counts once, unless
   * the pool killed the worker (a cancel) or is being destroyed.
   */
  #onDeath(tasks: Task[], error: unknown): void {
    const host = this.#host;
    const { inFlight } = host;
    const again = tasks.filter((task) => inFlight.holds(task) && this.#mayRunAgain(task));
    for (const task of again) {
      task.retries++;
      inFlight.putBack(task);
    }
    const started = tasks.filter((task) => inFlight.holds(task)); // before the tasks put back go out again
    host.queue.putBack(again);
    host.pump();
    let threadId = 0;
    for (const task of started) threadId ||= inFlight.board.thread(task.slot);
    const judge = (): void => {
      for (const task of started) if (inFlight.holds(task)) this.#failWithWorker(task, error);
      if (!host.destroyed() && !tasks.some((task) => task.killed)) host.counters.crashedWorkers++;
      host.pump();
      host.checkIdle();
    };
    const worker = threadId === 0 ? undefined : host.workers.get(threadId);
    if (worker === undefined) judge();
    else worker.once('exit', () => queueMicrotask(judge));
  }

  /** Its worker died before starting it: nothing ran, so it may run elsewhere (see MAX_RETRIES). */
  #mayRunAgain(task: Task): boolean {
    if (task.loadFailure !== undefined) return false; // its worker's module killed it, and would kill the next
    const state = this.#host.inFlight.board.state(task.slot);
    // What it moves (the caller's objects, its callbacks' ports) died with the worker.
    const resendable = task.spec.transfer === undefined;
    return state === QUEUED && !task.settled && resendable && task.retries < MAX_RETRIES && !this.#host.destroyed();
  }

  /** A task its worker held when it died, unsettled and not to run again: `ERR_WORKER_CRASHED`. */
  #failWithWorker(task: Task, error: unknown): void {
    const { inFlight, counters, workers } = this.#host;
    const { board } = inFlight;
    const threadId = board.thread(task.slot);
    if (isChunk(task)) task.reached = board.item(task.slot);
    if (board.state(task.slot) !== QUEUED) inFlight.publishStart(task); // it ran: its worker died in it
    inFlight.free(task);
    if (task.settled) return; // cancelled (and perhaps killed) before its worker died
    counters.failed++;
    if (task.loadFailure !== undefined) {
      task.notify(task.loadFailure, undefined);
      return;
    }
    const exited = exitCodeOf(error); // Piscina's report of an exit; anything else killed the worker
    const exitCode = exited ?? workers.exitCodeOf(threadId);
    task.notify(
      new WorkerCrashedError(task.spec.fn, { exitCode, threadId: threadId || undefined, cause: error, uncaught: exited === undefined }),
      undefined,
    );
  }
}

/**
 * Whether Piscina failed a message because posting it threw (DataCloneError, a bad transfer list).
 * A dead worker's error is never one: it is Piscina's, or the worker's own, rebuilt as a plain Error.
 */
function isPostFailure(error: unknown): boolean {
  return error instanceof DOMException || (error as { code?: unknown } | null)?.code === 'ERR_INVALID_TRANSFER_OBJECT';
}

function exitCodeOf(error: unknown): number | undefined {
  const match = /worker exited with code: (-?\d+)/.exec(String((error as Error)?.message));
  return match ? Number(match[1]) : undefined;
}
