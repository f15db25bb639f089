/**
 * The worker's side of `handles.ts`: turns the handles in a task's arguments back into live
 * objects on the same memory. The table is explicit, not filled in by each class's module as it
 * loads, so no bundler can drop a kind by tree-shaking an import kept only for its side effect.
 */

import { reviveCallback } from '../workers/callbacks.js';
import { SHARED_RATE_LIMITER_KIND, SharedRateLimiter, type SharedRateLimiterHandle } from './sync/shared-rate-limiter.js';
import { SHARED_SEMAPHORE_KIND, SharedSemaphore, type SharedSemaphoreHandle } from './sync/shared-semaphore/shared-semaphore.js';
import { CALLBACK_KIND, type CallbackHandle } from './wire/callbacks.js';
import { HANDLE_TAG, type Handle, isHandle } from './wire/handles.js';
import { swapInside } from './wire/swap-inside.js';

const revivers: ReadonlyMap<string, (handle: Handle) => unknown> = new Map<string, (handle: Handle) => unknown>([
  [SHARED_SEMAPHORE_KIND, (handle) => SharedSemaphore.from(handle as SharedSemaphoreHandle)],
  [SHARED_RATE_LIMITER_KIND, (handle) => SharedRateLimiter.from(handle as SharedRateLimiterHandle)],
  [CALLBACK_KIND, (handle) => reviveCallback(handle as CallbackHandle)],
]);

/**
 * `value` with every handle inside it (arrays, plain objects, Maps and Sets, at any depth, cycles
 * kept) rebuilt as a live shared object on the same memory; containers copied where something
 * inside them is (swap-inside.ts).
 */
export function reviveHandles(value: unknown): unknown {
  return swapInside(value, isHandle, (handle) => {
    const revive = revivers.get((handle as Handle)[HANDLE_TAG]);
    return revive ? revive(handle as Handle) : handle;
  });
}
