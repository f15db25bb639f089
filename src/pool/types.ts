/**
 * Types that follow a worker module's exports: `WorkerPool<typeof import('./math.js')>` makes
 * task names, argument lists and result types come from the module itself.
 */
import type { SharedRateLimiter } from '../sync/shared-rate-limiter.js';
import type { SharedSemaphore } from '../sync/shared-semaphore/shared-semaphore.js';
import type { AnyFunction, CallerArgument } from './callback.js';

export type { AnyFunction };

/** A module's shape when nothing more is known: any name, any arguments, unknown results. */
export type UntypedModule = Record<string, AnyFunction>;

/** The names of a module's exported functions. */
export type TaskName<M> = { [K in keyof M]: M[K] extends AnyFunction ? K : never }[keyof M] & string;

/**
 * The arguments of task `K` as the caller passes them: its parameters, except that a function
 * parameter takes a `callback(fn)` (functions themselves cannot cross threads).
 */
export type TaskArgs<M, K extends TaskName<M>> = M[K] extends (...args: infer A) => unknown
  ? { [I in keyof A]: CallerArgument<A[I]> }
  : never;

/**
 * What awaiting task `K` gives: its return type, unwrapped from a promise, as it arrives on the
 * caller's thread (see {@link Cloned}).
 */
export type TaskResult<M, K extends TaskName<M>> = M[K] extends (...args: never[]) => infer R ? Cloned<Awaited<R>> : never;

/** What structured clone copies whole (the shared gates arrive live, revived by the pool). */
type CopiedWhole =
  | Date
  | RegExp
  | ArrayBuffer
  | SharedArrayBuffer
  | ArrayBufferView
  | Blob
  | Error
  | import('node:worker_threads').MessagePort
  | SharedSemaphore
  | SharedRateLimiter;

/**
 * A value of type `T` as it arrives from a worker: a task's result crosses threads by structured
 * clone, which keeps data and drops behaviour. A class instance arrives as a plain object of its
 * own fields, without its prototype, methods or private (`#`) fields; a `Buffer` as a
 * `Uint8Array`. So a task typed to return a class instance gives its caller the instance's data,
 * and calling a method on it does not compile (a getter, which the type cannot tell from a field,
 * is missing at run time too). Return plain data, or rebuild the instance on the caller's side.
 * (A function among a result's own values cannot be cloned at all: the task fails with
 * `DataCloneError`. The type leaves such properties out.)
 */
export type Cloned<T> = 0 extends 1 & T
  ? T // any
  : T extends string | number | boolean | bigint | null | undefined
    ? T
    : T extends AnyFunction
      ? never
      : T extends Buffer
        ? Uint8Array
        : T extends CopiedWhole
          ? T
          : T extends Map<infer K, infer V>
            ? Map<Cloned<K>, Cloned<V>>
            : T extends Set<infer V>
              ? Set<Cloned<V>>
              : T extends readonly unknown[]
                ? { [I in keyof T]: Cloned<T[I]> }
                : T extends object
                  ? { [P in keyof T as T[P] extends AnyFunction ? never : P]: Cloned<T[P]> }
                  : T;

/**
 * Tasks that take an argument can be mapped over items of their first argument's type (an
 * optional one included: `item?: number` maps over `number | undefined`).
 */
export type MapItem<M, K extends TaskName<M>> = TaskArgs<M, K> extends readonly [] ? never : TaskArgs<M, K>[0];
