/**
 * Every error threadgate raises. Library errors extend {@link ThreadgateError} and carry a stable
 * Node-style `code`; bad arguments are `TypeError`/`RangeError` with a `code` too, so callers can
 * branch on `err.code` without parsing messages.
 *
 * @module
 */
import { inspect } from 'node:util';

/** The stable codes of {@link ThreadgateError} subclasses. */
export type ThreadgateErrorCode =
  | 'ERR_POOL_CLOSED'
  | 'ERR_TASK_TIMEOUT'
  | 'ERR_WORKER_CRASHED'
  | 'ERR_QUEUE_FULL'
  | 'ABORT_ERR'
  | 'ERR_ACQUIRE_TIMEOUT'
  | 'ERR_TOO_MANY_WAITERS'
  | 'ERR_TOO_MANY_HOLDERS'
  | 'ERR_SEMAPHORE_OVER_RELEASE'
  | 'ERR_SEMAPHORE_LOCK_HELD'
  | 'ERR_WORKER_MODULE'
  | 'ERR_POOL_IN_OWN_WORKER'
  | 'ERR_WORKER_RUNTIME'
  | 'ERR_UNKNOWN_TASK'
  | 'ERR_UNCLONEABLE_ARGUMENT'
  | 'ERR_INVALID_HANDLE'
  | 'ERR_WAIT_TIMEOUT'
  | 'ERR_CALLBACK_RELEASED'
  | 'ERR_CLUSTER_PEER_MISSING'
  | 'ERR_CLUSTER_CONNECT'
  | 'ERR_CLUSTER_CONNECTION_LOST'
  | 'ERR_CLUSTER_JOB_FAILED';

/** Base class of every error threadgate raises on its own account. */
export class ThreadgateError extends Error {
  readonly code: ThreadgateErrorCode;
  constructor(code: ThreadgateErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
  override get name(): string {
    return 'ThreadgateError';
  }
}

/** `submit`/`map` after `shutdown()`. Python raises `RuntimeError` here; Piscina silently starts new workers. */
export class PoolClosedError extends ThreadgateError {
  constructor() {
    super('ERR_POOL_CLOSED', 'the pool has been shut down: no new tasks are accepted');
  }
  override get name(): string {
    return 'PoolClosedError';
  }
}

/** A task ran longer than its `timeoutMs`, counted from the moment it started running. */
export class TaskTimeoutError extends ThreadgateError {
  readonly timeoutMs: number;
  constructor(taskName: string, timeoutMs: number) {
    super('ERR_TASK_TIMEOUT', `task '${taskName}' did not finish within ${timeoutMs} ms of starting`);
    this.timeoutMs = timeoutMs;
  }
  override get name(): string {
    return 'TaskTimeoutError';
  }
}

/** The worker running a task exited (`process.exit`, uncaught error, out of memory, killed). */
export class WorkerCrashedError extends ThreadgateError {
  /** The worker's exit code, when it exited with one. */
  readonly exitCode: number | undefined;
  /** The `threadId` of the worker that died, when known. */
  readonly threadId: number | undefined;
  constructor(taskName: string, details: CrashDetails) {
    super('ERR_WORKER_CRASHED', crashMessage(taskName, details), { cause: details.cause });
    this.exitCode = details.exitCode;
    this.threadId = details.threadId;
  }
  override get name(): string {
    return 'WorkerCrashedError';
  }
}

/** How a worker ended: `uncaught` when it died of an error rather than by exiting. */
interface CrashDetails {
  exitCode?: number;
  threadId?: number;
  cause?: unknown;
  uncaught?: boolean;
  startFailed?: number;
}

function crashMessage(taskName: string, details: CrashDetails): string {
  if (details.startFailed !== undefined) {
    return `task '${taskName}' could not run: ${details.startFailed} workers in a row failed to start (${describeCause(details.cause)})`;
  }
  const thread = details.threadId !== undefined ? ` (thread ${details.threadId})` : '';
  const code = details.exitCode !== undefined ? `, exit code ${details.exitCode}` : '';
  const how =
    (details.cause as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY'
      ? 'ran out of memory (the resourceLimits heap limit); see cause'
      : details.uncaught || details.exitCode === undefined
        ? `died (${describeCause(details.cause)})${code}`
        : `exited with code ${details.exitCode}`;
  return `the worker running task '${taskName}'${thread} ${how}`;
}

/** `maxQueue` tasks are already waiting. Nothing was queued. */
export class QueueFullError extends ThreadgateError {
  constructor(maxQueue: number) {
    super('ERR_QUEUE_FULL', `the task queue is full (maxQueue: ${maxQueue}); the task was not queued`);
  }
  override get name(): string {
    return 'QueueFullError';
  }
}

/**
 * Cancellation: an `AbortSignal` fired, `future.cancel()` was called, or the pool was shut down
 * with `cancelFutures`. Node's shape: `name` `'AbortError'`, `code` `'ABORT_ERR'`, and the
 * signal's `reason` as `cause`.
 */
export class AbortError extends ThreadgateError {
  constructor(message = 'the operation was aborted', options?: ErrorOptions) {
    super('ABORT_ERR', message, options);
  }
  override get name(): string {
    return 'AbortError';
  }
}

/**
 * Aborted by a signal that timed out (`AbortSignal.timeout(ms)`): named `'TimeoutError'`, as
 * `fetch` rejects then, and still an {@link AbortError} (`code` `'ABORT_ERR'`, the signal's
 * `TimeoutError` as `cause`).
 */
export class AbortTimeoutError extends AbortError {
  override get name(): string {
    return 'TimeoutError';
  }
}

/** A semaphore or rate limiter could not hand out a permit within `timeoutMs`. */
export class AcquireTimeoutError extends ThreadgateError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super('ERR_ACQUIRE_TIMEOUT', `no permit became available within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
  override get name(): string {
    return 'AcquireTimeoutError';
  }
}

/** Builds the AbortError for a signal, keeping the signal's reason as `cause`. */
export function abortErrorFrom(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  if ((reason as { name?: unknown } | null)?.name === 'TimeoutError')
    return new AbortTimeoutError('the operation timed out (its signal timed out)', { cause: reason });
  return new AbortError('the operation was aborted', { cause: reason });
}

function describeCause(cause: unknown): string {
  const { message, stack } = (typeof cause === 'object' && cause !== null ? cause : {}) as { message?: unknown; stack?: unknown };
  if (typeof message === 'string' && message !== '') return message;
  // Node cannot send some errors from a worker (a DOMException, say): they arrive empty, on
  // Node 20 as a plain object, on Node 24 as an Error that kept only its stack.
  if (typeof stack === 'string' && stack !== '') return stack.split('\n', 1)[0] as string;
  if (typeof cause === 'object' && cause !== null)
    return `an error that lost its name and message on its way from the worker: ${inspect(cause, { depth: 1 })}`;
  return String(cause);
}

/** `wait` or `asCompleted` ran out of time before enough futures settled (Python's `TimeoutError`). */
export class WaitTimeoutError extends ThreadgateError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number, pending: number) {
    super('ERR_WAIT_TIMEOUT', `${pending} future(s) were still pending after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
  override get name(): string {
    return 'WaitTimeoutError';
  }
}
