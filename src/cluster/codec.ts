/**
 * What crosses machines through Redis: a job's data, its reply and its progress values. Values go
 * through V8's serializer, the structured-clone algorithm a local task's arguments and results go
 * through, so a value arrives from another machine as it would from a local worker (Dates, Maps,
 * Sets, typed arrays, BigInt, errors with name, message, stack and cause). BullMQ stores JSON, so
 * the bytes travel as base64 inside it.
 */
import { deserialize, serialize } from 'node:v8';
import { AbortError, AbortTimeoutError, PoolClosedError, TaskTimeoutError, WorkerCrashedError } from '../errors.js';
import type { RanOutcome } from '../wire/protocol.js';
import { deserializeError, type RemoteTaskError, type SerializedError, serializeError } from '../wire/remote-error.js';

/** The data of a job, as `ClusterPool` adds it and `serve` reads it. Short keys: they ride on every job. */
export interface JobData {
  /** Format version: a server refuses a job it cannot read, instead of misreading it. */
  v: typeof FORMAT;
  /** `'call'`: `x` is the argument list; `'chunk'`: `x` is the items. */
  k: 'call' | 'chunk';
  x: string;
  /** A starmap chunk: each item is an argument list. */
  s?: 1;
  /** Per task (per item of a chunk) timeout, from its start. */
  t?: number;
  /** The caller listens to progress. */
  p?: 1;
}

export const FORMAT = 1;

/**
 * A job's reply (its BullMQ return value): the worker's outcome (`o`: values, the task's own error
 * if it threw), or the pool's error on the serving machine (`e`, and `r`, the item of a chunk that
 * was running).
 */
type Reply = { o: RanOutcome } | { e: SerializedError; r?: number };

export function encode(value: unknown): string {
  return serialize(value).toString('base64');
}

export function decode(text: string): unknown {
  return deserialize(Buffer.from(text, 'base64'));
}

export function encodeOutcome(outcome: RanOutcome): string {
  return encode({ o: outcome } satisfies Reply);
}

export function encodePoolError(error: Error, reached: number | undefined): string {
  const reply: Reply = { e: serializeError(error) };
  if (reached !== undefined) reply.r = reached;
  return encode(reply);
}

/** A reply, decoded: the outcome, or the serving pool's error rebuilt as the class it was there. */
export function decodeReply(text: string): { outcome: RanOutcome } | { error: Error; reached: number | undefined } {
  const reply = decode(text) as Reply;
  if ('o' in reply) return { outcome: reply.o };
  return { error: rebuildPoolError(reply.e), reached: reply.r };
}

/**
 * threadgate's own errors keep their class across machines: `instanceof TaskTimeoutError` holds
 * for a task that timed out on another machine, as for one that timed out here.
 */
const POOL_ERRORS: Record<string, object> = {
  TaskTimeoutError: TaskTimeoutError.prototype,
  WorkerCrashedError: WorkerCrashedError.prototype,
  AbortError: AbortError.prototype,
  TimeoutError: AbortTimeoutError.prototype,
  PoolClosedError: PoolClosedError.prototype,
};

function rebuildPoolError(data: SerializedError): RemoteTaskError {
  const error = deserializeError(data);
  const prototype = POOL_ERRORS[data.name];
  if (prototype !== undefined && typeof data.props?.code === 'string') Object.setPrototypeOf(error, prototype);
  return error;
}
