import { FixedQueue, queueOptionsSymbol, type TaskQueue } from 'piscina';

/** What a message tells Piscina's queue and the pool's balancer: Piscina hands a message's queue options to both. */
export interface QueueOptions {
  /** A map chunk expected to run briefly: it may wait in a busy worker's inbox (see `idleFirst`). */
  readonly short: boolean;
  /** Set on a message of tasks a dead worker never started: the id of its first task. */
  readonly retryOf?: number;
}

type QueuedMessage = Parameters<TaskQueue['push']>[0];

/** The queue options of a message that has them. */
export function queueOptionsOf(message: QueuedMessage): QueueOptions | null {
  return message[queueOptionsSymbol] as QueueOptions | null;
}

/**
 * Piscina's queue of messages no worker can take yet, kept in the pool's submission order.
 *
 * The pool hands messages to Piscina in submission order, so a plain FIFO keeps it, except for
 * tasks sent again after their worker died before starting them: they were submitted before
 * anything Piscina still holds, so their messages go first, in their own order (`retryOf`).
 * Without this, a message waiting here when the worker died would run before the tasks that
 * were ahead of it in the dead worker's inbox.
 */
export class MessageQueue implements TaskQueue {
  /** Messages of tasks sent again, by their first task's id; few, and only after a worker died. */
  readonly #retries: QueuedMessage[] = [];
  readonly #fresh = new FixedQueue();

  get size(): number {
    return this.#retries.length + this.#fresh.size;
  }

  push(message: QueuedMessage): void {
    const retryOf = queueOptionsOf(message)?.retryOf;
    if (retryOf === undefined) {
      this.#fresh.push(message);
      return;
    }
    let at = this.#retries.length;
    while (at > 0 && (queueOptionsOf(this.#retries[at - 1] as QueuedMessage)?.retryOf as number) > retryOf) at--;
    this.#retries.splice(at, 0, message);
  }

  /** Piscina puts back a message no worker would take (`stricterFIFO`): it was first, it stays first. */
  unshift(message: QueuedMessage): void {
    if (queueOptionsOf(message)?.retryOf === undefined) this.#fresh.unshift(message);
    else this.#retries.unshift(message);
  }

  shift(): QueuedMessage | null {
    return this.#retries.shift() ?? this.#fresh.shift();
  }

  remove(message: QueuedMessage): void {
    const at = this.#retries.indexOf(message);
    if (at === -1) this.#fresh.remove(message);
    else this.#retries.splice(at, 1);
  }
}
