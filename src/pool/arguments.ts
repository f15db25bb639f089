import { MessagePort } from 'node:worker_threads';
import { describe } from '../errors.js';
import { isShareable, TO_HANDLE } from '../handles.js';
import { CallbackChannels, isCallback } from './callback.js';

/**
 * Checks task arguments before anything is queued, and swaps shared objects (SharedSemaphore,
 * SharedRateLimiter) and `callback(fn)`s for their handles. Structured clone would otherwise throw later, at
 * dispatch (functions, symbols), or worse, succeed silently while dropping a class's prototype
 * and private fields. Containers are copied only when something inside them was swapped: the
 * caller's objects are never changed.
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

export function prepareArguments(taskName: string, values: unknown[], label: (i: number) => string): PreparedArguments {
  const state: WalkState = { taskName, revive: false, seen: undefined, callbacks: undefined };
  let out = values;
  try {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol') continue; // the fast path
      const prepared = prepare(v, label(i), state);
      if (prepared !== v) {
        if (out === values) out = values.slice();
        out[i] = prepared;
      }
    }
  } catch (error) {
    state.callbacks?.close();
    throw error;
  }
  return { values: out, revive: state.revive, callbacks: state.callbacks };
}

interface WalkState {
  taskName: string;
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
  if (ArrayBuffer.isView(value)) return value;
  state.seen ??= new Set();
  if (state.seen.has(value)) return value; // structured clone keeps cycles; so do we
  state.seen.add(value);
  if (Array.isArray(value)) {
    let out: unknown[] = value;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol') continue;
      const p = prepare(v, `${path}[${i}]`, state);
      if (p !== v) {
        if (out === value) out = value.slice();
        out[i] = p;
      }
    }
    return out;
  }
  if (value instanceof Map) {
    let out: Map<unknown, unknown> = value;
    for (const [k, v] of value) {
      const p = prepare(v, `${path}.get(${describe(k)})`, state);
      if (p !== v) {
        if (out === value) out = new Map(value);
        out.set(k, p);
      }
    }
    return out;
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
      if (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol') continue;
      const p = prepare(v, `${path}.${key}`, state);
      if (p !== v) {
        if (out === record) out = { ...record };
        out[key] = p;
      }
    }
    return out;
  }
  for (const Type of CLONEABLE) if (value instanceof Type) return value;
  throw uncloneable(
    state.taskName,
    path,
    `${describe(value)} cannot be sent to a worker thread: structured clone would drop its prototype, methods and private fields. Send a plain object with its data instead`,
  );
}

function uncloneable(taskName: string, path: string, why: string): UncloneableArgumentError {
  const err = new TypeError(`task '${taskName}', ${path}: ${why}`) as UncloneableArgumentError;
  err.code = 'ERR_UNCLONEABLE_ARGUMENT';
  err.path = path;
  return err;
}
