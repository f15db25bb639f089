/**
 * Types that follow a worker module's exports: `WorkerPool<typeof import('./math.js')>` makes
 * task names, argument lists and result types come from the module itself.
 */
import type { CallerArgument } from './callback.js';

// biome-ignore lint/suspicious/noExplicitAny: the widest function type, needed to match any export
export type AnyFunction = (...args: any[]) => unknown;

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

/** What awaiting task `K` gives: its return type, unwrapped from a promise. */
export type TaskResult<M, K extends TaskName<M>> = M[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** Tasks that take one argument can be mapped over items of that argument's type. */
export type MapItem<M, K extends TaskName<M>> = TaskArgs<M, K> extends [infer First, ...unknown[]] ? First : never;
