import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expose } from 'comlink';
import { invalidType } from '../validate.js';
import { CALLBACK_KIND, type CallbackHandle, THROWN } from '../wire/callbacks.js';
import { HANDLE_TAG, type Shareable } from '../wire/handles.js';
import { nodeEndpoint } from '../wire/node-endpoint.js';
import { serializeError } from '../wire/remote-error.js';

/**
 * Functions passed to tasks. A function cannot cross threads, so `callback(fn)` marks one to be
 * called remotely: for each task it is passed to, the pool opens a MessageChannel, exposes `fn`
 * on its own end with comlink and sends the other end along; the worker gets an async function
 * that calls `fn` on the caller's thread and resolves to its result.
 *
 * Lifetime: the channel belongs to one task. The worker waits for the answers to every call the
 * task made before it reports the task done, so each call has run by the time the caller sees the
 * task's result; then both ends are closed, and a later call rejects with `ERR_CALLBACK_RELEASED`.
 * No handle outlives the task: nothing keeps the process alive. The worker's side is
 * workers/callbacks.ts; what both agree on, wire/callbacks.ts.
 */

/** The widest function type, needed to match any export. */
// biome-ignore lint/suspicious/noExplicitAny: nothing narrower matches every function
export type AnyFunction = (...args: any[]) => unknown;

/** What `fn` becomes in the worker: the same parameters, and a promise of its result. */
export type RemoteFunction<F extends AnyFunction> = (...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>>;

// A registered symbol, not `instanceof`: the ESM and CJS builds of threadgate may both be loaded.
const CALLBACK: unique symbol = Symbol.for('threadgate.callback') as never;

/** A function marked by {@link callback}, to be passed as (or inside) a task argument. */
export class Callback<F extends AnyFunction = AnyFunction> {
  /** Marks a callback (a symbol: no name of yours meets it); it also keeps the type nominal. */
  readonly [CALLBACK] = true;
  /** @internal */
  readonly fn: AnyFunction;
  /** The function type the task sees; never set, it only carries the type. */
  declare readonly remote?: F;

  /** @internal */
  constructor(fn: AnyFunction) {
    this.fn = fn;
  }
}

/**
 * Marks `fn` to be passed to a task. In the worker it arrives as an async function that runs `fn`
 * on this thread (arguments and result structured-cloned; a throw in `fn` rejects the call) and
 * is released when the task settles.
 *
 * ```ts
 * await pool.submit('crawl', urls, callback((url: string, bytes: number) => log(url, bytes)));
 * // worker: export async function crawl(urls: string[], onPage: (url: string, bytes: number) => Promise<void>)
 * ```
 */
export function callback<F extends AnyFunction>(fn: F): Callback<RemoteFunction<F>> {
  if (typeof fn !== 'function') throw invalidType('fn', fn, 'a function');
  return new Callback(fn);
}

export function isCallback(value: object): value is Callback {
  return (value as Partial<Callback>)[CALLBACK] === true;
}

/** Values that cross threads whole (or as a handle): never looked into for callbacks. */
type Leaf = Shareable | ArrayBuffer | SharedArrayBuffer | ArrayBufferView | Date | RegExp | Error | Blob | MessagePort;

/**
 * A task parameter as the caller passes it: a function, at any depth in arrays and plain
 * objects, takes a `callback(...)` of a compatible function.
 */
export type CallerArgument<P> = P extends AnyFunction
  ? Callback<P>
  : P extends Leaf | Map<unknown, unknown> | Set<unknown>
    ? P
    : P extends object
      ? { [K in keyof P]: CallerArgument<P[K]> }
      : P;

// ─── the caller's side ──────────────────────────────────────────────────────────────────────

/** The channels opened for one task's callbacks. */
export class CallbackChannels {
  /** The worker's ends, to be transferred with the task. */
  readonly ports: MessagePort[] = [];
  readonly #ends: MessagePort[] = [];

  /** Exposes `marked.fn` on a new channel; returns the handle that takes its place in the arguments. */
  open(marked: Callback): CallbackHandle {
    const { port1, port2 } = new MessageChannel();
    const fn = marked.fn;
    // An Error `fn` throws crosses as the pool's task errors do: comlink alone keeps only its name,
    // message and stack, not its `code`, `cause` or other own properties. Other thrown values cross as they are.
    const answer = async (...args: unknown[]): Promise<unknown> => {
      try {
        return await fn(...args);
      } catch (error) {
        if (error instanceof Error) return { [THROWN]: serializeError(error) };
        throw error;
      }
    };
    expose(answer, nodeEndpoint(port1));
    this.#ends.push(port1);
    this.ports.push(port2);
    return { [HANDLE_TAG]: CALLBACK_KIND, version: 1, port: port2 };
  }

  /** Closes every channel (at the task's end, or when it is refused before it was queued). */
  close(): void {
    for (const port of this.#ends) port.close();
    for (const port of this.ports) port.close(); // a no-op once transferred; closes the unsent
  }
}
