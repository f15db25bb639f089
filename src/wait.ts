import { invalidType, invalidValue, WaitTimeoutError } from './errors.js';
import { checkOptionalDuration, checkOptions } from './validate.js';

/** When `wait` returns, as in Python's `concurrent.futures.wait`. */
export type ReturnWhen = 'FIRST_COMPLETED' | 'FIRST_EXCEPTION' | 'ALL_COMPLETED';

export interface WaitOptions {
  /** Return after this many ms even if the condition is not met (those futures are in `notDone`). */
  timeoutMs?: number;
  /** `'ALL_COMPLETED'` (default), `'FIRST_COMPLETED'`, or `'FIRST_EXCEPTION'` (or all completed). */
  returnWhen?: ReturnWhen;
}

export interface WaitResult<F> {
  /** Futures that settled (with a result, an error, or cancelled). */
  done: Set<F>;
  notDone: Set<F>;
}

const RETURN_WHEN = new Set<ReturnWhen>(['FIRST_COMPLETED', 'FIRST_EXCEPTION', 'ALL_COMPLETED']);

/**
 * Waits for futures (or any promises) until `returnWhen` holds or `timeoutMs` passes; never
 * rejects because a future failed. Python's `concurrent.futures.wait`.
 */
export function wait<F extends PromiseLike<unknown>>(futures: Iterable<F>, options?: WaitOptions): Promise<WaitResult<F>> {
  const list = toList(futures);
  const opts = checkOptions<WaitOptions>('options', options);
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
        () => settle(future, true),
      );
    }
    if (timeoutMs !== undefined && timeoutMs !== Number.POSITIVE_INFINITY) timer = setTimeout(finish, timeoutMs);
  });
}

/**
 * Yields each future as it settles (success, error or cancel), fastest first: Python's
 * `as_completed`. `await` the yielded future for its result. Throws `WaitTimeoutError` if
 * `timeoutMs` passes first. Leaving the loop early leaves the futures running.
 */
export async function* asCompleted<F extends PromiseLike<unknown>>(
  futures: Iterable<F>,
  options?: { timeoutMs?: number },
): AsyncGenerator<F, void, undefined> {
  const list = toList(futures);
  const opts = checkOptions<{ timeoutMs?: number }>('options', options);
  const timeoutMs = checkOptionalDuration('options.timeoutMs', opts.timeoutMs);
  const settled: F[] = [];
  let wake: (() => void) | undefined;
  for (const future of list) {
    const onSettle = (): void => {
      settled.push(future);
      wake?.();
    };
    future.then(onSettle, onSettle);
  }
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  if (timeoutMs !== undefined && timeoutMs !== Number.POSITIVE_INFINITY) {
    timer = setTimeout(() => {
      timedOut = true;
      wake?.();
    }, timeoutMs);
  }
  try {
    for (let yielded = 0; yielded < list.length; ) {
      if (settled.length > yielded) {
        yield settled[yielded++] as F;
        continue;
      }
      if (timedOut) throw new WaitTimeoutError(timeoutMs as number, list.length - yielded);
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function toList<F>(futures: Iterable<F>): F[] {
  if (futures === null || typeof futures !== 'object' || !(Symbol.iterator in futures)) {
    throw invalidType('futures', futures, 'an iterable of futures or promises');
  }
  return [...futures];
}
