import { invalidType } from '../../validate.js';
import type { RanOutcome } from '../../wire/protocol.js';
import type { ChunkTiming } from './chunk-sizer.js';

/*
 * The contract between a map and the pool that runs its chunks: a local `WorkerPool` sends each
 * chunk to a worker thread, a `ClusterPool` as a BullMQ job. The map decides what goes in a
 * chunk and when; the runner only runs it and reports how it ended.
 */

/** One chunk, as a map hands it to its pool. */
export interface ChunkSpec {
  items: unknown[];
  /** The map index of the first item. */
  first: number;
  /** Expected to run briefly: it may wait in a busy worker's inbox (see TaskSpec). */
  short: boolean;
  timeoutMs: number;
  /** See `TaskExtras.cutAfterMs`. */
  cutAfterMs: number | undefined;
}

/** How a map hands chunks to its pool. */
export interface ChunkRunner {
  /** The workers that run chunks: read at each decision (a cluster's servers come and go). */
  readonly workers: number;
  readonly taskName: string;
  /** The scale chunks are sized on; worker threads' by default. */
  readonly timing?: ChunkTiming;
  /** False while the pool's queue is full (`maxQueue`): the map waits for `whenRoom()` instead of failing. */
  hasRoom(): boolean;
  whenRoom(): Promise<void>;
  /**
   * Submits one chunk; throws when the pool refuses it (closed), or an
   * {@link ItemRefused} for an item that cannot be sent, submitting nothing.
   */
  run(
    chunk: ChunkSpec,
    onProgress: ((value: unknown) => unknown) | undefined,
    settle: (error: Error | undefined, outcome: RanOutcome | undefined, reached?: number) => void,
  ): { cancel(error: Error): void };
}

/** Thrown by a {@link ChunkRunner} for an item it cannot send: the `at` items before it can be. */
export class ItemRefused {
  constructor(
    readonly at: number,
    readonly error: Error,
  ) {}
}

/** A map's `items`, checked: an Iterable or AsyncIterable (a string maps over its characters). */
export function checkMapItems(items: unknown): Iterable<unknown> | AsyncIterable<unknown> {
  const isIterable = items !== null && typeof items === 'object' && (Symbol.iterator in items || Symbol.asyncIterator in items);
  if (!isIterable && typeof items !== 'string') throw invalidType('items', items, 'an Iterable or AsyncIterable');
  return items as Iterable<unknown>;
}

/**
 * A chunk's items up to the first one a starmap cannot spread (not an array), and the refusal of
 * that one, for a runner to throw once the items before it are checked. A plain map spreads nothing.
 */
export function argumentLists(
  chunk: unknown[],
  spread: boolean,
  label: (i: number) => string,
): { lists: unknown[]; refusal: ItemRefused | undefined } {
  const at = spread ? chunk.findIndex((item) => !Array.isArray(item)) : -1;
  if (at === -1) return { lists: chunk, refusal: undefined };
  const error = invalidType(label(at), chunk[at], 'an array of arguments (starmap calls the task with ...item)');
  return { lists: chunk.slice(0, at), refusal: new ItemRefused(at, error) };
}
