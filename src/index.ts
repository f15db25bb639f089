/**
 * threadgate: typed, `concurrent.futures`-style worker pools over Piscina, and the semaphores
 * and rate limiters that keep CPU-heavy work from overrunning finite resources, in one thread or
 * across all of them.
 *
 * @module
 */

export {
  AbortError,
  AbortTimeoutError,
  AcquireTimeoutError,
  PoolClosedError,
  QueueFullError,
  TaskTimeoutError,
  ThreadgateError,
  type ThreadgateErrorCode,
  WaitTimeoutError,
  WorkerCrashedError,
} from './errors.js';
export { Future, type FutureState } from './future.js';
export type { TransferItem, UncloneableArgumentError } from './pool/arguments.js';
export type { CallOptions, ShutdownOptions } from './pool/call-options.js';
export { Callback, type CallerArgument, callback, type RemoteFunction } from './pool/callback.js';
export type {
  TaskEndEvent,
  TaskEventBase,
  TaskOutcome,
  TaskQueuedEvent,
  TaskStartEvent,
  WorkerExitEvent,
  WorkerStartEvent,
} from './pool/diagnostics.js';
export type { MapIterator } from './pool/map/map-iterator.js';
export type { MapOptions, MapProgress } from './pool/map/map-options.js';
export type { WorkerPoolOptions } from './pool/options.js';
export { type PoolProxy, PoolView } from './pool/pool-view.js';
export type { Percentiles, PoolStats } from './pool/stats.js';
export type { Cloned, MapItem, TaskArgs, TaskName, TaskResult, UntypedModule } from './pool/types.js';
export { WorkerPool } from './pool/worker-pool.js';
export { AsyncSemaphore } from './sync/async-semaphore.js';
export type { CallLimitOptions, LimitedResponse } from './sync/limiter-core.js';
export { Permit } from './sync/permit.js';
export { type InThreadRateLimiterOptions, RateLimiter, type RateLimiterOptions } from './sync/rate-limiter.js';
export type { AcquireOptions, LocalSemaphore, Semaphore } from './sync/semaphore.js';
export { SharedRateLimiter, type SharedRateLimiterHandle } from './sync/shared-rate-limiter.js';
export {
  type AcquireSyncOptions,
  type ReleaseOptions,
  SharedSemaphore,
  type SharedSemaphoreHandle,
  type SharedSemaphoreOptions,
} from './sync/shared-semaphore/shared-semaphore.js';
export type { ArgumentError } from './validate.js';
export { asCompleted, type ReturnWhen, type WaitOptions, type WaitResult, wait } from './wait.js';
export type { RemoteTaskError } from './wire/remote-error.js';

/**
 * The URL of the built-in CPU workloads module (`threadgate/workloads`), ready for
 * `new WorkerPool({ module: workloads })`.
 *
 * @experimental Benchmark and demo fixtures, not part of the stable API: they may change or move
 * out of the package in any release.
 */
export const workloads: URL = new URL('./workloads.js', import.meta.url);
