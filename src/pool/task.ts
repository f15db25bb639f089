import { AbortError, TaskTimeoutError, WorkerCrashedError } from '../errors.js';
import type { FutureDriver } from '../future.js';
import type { RanOutcome, TaskExtras } from '../wire/protocol.js';
import { deserializeError } from '../wire/remote-error.js';
import type { TransferItem } from './arguments.js';
import { CHANNELS, type TaskEndEvent, type TaskEventBase, type TaskOutcome } from './diagnostics.js';

/** What a pool task carries. */
export interface TaskSpec {
  /** The export to call. */
  fn: string;
  args: unknown[] | undefined;
  extras: TaskExtras | undefined;
  /** Higher runs first (`pool.with({ priority })`); 0 by default. */
  priority: number;
  /** A map chunk: the map index of its first item (for diagnostics events). */
  mapIndex?: number;
  /** Counted from the task's start (a map chunk: from each item's start); Infinity = none. */
  timeoutMs: number;
  transfer: TransferItem[] | undefined;
  /**
   * Expected to run briefly (a map chunk sized by the pool): it may be handed to a busy worker,
   * to start there the moment the running task ends, instead of waiting for the main thread.
   */
  short: boolean;
  /**
   * Called exactly once: with an error (cancel, timeout, crash), or with what the worker reported.
   * For a map chunk that timed out or whose worker died, `reached` is the position of the item
   * that was running: the items before it had finished.
   */
  settle: (error: Error | undefined, outcome: RanOutcome | undefined, reached?: number) => void;
  /**
   * Frees what the task's message carries (the ports of its callbacks), once
   * Piscina no longer needs it. That can be after `settle`: a task cancelled while its message
   * waits in Piscina's queue is still posted (and skipped), and a closed port in its transfer list
   * would fail that post and take a healthy worker down with it.
   */
  release?: () => void;
}

/** What a task's message carries beside its function and arguments. */
export type Carried = Pick<TaskSpec, 'extras' | 'transfer' | 'release'>;

/** What a task asks of the pool that owns it (the dispatcher): for its Future, and to name it in events. */
export interface TaskOwner {
  readonly poolId: number;
  isRunning(task: Task): boolean;
  cancel(task: Task, error: Error): boolean;
}

/** Where a task is in its life, on the pool's side. */
export const Phase = {
  /** In the pool's queue. */
  Queued: 0,
  /** Handed to Piscina, occupying a slot on the board. */
  InFlight: 1,
  /** Piscina has finished with it; its slot is free. */
  Done: 2,
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/**
 * One task on the pool's side; it is also what drives its Future (`state`, `cancel()`), through
 * the pool that owns it. Its spec is the caller's; each fact below has one writer, named on it.
 */
export class Task implements FutureDriver {
  readonly id: number;
  readonly spec: TaskSpec;
  readonly submittedAt: number;
  /** Written by InFlight only (`occupy`, `free`, `putBack`). */
  phase: Phase = Phase.Queued;
  /** Its board slot while in flight (InFlight). */
  slot = -1;
  /** The caller has been told the outcome (it may still be running, being stopped): `notify`. */
  settled = false;
  /** We terminated its worker (TaskStops). */
  killed = false;
  /** Times it was handed back because its worker died before starting it (WorkerDeaths). */
  retries = 0;
  /** A map chunk that timed out or lost its worker: the item that was running (see TaskSpec.settle; TaskStops, WorkerDeaths). */
  reached: number | undefined;
  /** Its worker ended while loading the module (`process.exit`): it fails with this, never runs again (WorkerStarts). */
  loadFailure: Error | undefined;
  /** It was its worker's last task (`maxTasksPerWorker`): its outcome came as a `Retirement` (Dispatcher). */
  retired = false;
  /** Its timeout, counted from its start (TaskStops; cleared when it settles or leaves its slot). */
  timer: NodeJS.Timeout | undefined;
  /** `threadgate:task:start` has been published for it (InFlight). */
  startPublished = false;

  readonly #owner: TaskOwner;
  #released = false;
  /** A map chunk's item count, kept for its events after its payload is dropped. */
  readonly #items: number | undefined;

  constructor(owner: TaskOwner, id: number, spec: TaskSpec, now: number) {
    this.#owner = owner;
    this.id = id;
    this.spec = spec;
    this.submittedAt = now;
    this.#items = spec.extras?.items?.length;
  }

  isRunning(): boolean {
    return this.#owner.isRunning(this);
  }

  cancel(reason?: unknown): boolean {
    return this.#owner.cancel(this, new AbortError('the task was cancelled', { cause: reason }));
  }

  /** What every diagnostics event of this task names. */
  event(): TaskEventBase {
    const base: TaskEventBase = { poolId: this.#owner.poolId, taskId: this.id, taskName: this.spec.fn };
    if (this.spec.mapIndex !== undefined) {
      base.mapIndex = this.spec.mapIndex;
      base.items = this.#items;
    }
    return base;
  }

  /** Frees what its message carries (`spec.release`), once; see {@link TaskSpec.release} for when. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.spec.release?.();
  }

  /** Drops the arguments and what the message would have carried: it was cancelled before it was handed over. */
  forgetPayload(): void {
    this.spec.args = undefined;
    this.spec.extras = undefined;
    this.spec.transfer = undefined;
  }

  /** Tells the caller, once. */
  notify(error: Error | undefined, outcome: RanOutcome | undefined): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (CHANNELS.taskEnd.hasSubscribers) {
      const end: TaskEndEvent = { ...this.event(), outcome: outcomeOf(error, outcome), runMs: outcome?.[2] };
      if (error !== undefined) end.error = error;
      else if (outcome?.[3] !== undefined) end.error = deserializeError(outcome[3]); // a copy: the caller's own is rebuilt for it
      CHANNELS.taskEnd.publish(end);
    }
    this.spec.settle(error, outcome, this.reached);
  }
}

/** The outcome a task's end event names. A task's own error comes as data in `outcome`. */
function outcomeOf(error: Error | undefined, outcome: RanOutcome | undefined): TaskOutcome {
  if (error === undefined) return outcome?.[3] === undefined ? 'completed' : 'failed';
  if (error instanceof TaskTimeoutError) return 'timeout';
  if (error instanceof WorkerCrashedError) return 'crashed';
  if (error instanceof AbortError) return 'cancelled';
  return 'failed';
}

/** A map chunk: its items run one after the other, and the board says which one is running (ITEM). */
export function isChunk(task: Task): boolean {
  return task.spec.extras?.items !== undefined;
}
