/**
 * The task control board: one `Int32Array` on a `SharedArrayBuffer`, shared by a pool and its
 * workers, with one slot per task in flight. It lets the two sides agree on a task's life
 * without a message per task:
 *
 * ```
 * slot i:  [ STATE, THREAD_ID ]
 *
 *   IDLE ──dispatch──▶ QUEUED ──worker starts it──▶ RUNNING ──cancel/timeout──▶ CANCEL ──grace over──▶ KILLING
 *                        │                             │ (worker writes           │
 *                        │                             │  THREAD_ID first)        │
 *                        │                             └──worker ends it──▶ ENDED ◀┘
 *                        └──cancel before start──▶ SKIP  (the worker never runs it)
 * ```
 *
 * - The worker moves QUEUED→RUNNING with a compare-exchange; if it finds SKIP, it does not run
 *   the task. The pool moves QUEUED→SKIP with a compare-exchange; if it finds RUNNING, the task
 *   is running and must be stopped instead. Exactly one side wins, so a cancelled task never
 *   starts late and a started one is never forgotten.
 * - CANCEL makes `currentTask().signal.aborted` true inside the worker, even in a synchronous
 *   loop whose event loop never turns: `aborted` reads this word.
 * - KILLING is the last word before the worker is terminated. Shared semaphores check it after
 *   taking their internal lock and back out untouched, so a worker is never terminated halfway
 *   through a change to shared memory (see `SharedSemaphore`).
 * - The worker moves RUNNING or CANCEL→ENDED with a compare-exchange as it hands its outcome back;
 *   the pool moves CANCEL→KILLING the same way. If the worker wins, its outcome is on its way and
 *   the worker lives on: a timeout that fires after the task ended (the pool's thread was busy)
 *   stands down, and so does a kill after the grace period. If the pool wins, the worker never
 *   hands the task back and waits to be terminated.
 * - The slot goes back to IDLE only on the pool's side, once Piscina has settled the task.
 */
export const SLOT_WORDS = 2;
export const STATE = 0;
export const THREAD_ID = 1;

export const IDLE = 0;
export const QUEUED = 1;
export const RUNNING = 2;
export const SKIP = 3;
export const CANCEL = 4;
export const KILLING = 5;
export const ENDED = 6;

/** What the worker runtime publishes about the task this thread is running. */
export interface TaskControl {
  board: Int32Array;
  slot: number;
}

// A global, not a module variable: `threadgate`, `threadgate/worker` and the runtime may be
// loaded as separate module instances (ESM and CJS builds), and must all see the same task.
const CONTROL_KEY = Symbol.for('threadgate.taskControl');
type ControlHolder = { [CONTROL_KEY]?: TaskControl | undefined };

export function setTaskControl(control: TaskControl | undefined): void {
  (globalThis as ControlHolder)[CONTROL_KEY] = control;
}

export function getTaskControl(): TaskControl | undefined {
  return (globalThis as ControlHolder)[CONTROL_KEY];
}

/** True when the pool has decided to terminate this thread: shared-memory changes must not start. */
export function isBeingKilled(): boolean {
  const control = (globalThis as ControlHolder)[CONTROL_KEY];
  return control !== undefined && Atomics.load(control.board, control.slot * SLOT_WORDS + STATE) === KILLING;
}
