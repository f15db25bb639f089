import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expose, type Remote, releaseProxy, wrap } from 'comlink';
import { describe } from '../errors.js';
import { nodeEndpoint } from './node-endpoint.js';

/**
 * Progress from a running task to its caller, over a MessagePort per task, with comlink doing
 * the calls. Made only when the caller passed an `onProgress`: other tasks pay nothing.
 *
 * Order and completeness: reports travel in batches, and comlink calls on one port arrive in
 * order. The worker sends what is left and waits for the answer to its last call before it
 * reports the task done, so by the time the caller sees the result, every report has been handled.
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
 * While a batch of reports is unanswered, the worker sends the next one at most this often (ms).
 * A synchronous loop never reads answers until it returns, so without a clock its reports would
 * all arrive at the end; with one, a progress bar moves 100 times a second.
 */
const BATCH_MS = 10;

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

/** The worker's end: a report function, plus a way to wait for the last report's delivery. */
export interface ProgressReporter {
  report: (value: unknown) => void;
  /** Sends what is left, and resolves once every report so far has been handled by the caller. */
  flush: () => Promise<void> | undefined;
  close: () => void;
}

/**
 * Reports go out in batches: a comlink call costs ~25 µs of both threads (a message each way),
 * a report pushed onto the batch well under a microsecond. A report goes out at once when no
 * batch is unanswered; otherwise it waits for the answer, or for `BATCH_MS` to pass.
 */
export function connectProgress(port: MessagePort): ProgressReporter {
  const remote: Remote<(values: unknown[]) => void> = wrap(nodeEndpoint(port));
  // The caller closes its end when it sees the task settle, which a cancel makes happen before the
  // task returns: reports in flight then go unanswered, and waiting for them would hold the worker
  // until the pool kills it.
  const closed = new Promise<void>((resolve) => port.once('close', () => resolve()));
  let batch: unknown[] = [];
  let unanswered = 0;
  let sentAt = 0;
  let last: Promise<void> | undefined;
  let open = true;
  // The caller's side never throws back (callListener), so an answer is all a batch can get.
  const answered = (): void => {
    if (--unanswered === 0 && batch.length > 0) send();
  };
  const send = (): void => {
    const values = batch;
    batch = [];
    unanswered++;
    sentAt = performance.now();
    last = remote(values).then(answered, answered);
  };
  return {
    report: (value) => {
      if (!open) return; // from code the task left running: its caller has its result already
      // A value that cannot cross must fail at the call, not take its whole batch down later.
      if ((typeof value === 'object' && value !== null) || typeof value === 'function' || typeof value === 'symbol') structuredClone(value);
      batch.push(value);
      if (unanswered === 0 || performance.now() - sentAt >= BATCH_MS) send();
    },
    flush: () => {
      if (batch.length > 0) send();
      return last && Promise.race([last, closed]);
    },
    close: () => {
      open = false;
      remote[releaseProxy]();
      port.close();
    },
  };
}
