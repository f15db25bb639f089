import { FifoQueue } from '../sync/fifo-queue.js';
import type { Task } from './task.js';

/**
 * The pool's queue of tasks waiting to be handed to Piscina: one FIFO lane per priority, the
 * highest first (strict priority), each lane in submission (id) order. Tasks of the default
 * priority, 0, are one lane: with no priorities in use this is a single FIFO queue.
 */
export class TaskQueue {
  /** Lanes by priority; `#order` lists the priorities with a lane, highest first. */
  readonly #lanes = new Map<number, FifoQueue<Task>>();
  #order: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(task: Task): void {
    this.#lane(task.spec.priority).push(task);
    this.#size++;
  }

  /** The next task out: the oldest of the highest priority. */
  peek(): Task | undefined {
    for (const priority of this.#order) {
      const task = (this.#lanes.get(priority) as FifoQueue<Task>).peek();
      if (task !== undefined) return task;
    }
    return undefined;
  }

  shift(): Task | undefined {
    for (const priority of this.#order) {
      const task = (this.#lanes.get(priority) as FifoQueue<Task>).shift();
      if (task !== undefined) {
        this.#size--;
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
    }
  }

  /** Removes every task for which `drop` is true. O(size). */
  removeWhere(drop: (task: Task) => boolean): void {
    for (const lane of this.#lanes.values()) {
      const before = lane.size;
      lane.removeWhere(drop);
      this.#size -= before - lane.size;
    }
  }

  /** Removes every task, highest priority first, handing each to `fn`. */
  drain(fn: (task: Task) => void): void {
    for (let task = this.shift(); task !== undefined; task = this.shift()) fn(task);
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
