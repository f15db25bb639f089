import { WaitTimeoutError } from './errors.js';
import { checkOptionalDuration, checkOptions, invalidType, invalidValue, type OptionNames } from './validate.js';

/** When `wait` returns, as in Python's `concurrent.futures.wait`. */
export type ReturnWhen = 'FIRST_COMPLETED' | 'FIRST_EXCEPTION' | 'ALL_COMPLETED';

export interface WaitOptions {
  /** Return after this many ms even if the condition is not met (those futures are in `notDone`). */
  timeoutMs?: number;
  /**
   * `'ALL_COMPLETED'` (default); `'FIRST_COMPLETED'`; or `'FIRST_EXCEPTION'`: when a future fails
   * (a cancelled one does not count, as in Python), or else when all have completed.
   */
  returnWhen?: ReturnWhen;
}

export interface WaitResult<F> {
  /** Futures that settled (with a result, an error, or cancelled). */
  done: Set<F>;
  notDone: Set<F>;
}

const WAIT_OPTIONS: OptionNames<WaitOptions> = { of: 'wait()', names: { timeoutMs: true, returnWhen: true } };
const AS_COMPLETED_OPTIONS: OptionNames<{ timeoutMs?: number }> = { of: 'asCompleted()', names: { timeoutMs: true } };

const RETURN_WHEN = new Set<ReturnWhen>(['FIRST_COMPLETED', 'FIRST_EXCEPTION', 'ALL_COMPLETED']);

/**
 * Waits for futures (or any promises) until `returnWhen` holds or `timeoutMs` passes; never
 * rejects because a future failed. Python's `concurrent.futures.wait`.
 */
export function wait<F extends PromiseLike<unknown>>(futures: Iterable<F>, options?: WaitOptions): Promise<WaitResult<F>> {
  const list = toList(futures);
  const opts = checkOptions('options', options, WAIT_OPTIONS);
  const timeoutMs = checkOptionalDuration('options.timeoutMs', opts.timeoutMs);
  const returnWhen = opts.returnWhen ?? 'ALL_COMPLETED';
  if (!RETURN_WHEN.has(returnWhen))
    throw invalidValue('options.returnWhen', returnWhen, "'FIRST_COMPLETED', 'FIRST_EXCEPTION' or 'ALL_COMPLETED'");
  const done = new Set<F>();
  const notDone = new Set<F>(list);
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve({ done, notDone });
    };
    const settle = (future: F, failed: boolean): void => {
      if (finished) return;
      notDone.delete(future);
      done.add(future);
      if (notDone.size === 0 || returnWhen === 'FIRST_COMPLETED' || (returnWhen === 'FIRST_EXCEPTION' && failed)) finish();
    };
    if (list.length === 0) return finish();
    for (const future of list) {
      future.then(
        () => settle(future, false),
        // As in Python, a cancelled future is not an exception: FIRST_EXCEPTION does not return on it.
        // Told by its `cancelled`, not `instanceof`: the CommonJS cluster entry has a Future class of its own.
        () => settle(future, (future as { cancelled?: unknown }).cancelled !== true),
      );
    }
    if (timeoutMs !== undefined && timeoutMs !== Number.POSITIVE_INFINITY) timer = setTimeout(finish, timeoutMs);
  });
}

/**
 * Yields each future as it settles (success, error or cancel), fastest first: Python's
 * `as_completed`. It yields the futures themselves: `await` one for its result, or its error.
 * Throws `WaitTimeoutError` if `timeoutMs` (counted from the first `next()`) passes before all
 * have settled. Leaving the loop early leaves the futures running. Arguments are checked at once.
 */
export function asCompleted<F extends PromiseLike<unknown>>(
  futures: Iterable<F>,
  options?: { timeoutMs?: number },
): AsyncIterableIterator<F> {
  const list = toList(futures);
  const opts = checkOptions('options', options, AS_COMPLETED_OPTIONS);
  return new CompletionOrder(list, checkOptionalDuration('options.timeoutMs', opts.timeoutMs));
}

/**
 * `asCompleted`'s iterator, written by hand: an async generator would await each future it
 * yields, handing out results instead of futures and throwing at the first failed one.
 */
class CompletionOrder<F extends PromiseLike<unknown>> implements AsyncIterableIterator<F> {
  readonly #list: F[];
  readonly #timeoutMs: number | undefined;
  readonly #settled: F[] = [];
  #yielded = 0;
  #started = false;
  #ended = false;
  #timedOut = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #previous: Promise<void> = Promise.resolve();

  constructor(list: F[], timeoutMs: number | undefined) {
    this.#list = list;
    this.#timeoutMs = timeoutMs;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Calls made before the last one settled wait their turn, as an async generator's do. */
  next(): Promise<IteratorResult<F, undefined>> {
    const result = this.#previous.then(() => this.#step());
    this.#previous = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  async #step(): Promise<IteratorResult<F, undefined>> {
    if (!this.#started) this.#start();
    while (!this.#ended) {
      if (this.#settled.length > this.#yielded) return { value: this.#settled[this.#yielded++] as F, done: false };
      if (this.#yielded === this.#list.length) break;
      if (this.#timedOut) {
        const unfinished = this.#list.length - this.#yielded;
        this.#end();
        throw new WaitTimeoutError(this.#timeoutMs as number, unfinished);
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
    this.#end();
    return { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<F, undefined>> {
    this.#end();
    return { value: undefined, done: true };
  }

  #start(): void {
    this.#started = true;
    for (const future of this.#list) {
      const onSettle = (): void => {
        this.#settled.push(future);
        this.#wake?.();
      };
      future.then(onSettle, onSettle);
    }
    if (this.#timeoutMs !== undefined && this.#timeoutMs !== Number.POSITIVE_INFINITY) {
      this.#timer = setTimeout(() => {
        this.#timedOut = true;
        this.#wake?.();
      }, this.#timeoutMs);
    }
  }

  #end(): void {
    this.#ended = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wake?.(); // a next() still waiting (return() called beside it) ends too
  }
}

/** The distinct futures, in order: a future given twice is waited for and yielded once, as in Python. */
function toList<F>(futures: Iterable<F>): F[] {
  if (futures === null || typeof futures !== 'object' || !(Symbol.iterator in futures)) {
    throw invalidType('futures', futures, 'an iterable of futures or promises');
  }
  const given = [...futures];
  const notThenable = given.findIndex((future) => typeof (future as { then?: unknown } | null)?.then !== 'function');
  if (notThenable !== -1) throw invalidType(`futures[${notThenable}]`, given[notThenable], 'a future or a promise');
  return [...new Set(given)];
}
