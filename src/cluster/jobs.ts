/**
 * The caller's side of a queue: sends jobs, hears their ends on the queue's event stream, and
 * settles each job's handler exactly once — with its reply, its failure, a cancellation, or the
 * loss of the connection. A job whose end is heard twice (a job that ran twice: its server
 * stalled) or after it was settled otherwise is ignored: the caller sees one result per job.
 *
 * Invariant: a job is in `#pending` from before it is added to Redis (its end cannot be heard
 * before it is known) until it is settled; settling removes it first, so nothing settles twice.
 */
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { ThreadgateError } from '../errors.js';
import type { RanOutcome } from '../wire/protocol.js';
import { decode, decodeReply, type JobData } from './codec.js';
import type { QueueKeys } from './keys.js';

/** How a job ended, for its sender. */
export type JobEnd = (error: Error | undefined, outcome: RanOutcome | undefined, reached?: number) => void;

interface PendingJob {
  end: JobEnd;
  onProgress: ((value: unknown) => void) | undefined;
  running: boolean;
  /** Redis has confirmed the job's `add`: only then can a lookup that finds nothing mean it vanished. */
  added: boolean;
  /** When it was sent, or last looked up by the sweep (`performance.now()`). */
  checkedAt: number;
}

/**
 * A job pending this long without its end heard is looked up in Redis (`sweep`): the event
 * stream is trimmed (BullMQ keeps about 10,000 events), so a caller that falls far behind, or a
 * Redis that restarted empty, would otherwise leave it waiting for an event that will not come.
 */
export const SWEEP_AFTER_MS = 5_000;
/** How often the sweep runs: a job is looked up within a second of becoming due. */
export const SWEEP_EVERY_MS = 1_000;
/** The most jobs looked up per sweep: the oldest first. */
const SWEEP_BATCH = 50;

/** A job's handle for its sender. */
export interface SentJob {
  readonly id: string;
  isRunning(): boolean;
  /** Settles the job with `error` at once, and removes it from the queue or stops it where it runs. */
  cancel(error: Error): boolean;
}

/** How the jobs of a `ClusterPool` are sent: how many times a job may run when its server's pool closes. */
export interface JobSettings {
  attempts: number;
}

export class Jobs {
  readonly #queue: Queue;
  readonly #client: Redis;
  readonly #keys: QueueKeys;
  readonly #settings: JobSettings;
  readonly #pending = new Map<string, PendingJob>();
  readonly #idPrefix = `tg-${crypto.randomUUID().slice(0, 8)}-`;
  #sequence = 0;
  #whenEmpty: (() => void) | undefined;

  constructor(queue: Queue, events: QueueEvents, client: Redis, keys: QueueKeys, settings: JobSettings) {
    this.#queue = queue;
    this.#client = client;
    this.#keys = keys;
    this.#settings = settings;
    events.on('active', ({ jobId }) => {
      const job = this.#pending.get(jobId);
      if (job !== undefined) job.running = true;
    });
    events.on('progress', ({ jobId, data }) => {
      const job = this.#pending.get(jobId);
      const value = (data as { p?: unknown } | undefined)?.p;
      if (job?.onProgress === undefined || typeof value !== 'string') return;
      let decoded: unknown;
      try {
        decoded = decode(value);
      } catch {
        return; // not a report a threadgate server sent: nothing to pass on, and nothing to throw into BullMQ's event loop
      }
      job.onProgress(decoded);
    });
    events.on('completed', ({ jobId, returnvalue }) => this.#completed(jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => this.#failed(jobId, failedReason));
    events.on('removed', ({ jobId }) => this.#vanished(jobId, 'was removed from the queue by someone else'));
  }

  #completed(jobId: string, returnvalue: unknown): void {
    const job = this.#take(jobId);
    if (job === undefined) return;
    let reply: ReturnType<typeof decodeReply>;
    try {
      reply = decodeReply(typeof returnvalue === 'string' ? returnvalue : String(returnvalue));
    } catch (error) {
      job.end(new ThreadgateError('ERR_CLUSTER_JOB_FAILED', `job ${jobId}'s reply could not be read`, { cause: error }), undefined);
      return;
    }
    if ('outcome' in reply) job.end(undefined, reply.outcome);
    else job.end(reply.error, undefined, reply.reached);
  }

  #failed(jobId: string, failedReason: string): void {
    this.#take(jobId)?.end(new ThreadgateError('ERR_CLUSTER_JOB_FAILED', `job ${jobId} failed on its server: ${failedReason}`), undefined);
  }

