/**
 * How shared objects cross threads. Structured clone drops a class's prototype and private
 * fields, so a `SharedSemaphore` cannot simply be posted to a worker. Instead, objects that can
 * live in several threads implement `[TO_HANDLE]()`, returning a plain object tagged with
 * `HANDLE_TAG` that holds only their `SharedArrayBuffer`s. The pool swaps such objects for their
 * handles when a task is submitted, and the worker runtime turns handles back into live objects
 * on the same memory before the task function sees its arguments.
 */
export const TO_HANDLE: unique symbol = Symbol.for('threadgate.toHandle') as never;
export const HANDLE_TAG = '@@threadgate';

/** The plain, cloneable form of a shared object. */
export interface Handle {
  readonly [HANDLE_TAG]: string;
  readonly version: number;
}

/** An object that can be sent to other threads as a {@link Handle}. */
export interface Shareable {
  [TO_HANDLE](): Handle;
}

export function isShareable(value: object): value is Shareable {
  return typeof (value as Partial<Shareable>)[TO_HANDLE] === 'function';
}

export function isHandle(value: unknown): value is Handle {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[HANDLE_TAG] === 'string';
}

const revivers = new Map<string, (handle: Handle) => unknown>();

/** Teaches `reviveHandles` how to rebuild one kind of shared object. Called by each shareable class's module. */
export function registerReviver(kind: string, revive: (handle: Handle) => unknown): void {
  revivers.set(kind, revive);
}

/**
 * Rebuilds every handle inside `value` (arrays, plain objects, Maps and Sets, at any depth) as
 * a live shared object on the same memory. Mutates containers in place: they are this thread's
 * own fresh copies from structured clone.
 */
export function reviveHandles(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isHandle(value)) {
    const revive = revivers.get(value[HANDLE_TAG]);
    return revive ? revive(value) : value;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveHandles(value[i]);
  } else if (value instanceof Map) {
    for (const [k, v] of value) value.set(k, reviveHandles(v));
  } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = reviveHandles(record[key]);
  }
  return value;
}
