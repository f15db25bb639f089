import type { Worker } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { reviveHandles } from '../revive.js';
import {
  type BatchOutcome,
  isBatchOutcome,
  isExitReport,
  isGateAnnouncement,
  isLoadReport,
  isProgressPort,
  isRetirement,
  type Outcome,
  type Retirement,
  SKIPPED,
} from '../wire/protocol.js';
import { seatsFor, type TaskBoard } from '../wire/task-control.js';
import { Condition } from './condition.js';
import { CHANNELS, type TaskQueuedEvent } from './diagnostics.js';
import { InFlight } from './in-flight.js';
import { type DispatcherConfig, startPiscina } from './piscina-setup.js';
import { ProgressRouter } from './progress.js';
import { MAX_BATCH, Sender, TASKS_PER_WORKER } from './sender.js';
import { PoolCounters, type PoolStats } from './stats.js';
import { isChunk, Phase, Task, type TaskSpec } from './task.js';
import { TaskQueue } from './task-queue.js';
import { TaskStops } from './task-stops.js';
import { Terminations } from './terminations.js';
import { TinyTasks } from './tiny-tasks.js';
import { WorkerDeaths } from './worker-deaths.js';
import { WorkerRegistry } from './worker-registry.js';
import { WorkerStarts } from './worker-starts.js';

export type { DispatcherConfig } from './piscina-setup.js';

let poolsMade = 0;

/**
 * Owns the Piscina pool and everything between a submitted task and its outcome.
 *
 * - Its own FIFO queue, and at most two messages per worker handed to Piscina at once. A message
 *   is one task, or a batch of tiny ones (protocol.ts); every task has its own slot of the task
 *   control board (see task-control.ts). Only short tasks (map chunks) go to a busy worker
 *   (`idleFirst`, balancer.ts). A task's timeout is counted from the start its worker writes on the board, so
 *   it never includes queue time; a worker that dies before starting a task it holds has it run
 *   again elsewhere.
 * - Task errors come back as data; a Piscina rejection therefore means its worker died, and the
 *   board tells whether the task had started: if not, it is run again elsewhere; if it had, it
 *   fails with `ERR_WORKER_CRASHED`, with the exit code and thread id.
 * - Cancelling: queued → dropped; handed over but not started → marked SKIP (the worker never
 *   runs it); running → its `currentTask().signal` aborts (CANCEL), and if it has not returned
 *   after `cancelGraceMs`, the worker is terminated (KILLING) and replaced.
 * - Retiring (`maxTasksPerWorker`): the worker sends its last outcome as a `Retirement` message
 *   and keeps that Piscina task open, so Piscina routes nothing more to it; the pool settles the
 *   task from the message and terminates the worker (see protocol.ts).
 * - Piscina's `'error'` event is always listened to: a worker failing between tasks never
 *   crashes the host process.
 */
export class Dispatcher {
  /** Names this pool in `threadgate:*` diagnostics events. */
  readonly poolId = ++poolsMade;
  /** Where its workers' progress reports go: the listeners of its tasks (progress.ts). */
  readonly progress = new ProgressRouter();
  #piscina: Piscina;
  /** The tasks handed to Piscina, on the task board. */
  readonly #inFlight: InFlight;
  readonly #board: TaskBoard;
  /** The workers' seats, through which every termination goes (see task-control.ts). */
  readonly #seats: Int32Array;
  readonly #terminations: Terminations;
  readonly #queue = new TaskQueue();
  readonly #config: DispatcherConfig;
  readonly #workers: WorkerRegistry;
  readonly #counters = new PoolCounters();
  readonly #sender: Sender;
  /** Batching needs one task per worker at a time to keep retirement exact: off under `maxTasksPerWorker`. */
  readonly #canBatch: boolean;
  readonly #tiny: TinyTasks;
  readonly #stops: TaskStops;
  #nextId = 1;
  readonly #room = new Condition(() => this.hasRoom() || this.#destroyed);
  readonly #idle = new Condition(() => this.#isIdle());
  readonly #deaths: WorkerDeaths;
  #destroyed = false;
  readonly #starts: WorkerStarts;

