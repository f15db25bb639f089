// The cluster benchmark's baseline: a plain BullMQ worker, as one is usually written: one job per
// item, computed in the worker's own process (no thread pool). Args: redis URL, queue, concurrency.
// Prints "ready" once taking jobs; SIGTERM closes it.
import { Worker } from 'bullmq';
import { fib } from 'threadgate/workloads';

const [url, queue, concurrency = '1'] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const worker = new Worker(queue, async (job) => fib(job.data.n), {
  connection: { host: hostname, port: Number(port), maxRetriesPerRequest: null },
  concurrency: Number(concurrency),
});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.once('SIGTERM', () => void worker.close());
