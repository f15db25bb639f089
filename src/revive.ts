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

const revivers: ReadonlyMap<string, (handle: Handle) => unknown> = new Map<string, (handle: Handle) => unknown>([
  [SHARED_SEMAPHORE_KIND, (handle) => SharedSemaphore.from(handle as SharedSemaphoreHandle)],
  [SHARED_RATE_LIMITER_KIND, (handle) => SharedRateLimiter.from(handle as SharedRateLimiterHandle)],
  [CALLBACK_KIND, (handle) => reviveCallback(handle as CallbackHandle)],
]);

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
    const entries = [...value].map(([k, v]) => [reviveHandles(k), reviveHandles(v)] as const);
    value.clear();
    for (const [k, v] of entries) value.set(k, v);
  } else if (value instanceof Set) {
    const members = [...value].map(reviveHandles);
    value.clear();
    for (const member of members) value.add(member);
  } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = reviveHandles(record[key]);
  }
  return value;
}
