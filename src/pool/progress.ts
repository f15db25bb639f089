import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expose } from 'comlink';
import { describe } from '../validate.js';
import { nodeEndpoint } from '../wire/node-endpoint.js';

/**
 * Progress from a running task to its caller, over a MessagePort per task, with comlink doing
 * the calls. Made only when the caller passed an `onProgress`: other tasks pay nothing.
 *
 * Order and completeness: reports travel in batches, and comlink calls on one port arrive in
 * order. The worker sends what is left and waits for the answer to its last call before it
 * reports the task done, so by the time the caller sees the result, every report has been handled.
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

/**
 * The caller's end: exposes `onProgress` on one port and hands out the other for the worker.
 * Reports come in batches, each passed to `onProgress` one by one, in order.
 */
export function openProgressChannel(onProgress: (value: unknown) => unknown): { port: MessagePort; close: () => void } {
  const { port1, port2 } = new MessageChannel();
  const deliver = (values: unknown[]): Promise<unknown> | undefined => {
    let pending: unknown[] | undefined; // what async listeners returned: the batch is answered when they settle
    for (const value of values) {
      const returned = onProgress(value);
      if (returned !== undefined) (pending ??= []).push(returned);
    }
    return pending && Promise.all(pending);
  };
  expose(deliver, nodeEndpoint(port1));
  return { port: port2, close: () => port1.close() };
}
