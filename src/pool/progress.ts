import type { MessagePort } from 'node:worker_threads';
import { expose } from 'comlink';
import { holdEventLoop, releaseEventLoop } from '../sync/keep-alive.js';
import { describe } from '../validate.js';
import { nodeEndpoint } from '../wire/node-endpoint.js';
import type { TaskProgress } from '../wire/protocol.js';

/**
 * Progress from running tasks to their callers. Each worker has one progress port (made by the
 * worker when one of its tasks first reports, announced on `parentPort`: wire/protocol.ts's
 * ProgressPort), and comlink carries every report of its tasks on it, in batches, tagged with
 * the id the task's message carried. A task whose caller passed no `onProgress` carries no id and
 * pays nothing; one that listens pays no channel of its own either.
 *
 * Order and completeness: comlink calls on one port arrive in order. A task's outcome says how
 * many batches went ahead of it and carries the reports not sent yet (TaskProgress): the task
 * settles once those batches have reached its listener, then the rest, and any promise an async
 * listener returned has settled. The worker never waits for this: it runs its next task at once.
 * Reports of a task that has settled otherwise (cancelled, timed out) are answered and dropped.
 * The worker's end is workers/progress-reporter.ts.
 */

/**
 * Calls the caller's progress listener so that nothing it throws, nor a rejection of a promise it
 * returns, travels back to the worker, where it would kill a healthy worker and pass for a crash of
 * the task: it goes to `onError`, as an Error. A promise the listener returns is passed on
 * settled, so the worker's last report still waits for an async listener.
 */
export function callListener<T>(listener: (value: T) => unknown, value: T, onError: (error: Error) => void): Promise<void> | undefined {
  try {
    const returned = listener(value);
    if (typeof (returned as { then?: unknown } | null | undefined)?.then === 'function') {
      return Promise.resolve(returned).then(
        () => undefined,
        (thrown: unknown) => onError(asError(thrown)),
      );
    }
  } catch (thrown) {
    onError(asError(thrown));
  }
  return undefined;
}

function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(`onProgress threw ${describe(thrown)}`, { cause: thrown });
}

/** Closed progress ports remembered (see `ProgressRouter.#closed`). */
const CLOSED_PORTS_KEPT = 64;

/** A task whose caller listens to its progress. */
interface Listening {
  onProgress: (value: unknown) => unknown;
  /** Batches delivered from its worker's port so far. */
  received: number;
  /** What async listeners returned and may not have settled. */
  pending: Promise<unknown> | undefined;
  /** Its outcome came before some of its batches: what to do once they are in (`end`). */
  awaiting: { sent: number; threadId: number; done: () => void } | undefined;
}

/** The listeners of a pool's tasks, by progress id, and the pool's end of each worker's progress port. */
export class ProgressRouter {
  readonly #listening = new Map<number, Listening>();
  /**
   * Workers whose progress port has closed (they exited): nothing more comes from them. Only the
   * newest `CLOSED_PORTS_KEPT`: an outcome is handled moments after its worker's port closes, and
   * a pool that recycles workers for ever must not remember them all.
   */
  readonly #closed = new Set<number>();
  #lastId = 0;

  /** Registers a task's listener; the id goes in its message (`TaskExtras.progress`). */
  open(onProgress: (value: unknown) => unknown): number {
    const id = ++this.#lastId;
    this.#listening.set(id, { onProgress, received: 0, pending: undefined, awaiting: undefined });
    return id;
  }

  /** The task settled without an outcome (cancelled, timed out, crashed): reports still on their way are dropped. */
  close(id: number): void {
    this.#listening.delete(id);
  }

  /**
   * The task ran to its end and reported `progress` (see TaskProgress; undefined: it reported
   * nothing). Resolves once every report has reached its listener and what async listeners
   * returned has settled; undefined when that is so already.
   */
  end(id: number, progress: TaskProgress | undefined): Promise<void> | undefined {
    const task = this.#listening.get(id);
    if (task === undefined) return undefined;
    if (progress === undefined) {
      this.#listening.delete(id); // it sent nothing: no listener ran
      return undefined;
    }
    const [sent, rest, threadId] = progress;
    if (task.received >= sent || this.#closed.has(threadId)) return this.#finish(id, task, rest);
    // Until they come, nothing may let the process exit: the port that brings them is unref'd,
    // and Piscina unrefs a worker once it has handed its outcome back.
    holdEventLoop();
    return new Promise((resolve) => {
      const done = (): void => {
        releaseEventLoop();
        const after = this.#finish(id, task, rest);
        if (after === undefined) resolve();
        else void after.then(resolve);
      };
      task.awaiting = { sent, threadId, done };
    });
  }

  /**
   * Serves the progress port of worker `threadId` for as long as it lives. Reports come in
   * batches, each passed to its task's listener one by one, in order; a batch is answered once
   * the promises async listeners returned for it have settled. The port does not keep the
   * process alive. If it closes with batches announced and not delivered (the worker died), the
   * tasks waiting for them settle with what arrived.
   */
  attach(port: MessagePort, threadId: number): void {
    const deliver = (id: number, values: unknown[]): Promise<unknown> | undefined => {
      const task = this.#listening.get(id);
      if (task === undefined) return undefined;
      task.received++;
      const pending = call(task, values);
      if (task.awaiting !== undefined && task.received >= task.awaiting.sent) task.awaiting.done();
      return pending;
    };
    expose(deliver, nodeEndpoint(port));
    port.unref();
    port.once('close', () => {
      this.#closed.add(threadId);
      if (this.#closed.size > CLOSED_PORTS_KEPT) this.#closed.delete(this.#closed.values().next().value as number);
      for (const task of this.#listening.values()) if (task.awaiting?.threadId === threadId) task.awaiting.done();
    });
  }

  /** Delivers the reports that came with the outcome and forgets the task; what async listeners return, or undefined. */
  #finish(id: number, task: Listening, rest: unknown[]): Promise<void> | undefined {
    this.#listening.delete(id);
    task.awaiting = undefined;
    call(task, rest);
    return settled(task.pending);
  }
}

/** Passes `values` to the task's listener; what async listeners return is added to `task.pending`, and returned. */
function call(task: Listening, values: unknown[]): Promise<unknown> | undefined {
  let returned: unknown[] | undefined;
  for (const value of values) {
    const result = task.onProgress(value);
    if (result !== undefined) (returned ??= []).push(result);
  }
  if (returned === undefined) return undefined;
  const batch = Promise.all(returned);
  task.pending = task.pending === undefined ? batch : Promise.all([task.pending, batch]);
  return batch;
}

function settled(promise: Promise<unknown> | undefined): Promise<void> | undefined {
  return promise?.then(
    () => undefined,
    () => undefined,
  );
}
