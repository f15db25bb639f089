import { whenAborted } from '../abort-listeners.js';
import { AcquireTimeoutError, abortErrorFrom } from '../errors.js';

const NO_WATCH = (): void => {};

/**
 * Watches a semaphore wait's two ways to give up, for every semaphore alike: after `timeoutMs`
 * with an `AcquireTimeoutError`, or when `signal` aborts with an `AbortError` carrying its reason.
 * `giveUp` may be called for both; it ignores what comes after the wait has ended. Returns what
 * stops both watches: call it when the wait ends, whichever way.
 */
export function watchGiveUp(timeoutMs: number | undefined, signal: AbortSignal | undefined, giveUp: (error: Error) => void): () => void {
  const timed = timeoutMs !== undefined && timeoutMs !== Number.POSITIVE_INFINITY;
  if (!timed && signal === undefined) return NO_WATCH;
  const unwatch = signal ? whenAborted(signal, () => giveUp(abortErrorFrom(signal))) : undefined;
  const timer = timed ? setTimeout(() => giveUp(new AcquireTimeoutError(timeoutMs)), timeoutMs) : undefined;
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    unwatch?.();
  };
}
