import type { FileHandle } from 'node:fs/promises';
import { types } from 'node:util';
import { MessagePort } from 'node:worker_threads';
import { describe, invalidType, invalidValue, isDetached } from '../validate.js';
import { isShareable, TO_HANDLE } from '../wire/handles.js';
import { CallbackChannels, isCallback } from './callback.js';

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
  const state: WalkState = { taskName, transfer, revive: false, seen: undefined, callbacks: undefined };
  let out = values;
  let i = 0;
  try {
    for (; i < values.length; i++) {
      const v = values[i];
      if (isPrimitive(v)) continue; // the fast path
      const prepared = prepare(v, label(i), state);
      if (prepared !== v) {
        if (out === values) out = values.slice();
        out[i] = prepared;
      }
    }
  } catch (error) {
    state.callbacks?.close();
    if (typeof error === 'object' && error !== null) refusedAt.set(error, i); // a getter may throw anything
    throw error;
  }
  return { values: out, revive: state.revive, callbacks: state.callbacks };
}

/** Which value each error of `prepareArguments` was thrown for. */
const refusedAt = new WeakMap<object, number>();

/** The position among its values of the one an error of `prepareArguments` refused. */
export function refusedValueIndex(error: unknown): number {
  return refusedAt.get(error as object) ?? 0;
}

interface WalkState {
  taskName: string;
  /** The caller's transfer list: a MessagePort among the values must be in it. */
  transfer: readonly TransferItem[] | undefined;
  revive: boolean;
  seen: Set<object> | undefined;
  callbacks: CallbackChannels | undefined;
}

function prepare(value: unknown, path: string, state: WalkState): unknown {
  if (typeof value === 'function')
    throw uncloneable(
      state.taskName,
      path,
      `${describe(value)} cannot be sent to a worker thread (functions do not cross threads); wrap it in callback(fn) to let the task call it back`,
    );
  if (typeof value === 'symbol') throw uncloneable(state.taskName, path, 'a symbol cannot be sent to a worker thread');
  if (typeof value !== 'object' || value === null) return value;
  if (isShareable(value)) {
    state.revive = true;
    return value[TO_HANDLE]();
  }
  if (isCallback(value)) {
    state.revive = true;
    state.callbacks ??= new CallbackChannels();
    return state.callbacks.open(value);
  }
  if (types.isProxy(value)) throw uncloneable(state.taskName, path, 'a Proxy cannot be sent to a worker thread: send its target');
  if (ArrayBuffer.isView(value)) {
    if (isDetached(value.buffer)) throw uncloneable(state.taskName, path, `${describe(value)} is a view of ${DETACHED}`);
    return value;
  }
  state.seen ??= new Set();
  if (state.seen.has(value)) return value; // structured clone keeps cycles; so do we
  state.seen.add(value);
  if (Array.isArray(value)) {
    let out: unknown[] = value;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (isPrimitive(v)) continue;
      const p = prepare(v, `${path}[${i}]`, state);
      if (p !== v) {
        if (out === value) out = value.slice();
        out[i] = p;
      }
    }
    return out;
  }
  if (value instanceof Map) {
    let out: Map<unknown, unknown> | undefined; // a copy, made at the first entry that changes
    let index = 0;
    for (const [k, v] of value) {
      const key = isPrimitive(k) ? k : prepare(k, `${path} (a Map key)`, state);
      const p = isPrimitive(v) ? v : prepare(v, `${path}.get(${describe(k)})`, state);
      if (out === undefined && (key !== k || p !== v)) out = new Map([...value].slice(0, index));
      out?.set(key, p);
      index++;
    }
    return out ?? value;
  }
  if (value instanceof Set) {
    let swapped = false;
    const members = [...value].map((v) => {
      const p = prepare(v, `${path} (a Set member)`, state);
      if (p !== v) swapped = true;
      return p;
    });
    return swapped ? new Set(members) : value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    const record = value as Record<string, unknown>;
    let out = record;
    for (const key of Object.keys(record)) {
      const v = record[key];
      if (isPrimitive(v)) continue;
      const p = prepare(v, `${path}.${key}`, state);
      if (p !== v) {
        if (out === record) out = { ...record };
        out[key] = p;
      }
    }
    return out;
  }
  if (isDetached(value)) throw uncloneable(state.taskName, path, `it is ${DETACHED}`);
  if (value instanceof MessagePort && !state.transfer?.includes(value))
    throw uncloneable(
      state.taskName,
      path,
      'a MessagePort can only be moved, and only a submit moves one: list it in pool.with({ transfer: [port] }).submit(...)',
    );
  for (const Type of CLONEABLE) if (value instanceof Type) return value;
  throw uncloneable(
    state.taskName,
    path,
    `${describe(value)} cannot be sent to a worker thread: structured clone would drop its prototype, methods and private fields. Send a plain object with its data instead`,
  );
}

/** Crosses as it is: nothing to check or swap inside. */
function isPrimitive(value: unknown): boolean {
  return typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol';
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
