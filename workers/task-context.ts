import { MessagePort, type TransferListItem } from 'node:worker_threads';
import { AbortError } from '../src/errors.js';
import { invalidType, invalidValue, isDetached } from '../src/validate.js';
import { getTaskControl, type TaskControl } from '../src/wire/task-control.js';
import type { TaskCallbacks } from './callbacks.js';
import type { ProgressReporter } from './progress-reporter.js';

/** What a task function can learn about, and say from, the task it is running. */
export interface TaskContext {
  /** The pool-wide id of this task (for a map, the id of the chunk). */
  readonly id: number;
  /**
   * Aborts when the task is cancelled or times out. `signal.aborted` and
   * `signal.throwIfAborted()` read shared memory, so polling them works even inside a
   * synchronous loop whose event loop never turns; the `'abort'` event fires when the event
   * loop gets a turn. Return or throw soon after it aborts to keep the worker: after the pool's
   * `cancelGraceMs`, the worker is terminated instead.
   */
  readonly signal: AbortSignal;
  /**
   * Sends `value` to the caller's `onProgress`, in order. Does nothing (and costs nothing) when
   * the caller gave no `onProgress`. `value` must be structured-cloneable.
   */
  progress(value: unknown): void;
  /**
   * What the caller gave as `pool.with({ context })` (a copy), or undefined: a request id, a
   * trace context, anything that belongs to the call rather than to the task's arguments.
   */
  readonly context: unknown;
}

/** The runtime's per-task record; `currentTask()` builds the context from it on first use. */
export interface RunningTask extends TaskControl {
  id: number;
  progress: ProgressReporter | undefined;
  /** The task's `callback(fn)` arguments, released when it ends. */
  callbacks?: TaskCallbacks | undefined;
  /** What the task gave to {@link move}: moved, not copied, with its result. */
  moved?: TransferListItem[];
  /** The caller's `pool.with({ context })`. */
  callContext?: unknown;
  context?: TaskContext;
}

/**
 * The task running on this thread. Call it from inside a task function (sync or async), in any
 * item of a chunked map. Throws outside a pool task.
 */
export function currentTask(): TaskContext {
  const running = getTaskControl() as RunningTask | undefined;
  if (running === undefined || typeof (running as Partial<RunningTask>).id !== 'number') {
    throw new Error('currentTask() was called outside a threadgate task: call it from a function that a WorkerPool runs');
  }
  running.context ??= new Context(running);
  return running.context;
}

/** What {@link move} moves. */
export type Movable = ArrayBuffer | ArrayBufferView | MessagePort;

/**
 * Moves `value` to the caller with the task's result instead of copying it: a large buffer
 * crosses in constant time, and this thread keeps none of it (the buffer is empty here once the
 * task returns). Returns `value`, so it can mark a result or any part of one:
 * `return move(pixels)`, `return { pixels: move(pixels), width }`. A typed array or DataView
 * moves its whole buffer. A `SharedArrayBuffer` is shared already and is refused. Outside a
 * task (the same function called on the main thread, say) it moves nothing and returns `value`.
 */
export function move<T extends Movable>(value: T): T {
  let item: TransferListItem;
  if (value instanceof ArrayBuffer || value instanceof MessagePort) item = value;
  else if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) item = value.buffer;
  else {
    throw invalidType(
      'value',
      value,
      'an ArrayBuffer, a typed array or DataView (its whole buffer moves), or a MessagePort; a SharedArrayBuffer is shared already',
    );
  }
  if (isDetached(item)) throw invalidValue('value', value, 'a buffer with contents, not one moved already');
  const running = getTaskControl() as RunningTask | undefined;
  if (running?.id === undefined) return value;
  running.moved ??= [];
  if (!running.moved.includes(item)) running.moved.push(item);
  return value;
}

/**
 * A class, not an object literal with a getter: tiny tasks are batched many to a message, and
 * building a literal with an accessor cost ~0.7 µs a task, several times the context itself.
 */
class Context implements TaskContext {
  readonly id: number;
  readonly context: unknown;
  readonly #running: RunningTask;
  #signal: AbortSignal | undefined;
  /** An own arrow function, so `const { progress } = currentTask()` works. */
  readonly progress: (value: unknown) => void;

  constructor(running: RunningTask) {
    this.id = running.id;
    this.context = running.callContext;
    this.#running = running;
    this.progress = (value) => running.progress?.report(value);
  }

  /** Made on first use: most tasks never look at it, and watching the board costs a waitAsync. */
  get signal(): AbortSignal {
    this.#signal ??= watchedSignal(this.#running);
    return this.#signal;
  }
}

/** An AbortSignal that reads the task's board word: aborted once the pool marks it CANCEL or KILLING. */
function watchedSignal(running: RunningTask): AbortSignal {
  const { board, slot } = running;
  const controller = new AbortController();
  const signal = controller.signal;
  let fired = false;
  const check = (): boolean => {
    if (!fired) {
      if (board.stopRequested(slot)) {
        fired = true;
        controller.abort(new AbortError('the task was cancelled or timed out'));
      }
    }
    return fired;
  };
  Object.defineProperty(signal, 'aborted', { get: check, configurable: true });
  Object.defineProperty(signal, 'throwIfAborted', {
    value: () => {
      if (check()) throw signal.reason;
    },
    configurable: true,
  });
  // Fire 'abort' listeners without polling, for async tasks: wake when the word changes.
  const watch = (): void => {
    if (check() || getTaskControl() !== running) return;
    const wait = board.whenChanged(slot);
    if (wait.async) wait.value.then(watch);
  };
  watch();
  return signal;
}
