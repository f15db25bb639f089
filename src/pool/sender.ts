import type { Piscina } from 'piscina';
import { BATCH, type Outcome, type TaskExtras, type TaskMessage } from '../wire/protocol.js';
import { markForQueue } from './balancer.js';
import { CHANNELS } from './diagnostics.js';
import type { InFlight } from './in-flight.js';
import type { PoolCounters } from './stats.js';
import type { Task } from './task.js';
import type { TaskQueue } from './task-queue.js';
import type { TaskStops } from './task-stops.js';
import type { TinyTasks } from './tiny-tasks.js';
import type { WorkerDeaths } from './worker-deaths.js';

/**
 * Tasks handed to Piscina per worker. With two, the next task of each worker is already waiting:
 * in Piscina's queue (Piscina then takes its cheap queued path instead of rebuilding its worker
 * list for every task), or, for a short task, in the worker's own inbox, where the runtime starts
 * it the moment the running one ends. Starts stay exact (the board), and a task cancelled before
 * it starts, wherever it waits, is marked SKIP like any other.
 */
export const TASKS_PER_WORKER = 2;
/** The most tasks in one batch message (see protocol.ts). */
export const MAX_BATCH = 16;

/** What the dispatcher lends to {@link Sender}. */
export interface SenderHost {
  readonly queue: TaskQueue;
  readonly inFlight: InFlight;
  readonly tiny: TinyTasks;
  readonly counters: PoolCounters;
  readonly stops: TaskStops;
  readonly deaths: WorkerDeaths;
  /** The Piscina in use (it is replaced when the pool starts over). */
  piscina(): Piscina;
  /** Piscina resolved a task's message: the task ended (or was skipped) in its worker. */
  ended(task: Task, outcome: Outcome): void;
}

/**
 * Hands queued tasks to Piscina: at most `limit` messages at once (a batch is one), each task in
 * a slot of the board. A backlog of tiny tasks goes out in batches; anything else, one per message.
 */
export class Sender {
  /** Messages handed to Piscina and not settled; at most `limit`. */
  #messages = 0;
  readonly limit: number;
  readonly #host: SenderHost;

  /** @param limit the most messages out at once: `TASKS_PER_WORKER` per worker. */
  constructor(host: SenderHost, limit: number) {
    this.#host = host;
    this.limit = limit;
  }

  /** No message can go out now: `limit` are out, or every slot of the board is taken. */
  get full(): boolean {
    return this.#messages >= this.limit || this.#host.inFlight.freeSlots === 0;
  }

  /** Hands queued tasks to Piscina while there is room. */
  pump(): void {
    const { queue, inFlight, tiny } = this.#host;
    while (this.#messages < this.limit && inFlight.freeSlots > 0) {
      const task = queue.next();
      if (task === undefined) return;
      // A backlog of tiny tasks goes out in batches, spread over every message slot left.
      const waiting = queue.waiting + 1;
      const size = Math.min(MAX_BATCH, inFlight.freeSlots, Math.ceil(waiting / (this.limit - this.#messages)));
      if (size > 1 && tiny.isTiny(task)) {
        // Tasks sent again go out in messages of their own, which Piscina's queue puts first (MessageQueue).
        const retrying = task.retries > 0;
        const batch = [task, ...queue.takeWhile(size - 1, (next) => tiny.isTiny(next) && next.retries > 0 === retrying)];
        if (batch.length > 1) {
          this.#sendBatch(batch);
          continue;
        }
      }
      this.#send(task);
    }
  }

  #sendBatch(tasks: Task[]): void {
    const { inFlight, counters, deaths } = this.#host;
    const entries: TaskMessage[] = tasks.map((task) => {
      const { fn, args, extras } = task.spec;
      const slot = inFlight.occupy(task);
      return extras === undefined ? [fn, slot, task.id, args] : [fn, slot, task.id, args, extras];
    });
    const message: TaskMessage = ['', BATCH, 0, entries];
    markForQueue(message, tasks[0] as Task);
    counters.batched += tasks.length;
    this.#messages++;
    this.#host
      .piscina()
      .run(message)
      .then(
        () => {
          this.#messages--; // each task settles by its own outcome message, which may still be on its way
          this.pump();
        },
        (error: unknown) => {
          this.#messages--;
          deaths.failed(tasks, error);
        },
      );
  }

  #send(task: Task): void {
    const slot = this.#host.inFlight.occupy(task);
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
    this.#host
      .piscina()
      .run(message, options)
      .then(
        (outcome: Outcome) => {
          this.#messages--;
          this.#host.ended(task, outcome);
        },
        (error: unknown) => {
          this.#messages--;
          if (task.retired)
            this.pump(); // a retired worker's exit fails its last task in Piscina: we hold its outcome
          else this.#host.deaths.failed([task], error);
        },
      );
    if (sent?.watchStart) this.#host.stops.watchStart(task, slot);
  }
}
