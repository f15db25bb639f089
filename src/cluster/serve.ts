/**
 * The serving side: a BullMQ `Worker` that runs each job of a queue on a local `WorkerPool`, one
 * job as one pool task (a call, or a map chunk on one worker, as a local map runs it).
 *
 * Delivery is BullMQ's: a job is locked while it runs and the lock is renewed; a process that dies
 * stops renewing, and after `lockDurationMs` another server's stalled-job check puts the job
 * back in the queue. So a job runs at least once, and may run twice (side effects may repeat);
 * the caller still sees its result once.
 */
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ThreadgateError } from '../errors.js';
import { RUN_JOB, type ServedJob, type ServedOutcome } from '../pool/served-job.js';
import type { WorkerPool } from '../pool/worker-pool.js';
import { checkInteger, checkOptions, invalidType, type OptionNames } from '../validate.js';
import { decode, encode, encodeOutcome, encodePoolError, FORMAT, type JobData } from './codec.js';
import { checkConnection, DEFAULT_CONNECT_TIMEOUT_MS, openClient, type RedisConnection } from './connection.js';
import { checkQueueName, heartbeat, leaveServers, type QueueKeys, queueKeys } from './keys.js';
import { loadPeers, type Peers } from './peers.js';

/** Options of `serve(pool, options)`. */
export interface ServeOptions {
  /** The BullMQ queue to take jobs from: the `queue` of the `ClusterPool`s that send them. */
  queue: string;
  /** Where Redis is: a `redis://` URL, ioredis options, or an ioredis instance (duplicated, left open). */
  connection: RedisConnection;
  /** BullMQ's key prefix; the same on every side. Default `'bull'`, BullMQ's own. */
  prefix?: string;
  /**
   * Jobs run at once. Default: twice the pool's `maxWorkers`, so each worker has a job waiting in
   * its pool while it runs one, and never idles for a round trip to Redis.
   */
  concurrency?: number;
  /**
   * How long a job stays locked without a renewal (renewed every half of it while it runs): after a
   * serving process dies, its jobs run elsewhere within about this long. Default 30,000 ms. Shorter
   * recovers sooner; a process whose event loop stalls for longer than it loses its jobs to others.
   */
  lockDurationMs?: number;
  /**
   * How often this process looks for jobs whose lock expired (stalled), in ms. Default a quarter of
   * `lockDurationMs`, so a dead process's job is back in the queue within `lockDurationMs` plus
   * half of that.
   */
  stalledIntervalMs?: number;
  /** How many times a job may stall (its server died) and run again before it fails. Default 3. */
  maxStalledCount?: number;
  /** How long the first connection may take, in ms, before `ERR_CLUSTER_CONNECT`. Default 10,000. */
  connectTimeoutMs?: number;
}

const SERVE_OPTIONS: OptionNames<ServeOptions> = {
  of: 'serve()',
  names: {
    queue: true,
    connection: true,
    prefix: true,
    concurrency: true,
    lockDurationMs: true,
    stalledIntervalMs: true,
    maxStalledCount: true,
    connectTimeoutMs: true,
  },
};

/** A serving process's handle, from `serve`. */
export interface ClusterServer extends AsyncDisposable {
  /** This server's id in the queue's registry of servers. */
  readonly id: string;
  /** Jobs running now. */
  readonly running: number;
  /** Jobs this server has finished (with a result or the task's error). */
  readonly completed: number;
  /**
   * Stops taking jobs and resolves once the running ones have finished and their results are in
   * Redis; the pool stays open (shut it down after). Idempotent. For a SIGTERM handler.
   */
  close(): Promise<void>;
}

/** What a pool offers to be served (every `WorkerPool` does, through a member kept out of its public type). */
interface ServablePool {
  readonly maxWorkers: number;
  [RUN_JOB](job: ServedJob): Promise<ServedOutcome>;
}

/**
 * Serves `pool`: takes jobs from the queue that `ClusterPool`s with the same `queue` and
 * `connection` send, and runs each on the pool. Resolves once connected and taking jobs.
 */
export async function serve(pool: Pick<WorkerPool, 'maxWorkers'>, options: ServeOptions): Promise<ClusterServer> {
  if (typeof (pool as Partial<ServablePool> | null)?.[RUN_JOB] !== 'function') throw invalidType('pool', pool, 'a WorkerPool');
  return start(pool as ServablePool, options);
}

async function start(pool: ServablePool, options: ServeOptions): Promise<ClusterServer> {
  const opts = resolveServeOptions(options, pool.maxWorkers);
  const { bullmq } = await loadPeers();
  const client = await openClient(opts.connection, opts.connectTimeoutMs);
  const subscriber = client.duplicate();
  subscriber.on('error', () => {}); // reconnects by itself; the worker's own client reports what matters
  const keys = queueKeys(opts.prefix, opts.queue);
  const server = new Server(pool, keys, client, subscriber, opts.lockDurationMs, bullmq.UnrecoverableError);
  // Cancellations are heard before the first job is taken: none can slip between the two.
  await subscriber.subscribe(keys.cancel);
  subscriber.on('message', (_channel: string, jobId: string) => server.cancel(jobId));
  const worker: Worker = new bullmq.Worker(opts.queue, (job: Job, _token?: string, signal?: AbortSignal) => server.run(job, signal), {
    connection: client,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    stalledInterval: opts.stalledIntervalMs,
    maxStalledCount: opts.maxStalledCount,
    autorun: false,
  });
  worker.on('error', () => {}); // connection trouble: BullMQ retries; jobs it held are recovered as stalled
  server.start(worker, pool.maxWorkers);
  void worker.run().catch(() => {});
  await worker.waitUntilReady();
  return server;
}

