import { MessageChannel, parentPort, threadId } from 'node:worker_threads';
import { type Remote, wrap } from 'comlink';
import { nodeEndpoint } from '../src/wire/node-endpoint.js';
import { PROGRESS_PORT, type ProgressPort, type TaskProgress } from '../src/wire/protocol.js';

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
/**
 * Reports of a task's first this many ms wait: a task that ends sooner sends them with its outcome,
 * with no message of their own. Then the next report, or a timer (if the task yields), sends them.
 */
const FIRST_SEND_MS = 1;

/** The worker's end of one task's progress. */
export interface ProgressReporter {
  report: (value: unknown) => void;
  /**
   * The task has ended: what travels with its outcome (how many batches went ahead, and the
   * reports not sent yet), or undefined when it reported nothing. Later reports are dropped.
   */
  end: () => TaskProgress | undefined;
}

/**
 * Reports go out in batches: a comlink call costs ~25 µs of both threads (a message each way),
 * a report pushed onto the batch well under a microsecond. After the task's first `FIRST_SEND_MS`,
 * a report goes out at once when no batch is unanswered; otherwise it waits for the answer, or for
 * `BATCH_MS` to pass. What is left at the end goes with the outcome: the task never waits for its
 * reports to be handled.
 */
export function connectProgress(progressId: number): ProgressReporter {
  let batch: unknown[] = [];
  let unanswered = 0;
  let sent = 0;
  let sentAt = 0;
  const startedAt = performance.now();
  let open = true;
  // The pool answers every batch, once async listeners have settled (its listener never throws
  // back: callListener); the answers only pace the batches.
  const answered = (): void => {
    if (--unanswered === 0 && batch.length > 0 && open) send();
  };
  let held: NodeJS.Timeout | undefined;
  const sendHeld = (): void => {
    held = undefined;
    if (open && batch.length > 0 && unanswered === 0) send();
  };
  const send = (): void => {
    const values = batch;
    batch = [];
    unanswered++;
    sent++;
    sentAt = performance.now();
    progressPort()(progressId, values).then(answered, answered);
  };
  return {
    report: (value) => {
      if (!open) return; // from code the task left running: its caller has its result already
      // A value that cannot cross must fail at the call, not take its whole batch down later.
      if ((typeof value === 'object' && value !== null) || typeof value === 'function' || typeof value === 'symbol') structuredClone(value);
      batch.push(value);
      const now = performance.now();
      if (unanswered > 0) {
        if (now - sentAt >= BATCH_MS) send();
      } else if (now - startedAt >= FIRST_SEND_MS) send();
      // Held: an async task that goes quiet still sends it once its first ms is over.
      else held ??= setTimeout(sendHeld, FIRST_SEND_MS - (now - startedAt));
    },
    end: () => {
      open = false;
      if (held !== undefined) clearTimeout(held);
      if (sent === 0 && batch.length === 0) return undefined;
      const rest = batch;
      batch = [];
      return [sent, rest, threadId];
    },
  };
}
