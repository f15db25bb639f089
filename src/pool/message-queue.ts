import { FixedQueue, queueOptionsSymbol, type TaskQueue } from 'piscina';

/** What a message tells Piscina's queue and the pool's balancer: Piscina hands a message's queue options to both. */
export interface QueueOptions {
  /** A map chunk expected to run briefly: it may wait in a busy worker's inbox (see `idleFirst`). */
  readonly short: boolean;
  /** Set on a message of tasks a dead worker never started: the id of its first task. */
  readonly retryOf?: number;
  /** Its tasks' priority (`pool.with({ priority })`), when not 0. */
  readonly priority?: number;
}

type QueuedMessage = Parameters<TaskQueue['push']>[0];

/** The queue options of a message that has them. */
export function queueOptionsOf(message: QueuedMessage): QueueOptions | null {
  return message[queueOptionsSymbol] as QueueOptions | null;
}

/**
 * Piscina's queue of messages no worker can take yet, kept in the pool's order: by priority
 * (highest first), and in submission order within one.
 *
 * The pool hands messages to Piscina in that order, so a FIFO per priority keeps it, except for
 * tasks sent again after their worker died before starting them: they were submitted before
 * anything Piscina still holds, so their messages go first, in their own order (`retryOf`).
 * Without this, a message waiting here when the worker died would run before the tasks that
 * were ahead of it in the dead worker's inbox.
 */
export class MessageQueue implements TaskQueue {
  /** Messages of tasks sent again, by their first task's id; few, and only after a worker died. */
  readonly #retries: QueuedMessage[] = [];
  /** One lane per priority; `#order` lists them highest first. Priority 0 (the default) always has one. */
  readonly #lanes = new Map<number, FixedQueue>([[0, new FixedQueue()]]);
  #order: number[] = [0];

  get size(): number {
    let size = this.#retries.length;
    for (const lane of this.#lanes.values()) size += lane.size;
    return size;
  }

  push(message: QueuedMessage): void {
    const options = queueOptionsOf(message);
    const retryOf = options?.retryOf;
    if (retryOf === undefined) {
      this.#lane(options?.priority ?? 0).push(message);
      return;
    }
    let at = this.#retries.length;
    while (at > 0 && (queueOptionsOf(this.#retries[at - 1] as QueuedMessage)?.retryOf as number) > retryOf) at--;
    this.#retries.splice(at, 0, message);
  }

  /** Piscina puts back a message no worker would take (`stricterFIFO`): it was first, it stays first. */
  unshift(message: QueuedMessage): void {
    const options = queueOptionsOf(message);
    if (options?.retryOf === undefined) this.#lane(options?.priority ?? 0).unshift(message);
    else this.#retries.unshift(message);
  }

  shift(): QueuedMessage | null {
    const retry = this.#retries.shift();
    if (retry !== undefined) return retry;
    for (const priority of this.#order) {
      const message = (this.#lanes.get(priority) as FixedQueue).shift();
      if (message !== null) return message;
    }
    return null;
  }

  remove(message: QueuedMessage): void {
    const at = this.#retries.indexOf(message);
    if (at !== -1) this.#retries.splice(at, 1);
    else this.#lane(queueOptionsOf(message)?.priority ?? 0).remove(message);
  }

  #lane(priority: number): FixedQueue {
    let lane = this.#lanes.get(priority);
    if (lane === undefined) {
      lane = new FixedQueue();
      this.#lanes.set(priority, lane);
      this.#order = [...this.#lanes.keys()].sort((a, b) => b - a);
    }
    return lane;
  }
}
