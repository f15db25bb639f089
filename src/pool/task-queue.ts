import { FifoQueue } from '../sync/fifo-queue.js';
import type { Task } from './task.js';

/** Tasks cancelled while queued are swept out once there are more than this, and they are half the queue. */
const SWEEP_AFTER = 32;

/**
 * The pool's queue of tasks waiting to be handed to Piscina: one FIFO lane per priority, the
 * highest first (strict priority), each lane in submission (id) order. Tasks of the default
 * priority, 0, are one lane: with no priorities in use this is a single FIFO queue.
 *
 * A task cancelled while queued stays in its lane, settled, until it comes out (skipped) or a
 * sweep takes it: churn of submit-then-cancel behind a busy worker must not grow the queue
 * without end. `waiting` counts the tasks still to run.
 */
export class TaskQueue {
  /** Lanes by priority; `#order` lists the priorities with a lane, highest first. */
  readonly #lanes = new Map<number, FifoQueue<Task>>();
  #order: number[] = [];
  /** Tasks in the lanes, settled ones included. */
  #size = 0;
  /** Settled (cancelled) tasks still in the lanes. */
  #settled = 0;
  #waiting = 0;

  /** Tasks in the queue still to run. */
  get waiting(): number {
    return this.#waiting;
  }

  push(task: Task): void {
    this.#lane(task.spec.priority).push(task);
    this.#size++;
    this.#waiting++;
  }

  /** The next task still to run, taken out of the queue; cancelled ones on the way are dropped. */
  next(): Task | undefined {
    for (let task = this.#shift(); task !== undefined; task = this.#shift()) {
      if (task.settled) continue;
      this.#waiting--;
      return task;
    }
    return undefined;
  }

  /** Takes out up to `max` of the next tasks while each satisfies `fits`, dropping cancelled ones on the way. */
  takeWhile(max: number, fits: (task: Task) => boolean): Task[] {
    const taken: Task[] = [];
    for (let next = this.peek(); taken.length < max && next !== undefined; next = this.peek()) {
      if (!next.settled && !fits(next)) break;
      this.#shift();
      if (next.settled) continue;
      this.#waiting--;
      taken.push(next);
    }
    return taken;
  }

  /** The next task out: the oldest of the highest priority. */
  peek(): Task | undefined {
    for (const priority of this.#order) {
      const task = (this.#lanes.get(priority) as FifoQueue<Task>).peek();
      if (task !== undefined) return task;
    }
    return undefined;
  }

  #shift(): Task | undefined {
    for (const priority of this.#order) {
      const task = (this.#lanes.get(priority) as FifoQueue<Task>).shift();
      if (task !== undefined) {
        this.#size--;
        if (task.settled && this.#settled > 0) this.#settled--;
        return task;
      }
    }
    return undefined;
  }

  /**
   * Puts back tasks whose worker died before starting them, each in its place in its lane. A
   * lane holds tasks in id order, and the ones put back were handed out before every task still
   * in it, except others put back earlier, which sit at its front: merging with those keeps it.
   */
  putBack(tasks: Task[]): void {
    const byLane = new Map<number, Task[]>();
    for (const task of tasks) byLane.set(task.spec.priority, [...(byLane.get(task.spec.priority) ?? []), task]);
    for (const [priority, back] of byLane) {
      const lane = this.#lane(priority);
      const last = Math.max(...back.map((task) => task.id));
      const front = [...back];
      for (let next = lane.peek(); next !== undefined && next.id < last; next = lane.peek()) front.push(lane.shift() as Task);
      front.sort((a, b) => b.id - a.id);
      for (const task of front) lane.unshift(task);
      this.#size += back.length;
      this.#waiting += back.length;
    }
  }

  /**
   * A task in the queue (or handed out by `drain`) has been cancelled: it no longer counts as
   * waiting. Sweeps the settled ones out once they are many and half the queue. O(size) per sweep.
   */
  cancelled(): void {
    this.#waiting--;
    if (++this.#settled <= SWEEP_AFTER || this.#settled * 2 <= this.#size) return;
    for (const lane of this.#lanes.values()) {
      const before = lane.size;
      lane.removeWhere((task) => task.settled);
      this.#size -= before - lane.size;
    }
    this.#settled = 0;
  }

  /** Removes every task, highest priority first, handing each to `fn`, which must cancel every one not settled (`cancelled()`). */
  drain(fn: (task: Task) => void): void {
    for (let task = this.#shift(); task !== undefined; task = this.#shift()) fn(task);
    this.#settled = 0; // empty now: what `fn` cancelled had already left
  }

  #lane(priority: number): FifoQueue<Task> {
    let lane = this.#lanes.get(priority);
    if (lane === undefined) {
      lane = new FifoQueue<Task>();
      this.#lanes.set(priority, lane);
      this.#order = [...this.#lanes.keys()].sort((a, b) => b - a);
    }
    return lane;
  }
}
