/**
 * Whether the pool's worker module has loaded, and who waits to know (`pool.ready()`): no worker
 * has finished loading it yet, one has, or none can and why. One worker that loaded it is enough;
 * a failure after that changes nothing (that worker lives on and fails each task with its error).
 */
import { holdEventLoop, releaseEventLoop } from '../sync/keep-alive.js';

/** A caller of `ready()`; `reject(undefined)` means the pool closed first. */
interface ReadyWaiter {
  resolve: () => void;
  reject: (error: Error | undefined) => void;
}

export class ModuleLoad {
  #state: 'loading' | 'loaded' | Error = 'loading';
  readonly #waiters: ReadyWaiter[] = [];
  /** Workers in a row that ended while loading the module (`process.exit` in it, or in its initializer). */
  #exitsInARow = 0;

  /**
   * Resolves once a worker has loaded the module; rejects with why none could, or with
   * `onClose()` when the pool closes first (`closed`: it has already).
   */
  whenReady(closed: boolean, onClose: () => Error): Promise<void> {
    if (this.#state === 'loaded') return Promise.resolve();
    if (this.#state instanceof Error) return Promise.reject(this.#state);
    if (closed) return Promise.reject(onClose());
    // The workers are unref'd while idle: a program whose only pending work is this would exit.
    holdEventLoop();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject: (error) => reject(error ?? onClose()) }));
  }

  /** A worker has loaded the module. */
  succeeded(): void {
    this.#exitsInARow = 0;
    this.#state = 'loaded';
    this.#answer((waiter) => waiter.resolve());
  }

  /** A worker could not load the module: `ready()` rejects with `error`, unless one has loaded it. */
  failed(error: Error): void {
    if (this.#state === 'loaded') return;
    this.#state = error;
    this.#answer((waiter) => waiter.reject(error));
  }

  /** A worker ended while loading the module; true once `limit` have in a row (the pool is broken). */
  endedWhileLoading(error: Error, limit: number): boolean {
    this.failed(error);
    return ++this.#exitsInARow >= limit;
  }

  /** The pool has closed: waiters get `onClose()`'s error. */
  close(): void {
    this.#answer((waiter) => waiter.reject(undefined));
  }

  #answer(answer: (waiter: ReadyWaiter) => void): void {
    for (const waiter of this.#waiters.splice(0)) {
      releaseEventLoop();
      answer(waiter);
    }
  }
}
