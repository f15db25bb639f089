/**
 * `threadgate/worker`: what task functions running in a pool's workers can import.
 *
 * @module
 */
export { currentTask, type Movable, move, type TaskContext } from '../workers/task-context.js';
