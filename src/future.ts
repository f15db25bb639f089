/** Where a future's task is: waiting, running, done (with a result or an error), or cancelled. */
export type FutureState = 'pending' | 'running' | 'finished' | 'cancelled';

/** What a Future needs from whoever runs its task. */
export interface FutureDriver {
  /** True while the task runs in a worker. */
  isRunning(): boolean;
  /** Stops the task (removes it if queued, stops it if running). False if it had already settled. */
  cancel(reason?: unknown): boolean;
}

/** Settles a future; known only to the pool (not exported from the package). */
export const SETTLE: unique symbol = Symbol('threadgate.settleFuture') as never;

const ignore = (): void => {};

/**
 * The pending result of a task, in the shape of Python's `concurrent.futures.Future`. A Future
 * is a thenable (`await future`), and tells how far its task has got.
 *
 * A Future never causes an unhandled rejection by itself: like Python's, a failed task whose
 * future nobody looks at stays quiet. Promises derived with `then` follow the usual rules.
 */
export class Future<T> implements PromiseLike<T> {
  readonly #promise: Promise<T>;
  // Loosely typed, so a Future stays covariant in T (Future<number> is a Future<unknown>).
  #resolve!: (value: unknown) => void;
  #reject!: (reason: unknown) => void;
  #driver: FutureDriver | undefined;
  #settled: 'finished' | 'cancelled' | undefined;

  /** @internal Created by the pool. */
  constructor() {
    this.#promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve as (value: unknown) => void;
      this.#reject = reject;
    });
  }

  /** @internal */
  attach(driver: FutureDriver): void {
    if (this.#settled === undefined) this.#driver = driver;
  }

  /** @internal Resolves with `value`, or rejects with `error` when it is given. First call wins. */
  [SETTLE](error: unknown, value?: T): void {
    if (this.#settled !== undefined) return;
    this.#driver = undefined;
    if (error === undefined) {
      this.#settled = 'finished';
      this.#resolve(value);
      return;
    }
    this.#settled = isCancellation(error) ? 'cancelled' : 'finished';
    this.#promise.catch(ignore); // a failed future nobody looks at stays quiet, as in Python
    this.#reject(error);
  }

  /** 'pending' (queued), 'running', 'finished' (result or error) or 'cancelled'. */
  get state(): FutureState {
    if (this.#settled !== undefined) return this.#settled;
    return this.#driver?.isRunning() ? 'running' : 'pending';
  }

  /** The task has settled: finished, failed or cancelled. */
  get done(): boolean {
    return this.#settled !== undefined;
  }

  /** The task is running in a worker right now. */
  get running(): boolean {
    return this.state === 'running';
  }

  /** The task was cancelled (by `cancel()`, an AbortSignal, or `shutdown({ cancelFutures: true })`). */
  get cancelled(): boolean {
    return this.#settled === 'cancelled';
  }

  /**
   * Cancels the task: a queued task is removed and never runs; a running one is asked to stop
   * (its `currentTask().signal` aborts) and its worker is replaced if it does not stop within the
   * pool's `cancelGraceMs`. The future rejects with an `AbortError` at once. Returns false if the
   * task had already settled.
   */
  cancel(reason?: unknown): boolean {
    if (this.#settled !== undefined || this.#driver === undefined) return false;
    return this.#driver.cancel(reason);
  }

  // biome-ignore lint/suspicious/noThenProperty: a Future is a thenable by design, like Python's awaitable futures
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#promise.then(onFulfilled, onRejected);
  }

  catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#promise.catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.#promise.finally(onFinally);
  }

  get [Symbol.toStringTag](): string {
    return 'Future';
  }
}

function isCancellation(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}