  constructor(config: DispatcherConfig) {
    this.#config = config;
    this.#canBatch = config.runtimeData.maxTasksPerWorker === Number.POSITIVE_INFINITY;
    this.#tiny = new TinyTasks(this.#canBatch);
    const messages = config.maxWorkers * TASKS_PER_WORKER;
    this.#inFlight = new InFlight(messages * (this.#canBatch ? MAX_BATCH : 1));
    this.#board = this.#inFlight.board;
    this.#seats = seatsFor(config.maxWorkers);
    this.#workers = new WorkerRegistry(this.poolId, this.#seats);
    this.#terminations = new Terminations(
      this.#seats,
      (threadId) => this.#liveWorker(threadId),
      () => this.#piscina.threads,
    );
    this.#stops = new TaskStops({
      inFlight: this.#inFlight,
      terminations: this.#terminations,
      cancelGraceMs: config.cancelGraceMs,
      fail: (task, error) => this.cancel(task, error, 'failed'),
      liveWorker: (threadId) => this.#liveWorker(threadId),
    });
    this.#deaths = new WorkerDeaths({
      inFlight: this.#inFlight,
      queue: this.#queue,
      workers: this.#workers,
      counters: this.#counters,
      destroyed: () => this.#destroyed,
      pump: () => this.#sender.pump(),
      checkIdle: () => this.#checkIdle(),
    });
    this.#sender = new Sender(
      {
        queue: this.#queue,
        inFlight: this.#inFlight,
        tiny: this.#tiny,
        counters: this.#counters,
        stops: this.#stops,
        deaths: this.#deaths,
        piscina: () => this.#piscina,
        ended: (task, outcome) => this.#onOutcome(task, outcome),
      },
      messages,
    );
    this.#starts = new WorkerStarts({
      inFlight: this.#inFlight,
      workers: this.#workers,
      counters: this.#counters,
      runtimeData: config.runtimeData,
      piscina: () => this.#piscina,
      destroyed: () => this.#destroyed,
      hasWork: () => !this.#isIdle(),
      cancelQueued: (error, countAs) => this.cancelQueued(error, countAs),
      startOver: (minThreads) => this.#startOver(minThreads),
    });
    this.#piscina = this.#createPiscina();
  }

  /** A Piscina for this pool; a broken pool's starts no worker (`minThreads` 0). */
  #createPiscina(minThreads = Math.max(1, this.#config.minWorkers)): Piscina {
    const config = this.#config;
    // A worker that retires after its Nth task must have no task waiting behind it: one at a time.
    const tasksPerWorker = this.#canBatch ? TASKS_PER_WORKER : 1;
    return startPiscina(config, { ...config.runtimeData, board: this.#board.words, seats: this.#seats }, tasksPerWorker, minThreads, {
      onError: (error) => this.#starts.workerFailed(error),
      onWorkerCreate: (threadId) => {
        this.#starts.workerCreated();
        this.#track(threadId);
      },
      onMessage: (message) => {
        if (isBatchOutcome(message)) this.#onBatchOutcome(message);
        else if (isRetirement(message)) this.#onRetirement(message);
        else if (isGateAnnouncement(message)) this.#workers.addGate(message.threadId, message.handle);
        else if (isLoadReport(message)) this.#starts.loaded(message);
        else if (isExitReport(message)) this.#starts.exiting(message);
        else if (isProgressPort(message)) this.progress.attach(message.port, message.threadId);
      },
      onlyShortInFlight: () => this.#inFlight.notShort === 0,
    });
  }

  /** Tasks waiting for a worker: in this queue, or handed to Piscina but not started. */
  get queued(): number {
    return this.#queue.waiting + this.#inFlight.count - this.#board.countRunning();
  }

  /** Queues a task. Throws nothing: the caller checks capacity first with `hasRoom()`. */
  submit(spec: TaskSpec): Task {
    const task = new Task(this, this.#nextId++, spec, performance.now());
    if (CHANNELS.taskQueued.hasSubscribers) CHANNELS.taskQueued.publish(task.event() satisfies TaskQueuedEvent);
    const broken = this.#starts.broken;
    if (broken !== undefined) {
      this.#counters.failed++;
      task.release();
      task.notify(broken, undefined);
      return task;
    }
    this.#queue.push(task);
    this.#sender.pump();
    // Every message is held by Piscina for a worker that never started: ask for one.
    if (this.#sender.full && this.#piscina.threads.length === 0) this.#starts.probe();
    return task;
  }

  /**
   * False when `maxQueue` tasks already wait beyond the free workers (Piscina's meaning): tasks
   * about to start on idle workers, or on workers not started yet, do not count. Waiting beyond
   * the free workers is `waiting - (maxWorkers - running)`, so the bound is on tasks not settled:
   * `waiting + running < maxQueue + maxWorkers`, with no need to read the board.
   */
  hasRoom(): boolean {
    return this.#queue.waiting + this.#inFlight.count < this.#config.maxQueue + this.#config.maxWorkers;
  }

  /** Resolves once `hasRoom()` holds (at once if it does), or the pool is destroyed. */
  whenRoom(): Promise<void> {
    return this.#room.wait();
  }

  isRunning(task: Task): boolean {
    return this.#inFlight.isRunning(task);
  }

  /** Stops a task and rejects its caller with `error` at once. False if it had already settled. */
  cancel(task: Task, error: Error, countAs: 'cancelled' | 'failed' = 'cancelled'): boolean {
    if (task.settled || task.phase === Phase.Done) return false;
    if (countAs === 'cancelled') this.#counters.cancelled++;
    else this.#counters.failed++;
    if (task.phase === Phase.Queued) {
      task.notify(error, undefined);
      task.release(); // never handed to Piscina
      task.forgetPayload(); // its caller may keep the future for long: the arguments go now
      this.#queue.cancelled(); // it stays in the queue, skipped by the sender, until a sweep
      this.#checkIdle();
      return true;
    }
    // Not started yet: SKIP, and the worker will not run it. Exactly one of us wins this exchange.
    // Its message may not be posted yet: what it carries is released when Piscina is done (`InFlight.free`).
    const skipped = this.#board.skip(task.slot);
    if (!skipped) this.#inFlight.publishStart(task);
    task.notify(error, undefined);
    if (skipped) return true;
    task.release(); // it started, so its message was delivered
    this.#stops.stopRunning(task);
    return true;
  }

  /** A task counted completed failed after all: its caller's listener threw at a report that came with its result. */
  failedAfterOutcome(): void {
    this.#counters.completed--;
    this.#counters.failed++;
  }

  /** Cancels every task that has not started: queued here, or waiting in Piscina's queue. */
  cancelQueued(error: (task: Task) => Error, countAs: 'cancelled' | 'failed' = 'cancelled'): void {
    this.#queue.drain((task) => {
      if (!task.settled) this.cancel(task, error(task), countAs);
    });
    for (const task of this.#inFlight.tasks()) if (!task.settled && !this.isRunning(task)) this.cancel(task, error(task), countAs);
  }

  /** Cancels every task not settled: those `cancelQueued` cancels, then the running ones, as `future.cancel()` does. */
  cancelAll(error: (task: Task) => Error): void {
    this.cancelQueued(error);
    for (const task of this.#inFlight.tasks()) if (!task.settled) this.cancel(task, error(task));
  }

  /**
   * Resolves once a worker has loaded the module and run its initializer; rejects with the
   * module's `ERR_WORKER_MODULE` error when one could not, or with `onClose()` if the pool is
   * destroyed first.
   */
  ready(onClose: () => Error): Promise<void> {
    return this.#starts.ready(onClose);
  }

  /** Resolves once nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    return this.#idle.wait();
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#checkIdle();
    this.#starts.close();
    await this.#terminations.quiesce();
    await this.#piscina.destroy();
  }

  stats(): PoolStats {
    return this.#counters.snapshot({
      workers: this.#piscina.threads.length,
      busy: this.#board.countRunning(),
      queued: this.queued,
      maxWorkers: this.#config.maxWorkers,
    });
  }

  /** Nothing is queued or in flight. */
  #isIdle(): boolean {
    return this.#queue.waiting === 0 && this.#inFlight.count === 0;
  }

  // ─── outcomes ─────────────────────────────────────────────────────────────────────────────

  #onOutcome(task: Task, outcome: Outcome): void {
    if (outcome !== SKIPPED) this.#inFlight.publishStart(task, outcome[1]);
    this.#inFlight.free(task);
    if (outcome !== SKIPPED) {
      const [, startedAt, runMs, error] = outcome;
      this.#tiny.learn(task, runMs);
      this.#counters.recordRun(runMs, startedAt - (performance.timeOrigin + task.submittedAt));
      if (!task.settled) {
        if (error) this.#counters.failed++;
        // A map chunk counts its items that returned (those before a failing one, if any).
        this.#counters.completed += isChunk(task) ? outcome[0].length : error ? 0 : 1;
        if (outcome[5]) outcome[0] = reviveHandles(outcome[0]) as unknown[]; // the task returned shared objects: live ones here too
        task.notify(undefined, outcome);
      }
    }
    this.#sender.pump();
    this.#checkIdle();
  }

  /** One task of a batch has ended. Stale if its slot has moved on (it was settled already). */
  #onBatchOutcome([, slot, id, outcome]: BatchOutcome): void {
    const task = this.#inFlight.find(slot, id);
    if (task !== undefined) this.#onOutcome(task, outcome);
  }

  /** After a task has left the queue or its slot: wakes who waits for room, or for the pool to be idle. */
  #checkIdle(): void {
    this.#room.check();
    this.#idle.check();
  }

  // ─── workers ──────────────────────────────────────────────────────────────────────────────

  #onRetirement({ slot, id, threadId, outcome }: Retirement): void {
    const task = this.#inFlight.find(slot, id);
    if (task !== undefined) task.retired = true; // before the exit fails it in Piscina
    // The worker runs nothing more whatever happens here: stop it, or it stays busy for good.
    // Piscina sees the exit and starts a replacement on demand.
    this.#terminations.terminate(threadId);
    if (task?.retired) this.#onOutcome(task, outcome);
  }

  /**
   * Swaps Piscina for a fresh one (with `minThreads` workers) and destroys the old: failed tasks
   * handed to it sit in its queue, holding their slots, until a worker starts; destroying it
   * rejects them now, and frees those slots.
   */
  #startOver(minThreads?: number): void {
    const stuck = this.#piscina;
    this.#piscina = this.#createPiscina(minThreads);
    void stuck.destroy();
  }

  /** The worker with this thread id, while it lives; Piscina's own list covers one not tracked yet. */
  #liveWorker(threadId: number): Worker | undefined {
    return this.#workers.get(threadId) ?? this.#piscina.threads.find((w) => w.threadId === threadId);
  }

  /** Watches a new worker until it exits (worker-registry.ts). */
  #track(threadId: number): void {
    const worker = this.#piscina.threads.find((w) => w.threadId === threadId);
    if (worker !== undefined) this.#workers.track(worker);
  }
}
