// workerpool worker: registers named functions.
import workerpool from 'workerpool';

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

workerpool.worker({ noop: () => undefined, fib });
