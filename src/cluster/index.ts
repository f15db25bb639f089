/**
 * `threadgate/cluster`: the `WorkerPool` surface and the gates across machines, on BullMQ, ioredis
 * and redis-semaphore (optional peer dependencies: importing this entry without them throws
 * `ERR_CLUSTER_PEER_MISSING`, naming what to install).
 *
 * @module
 */
import { checkPeers } from './peers.js';

checkPeers();

export type { ClusterCallOptions, ClusterPoolOptions, ClusterShutdownOptions, ClusterStats } from './cluster-options.js';
export { ClusterPool, ClusterView } from './cluster-pool.js';
export type { RedisConnection } from './connection.js';
export { RedisRateLimiter, type RedisRateLimiterOptions } from './redis-rate-limiter.js';
export { RedisSemaphore, type RedisSemaphoreOptions } from './redis-semaphore.js';
export { type ClusterServer, type ServeOptions, serve } from './serve.js';
