// poolifier worker: one ThreadWorker with a single task function.
import { ThreadWorker } from 'poolifier';

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

export default new ThreadWorker((input) => (typeof input === 'number' ? fib(input) : undefined));
