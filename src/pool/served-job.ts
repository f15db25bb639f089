/**
 * The contract between `threadgate/cluster`'s `serve` and the pool it serves with: a job from the
 * queue runs as one pool task (a call, or a map chunk on one worker), and its outcome comes back
 * raw, the task's own error still serialized, ready to cross machines without being rebuilt and
 * flattened again. A global symbol, so a pool from the CommonJS build answers the cluster
 * entry's copy of it.
 */
import type { RanOutcome } from '../wire/protocol.js';

export const RUN_JOB: unique symbol = Symbol.for('threadgate.runJob') as never;

/** One job, as `serve` hands it to its pool. */
export interface ServedJob {
  /** The export to call. */
  name: string;
  /** A call's arguments; absent for a chunk. */
  args?: unknown[];
  /** A chunk's items; each is the task's argument, or (with `spread`) its argument list. */
  items?: unknown[];
  spread?: boolean;
  /** Per task (a chunk: per item), from its start; the pool's `taskTimeoutMs` when absent. */
  timeoutMs?: number;
  /** Aborting stops the task as `future.cancel()` does. */
  signal?: AbortSignal;
  /** Receives each `currentTask().progress(value)`. */
  onProgress?: (value: unknown) => void;
}

/**
 * How a served job ended: a pool-side `error` (cancelled, timed out, worker died; for a chunk,
 * `reached` is the item that was running), or the worker's `outcome` (its values, and the task's
 * serialized error if it threw).
 */
export interface ServedOutcome {
  error?: Error;
  outcome?: RanOutcome;
  reached?: number;
}
