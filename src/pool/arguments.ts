import type { FileHandle } from 'node:fs/promises';
import { types } from 'node:util';
import { MessagePort } from 'node:worker_threads';
import { describe, invalidType, invalidValue, isDetached } from '../validate.js';
import { isShareable, type Shareable, TO_HANDLE } from '../wire/handles.js';
import { isContainer, Swapper } from '../wire/swap-inside.js';
import { type Callback, CallbackChannels, isCallback } from './callback.js';

/**
 * Checks task arguments before anything is queued, and swaps shared objects (SharedSemaphore,
 * SharedRateLimiter) and `callback(fn)`s for their handles. Structured clone would otherwise throw later, at
 * dispatch (functions, symbols, proxies, detached buffers, a port not in the transfer list), or
 * worse, succeed silently while dropping a class's prototype and private fields. Containers are
 * copied only when something inside them was swapped: the caller's objects are never changed.
 */
export interface PreparedArguments {
  values: unknown[];
  /** Some value is a handle that the worker must revive. */
  revive: boolean;
  /** The channels of the `callback(fn)`s among the values: their ports go in the transfer list. */
  callbacks: CallbackChannels | undefined;
}

export type UncloneableArgumentError = TypeError & { code: 'ERR_UNCLONEABLE_ARGUMENT'; path: string };

/** Types that structured clone copies (or, in the transfer list, moves) faithfully. */
const CLONEABLE: readonly (abstract new (...args: never[]) => unknown)[] = [
  MessagePort,
  Date,
  RegExp,
  ArrayBuffer,
  SharedArrayBuffer,
  DataView,
  Error,
  Blob,
  Boolean,
  Number,
  String,
];

export function prepareArguments(
  taskName: string,
  values: unknown[],
  label: (i: number) => string,
  transfer?: readonly TransferItem[],
): PreparedArguments {
  let swapper: Swapper | undefined;
  let callbacks: CallbackChannels | undefined;
  let i = 0;
  try {
    for (; i < values.length; i++) {
      const v = values[i];
      if (isPrimitive(v)) continue; // the fast path
      swapper ??= new Swapper(
        (value, path) => needsSwap(value, path as string, taskName, transfer),
        (value) => {
          if (isShareable(value as object)) return (value as Shareable)[TO_HANDLE]();
          callbacks ??= new CallbackChannels();
          return callbacks.open(value as Callback);
        },
      );
      swapper.mark(v, label(i));
    }
    if (swapper === undefined || !swapper.found) return { values, revive: false, callbacks: undefined };
    return { values: values.map((v) => swapper?.apply(v)), revive: true, callbacks };
  } catch (error) {
    (callbacks as CallbackChannels | undefined)?.close();
    if (typeof error === 'object' && error !== null) refusedAt.set(error, i); // a getter may throw anything
    throw error;
  }
}

/** Which value each error of `prepareArguments` was thrown for. */
const refusedAt = new WeakMap<object, number>();

/** The position among its values of the one an error of `prepareArguments` refused. */
export function refusedValueIndex(error: unknown): number {
  return refusedAt.get(error as object) ?? 0;
}

/**
 * Whether an argument's `value` (at `path`) is swapped for its handle: a shared object or a
 * `callback(fn)`. Throws for what structured clone would refuse or spoil; the containers it walks
 * into (swap-inside.ts) it lets through.
 */
function needsSwap(value: object | symbol, path: string, taskName: string, transfer: readonly TransferItem[] | undefined): boolean {
  if (typeof value === 'function')
    throw uncloneable(
      taskName,
      path,
      `${describe(value)} cannot be sent to a worker thread (functions do not cross threads); wrap it in callback(fn) to let the task call it back`,
    );
  if (typeof value === 'symbol') throw uncloneable(taskName, path, 'a symbol cannot be sent to a worker thread');
  if (isShareable(value) || isCallback(value)) return true;
  if (types.isProxy(value)) throw uncloneable(taskName, path, 'a Proxy cannot be sent to a worker thread: send its target');
  if (ArrayBuffer.isView(value)) {
    if (isDetached(value.buffer)) throw uncloneable(taskName, path, `${describe(value)} is a view of ${DETACHED}`);
    return false;
  }
  if (isContainer(value)) return false;
  if (isDetached(value)) throw uncloneable(taskName, path, `it is ${DETACHED}`);
  if (value instanceof MessagePort && !transfer?.includes(value))
    throw uncloneable(
      taskName,
      path,
      'a MessagePort can only be moved, and only a submit moves one: list it in pool.with({ transfer: [port] }).submit(...)',
    );
  for (const Type of CLONEABLE) if (value instanceof Type) return false;
  throw uncloneable(
    taskName,
    path,
    `${describe(value)} cannot be sent to a worker thread: structured clone would drop its prototype, methods and private fields. Send a plain object with its data instead`,
  );
}

/** Crosses as it is: nothing to check or swap inside. */
function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol');
}

function uncloneable(taskName: string, path: string, why: string): UncloneableArgumentError {
  const err = new TypeError(`task '${taskName}', ${path}: ${why}`) as UncloneableArgumentError;
  err.code = 'ERR_UNCLONEABLE_ARGUMENT';
  err.path = path;
  return err;
}

const DETACHED = 'an ArrayBuffer moved to another thread by an earlier transfer (detached), with no contents left';

/**
 * What a transfer list may hold: what Node can move to another thread (worker_threads docs:
 * `transferList`). threadgate's own name for it, so its public types compile against every
 * `@types/node`: version 26 renamed `TransferItem` to `Transferable`.
 */
export type TransferItem = ArrayBuffer | MessagePort | FileHandle | ReadableStream | WritableStream | TransformStream;

/** The classes of {@link TransferItem} (a FileHandle is told by its constructor's name: its class is not exported). */
const TRANSFERABLE: readonly (abstract new (...args: never[]) => unknown)[] = [
  ArrayBuffer,
  MessagePort,
  ReadableStream,
  WritableStream,
  TransformStream,
];

/**
 * Checks a transfer list (`options.transfer`): an array of distinct transferable objects. Node
 * would otherwise throw when the message is posted, long after the call returned.
 */
export function checkTransferList(name: string, list: unknown): TransferItem[] | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) throw invalidType(name, list, 'an array of the objects to move to the worker');
  for (const [i, item] of list.entries()) {
    const transferable = TRANSFERABLE.some((Type) => item instanceof Type) || (item as object | null)?.constructor?.name === 'FileHandle';
    if (!transferable)
      throw invalidType(`${name}[${i}]`, item, 'an ArrayBuffer, MessagePort, FileHandle or web stream (what Node can move)');
    const first = list.indexOf(item);
    if (first !== i) throw invalidValue(`${name}[${i}]`, item, `listed once (it is ${name}[${first}] too)`);
  }
  return list as TransferItem[];
}

/** A transfer list's ArrayBuffers must still have their contents when the task is submitted. */
export function checkNotDetached(name: string, list: readonly TransferItem[] | undefined): void {
  if (list === undefined) return;
  for (const [i, item] of list.entries()) {
    if (isDetached(item)) throw invalidValue(`${name}[${i}]`, item, `an ArrayBuffer with contents, not ${DETACHED}`);
  }
}
