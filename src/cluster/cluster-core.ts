/**
 * What a `ClusterPool` and its views share: the connections, the queue and its event stream, the
 * ledger of pending jobs, the live worker count, the counters, and the lifecycle (connect, lose the
 * connection, shut down).
 */
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { AbortError, PoolClosedError, ThreadgateError } from '../errors.js';
import type { ChunkTiming } from '../pool/map/chunk-sizer.js';
import type { ResolvedClusterOptions } from './cluster-options.js';
import type { JobData } from './codec.js';
import { openClient, watchConnection } from './connection.js';
import { type JobEnd, Jobs, type SentJob, SWEEP_EVERY_MS } from './jobs.js';
import { liveWorkers, queueKeys } from './keys.js';
import { loadPeers } from './peers.js';

/**
 * A job's round trip through Redis costs a few hundred microseconds of the servers' time and a
 * millisecond or more of latency: automatic chunks carry ten times the work of a thread's.
 */
export const CLUSTER_TIMING: ChunkTiming = { targetMs: 200, maxKnownMs: 500, minTailMs: 20, maxItems: 65_536 };

const WORKERS_REFRESH_MS = 2_000;

interface Link {
  client: Redis;
  eventsClient: Redis;
  queue: Queue;
  events: QueueEvents;
  jobs: Jobs;
  stop: () => void;
}

/** Everything a `ClusterPool` and its views share. */
export class ClusterCore {
  readonly options: ResolvedClusterOptions;
  closed = false;
  workers: number;
  readonly counts = { submitted: 0, completed: 0, failed: 0, cancelled: 0 };
  link: Link | undefined;
  /** Why the pool cannot send: the first connection failed. */
  broken: Error | undefined;
  readonly linking: Promise<Link>;
  #shutdown: Promise<void> | undefined;

  constructor(options: ResolvedClusterOptions) {
    this.options = options;
    this.workers = options.workers ?? 1;
    this.linking = this.#open();
    this.linking.then(
      (link) => {
        this.link = link;
      },
      (error: Error) => {
        this.broken = error;
      },
    );
  }

  async #open(): Promise<Link> {
    const { bullmq } = await loadPeers();
    const { connection, connectTimeoutMs, prefix, queue: name, lostAfterMs, attempts } = this.options;
    const client = await openClient(connection, connectTimeoutMs);
    const eventsClient = await openClient(client, connectTimeoutMs);
    const keys = queueKeys(prefix, name);
    // Events are read from the stream's current end: every job sent after this is heard.
    const [last] = (await client.xrevrange(`${prefix}:${name}:events`, '+', '-', 'COUNT', 1)) as [string, string[]][];
    const events = new bullmq.QueueEvents(name, { connection: eventsClient, prefix, lastEventId: last?.[0] ?? '0-0' });
    events.on('error', () => {}); // connection trouble is watched below
    const queue = new bullmq.Queue(name, { connection: client, prefix });
    queue.on('error', () => {});
    const jobs = new Jobs(queue, events, client, keys, { attempts });
    await events.waitUntilReady();
    const lost = (cause: unknown): void => {
      jobs.failAll(
        () =>
          new ThreadgateError(
            'ERR_CLUSTER_CONNECTION_LOST',
            `the connection to Redis has been down for ${lostAfterMs} ms (lostAfterMs): the call's result cannot arrive`,
            { cause },
          ),
      );
    };
    const unwatch = [watchConnection(client, lostAfterMs, lost), watchConnection(eventsClient, lostAfterMs, lost)];
    let sweeping = false;
    const sweep = setInterval(() => {
      if (sweeping || jobs.pending === 0) return;
      sweeping = true;
      jobs.sweep().then(
        () => {
          sweeping = false;
        },
        () => {
          sweeping = false;
        },
      );
    }, SWEEP_EVERY_MS);
    sweep.unref();
    let refresh: NodeJS.Timeout | undefined;
    if (this.options.workers === undefined) {
      let reading = false;
      const read = async (): Promise<void> => {
        if (reading) return;
        reading = true;
        try {
          this.workers = Math.max(1, await liveWorkers(client, keys));
        } catch {
          // keeps the last count
        } finally {
          reading = false;
        }
      };
      await read();
      refresh = setInterval(read, WORKERS_REFRESH_MS);
      refresh.unref();
    }
    return {
      client,
      eventsClient,
      queue,
      events,
      jobs,
      stop: () => {
        for (const stop of unwatch) stop();
        clearInterval(refresh);
        clearInterval(sweep);
      },
    };
  }

  /** Sends a job once connected. `end` is called exactly once. */
  send(
    name: string,
    data: JobData,
    onProgress: ((value: unknown) => void) | undefined,
    end: JobEnd,
  ): { isRunning(): boolean; cancel(error: Error): boolean } {
    this.counts.submitted++;
    const counted: typeof end = (error, outcome, reached) => {
      if (error === undefined) this.counts.completed++;
      else if (error.name === 'AbortError') this.counts.cancelled++;
      else this.counts.failed++;
      end(error, outcome, reached);
    };
    if (this.link !== undefined) return this.link.jobs.send(name, data, onProgress, counted);
    let sent: SentJob | undefined;
    let settled = false;
    this.linking.then(
      (link) => {
        if (!settled) sent = link.jobs.send(name, data, onProgress, counted);
      },
      (error: Error) => {
        if (settled) return;
        settled = true;
        counted(error, undefined);
      },
    );
    return {
      isRunning: () => sent?.isRunning() ?? false,
      cancel: (error) => {
        if (sent !== undefined) return sent.cancel(error);
        if (settled) return false;
        settled = true;
        counted(error, undefined);
        return true;
      },
    };
  }

  /** Throws what stops a call from being sent: a closed pool, or a first connection that failed. */
  checkOpen(): void {
    if (this.closed) throw new PoolClosedError();
    if (this.broken !== undefined) throw this.broken;
  }

  shutdown(cancelFutures: boolean): Promise<void> {
    this.closed = true;
    if (cancelFutures) this.link?.jobs.cancelAll(() => new AbortError('cancelled by cluster.shutdown({ cancelFutures: true })'));
    this.#shutdown ??= this.linking.then(
      async (link) => {
        await link.jobs.whenEmpty();
        link.stop();
        await link.events.close().catch(() => {});
        await link.queue.close().catch(() => {});
        link.eventsClient.disconnect();
        link.client.disconnect();
      },
      () => {},
    );
    return this.#shutdown;
  }
}
