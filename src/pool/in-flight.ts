import { CANCEL, ENDED, KILLING, RUNNING, TaskBoard } from '../wire/task-control.js';
import { CHANNELS, type TaskStartEvent } from './diagnostics.js';
import { Phase, type Task } from './task.js';

/**
 * The tasks handed to Piscina, each in its own slot of the task board (wire/task-control.ts),
 * where its worker writes when it starts and ends. A slot is taken when its task is handed over
 * and freed when Piscina is done with it; the board's slot count bounds the tasks in flight.
 */
export class InFlight {
  readonly board: TaskBoard;
  /** The task in each slot, while Piscina holds it. */
  readonly #tasks: (Task | undefined)[];
  readonly #freeSlots: number[];
  #count = 0;
  /** Tasks in flight that are not short: while there is one, no task waits in a busy worker's inbox. */
  #notShort = 0;

  constructor(slots: number) {
    this.board = TaskBoard.ofSlots(slots);
    this.#tasks = new Array(slots).fill(undefined);
    this.#freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  /** Tasks in flight. */
  get count(): number {
    return this.#count;
  }

  get notShort(): number {
    return this.#notShort;
  }

  /** Slots free for more tasks. */
  get freeSlots(): number {
    return this.#freeSlots.length;
  }

  /** Hands a task a free slot (there must be one); its worker may start it from then on. */
  occupy(task: Task): number {
    const slot = this.#freeSlots.pop() as number;
    task.slot = slot;
    task.phase = Phase.InFlight;
    this.#tasks[slot] = task;
    this.#count++;
    if (!task.spec.short) this.#notShort++;
    this.board.occupy(slot);
    return slot;
  }

  /** Piscina is done with the task: its slot, its timer and what its message carried are freed. */
  free(task: Task): void {
    const slot = task.slot;
    this.board.free(slot); // also releases a start watcher that never fired
    if (task.timer !== undefined) clearTimeout(task.timer);
    task.timer = undefined;
    task.phase = Phase.Done;
    task.release();
    this.#tasks[slot] = undefined;
    this.#freeSlots.push(slot);
    this.#count--;
    if (!task.spec.short) this.#notShort--;
  }

  /** Piscina is done with a task whose worker died before starting it: it goes back to the queue, to run again. */
  putBack(task: Task): void {
    this.free(task);
    task.phase = Phase.Queued;
    task.slot = -1;
  }

  /**
   * Publishes `threadgate:task:start` once, before the task's end: when the pool sees it start,
   * or else when it learns the task ran (its outcome, its worker's death, a cancel that found it
   * running). `startedAt` is the worker's clock (`timeOrigin + now()`), when known.
   */
  publishStart(task: Task, startedAt?: number): void {
    if (task.startPublished || !CHANNELS.taskStart.hasSubscribers) return;
    task.startPublished = true;
    const waitMs = startedAt === undefined ? performance.now() - task.submittedAt : startedAt - (performance.timeOrigin + task.submittedAt);
    const threadId = task.phase === Phase.InFlight ? this.board.thread(task.slot) : 0;
    CHANNELS.taskStart.publish({ ...task.event(), threadId, waitMs: Math.max(0, waitMs) } satisfies TaskStartEvent);
  }

  /** Its worker has started it (it may be stopping, or have ended, its outcome on the way). */
  isRunning(task: Task): boolean {
    if (task.phase !== Phase.InFlight) return false;
    const state = this.board.state(task.slot);
    return state === RUNNING || state === CANCEL || state === KILLING || state === ENDED;
  }

  /** The task still occupies its slot: Piscina has not finished with it. */
  holds(task: Task): boolean {
    return task.phase === Phase.InFlight && this.#tasks[task.slot] === task;
  }

  /** The task with this id in this slot; undefined if the slot has moved on (the task was settled already). */
  find(slot: number, id: number): Task | undefined {
    const task = this.#tasks[slot];
    return task !== undefined && task.id === id ? task : undefined;
  }

  /** Every task in flight, in slot order (a copy: the caller may free them as it goes). */
  tasks(): Task[] {
    return this.#tasks.filter((task): task is Task => task !== undefined);
  }
}
