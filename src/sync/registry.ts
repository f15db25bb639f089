import type { Handle } from '../wire/handles.js';

/**
 * A shared-memory gate that holds units per thread, so that a pool can give back what a worker
 * that died held. In a pool worker every such gate is announced to the pool as it is made or
 * revived (before the worker can take anything from it), and the pool keeps it until that worker
 * has exited and been reclaimed: its units come back even when no other thread holds the gate.
 */
export interface ThreadScopedResource {
  /** Gives back what thread `threadId` held; returns how many units came back. */
  reclaim(threadId: number): number;
  /** Its cloneable form, to announce it to the pool. */
  readonly handle: Handle;
}

// A global: `threadgate`, `threadgate/worker` and the runtime may be separate module instances in
// one worker (ESM and CJS builds), and every gate made by any of them must be announced.
const ANNOUNCER = Symbol.for('threadgate.announceResource');
type AnnouncerHolder = { [ANNOUNCER]?: (handle: Handle) => void };

/** Called by every gate as it is made or revived in this thread. */
export function registerResource(resource: ThreadScopedResource): void {
  (globalThis as AnnouncerHolder)[ANNOUNCER]?.(resource.handle);
}

/** Installed by the worker runtime: where this thread announces its gates. */
export function announceResourcesTo(announce: (handle: Handle) => void): void {
  (globalThis as AnnouncerHolder)[ANNOUNCER] = announce;
}
