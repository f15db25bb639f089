/**
 * What only some tasks need: reviving the shared objects and callbacks among their arguments, and
 * the channel for `progress()`. The runtime loads this module the first time a task needs it,
 * never at a worker's start: with comlink and the semaphore classes, it is most of what the
 * runtime would otherwise load before running anything.
 */

export { reviveHandles } from '../src/revive.js';
export { takeRevivedCallbacks } from './callbacks.js';
export { connectProgress } from './progress-reporter.js';
