/**
 * The pending result of a task, in the shape of Python's `concurrent.futures.Future`. A Future
 * is a thenable (`await future`), and tells how far its task has got.
 *
 * A Future never causes an unhandled rejection by itself: like Python's, a failed task whose
 * future nobody looks at stays quiet. Promises derived with `then` follow the usual rules.
 */
export type FutureState = 'pending' | 'running' | 'finished' | 'cancelled';

/** What a Future needs from whoever runs its task. */
export interface FutureDriver {
  /** True while the task runs in a worker. */
  isRunning(): boolean;
  /** Stops the task (removes it if queued, stops it if running). False if it had already settled. */
  cancel(reason?: unknown): boolean;
}

export class Future<T> implements PromiseLike<T> {
  readonly #promise: Promise<T>;
  #driver: FutureDriver | undefined;
  #settled: 'finished' | 'cancelled' | undefined;

  /** @internal Created by the pool. */
  constructor(executor: (resolve: (value: T) => void, reject: (reason: unknown) => void) => void, driver?: FutureDriver) {
    this.#driver = driver;
    this.#promise = new Promise<T>(executor);
    this.#promise.then(
      () => this.#settle('finished'),
      (error: unknown) => this.#settle(isCancellation(error) ? 'cancelled' : 'finished'),
    );
  }

  /** @internal */
  attach(driver: FutureDriver): void {
    this.#driver = driver;
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

  #settle(state: 'finished' | 'cancelled'): void {
    this.#settled = state;
    this.#driver = undefined;
  }
}

function isCancellation(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}
