import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

/**
 * A real HTTP API on 127.0.0.1 (a free port chosen at start), run on a thread of its own, that
 * serves `/users/:id` after `latencyMs` and keeps its own view of the load: arrival times and the
 * most requests in progress at once. The demo checks the limits against this view.
 */
export interface ApiServer {
  baseUrl: string;
  stats(): Promise<{ arrivals: number[]; maxConcurrent: number }>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function startApiServer(latencyMs: number): Promise<ApiServer> {
  const thread = new Worker(new URL('./server-thread.mjs', import.meta.url), { workerData: { latencyMs } });
  const ask = async <T>(message: string, reply: string): Promise<T> => {
    thread.postMessage(message);
    for (;;) {
      const [answer] = (await once(thread, 'message')) as [{ type: string } & T];
      if (answer.type === reply) return answer;
    }
  };
  const [{ port }] = (await once(thread, 'message')) as [{ port: number }];
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    stats: () => ask('stats', 'stats'),
    reset: async () => {
      await ask('reset', 'reset');
    },
    close: async () => {
      thread.postMessage('close');
      await once(thread, 'exit');
    },
  };
}
