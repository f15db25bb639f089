// Raw Piscina and tinypool worker: one default export per task, as both expect.
export default function task(input) {
  return typeof input === 'number' ? fib(input) : undefined;
}

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
