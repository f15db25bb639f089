// workerpool worker: one named function, a no-op for null and fib(n) for a number, like the others.
import workerpool from 'workerpool';

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

workerpool.worker({ task: (input) => (typeof input === 'number' ? fib(input) : undefined) });
