/**
 * `threadgate/worker`: what task functions running in a pool's workers can import.
 *
 * @module
 */
export { currentTask, type TaskContext } from './task-context.js';
