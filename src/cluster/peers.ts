/**
 * `threadgate/cluster` runs on BullMQ, ioredis and redis-semaphore, which are optional peer
 * dependencies: an app that never imports this entry installs none of them. Importing it without
 * them fails at once, naming every missing package and the command that installs them, rather
 * than at the first call with a bare "Cannot find module".
 */
import { createRequire } from 'node:module';
import { ThreadgateError } from '../errors.js';

const PEERS = ['bullmq', 'ioredis', 'redis-semaphore'] as const;

/** Throws `ERR_CLUSTER_PEER_MISSING` unless every peer resolves from where threadgate is installed. */
export function checkPeers(): void {
  const require = createRequire(import.meta.url);
  const missing = PEERS.filter((name) => {
    try {
      require.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  throw new ThreadgateError(
    'ERR_CLUSTER_PEER_MISSING',
    `threadgate/cluster needs ${missing.join(', ')} (optional peer dependencies of threadgate): npm install ${PEERS.join(' ')}`,
  );
}

/** What threadgate uses of each peer. */
export interface Peers {
  bullmq: Pick<typeof import('bullmq'), 'Queue' | 'QueueEvents' | 'Worker' | 'UnrecoverableError'>;
  ioredis: { Redis: typeof import('ioredis').Redis };
  redisSemaphore: Pick<typeof import('redis-semaphore'), 'MultiSemaphore' | 'TimeoutError'>;
}

let loading: Promise<Peers> | undefined;

/** The three peers, imported once, on first use (a caller that only checks types loads nothing). */
export function loadPeers(): Promise<Peers> {
  if (loading === undefined) {
    loading = Promise.all([import('bullmq'), import('ioredis'), import('redis-semaphore')]).then(([bullmq, ioredis, redisSemaphore]) => ({
      bullmq,
      ioredis,
      redisSemaphore,
    }));
  }
  return loading;
}
