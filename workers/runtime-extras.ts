/**
 * What only some tasks need: reviving the shared objects and callbacks among their arguments, and
 * the channel for `progress()`. The runtime loads this module the first time a task needs it,
 * never at a worker's start: with comlink and the semaphore classes, it is most of what the
 * runtime would otherwise load before running anything.
 */
export { takeRevivedCallbacks } from '../src/pool/callback.js';
export { connectProgress } from '../src/pool/progress.js';
export { reviveHandles } from '../src/revive.js';
