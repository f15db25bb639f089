import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expose, type Remote, releaseProxy, wrap } from 'comlink';
import { nodeEndpoint } from './node-endpoint.js';

/**
 * Progress from a running task to its caller, over a MessagePort per task, with comlink doing
 * the calls. Made only when the caller passed an `onProgress`: other tasks pay nothing.
 *
 * Order and completeness: comlink calls on one port arrive in order. The worker waits for the
 * answer to its last call before it reports the task done, so by the time the caller sees the
 * result, every progress call has run.
 */

/** The caller's end: exposes `onProgress` on one port and hands out the other for the worker. */
export function openProgressChannel(onProgress: (value: unknown) => void): { port: MessagePort; close: () => void } {
  const { port1, port2 } = new MessageChannel();
  expose((value: unknown) => {
    onProgress(value);
  }, nodeEndpoint(port1));
  return { port: port2, close: () => port1.close() };
}

/** The worker's end: a report function, plus a way to wait for the last report's delivery. */
export interface ProgressReporter {
  report: (value: unknown) => void;
  /** Resolves once every report so far has been handled by the caller. */
  flush: () => Promise<void> | undefined;
  close: () => void;
}

export function connectProgress(port: MessagePort): ProgressReporter {
  const remote: Remote<(value: unknown) => void> = wrap(nodeEndpoint(port));
  let last: Promise<void> | undefined;
  return {
    report: (value) => {
      last = remote(value);
    },
    flush: () => last,
    close: () => {
      remote[releaseProxy]();
      port.close();
    },
  };
}
