import { type Remote, releaseProxy, wrap } from 'comlink';
import { ThreadgateError } from '../src/errors.js';
import type { AnyFunction } from '../src/pool/callback.js';
import { type CallbackHandle, isThrown, THROWN } from '../src/wire/callbacks.js';
import { nodeEndpoint } from '../src/wire/node-endpoint.js';
import { deserializeError } from '../src/wire/remote-error.js';

/**
 * The worker's side of `callback(fn)` (src/pool/callback.ts): each callback handle among a task's
 * arguments becomes an async function that calls `fn` on the caller's thread through comlink. The
 * runtime waits for every call's answer before it reports the task done, and releases the
 * callbacks when the task ends.
 */

/** The callbacks of the running task, in the worker. */
export interface TaskCallbacks {
  /** Resolves once every call made so far has been answered, or undefined if none is pending. */
  drain(): Promise<void> | undefined;
  /** Closes the channels; later calls reject with `ERR_CALLBACK_RELEASED`. */
  release(): void;
}

let revived: { pending: Set<Promise<unknown>>; release: () => void }[] = [];

/** A callback handle, as the async function the task calls. */
export function reviveCallback(handle: CallbackHandle): (...args: unknown[]) => Promise<unknown> {
  const remote = wrap<AnyFunction>(nodeEndpoint(handle.port)) as Remote<AnyFunction>;
  const pending = new Set<Promise<unknown>>();
  let released = false;
  // The caller releases the callback when it sees the task settle, which a cancel makes happen
  // while the task still runs: a call then waiting for its answer would wait forever, and the task
  // could not unwind before the pool kills its worker. It fails with ERR_CALLBACK_RELEASED instead.
  const closed = new Promise<never>((_, reject) => handle.port.once('close', () => reject(releasedError())));
  closed.catch(() => {});
  revived.push({
    pending,
    release: () => {
      released = true;
      remote[releaseProxy]();
      handle.port.close();
    },
  });
  return (...args: unknown[]) => {
    if (released) return Promise.reject(releasedError());
    const answered = (remote(...args) as Promise<unknown>).then((answer) => {
      if (isThrown(answer)) throw deserializeError(answer[THROWN]);
      return answer;
    });
    const call = Promise.race([answered, closed]);
    pending.add(call);
    const forget = (): void => {
      pending.delete(call);
    };
    call.then(forget, forget);
    return call;
  };
}

/** The callbacks revived since the last call: the runtime takes them right after reviving a task's arguments. */
export function takeRevivedCallbacks(): TaskCallbacks | undefined {
  if (revived.length === 0) return undefined;
  const mine = revived;
  revived = [];
  const drain = (): Promise<void> | undefined => {
    const calls = mine.flatMap((c) => [...c.pending]);
    if (calls.length === 0) return undefined;
    // A call's answer may come with new calls made meanwhile: look again once these are settled.
    return Promise.allSettled(calls).then(() => drain());
  };
  return {
    drain,
    release: () => {
      for (const c of mine) c.release();
    },
  };
}

function releasedError(): ThreadgateError {
  return new ThreadgateError(
    'ERR_CALLBACK_RELEASED',
    'a callback() was called after its task had ended: it is released when the task settles',
  );
}
