/**
 * One 'abort' listener per `AbortSignal`, however many waits use it. A service passes one request's
 * signal to many tasks and acquires; one listener each would pass Node's limit of 10 per
 * EventTarget and print a `MaxListenersExceededWarning` (and cost a listener per call). Callbacks
 * run in the order they were added, as the signal's own listeners would.
 */
interface Watchers {
  callbacks: Set<() => void>;
  listener: () => void;
}

const watched = new WeakMap<AbortSignal, Watchers>();

/** Calls `onAbort` once when `signal` aborts; the returned function stops watching (idempotent). */
export function whenAborted(signal: AbortSignal, onAbort: () => void): () => void {
  let watchers = watched.get(signal);
  if (watchers === undefined) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      watched.delete(signal);
      for (const callback of callbacks) callback();
    };
    watchers = { callbacks, listener };
    watched.set(signal, watchers);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { callbacks, listener } = watchers;
  callbacks.add(onAbort);
  return () => {
    if (!callbacks.delete(onAbort) || callbacks.size > 0) return;
    signal.removeEventListener('abort', listener);
    if (watched.get(signal)?.callbacks === callbacks) watched.delete(signal);
  };
}
