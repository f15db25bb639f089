import type { Worker } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { reviveHandles } from '../revive.js';
import {
  BATCH,
  type BatchOutcome,
  isBatchOutcome,
  isExitReport,
  isGateAnnouncement,
  isLoadReport,
  isRetirement,
  type Outcome,
  type Retirement,
  SKIPPED,
  type TaskExtras,
  type TaskMessage,
} from '../wire/protocol.js';
import { CANCEL, ENDED, KILLING, RUNNING, seatsFor, type TaskBoard } from '../wire/task-control.js';
import { markForQueue } from './balancer.js';
import { CHANNELS, type TaskQueuedEvent, type TaskStartEvent } from './diagnostics.js';
import { InFlight } from './in-flight.js';
import { type DispatcherConfig, startPiscina } from './piscina-setup.js';
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

/**
 * Tasks handed to Piscina per worker. With two, the next task of each worker is already waiting:
 * in Piscina's queue (Piscina then takes its cheap queued path instead of rebuilding its worker
 * list for every task), or, for a short task, in the worker's own inbox, where the runtime starts
 * it the moment the running one ends. Starts stay exact (the board), and a task cancelled before
 * it starts, wherever it waits, is marked SKIP like any other.
 */
const TASKS_PER_WORKER = 2;
/** The most tasks in one batch message (see protocol.ts). */
const MAX_BATCH = 16;
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
  /** Messages handed to Piscina and not settled (a batch is one); at most `#messageLimit`. */
  #messages = 0;
  readonly #messageLimit: number;
  /** Batching needs one task per worker at a time to keep retirement exact: off under `maxTasksPerWorker`. */
  readonly #canBatch: boolean;
  readonly #tiny: TinyTasks;
  readonly #stops: TaskStops;
  #nextId = 1;
  #idleWaiters: (() => void)[] = [];
  #roomWaiters: (() => void)[] = [];
  readonly #deaths: WorkerDeaths;
  #destroyed = false;
  readonly #starts: WorkerStarts;

  constructor(config: DispatcherConfig) {
    this.#config = config;
    this.#messageLimit = config.maxWorkers * TASKS_PER_WORKER;
    this.#canBatch = config.runtimeData.maxTasksPerWorker === Number.POSITIVE_INFINITY;
    this.#tiny = new TinyTasks(this.#canBatch);
    this.#inFlight = new InFlight(this.#messageLimit * (this.#canBatch ? MAX_BATCH : 1));
    this.#board = this.#inFlight.board;
    this.#seats = seatsFor(config.maxWorkers);
    this.#workers = new WorkerRegistry(this.poolId, this.#seats);
    this.#terminations = new Terminations(
      this.#seats,
      (threadId) => this.#liveWorker(threadId),
      () => this.#piscina.threads,
    );
    this.#stops = new TaskStops({
      board: this.#board,
      terminations: this.#terminations,
      cancelGraceMs: config.cancelGraceMs,
      started: (task) => this.#started(task),
      fail: (task, error) => this.cancel(task, error, 'failed'),
      liveWorker: (threadId) => this.#liveWorker(threadId),
    });
    this.#deaths = new WorkerDeaths({
      inFlight: this.#inFlight,
      workers: this.#workers,
      counters: this.#counters,
      destroyed: () => this.#destroyed,
      started: (task) => this.#started(task),
      requeue: (tasks) => this.#requeue(tasks),
      pump: () => this.#pump(),
      checkIdle: () => this.#checkIdle(),
    });
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
      },
      onlyShortInFlight: () => this.#inFlight.notShort === 0,
    });
  }

  /** Tasks waiting for a worker: in this queue, or handed to Piscina but not started. */
  get queued(): number {
    return this.#queue.waiting + this.#inFlight.count - this.#countRunning();
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
    this.#pump();
    // Every message is held by Piscina for a worker that never started: ask for one.
    if ((this.#messages >= this.#messageLimit || this.#inFlight.freeSlots === 0) && this.#piscina.threads.length === 0)
      this.#starts.probe();
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
    if (this.hasRoom() || this.#destroyed) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  isRunning(task: Task): boolean {
    if (task.phase !== Phase.InFlight) return false;
    const state = this.#board.state(task.slot);
    return state === RUNNING || state === CANCEL || state === KILLING || state === ENDED;
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
      this.#queue.cancelled(); // it stays in the queue, skipped by #pump, until a sweep
      this.#checkIdle();
      return true;
    }
    // Not started yet: SKIP, and the worker will not run it. Exactly one of us wins this exchange.
    // Its message may not be posted yet: what it carries is released when Piscina is done (`InFlight.free`).
    const skipped = this.#board.skip(task.slot);
    if (!skipped) this.#started(task);
    task.notify(error, undefined);
    if (skipped) return true;
    task.release(); // it started, so its message was delivered
    this.#stops.stopRunning(task);
    return true;
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
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
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
      busy: this.#countRunning(),
      queued: this.queued,
      maxWorkers: this.#config.maxWorkers,
    });
  }

  /** Nothing is queued or in flight. */
  #isIdle(): boolean {
    return this.#queue.waiting === 0 && this.#inFlight.count === 0;
  }

  #countRunning(): number {
    return this.#board.countRunning();
  }

  // ─── dispatching ──────────────────────────────────────────────────────────────────────────

  #pump(): void {
    while (this.#messages < this.#messageLimit && this.#inFlight.freeSlots > 0) {
      const task = this.#queue.next();
      if (task === undefined) return;
      // A backlog of tiny tasks goes out in batches, spread over every message slot left.
      const waiting = this.#queue.waiting + 1;
      const size = Math.min(MAX_BATCH, this.#inFlight.freeSlots, Math.ceil(waiting / (this.#messageLimit - this.#messages)));
      if (size > 1 && this.#tiny.isTiny(task)) {
        // Tasks sent again go out in messages of their own, which Piscina's queue puts first (MessageQueue).
        const retrying = task.retries > 0;
        const batch = [task, ...this.#queue.takeWhile(size - 1, (next) => this.#tiny.isTiny(next) && next.retries > 0 === retrying)];
        if (batch.length > 1) {
          this.#dispatchBatch(batch);
          continue;
        }
      }
      this.#dispatch(task);
    }
  }

  #dispatchBatch(tasks: Task[]): void {
    const entries: TaskMessage[] = tasks.map((task) => [task.spec.fn, this.#inFlight.occupy(task), task.id, task.spec.args]);
    const message: TaskMessage = ['', BATCH, 0, entries];
    markForQueue(message, tasks[0] as Task);
    this.#counters.batched += tasks.length;
    this.#messages++;
    this.#piscina.run(message).then(
      () => {
        this.#messages--; // each task settles by its own outcome message, which may still be on its way
        this.#pump();
      },
      (error: unknown) => {
        this.#messages--;
        this.#deaths.failed(tasks, error);
      },
    );
  }

  #dispatch(task: Task): void {
    const slot = this.#inFlight.occupy(task);
    const { fn, args, extras, timeoutMs } = task.spec;
    let sent: TaskExtras | undefined = extras;
    if (timeoutMs !== Number.POSITIVE_INFINITY) sent = { ...extras, watchStart: true, ...(extras?.items ? { timed: true } : {}) };
    else if (CHANNELS.taskStart.hasSubscribers) sent = { ...extras, watchStart: true };
    const message: TaskMessage = sent === undefined ? [fn, slot, task.id, args] : [fn, slot, task.id, args, sent];
    markForQueue(message, task);
    // No AbortSignal for Piscina: giving it one makes every task 'abortable' and costs a quarter
    // of the no-op throughput. A task is stopped by terminating its worker instead (task-stops.ts).
    const options = task.spec.transfer ? { transferList: task.spec.transfer as never } : undefined;
    this.#messages++;
    this.#piscina.run(message, options).then(
      (outcome: Outcome) => {
        this.#messages--;
        this.#onOutcome(task, outcome);
      },
      (error: unknown) => {
        this.#messages--;
        if (task.retired)
          this.#pump(); // a retired worker's exit fails its last task in Piscina: we hold its outcome
        else this.#deaths.failed([task], error);
      },
    );
    if (sent?.watchStart) this.#stops.watchStart(task, slot);
  }

  // ─── outcomes ─────────────────────────────────────────────────────────────────────────────

  #onOutcome(task: Task, outcome: Outcome): void {
    if (outcome !== SKIPPED) this.#started(task, outcome[1]);
    this.#inFlight.free(task);
    if (outcome !== SKIPPED) {
      const [, startedAt, runMs, error] = outcome;
      this.#tiny.learn(task, runMs);
      this.#counters.recordRun(runMs, startedAt - (performance.timeOrigin + task.submittedAt));
      if (!task.settled) {
        if (error) this.#counters.failed++;
        // A map chunk counts its items that returned (those before a failing one, if any).
        this.#counters.completed += isChunk(task) ? outcome[0].length : error ? 0 : 1;
        if (outcome[5]) reviveHandles(outcome[0]); // the task returned shared objects: live ones here too
        task.notify(undefined, outcome);
      }
    }
    this.#pump();
    this.#checkIdle();
  }

  /** One task of a batch has ended. Stale if its slot has moved on (it was settled already). */
  #onBatchOutcome([, slot, id, outcome]: BatchOutcome): void {
    const task = this.#inFlight.find(slot, id);
    if (task !== undefined) this.#onOutcome(task, outcome);
  }

  /**
   * Publishes `threadgate:task:start` once, before the task's end: when the pool sees it start,
   * or else when it learns the task ran (its outcome, its worker's death, a cancel that found it
   * running). `startedAt` is the worker's clock (`timeOrigin + now()`), when known.
   */
  #started(task: Task, startedAt?: number): void {
    if (task.startPublished || !CHANNELS.taskStart.hasSubscribers) return;
    task.startPublished = true;
    const waitMs = startedAt === undefined ? performance.now() - task.submittedAt : startedAt - (performance.timeOrigin + task.submittedAt);
    const threadId = task.phase === Phase.InFlight ? this.#board.thread(task.slot) : 0;
    CHANNELS.taskStart.publish({ ...task.event(), threadId, waitMs: Math.max(0, waitMs) } satisfies TaskStartEvent);
  }

  /** Puts tasks back in the queue in their places (see `TaskQueue.putBack`). */
  #requeue(tasks: Task[]): void {
    if (tasks.length === 0) return;
    for (const task of tasks) {
      task.phase = Phase.Queued;
      task.slot = -1;
    }
    this.#queue.putBack(tasks);
  }

  /** After a task has left the queue or its slot: wakes who waits for room, or for the pool to be idle. */
  #checkIdle(): void {
    if (this.#roomWaiters.length > 0 && (this.hasRoom() || this.#destroyed)) {
      const waiters = this.#roomWaiters;
      this.#roomWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (!this.#isIdle() || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
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
