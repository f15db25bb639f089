/**
 * The options of a call, a map and a shutdown, checked and resolved in one place: `pool.with()`,
 * `pool.map()`'s options, `pool.shutdown()`'s (and `threadgate/cluster`'s map, which takes a
 * local map's options).
 */
import {
  checkFunction,
  checkInteger,
  checkOptionalBoolean,
  checkOptions,
  checkSignal,
  checkTaskTimeout,
  invalidValue,
  type OptionNames,
} from '../validate.js';
import { checkTransferList, prepareArguments, type TransferItem } from './arguments.js';
import type { MapOptions, MapProgress, ResolvedMapOptions } from './map/map-options.js';

/** Per-call options, set with `pool.with({ ... })`. */
export interface CallOptions {
  /** Cancels the task (or every item of a map) when it aborts. */
  signal?: AbortSignal;
  /** Timeout in ms from the task's start; overrides the pool's `taskTimeoutMs`. */
  timeoutMs?: number;
  /**
   * `ArrayBuffer`s and `MessagePort`s among the arguments to move (not copy) to the worker. For
   * `submit` and `proxy()` calls: `map` and `starmap` refuse a view with one (`ERR_INVALID_ARG_VALUE`).
   */
  transfer?: TransferItem[];
  /**
   * Receives each `currentTask().progress(value)` of the task, in order, on this thread. On a
   * `map`, each value its items report (the map's own `onProgress` option, which also gets
   * counts, takes its place when given).
   */
  onProgress?: (value: unknown) => void;
  /**
   * An integer; higher runs first. Default 0. Waiting tasks start in strict priority order, and in
   * submission order within a priority; a task already handed to a worker is never preempted, so a
   * task of higher priority waits at most for one task (or map chunk, ~20 ms by default) per worker
   * to end. Lower priorities wait while higher ones keep coming: give bulk work (a large `map`) a
   * negative priority, or latency-sensitive calls a positive one.
   */
  priority?: number;
  /**
   * A value the task reads as `currentTask().context`: what belongs to the call rather than to the
   * task's arguments, such as a request id or a trace context. Copied
   * to the worker as an argument is, and checked alike when given; plain data only (no callbacks
   * or shared gates).
   */
  context?: unknown;
}

/** Options of `pool.shutdown`. */
export interface ShutdownOptions {
  /** Resolve only when every task has settled and every worker has exited. Default `true`. */
  wait?: boolean;
  /** Cancel every task still waiting for a worker (they reject with `AbortError`). Running ones finish. Default `false`. */
  cancelFutures?: boolean;
  /**
   * A deadline, for a service that must stop: after this many ms, every task not yet settled is
   * cancelled as by `future.cancel()`, running ones included (they reject with `AbortError`, their
   * `currentTask().signal` aborts, and a worker whose task has not returned `cancelGraceMs` later
   * is terminated). Default `Infinity`: running tasks finish however long they take.
   */
  timeoutMs?: number;
}

const CALL_OPTIONS: OptionNames<CallOptions> = {
  of: 'pool.with()',
  names: { signal: true, timeoutMs: true, transfer: true, onProgress: true, priority: true, context: true },
};
export const SHUTDOWN_OPTIONS: OptionNames<ShutdownOptions> = {
  of: 'pool.shutdown()',
  names: { wait: true, cancelFutures: true, timeoutMs: true },
};
const MAP_OPTIONS: OptionNames<MapOptions> = {
  of: 'pool.map() and pool.starmap()',
  names: { chunkSize: true, buffer: true, ordered: true, timeoutMs: true, signal: true, onProgress: true },
};

/** Per-call options after validation. */
export interface ResolvedCallOptions {
  signal: AbortSignal | undefined;
  timeoutMs: number;
  transfer: TransferItem[] | undefined;
  onProgress: ((value: unknown) => void) | undefined;
  priority: number;
  context: unknown;
}

export function resolveCallOptions(options: CallOptions, base: ResolvedCallOptions): ResolvedCallOptions {
  const opts = checkOptions('options', options, CALL_OPTIONS);
  const timeoutMs = opts.timeoutMs === undefined ? undefined : checkTaskTimeout('options.timeoutMs', opts.timeoutMs);
  const transfer = checkTransferList('options.transfer', opts.transfer);
  return {
    signal: checkSignal('options.signal', opts.signal) ?? base.signal,
    timeoutMs: timeoutMs ?? base.timeoutMs,
    transfer: transfer ?? base.transfer,
    onProgress: opts.onProgress === undefined ? base.onProgress : checkFunction('options.onProgress', opts.onProgress),
    priority: opts.priority === undefined ? base.priority : checkInteger('options.priority', opts.priority, -MAX_PRIORITY, MAX_PRIORITY),
    context: opts.context === undefined ? base.context : checkContext(opts.context),
  };
}

/** `options.context` crosses as an argument does, and must be plain data: nothing to revive or call back. */
function checkContext(context: unknown): unknown {
  const prepared = prepareArguments('(context)', [context], () => 'options.context');
  if (prepared.revive) {
    prepared.callbacks?.close();
    throw invalidValue(
      'options.context',
      context,
      'plain data that can be copied to a worker: no callback(fn) and no shared gates (pass those as arguments)',
    );
  }
  return context;
}

/** Priorities are integers within ±2^31 - 1, like a timer's delay: enough levels for anyone. */
const MAX_PRIORITY = 2 ** 31 - 1;

/** Map options after validation (also `threadgate/cluster`'s). */
export function resolveMapOptions(options: MapOptions | undefined, call: ResolvedCallOptions): ResolvedMapOptions {
  if (call.transfer !== undefined)
    throw invalidValue(
      'pool.with({ transfer })',
      call.transfer,
      'no transfer list on a map or starmap: a transfer list moves the objects of one call, and a map makes many. Submit each call that moves something, or let the items be copied',
    );
  const opts = checkOptions('options', options, MAP_OPTIONS);
  const chunk = opts.chunkSize ?? 'auto';
  if (typeof chunk === 'string' && chunk !== 'auto') throw invalidValue('options.chunkSize', chunk, "'auto' or an integer >= 1");
  const chunkSize = chunk === 'auto' ? undefined : checkInteger('options.chunkSize', chunk, 1);
  const buffer = opts.buffer === undefined ? undefined : checkInteger('options.buffer', opts.buffer, 1);
  checkOptionalBoolean('options.ordered', opts.ordered);
  const timeoutMs = opts.timeoutMs === undefined ? call.timeoutMs : checkTaskTimeout('options.timeoutMs', opts.timeoutMs);
  return {
    chunkSize,
    buffer,
    ordered: opts.ordered ?? true,
    timeoutMs,
    signal: checkSignal('options.signal', opts.signal) ?? call.signal,
    onProgress: opts.onProgress === undefined ? progressValues(call.onProgress) : checkFunction('options.onProgress', opts.onProgress),
  };
}

/** `pool.with({ onProgress })` on a map: gets each `currentTask().progress(value)` of its items, as it would a task's. */
function progressValues(onProgress: ((value: unknown) => void) | undefined): ((progress: MapProgress) => void) | undefined {
  if (onProgress === undefined) return undefined;
  return (progress) => {
    if ('value' in progress) return onProgress(progress.value);
  };
}
