import type { MessagePort } from 'node:worker_threads';
import { expose } from 'comlink';
import { describe } from '../validate.js';
import { nodeEndpoint } from '../wire/node-endpoint.js';

/**
 * Progress from running tasks to their callers. Each worker has one progress port (made by the
 * worker when one of its tasks first reports, announced on `parentPort`: wire/protocol.ts's
 * ProgressPort), and comlink carries every report of its tasks on it, in batches, tagged with
 * the id the task's message carried. A task whose caller passed no `onProgress` carries no id and
 * pays nothing; one that listens pays no channel of its own either.
 *
 * Order and completeness: comlink calls on one port arrive in order, and the worker waits for the
 * answer to its last call before it reports the task done, so by the time the caller sees the
 * result, every report has been handled. Reports of a task that has settled (cancelled, timed
 * out) are answered and dropped. The worker's end is workers/progress-reporter.ts.
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

/** The listeners of a pool's tasks, by progress id, and the pool's end of each worker's progress port. */
export class ProgressRouter {
  readonly #listeners = new Map<number, (value: unknown) => unknown>();
  #lastId = 0;

  /** Registers a task's listener; the id goes in its message (`TaskExtras.progress`). */
  open(onProgress: (value: unknown) => unknown): number {
    const id = ++this.#lastId;
    this.#listeners.set(id, onProgress);
    return id;
  }

  /** The task has settled: reports of it that are still on their way are dropped. */
  close(id: number): void {
    this.#listeners.delete(id);
  }

  /**
   * Serves a worker's progress port for as long as the worker lives. Reports come in batches,
   * each passed to its task's listener one by one, in order; the batch is answered once the
   * promises async listeners returned have settled. The port does not keep the process alive.
   */
  attach(port: MessagePort): void {
    const deliver = (id: number, values: unknown[]): Promise<unknown> | undefined => {
      const onProgress = this.#listeners.get(id);
      if (onProgress === undefined) return undefined;
      let pending: unknown[] | undefined;
      for (const value of values) {
        const returned = onProgress(value);
        if (returned !== undefined) (pending ??= []).push(returned);
      }
      return pending && Promise.all(pending);
    };
    expose(deliver, nodeEndpoint(port));
    port.unref();
  }
}
