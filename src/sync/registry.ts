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
