import type { MessagePort } from 'node:worker_threads';
import { type Remote, releaseProxy, wrap } from 'comlink';
import { nodeEndpoint } from '../src/wire/node-endpoint.js';

/**
 * The worker's end of a task's progress channel (the caller's is src/pool/progress.ts): what
 * `currentTask().progress(value)` sends, in batches, over the task's MessagePort.
 */

/**
 * While a batch of reports is unanswered, the worker sends the next one at most this often (ms).
 * A synchronous loop never reads answers until it returns, so without a clock its reports would
 * all arrive at the end; with one, a progress bar moves 100 times a second.
 */
const BATCH_MS = 10;

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
