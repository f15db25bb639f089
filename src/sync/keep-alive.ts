/**
 * `Atomics.waitAsync` does not keep a Node process alive (nodejs/node#44729): a program whose
 * only pending work is an async acquire would exit with the acquire unresolved. While this
 * thread has any async waiter, one referenced timer holds the event loop open; it is cleared as
 * soon as the last waiter settles, so an idle semaphore holds no handle. A task whose outcome
 * came before its progress reports waits the same way (pool/progress.ts).
 */
let pending = 0;
let handle: NodeJS.Timeout | undefined;

export function holdEventLoop(): void {
  if (pending++ === 0) handle = setInterval(noop, 2 ** 30);
}

export function releaseEventLoop(): void {
  if (--pending === 0 && handle !== undefined) {
    clearInterval(handle);
    handle = undefined;
  }
}

function noop(): void {}
