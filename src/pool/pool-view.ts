import type { Future } from '../future.js';
import { FORBIDDEN_TASK_NAMES } from '../wire/protocol.js';
import { type CallOptions, type ResolvedCallOptions, resolveCallOptions } from './call-options.js';
import type { MapIterator } from './map/map-iterator.js';
import type { MapOptions } from './map/map-options.js';
import type { MapItem, TaskArgs, TaskName, TaskResult, UntypedModule } from './types.js';

/** A typed remote: every exported function of the module, as a call that runs as a pool task. */
export type PoolProxy<M> = { readonly [K in TaskName<M>]: (...args: TaskArgs<M, K>) => Future<TaskResult<M, K>> };

/** @internal What a pool lends its views: its calls, with the options of the view. */
export interface PoolCalls<M> {
  submit<K extends TaskName<M>>(call: ResolvedCallOptions, name: K, args: unknown[]): Future<TaskResult<M, K>>;
  map<K extends TaskName<M>>(
    call: ResolvedCallOptions,
    name: K,
    items: unknown,
    options: MapOptions | undefined,
    spread: boolean,
  ): MapIterator<TaskResult<M, K>>;
  /** A view whose calls use `call`'s options. */
  view(call: ResolvedCallOptions): PoolView<M>;
}

/** `pool.with(options)`: the same pool, with per-call options applied to every call made through it. */
export class PoolView<M = UntypedModule> {
  readonly #calls: PoolCalls<M>;
  readonly #call: ResolvedCallOptions;

  /** @internal Made by `pool.with()`. */
  constructor(calls: PoolCalls<M>, call: ResolvedCallOptions) {
    this.#calls = calls;
    this.#call = call;
  }

  submit<K extends TaskName<M>>(name: K, ...args: TaskArgs<M, K>): Future<TaskResult<M, K>> {
    return this.#calls.submit(this.#call, name, args);
  }

  map<K extends TaskName<M>>(
    name: K,
    items: Iterable<MapItem<M, K>> | AsyncIterable<MapItem<M, K>>,
    options?: MapOptions,
  ): MapIterator<TaskResult<M, K>> {
    return this.#calls.map(this.#call, name, items, options, false);
  }

  starmap<K extends TaskName<M>>(
    name: K,
    items: Iterable<TaskArgs<M, K>> | AsyncIterable<TaskArgs<M, K>>,
    options?: MapOptions,
  ): MapIterator<TaskResult<M, K>> {
    return this.#calls.map(this.#call, name, items, options, true);
  }

  with(options: CallOptions): PoolView<M> {
    return this.#calls.view(resolveCallOptions(options, this.#call));
  }

  proxy(): PoolProxy<M> {
    return makeProxy<M>((name, args) => this.#calls.submit(this.#call, name as TaskName<M>, args));
  }
}

/**
 * What a proxy is when it is not calling tasks: an ordinary object named `WorkerPoolProxy`, so
 * `String(proxy)` and a template literal work, and it is not thenable.
 */
/** Names that serializers look up on any object (`JSON.stringify`'s `toJSON`): never tasks on a proxy. */
const NOT_PROXIED: ReadonlySet<string> = new Set(['toJSON']);

const PROXY_PROTOTYPE: object = Object.freeze(Object.create(Object.prototype, { [Symbol.toStringTag]: { value: 'WorkerPoolProxy' } }));

export function makeProxy<M>(submit: (name: TaskName<M>, args: unknown[]) => Future<unknown>): PoolProxy<M> {
  return new Proxy(Object.create(PROXY_PROTOTYPE) as PoolProxy<M>, {
    get: (target, key) => {
      // Symbols and the names that are never tasks ('then', 'toString', ...) are the object's own:
      // `await pool.proxy()` must not call a task named 'then', nor `${proxy}` one named 'toString'.
      if (typeof key !== 'string' || FORBIDDEN_TASK_NAMES.has(key) || NOT_PROXIED.has(key)) return Reflect.get(target, key);
      return (...args: unknown[]) => submit(key as TaskName<M>, args);
    },
  });
}
