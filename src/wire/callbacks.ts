import type { MessagePort } from 'node:worker_threads';
import type { Handle } from './handles.js';
import type { SerializedError } from './remote-error.js';

/*
 * What both sides of a `callback(fn)` agree on: the handle that takes the function's place in a
 * task's arguments (its MessagePort, which comlink drives), and how an error `fn` throws is
 * marked in its answer.
 */

export const CALLBACK_KIND = 'callback';

export interface CallbackHandle extends Handle {
  port: MessagePort;
}

/** Marks an answer that is an error `fn` threw, serialized (see `CallbackChannels.open`). */
export const THROWN = '@@threadgate/thrown';

export function isThrown(value: unknown): value is { [THROWN]: SerializedError } {
  return typeof value === 'object' && value !== null && THROWN in value;
}
