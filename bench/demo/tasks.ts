/**
 * Worker-side code of the demo scenarios. Every time is on the process-wide monotonic clock
 * (`process.hrtime`), so events from different threads line up on one timeline.
 */
import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import type { SharedRateLimiter, SharedSemaphore } from 'threadgate';

export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // a CPU-bound stand-in for real work
  }
}

export interface ParkingRecord {
  car: number;
  threadId: number;
  arrivedAt: number;
  parkedAt: number;
  leftAt: number;
}

/** A car arrives at the car park, waits for a space (a permit), stays, and leaves. */
export async function park(spaces: SharedSemaphore, car: number, stayMs: number): Promise<ParkingRecord> {
  const arrivedAt = now();
  const ticket = await spaces.acquire();
  const parkedAt = now();
  await new Promise((resolve) => setTimeout(resolve, stayMs));
  const leftAt = now();
  ticket.release();
  return { car, threadId, arrivedAt, parkedAt, leftAt };
}

export interface CalculationRecord {
  n: number;
  square: number;
  threadId: number;
  startedAt: number;
  endedAt: number;
}

/** The seed's `heavy_calculation`: CPU work, then `n * n`. */
export function heavyCalculation(n: number, ms: number): CalculationRecord {
  const startedAt = now();
  busy(ms);
  return { n, square: n * n, threadId, startedAt, endedAt: now() };
}

export interface FetchRecord {
  id: number;
  threadId: number;
  status: number;
  startedAt: number;
  endedAt: number;
  user: unknown;
}

/** Fetches a user through the process-wide rate limiter shared by every worker. */
export async function fetchUser(limiter: SharedRateLimiter, baseUrl: string, id: number): Promise<FetchRecord> {
  const { data, startedAt } = await limiter.call(
    async () => {
      const response = await fetch(`${baseUrl}/users/${id}`);
      return { status: response.status, user: await response.json() };
    },
    { requestId: `req-${id}` },
  );
  return { id, threadId, status: data.status, startedAt, endedAt: now(), user: data.user };
}

/** One worker's share of users, all at once: the shared limiter must hold them back. */
export function fetchUsers(limiter: SharedRateLimiter, baseUrl: string, ids: number[]): Promise<FetchRecord[]> {
  return Promise.all(ids.map((id) => fetchUser(limiter, baseUrl, id)));
}

/** The first `fetch` in a thread loads its HTTP client (~100 ms): do it before anything is timed. */
export async function warmFetch(baseUrl: string): Promise<number> {
  await (await fetch(`${baseUrl}/users/0`)).json();
  busy(30); // hold this worker, so the next warm-up lands on another one
  return threadId;
}

export interface ClusterItemRecord {
  i: number;
  /** The serving process that ran it. */
  pid: number;
  /** Wall-clock ms (`Date.now()`): the cluster demo lines up several processes, whose monotonic clocks differ. */
  startedAt: number;
  endedAt: number;
}

/**
 * A map item of the cluster demo: CPU work, stamped with its process and wall-clock times. Notes
 * each start in `log` first, so the demo sees which items a server had started when it died.
 */
export function clusterItem(i: number, ms: number, log: string): ClusterItemRecord {
  const startedAt = Date.now();
  appendFileSync(log, `${process.pid} ${i}\n`);
  busy(ms);
  return { i, pid: process.pid, startedAt, endedAt: Date.now() };
}
