// The ceiling of a map over processes through Redis, for the cluster benchmark: a process that
// takes a chunk of fib arguments from a Redis list (BRPOP), computes them, and pushes the results
// back (LPUSH) on the list of the call it belongs to, with nothing else: no queue library, no lock,
// no events. Args: redis URL, list prefix. Prints "ready"; exits when its connection closes or on SIGTERM.
import { Redis } from 'ioredis';
import { fib } from 'threadgate/workloads';

const [url, prefix] = process.argv.slice(2);
const redis = new Redis(url, { maxRetriesPerRequest: null });
let stopping = false;
process.once('SIGTERM', () => {
  stopping = true;
  redis.disconnect();
});
process.stdout.write('ready\n');
while (!stopping) {
  const taken = await redis.brpop(`${prefix}:in`, 0).catch(() => null);
  if (taken === null) continue;
  const { id, items } = JSON.parse(taken[1]);
  await redis.lpush(`${prefix}:out:${id}`, JSON.stringify(items.map((n) => fib(n))));
}
