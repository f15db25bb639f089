import type { Outcome, TaskExtras } from '../src/wire/protocol.js';
import { serializeError } from '../src/wire/remote-error.js';
import { finish } from './outcomes.js';
import { board, isThenable, type TaskFunction } from './runtime-data.js';
import type { RunningTask } from './task-context.js';

/*
 * A map chunk in the worker: its items one after the other, each one's place (and, under a
 * timeout, its start) on the board, values kept in order up to a failing item, and a chunk that
 * runs far past `cutAfterMs` stopped after the item in hand (the pool sends the rest again).
 */

/** Runs a map chunk item by item, synchronously until an item returns a promise. */
export function runChunk(
  running: RunningTask,
  extras: TaskExtras,
  items: unknown[],
  fn: TaskFunction,
  startedAt: number,
  t0: number,
): Outcome | Promise<Outcome> {
  // Filled by appending, never preallocated: a holey array (`new Array(n)`) takes V8's slow
  // structured-clone path, ~140 ns an item instead of ~26 for numbers.
  const values: unknown[] = [];
  const spread = extras.spread ? (item: unknown) => fn(...(item as unknown[])) : (item: unknown) => fn(item);
  // Each item's place (and, under a timeout, its start) on the board: see ITEM in task-control.ts.
  const { slot } = running;
  const timed = extras.timed === true;
  const call = (item: unknown, i: number): unknown => {
    board.enterItem(slot, i, timed);
    return spread(item);
  };
  const { cutAfterMs } = extras;
  // The clock is read every `stride` items, about 64 times a chunk: ~30 ns a read, next to 1 µs items.
  const stride = Math.max(1, Math.floor(items.length / 64));
  let untilCheck = stride;
  for (let i = 0; i < items.length; i++) {
    let result: unknown;
    try {
      result = call(items[i], i);
    } catch (error) {
      values.length = i;
      return finish(startedAt, t0, values, serializeError(error), i);
    }
    if (isThenable(result)) return continueAsync(call, items, values, i, result, startedAt, t0, cutAfterMs);
    values.push(result);
    if (cutAfterMs !== undefined && --untilCheck === 0) {
      if (performance.now() - t0 > cutAfterMs && i + 1 < items.length) break; // the pool sends the rest again
      untilCheck = stride;
    }
  }
  return finish(startedAt, t0, values);
}

async function continueAsync(
  call: (item: unknown, i: number) => unknown,
  items: unknown[],
  values: unknown[],
  from: number,
  pending: PromiseLike<unknown>,
  startedAt: number,
  t0: number,
  cutAfterMs: number | undefined,
): Promise<Outcome> {
  let i = from;
  try {
    values.push(await pending);
    for (i = from + 1; i < items.length; i++) {
      if (cutAfterMs !== undefined && performance.now() - t0 > cutAfterMs) break; // the pool sends the rest again
      values.push(await call(items[i], i));
    }
  } catch (error) {
    values.length = i;
    return finish(startedAt, t0, values, serializeError(error), i);
  }
  return finish(startedAt, t0, values);
}
