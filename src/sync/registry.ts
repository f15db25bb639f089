/**
 * The shared-memory gates this thread knows of (made here, or received as task arguments), so
 * that a pool can give back the permits of a worker that died, and can check that a worker it is
 * about to terminate holds none of their internal locks. Weak: a gate nobody uses any more is
 * not kept alive by this list.
 */
export interface ThreadScopedResource {
  /** Gives back what thread `threadId` held; returns how many units came back. */
  reclaim(threadId: number): number;
  /** True while thread `threadId` holds the resource's internal lock. */
  isLockedBy(threadId: number): boolean;
}

const known = new Set<WeakRef<ThreadScopedResource>>();

export function registerResource(resource: ThreadScopedResource): void {
  known.add(new WeakRef(resource));
}

export function forEachResource(fn: (resource: ThreadScopedResource) => void): void {
  for (const ref of known) {
    const resource = ref.deref();
    if (resource === undefined) known.delete(ref);
    else fn(resource);
  }
}

/**
 * Threads this thread has terminated once they held no internal lock. Such a thread can take a
 * lock again before it stops, but only to back out of it, writing nothing (it sees KILLING): a
 * thread waiting here for that lock may take it over instead of waiting for an unlock that may
 * never come. Without this, a gate's `reclaim` for another dead worker, run from an `'exit'`
 * handler, would wait forever on this thread for a lock that only the next `'exit'` frees.
 */
const terminated = new Set<number>();

/** Called right before terminating thread `threadId` (see above). */
export function markTerminated(threadId: number): void {
  terminated.add(threadId);
}

/** Called once thread `threadId` has exited and its resources have been reclaimed. */
export function forgetTerminated(threadId: number): void {
  terminated.delete(threadId);
}

export function wasTerminated(threadId: number): boolean {
  return terminated.size !== 0 && terminated.has(threadId);
}
