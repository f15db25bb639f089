/**
 * The gated workload: compute, use a finite resource (K permits), compute again. The resource
 * phase waits (as for a database or an API), holding the permit; the compute phases burn CPU.
 * Concurrency at the resource is counted in shared memory, from every thread.
 */
import type { SharedSemaphore } from 'threadgate';

export interface Phases {
  computeMs: number;
  resourceMs: number;
}

function burn(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // CPU-bound phase
  }
}

async function useResource(counters: Int32Array, ms: number): Promise<void> {
  const now = Atomics.add(counters, 0, 1) + 1;
  let max = Atomics.load(counters, 1);
  while (now > max && Atomics.compareExchange(counters, 1, max, now) !== max) max = Atomics.load(counters, 1);
  await new Promise((resolve) => setTimeout(resolve, ms));
  Atomics.sub(counters, 0, 1);
}

/** No gate inside: the caller gates the whole task (the async variant), or nothing does (unsafe). */
export async function wholeTask(phases: Phases, counters: Int32Array): Promise<void> {
  burn(phases.computeMs);
  await useResource(counters, phases.resourceMs);
  burn(phases.computeMs);
}

/** The shared gate around the resource phase only. */
export async function gatedPhase(phases: Phases, counters: Int32Array, gate: SharedSemaphore): Promise<void> {
  burn(phases.computeMs);
  const permit = await gate.acquire();
  try {
    await useResource(counters, phases.resourceMs);
  } finally {
    permit.release();
  }
  burn(phases.computeMs);
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Hand-off responder: blocks on `ping` until the main thread releases it, records when it woke
 * (process clock, comparable across threads), and releases `pong` back. One unit circulates.
 */
export function semaphoreResponder(ping: SharedSemaphore, pong: SharedSemaphore, wakes: Float64Array, rounds: number): number {
  for (let i = 0; i < rounds; i++) {
    ping.acquireSync();
    wakes[i] = now();
    pong.release();
  }
  return rounds;
}

/** The floor: a bare Atomics.wait/notify ping-pong. cells[0] = ping, cells[1] = pong. */
export function atomicsResponder(cells: Int32Array, wakes: Float64Array, rounds: number): number {
  for (let i = 0; i < rounds; i++) {
    while (Atomics.load(cells, 0) === 0) Atomics.wait(cells, 0, 0);
    wakes[i] = now();
    Atomics.store(cells, 0, 0);
    Atomics.store(cells, 1, 1);
    Atomics.notify(cells, 1);
  }
  return rounds;
}

/** The message-passing reference: a MessagePort ping-pong. */
export function portResponder(port: import('node:worker_threads').MessagePort, wakes: Float64Array, rounds: number): Promise<number> {
  return new Promise((resolve) => {
    let seen = 0;
    port.on('message', (i: number) => {
      wakes[i] = now();
      port.postMessage(i);
      if (++seen === rounds) {
        port.close();
        resolve(rounds);
      }
    });
  });
}

/** Calls through a process-wide limiter `count` times at once; returns the start times. */
export async function limitedStarts(limiter: import('threadgate').SharedRateLimiter, count: number): Promise<number[]> {
  const starts: number[] = [];
  await Promise.all(Array.from({ length: count }, () => limiter.call(() => starts.push(now()))));
  return starts;
}
