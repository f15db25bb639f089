/** The cluster suite's case names, which the targets look up (kept apart: the suite itself loads BullMQ and Redis clients). */
export const CLUSTER_FINE = 'ClusterPool map (automatic chunks)';
export const BULLMQ_PER_ITEM = 'plain BullMQ, one job per item';
export const CLUSTER_COARSE = 'ClusterPool map, 2 servers × 1 worker';
export const LOCAL_COARSE = 'WorkerPool map, 2 workers';
export const BARE_REDIS_COARSE = 'ceiling: 2 bare processes through Redis lists, items split evenly';
export const CLUSTER_SUBMIT = 'ClusterPool submit (through Redis)';
export const LOCAL_SUBMIT = 'WorkerPool submit';
export const REDIS_SEMAPHORE = 'RedisSemaphore acquire + release';
export const RAW_REDIS_SEMAPHORE = 'redis-semaphore acquire + release';