/** The options of `serve`, checked. */
function resolveServeOptions(options: ServeOptions, maxWorkers: number) {
  const opts = checkOptions('options', options, SERVE_OPTIONS);
  if (typeof opts !== 'object' || opts === undefined)
    throw invalidType('options', options, 'an options object with `queue` and `connection`');
  const lockDurationMs = opts.lockDurationMs === undefined ? 30_000 : checkInteger('options.lockDurationMs', opts.lockDurationMs, 200);
  return {
    queue: checkQueueName('options.queue', opts.queue),
    connection: checkConnection('options.connection', opts.connection),
    prefix: opts.prefix === undefined ? 'bull' : checkQueueName('options.prefix', opts.prefix),
    concurrency: opts.concurrency === undefined ? 2 * maxWorkers : checkInteger('options.concurrency', opts.concurrency, 1),
    lockDurationMs,
    stalledIntervalMs:
      opts.stalledIntervalMs === undefined
        ? Math.max(100, Math.round(lockDurationMs / 4))
        : checkInteger('options.stalledIntervalMs', opts.stalledIntervalMs, 100),
    maxStalledCount: opts.maxStalledCount === undefined ? 3 : checkInteger('options.maxStalledCount', opts.maxStalledCount, 0),
    connectTimeoutMs:
      opts.connectTimeoutMs === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : checkInteger('options.connectTimeoutMs', opts.connectTimeoutMs, 1),
  };
}

/** Cancelled job ids are remembered this long: a cancel that arrives before its job starts still stops it. */
const CANCEL_MEMORY_MS = 10 * 60_000;

class Server implements ClusterServer {
  readonly id = crypto.randomUUID();
  readonly #pool: ServablePool;
  readonly #keys: QueueKeys;
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #lockDurationMs: number;
  /** BullMQ's error for a job that must not run again (cancelled, unreadable). */
  readonly #unrecoverable: Peers['bullmq']['UnrecoverableError'];
  #worker: Worker | undefined;
  #member = '';
  #heartbeat: NodeJS.Timeout | undefined;
  /** Job ids a caller cancelled, with when: checked as each job starts. */
  readonly #cancelled = new Map<string, number>();
  #running = 0;
  #completed = 0;
  #closing: Promise<void> | undefined;

  constructor(
    pool: ServablePool,
    keys: QueueKeys,
    client: Redis,
    subscriber: Redis,
    lockDurationMs: number,
    unrecoverable: Peers['bullmq']['UnrecoverableError'],
  ) {
    this.#unrecoverable = unrecoverable;
    this.#pool = pool;
    this.#keys = keys;
    this.#client = client;
    this.#subscriber = subscriber;
    this.#lockDurationMs = lockDurationMs;
  }

  get running(): number {
    return this.#running;
  }

  get completed(): number {
    return this.#completed;
  }

  /** Joins the registry of servers, which callers read to size their maps, and stays in it while alive. */
  start(worker: Worker, workers: number): void {
    this.#worker = worker;
    this.#member = `${this.id}:${workers}`;
    const beat = (): void => void heartbeat(this.#client, this.#keys, this.#member, this.#lockDurationMs).catch(() => {});
    beat();
    this.#heartbeat = setInterval(beat, Math.max(100, this.#lockDurationMs / 3));
    this.#heartbeat.unref();
  }

  /** A caller cancelled job `jobId`: stop it if it runs here, and refuse it if it starts here later. */
  cancel(jobId: string): void {
    const now = Date.now();
    for (const [id, at] of this.#cancelled) {
      if (now - at < CANCEL_MEMORY_MS) break;
      this.#cancelled.delete(id);
    }
    this.#cancelled.set(jobId, now);
    this.#worker?.cancelJob(jobId, 'cancelled by its caller');
  }

  /** BullMQ's processor: runs one job on the pool; its reply is the job's return value. */
  async run(job: Job, signal: AbortSignal | undefined): Promise<string> {
    const Unrecoverable = this.#unrecoverable;
    if (job.id !== undefined && this.#cancelled.has(job.id)) throw new Unrecoverable('cancelled by its caller');
    const data = job.data as JobData;
    if (data?.v !== FORMAT) throw new Unrecoverable(`job data of an unknown format (v: ${String(data?.v)}); expected ${FORMAT}`);
    const payload = decode(data.x) as unknown[];
    const served: ServedJob = { name: job.name };
    if (data.k === 'chunk') served.items = payload;
    else served.args = payload;
    if (data.s === 1) served.spread = true;
    if (data.t !== undefined) served.timeoutMs = data.t;
    if (signal) served.signal = signal;
    if (data.p === 1) served.onProgress = (value) => void job.updateProgress({ p: encode(value) }).catch(() => {});
    this.#running++;
    try {
      const { error, outcome, reached } = await this.#pool[RUN_JOB](served);
      if (signal?.aborted) throw new Unrecoverable('cancelled by its caller');
      if (error !== undefined) {
        // The serving pool closed under the job: another server should run it (BullMQ retries it).
        if ((error as { code?: unknown }).code === 'ERR_POOL_CLOSED') throw new ThreadgateError('ERR_POOL_CLOSED', error.message);
        this.#completed++;
        return encodePoolError(error, reached);
      }
      this.#completed++;
      return encodeOutcome(outcome as NonNullable<ServedOutcome['outcome']>);
    } finally {
      this.#running--;
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#heartbeat);
      await this.#worker?.close();
      await leaveServers(this.#client, this.#keys, this.#member).catch(() => {});
      this.#subscriber.disconnect();
      this.#client.disconnect();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
