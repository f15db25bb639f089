import { describe } from '../validate.js';

/*
 * The one walk through the values a message carries, for everything that swaps objects inside
 * them: task arguments (shared gates and `callback(fn)`s → handles, with checks), results (shared
 * gates → handles) and either on arrival (handles → live objects). It goes where structured clone
 * goes: into arrays, Maps, Sets and plain objects, at any depth.
 *
 * Two passes. `mark` walks everything once, runs the checks (a check may throw, naming the path
 * of the value) and notes which containers hold something to swap, directly or further in, or
 * lead back to a container being walked (a cycle). Only if something is to be swapped at all
 * (`found`), `apply` builds the result: each marked container is copied once, and the copy is
 * registered before its contents are filled in, so a cycle or a shared reference through it
 * points at the copy, as structured clone would see the original; each swapped object is swapped
 * once, however often it appears. Unmarked containers are kept as they are: the caller's objects
 * are never changed.
 */

/** A container being walked (a cycle back to it); walked, nothing inside to swap; walked, something is; a value to swap. */
const WALKING = 1;
const CLEAN = 2;
const DIRTY = 3;
const SWAP = 4;

/** Whether `mark` must swap this value (it may throw to refuse it); containers are walked into by `mark` itself. */
export type NeedsSwap = (value: ObjectLike, path: string | undefined) => boolean;
type ObjectLike = object | symbol;

export class Swapper {
  readonly #needsSwap: NeedsSwap;
  readonly #swap: (value: ObjectLike) => unknown;
  readonly #marks = new Map<ObjectLike, number>();
  /** What `apply` made of each value it swapped or copied. */
  #done: Map<ObjectLike, unknown> | undefined;
  #found = false;

  constructor(needsSwap: NeedsSwap, swap: (value: ObjectLike) => unknown) {
    this.#needsSwap = needsSwap;
    this.#swap = swap;
  }

  /** Something `mark` walked is to be swapped: `apply` makes a new value. */
  get found(): boolean {
    return this.#found;
  }

  /** Walks `value` (named `path` in the errors of the checks, if given); true if something in it is to be swapped. */
  mark(value: unknown, path?: string): boolean {
    if (!isObjectLike(value)) return false;
    const known = this.#marks.get(value);
    // A cycle back to a container being walked: copy this one too, so it can point at that one's copy.
    if (known !== undefined) return known !== CLEAN;
    if (this.#needsSwap(value, path)) {
      this.#marks.set(value, SWAP);
      this.#found = true;
      return true;
    }
    if (typeof value === 'symbol' || !isContainer(value)) return false;
    this.#marks.set(value, WALKING);
    let dirty = false;
    // A path is spelled out only for what a check sees: never for a primitive.
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        if (isObjectLike(item) && this.mark(item, path && `${path}[${i}]`)) dirty = true;
      }
    } else if (value instanceof Map) {
      for (const [k, v] of value) {
        if (isObjectLike(k) && this.mark(k, path && `${path} (a Map key)`)) dirty = true;
        if (isObjectLike(v) && this.mark(v, path && `${path}.get(${describe(k)})`)) dirty = true;
      }
    } else if (value instanceof Set) {
      for (const member of value) if (isObjectLike(member) && this.mark(member, path && `${path} (a Set member)`)) dirty = true;
    } else {
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const item = record[key];
        if (isObjectLike(item) && this.mark(item, path && `${path}.${key}`)) dirty = true;
      }
    }
    this.#marks.set(value, dirty ? DIRTY : CLEAN);
    return dirty;
  }

  /** `value` with everything `mark` found swapped, its containers copied where needed. `mark` it first. */
  apply(value: unknown): unknown {
    if (!isObjectLike(value)) return value;
    const mark = this.#marks.get(value);
    if (mark !== DIRTY && mark !== SWAP) return value;
    const done = (this.#done ??= new Map());
    if (done.has(value)) return done.get(value);
    if (mark === SWAP) {
      const swapped = this.#swap(value);
      done.set(value, swapped);
      return swapped;
    }
    if (Array.isArray(value)) {
      const copy: unknown[] = new Array(value.length);
      done.set(value, copy);
      for (let i = 0; i < value.length; i++) copy[i] = this.apply(value[i]);
      return copy;
    }
    if (value instanceof Map) {
      const copy = new Map<unknown, unknown>();
      done.set(value, copy);
      for (const [k, v] of value) copy.set(this.apply(k), this.apply(v));
      return copy;
    }
    if (value instanceof Set) {
      const copy = new Set<unknown>();
      done.set(value, copy);
      for (const member of value) copy.add(this.apply(member));
      return copy;
    }
    const record = value as Record<string, unknown>;
    const copy: Record<string, unknown> = { ...record };
    if (Object.getPrototypeOf(record) === null) Object.setPrototypeOf(copy, null);
    done.set(value, copy);
    for (const key of Object.keys(record)) {
      const item = this.apply(record[key]);
      // Defined, not assigned: an own '__proto__' key (JSON.parse makes them) stays a key.
      if (item !== record[key]) Object.defineProperty(copy, key, { value: item, writable: true, enumerable: true, configurable: true });
    }
    return copy;
  }
}

/** `value` with every object `needsSwap` picks swapped, at any depth (see above). */
export function swapInside(value: unknown, needsSwap: NeedsSwap, swap: (value: ObjectLike) => unknown): unknown {
  if (!isObjectLike(value)) return value;
  const swapper = new Swapper(needsSwap, swap);
  swapper.mark(value);
  return swapper.found ? swapper.apply(value) : value;
}

/** Arrays, Maps, Sets and plain objects: what structured clone walks into. */
export function isContainer(value: object): boolean {
  if (Array.isArray(value) || value instanceof Map || value instanceof Set) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Anything a check may have to see: objects, functions and symbols. */
function isObjectLike(value: unknown): value is ObjectLike {
  return (typeof value === 'object' && value !== null) || typeof value === 'function' || typeof value === 'symbol';
}