  #vanished(jobId: string, how: string): void {
    this.#take(jobId)?.end(new ThreadgateError('ERR_CLUSTER_JOB_FAILED', `job ${jobId} ${how}: its result will never come`), undefined);
  }

  /**
   * Looks up the oldest jobs pending for `SWEEP_AFTER_MS` without their end heard, and settles
   * those that ended (or no longer exist) from what Redis holds.
   */
  async sweep(): Promise<void> {
    const now = performance.now();
    const due: string[] = [];
    for (const [id, job] of this.#pending) {
      if (!job.added || now - job.checkedAt < SWEEP_AFTER_MS) continue;
      job.checkedAt = now;
      due.push(id);
      if (due.length === SWEEP_BATCH) break;
    }
    await Promise.all(
      due.map(async (id) => {
        const job = await this.#queue.getJob(id);
        if (!this.#pending.has(id)) return; // heard meanwhile
        if (job === undefined) this.#vanished(id, 'is no longer in Redis (removed, or Redis restarted without it)');
        else if (job.finishedOn !== undefined && job.failedReason) this.#failed(id, job.failedReason);
        else if (job.finishedOn !== undefined) this.#completed(id, job.returnvalue);
      }),
    );
  }

  /** Jobs sent and not settled yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Sends a job. `end` is called exactly once. */
  send(name: string, data: JobData, onProgress: ((value: unknown) => void) | undefined, end: JobEnd): SentJob {
    const id = `${this.#idPrefix}${++this.#sequence}`;
    const job: PendingJob = { end, onProgress, running: false, added: false, checkedAt: performance.now() };
    this.#pending.set(id, job);
    this.#queue
      .add(name, data, {
        jobId: id,
        attempts: this.#settings.attempts,
        // Kept for an hour after it ends, so a job's end can still be read by whoever looks it up.
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { age: 24 * 3600 },
      })
      .then(() => {
        job.added = true;
      })
      .catch((error: unknown) => {
        this.#take(id)?.end(new ThreadgateError('ERR_CLUSTER_JOB_FAILED', `job ${id} could not be queued`, { cause: error }), undefined);
      });
    return {
      id,
      isRunning: () => this.#pending.get(id)?.running === true,
      cancel: (error) => {
        const cancelled = this.#take(id);
        if (cancelled === undefined) return false;
        cancelled.end(error, undefined);
        this.#stop(id);
        return true;
      },
    };
  }

  /**
   * Removes a cancelled job from the queue if it still waits there; otherwise (it runs, or its
   * `add` has not reached Redis yet) names it to every server, which stops it or refuses to start it.
   */
  #stop(id: string): void {
    void this.#queue
      .remove(id)
      .then((removed) => (removed === 1 ? undefined : this.#client.publish(this.#keys.cancel, id)))
      .catch(() => {});
  }

  /** Settles every pending job with `error` (the connection is lost, or the pool stops waiting). */
  failAll(error: () => Error): void {
    for (const id of [...this.#pending.keys()]) this.#take(id)?.end(error(), undefined);
  }

  /** Cancels every pending job: each settles with `error` and is stopped where it is. */
  cancelAll(error: () => Error): void {
    for (const id of [...this.#pending.keys()]) {
      const job = this.#take(id);
      if (job === undefined) continue;
      job.end(error(), undefined);
      this.#stop(id);
    }
  }

  /** Resolves once no job is pending. */
  whenEmpty(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#whenEmpty;
      this.#whenEmpty = () => {
        previous?.();
        resolve();
      };
    });
  }

  #take(id: string): PendingJob | undefined {
    const job = this.#pending.get(id);
    if (job === undefined) return undefined;
    this.#pending.delete(id);
    if (this.#pending.size === 0 && this.#whenEmpty !== undefined) {
      const wake = this.#whenEmpty;
      this.#whenEmpty = undefined;
      queueMicrotask(wake);
    }
    return job;
  }
}
