import { AbortError } from './errors.js';
import type { TaskCallbacks } from './pool/callback.js';
import type { ProgressReporter } from './pool/progress.js';
import { CANCEL, getTaskControl, KILLING, SLOT_WORDS, STATE, type TaskControl } from './task-control.js';

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
}

/** The runtime's per-task record; `currentTask()` builds the context from it on first use. */
export interface RunningTask extends TaskControl {
  id: number;
  progress: ProgressReporter | undefined;
  /** The task's `callback(fn)` arguments, released when it ends. */
  callbacks?: TaskCallbacks | undefined;
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

/**
 * A class, not an object literal with a getter: tiny tasks are batched many to a message, and
 * building a literal with an accessor cost ~0.7 µs a task, several times the context itself.
 */
class Context implements TaskContext {
  readonly id: number;
  readonly #running: RunningTask;
  #signal: AbortSignal | undefined;
  /** An own arrow function, so `const { progress } = currentTask()` works. */
  readonly progress: (value: unknown) => void;

  constructor(running: RunningTask) {
    this.id = running.id;
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
  const { board } = running;
  const word = running.slot * SLOT_WORDS + STATE;
  const controller = new AbortController();
  const signal = controller.signal;
  let fired = false;
  const check = (): boolean => {
    if (!fired) {
      const state = Atomics.load(board, word);
      if (state === CANCEL || state === KILLING) {
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
    const wait = Atomics.waitAsync(board, word, Atomics.load(board, word));
    if (wait.async) wait.value.then(watch);
  };
  watch();
  return signal;
}
