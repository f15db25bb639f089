import { MessageChannel, parentPort, threadId } from 'node:worker_threads';
import { type Remote, wrap } from 'comlink';
import { nodeEndpoint } from '../src/wire/node-endpoint.js';
import { PROGRESS_PORT, type ProgressPort } from '../src/wire/protocol.js';

/**
 * The worker's end of progress (the pool's is src/pool/progress.ts): what
 * `currentTask().progress(value)` sends, in batches, over this worker's progress port.
 */

type Deliver = Remote<(progressId: number, values: unknown[]) => void>;

/** This worker's progress port: `deliver(progressId, values)` in the pool. */
let deliver: Deliver | undefined;

/** Makes this worker's progress port, once, and hands the other end to the pool. */
function progressPort(): Deliver {
  if (deliver !== undefined) return deliver;
  const { port1, port2 } = new MessageChannel();
  parentPort?.postMessage({ [PROGRESS_PORT]: true, threadId, port: port2 } satisfies ProgressPort, [port2]);
  const made = wrap<(progressId: number, values: unknown[]) => void>(nodeEndpoint(port1));
  port1.unref(); // the pool keeps its workers; this port must not keep one that is ending
  deliver = made;
  return made;
}

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
export function connectProgress(progressId: number): ProgressReporter {
  let batch: unknown[] = [];
  let unanswered = 0;
  let sentAt = 0;
  let last: Promise<void> | undefined;
  let open = true;
  // The pool answers every batch (a report of a task it has settled is dropped), and its listener
  // never throws back (callListener): an answer is all a batch can get.
  const answered = (): void => {
    if (--unanswered === 0 && batch.length > 0) send();
  };
  const send = (): void => {
    const values = batch;
    batch = [];
    unanswered++;
    sentAt = performance.now();
    last = progressPort()(progressId, values).then(answered, answered);
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
      return last;
    },
    close: () => {
      open = false;
    },
  };
}
