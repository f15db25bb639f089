/**
 * How shared objects cross threads. Structured clone drops a class's prototype and private
 * fields, so a `SharedSemaphore` cannot simply be posted to a worker. Instead, objects that can
 * live in several threads implement `[TO_HANDLE]()`, returning a plain object tagged with
 * `HANDLE_TAG` that holds only their `SharedArrayBuffer`s. The pool swaps such objects for their
 * handles when a task is submitted, and the worker runtime turns handles back into live objects
 * on the same memory before the task function sees its arguments (see `revive.ts`).
 */
import { swapInside } from './swap-inside.js';

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

/** Names the class of a shareable object, on its prototype: the same in every copy of threadgate. */
export const KIND: unique symbol = Symbol.for('threadgate.kind') as never;

/**
 * `instanceof` for a shareable class, true for an object of that class from any copy of threadgate
 * in this thread. There can be two: a CommonJS worker module that requires `threadgate` gets the
 * CommonJS build, while the worker runtime revives task arguments with the ESM build. A subclass
 * (whose prototype is not `Function.prototype`) keeps the ordinary prototype-chain check.
 */
export function isInstance(type: abstract new (...args: never[]) => unknown, kind: string, value: unknown): boolean {
  if (Object.getPrototypeOf(type) !== Function.prototype) return Function.prototype[Symbol.hasInstance].call(type, value);
  return typeof value === 'object' && value !== null && (value as { [KIND]?: unknown })[KIND] === kind;
}

export function isShareable(value: object): value is Shareable {
  return typeof (value as Partial<Shareable>)[TO_HANDLE] === 'function';
}

export function isHandle(value: unknown): value is Handle {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[HANDLE_TAG] === 'string';
}

/**
 * Set on the global object once this thread has held a shareable object: a thread that never
 * has cannot return one, so its results are not walked. A global, read the same by every copy of
 * threadgate in the thread (a CommonJS worker module gets the CommonJS build, the runtime is ESM).
 */
const HELD_SHAREABLE: unique symbol = Symbol.for('threadgate.heldShareable') as never;

/** Called by every shareable object as it is made or revived in this thread. */
export function noteShareable(): void {
  (globalThis as { [HELD_SHAREABLE]?: true })[HELD_SHAREABLE] = true;
}

export function hasHeldShareable(): boolean {
  return (globalThis as { [HELD_SHAREABLE]?: true })[HELD_SHAREABLE] === true;
}

/**
 * `value` with every shareable object inside it (in arrays, plain objects, Maps and Sets, at any
 * depth, cycles kept) swapped for its handle: how a task's result carries one back to the pool,
 * which revives it. Containers are copied only where something inside them is swapped: the task's
 * own objects are never changed (swap-inside.ts). Anything else is left to structured clone.
 */
export function toHandles(value: unknown): unknown {
  return swapInside(value, isShareableObject, (shareable) => (shareable as Shareable)[TO_HANDLE]());
}

function isShareableObject(value: object | symbol): boolean {
  return typeof value === 'object' && isShareable(value);
}
