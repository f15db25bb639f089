/**
 * The seed scenarios (shared/seeds: asyncio.Semaphore, ApiRateLimiter, ProcessPoolExecutor), each
 * run on threadgate, each returning what it observed next to the limits it was given. `npm run
 * demo` prints them with a timeline; the test suite runs the very same functions and checks them.
 */
import { cpus } from 'node:os';
import { AsyncSemaphore, RateLimiter, SharedRateLimiter, SharedSemaphore, WorkerPool, workloads } from 'threadgate';
import type * as Workloads from 'threadgate/workloads';
import { startApiServer } from './server.js';
import type * as DemoTasks from './tasks.js';
import { now } from './tasks.js';
import { type Lane, maxOverlap, minGap } from './timeline.js';

const TASKS = new URL('./tasks.ts', import.meta.url);

/** One limit: what was configured, what was observed, and whether it held. */
export interface Check {
  label: string;
  limit: string;
  observed: string;
  ok: boolean;
  /**
   * What the host measures, not what the library promises (a request's arrival at the server
   * moves with the network path and the scheduler): a miss is a warning, never a failure.
   */
  hostDependent?: true;
}

export interface ScenarioReport {
  name: string;
  title: string;
  checks: Check[];
  lanes: Lane[];
  notes: string[];
}

export interface ScenarioOptions {
  /** Called with 0..1 while a long scenario runs (the offloading progress bar). */
  onProgress?: (fraction: number, label: string) => void;
  /**
   * How much earlier than the limiter's spacing a request may reach the server, in ms: the
   * network path and thread scheduling jitter, which the limiter cannot control. Default 5.
   */
  arrivalJitterMs?: number;
}

export type Scenario = (options: ScenarioOptions) => Promise<ScenarioReport>;

const atMost = (label: string, limit: number, observed: number): Check => ({
  label,
  limit: `<= ${limit}`,
  observed: String(observed),
  ok: observed <= limit,
});
const atLeast = (label: string, limit: number, observed: number, unit = 'ms', slack = 0): Check => ({
  label,
  limit: `>= ${limit} ${unit}${slack ? ` (less ${slack} ${unit} allowed)` : ''}`,
  observed: `${observed.toFixed(2)} ${unit}`,
  ok: observed >= limit - slack - 1e-6, // 1e-6: floating-point rounding of a difference of clock readings
});
const equals = (label: string, expected: string, observed: string): Check => ({
  label,
  limit: expected,
  observed,
  ok: expected === observed,
});

/** Runs `count` tasks of `ms` through `semaphore` at once; records when each waited and held. */
async function gatherThrough(semaphore: AsyncSemaphore, count: number, ms: number, label: (i: number) => string) {
  const lanes: Lane[] = [];
  const spans: { start: number; end: number }[] = [];
  const results = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const arrived = now();
      return semaphore.withPermit(async () => {
        const start = now();
        await new Promise((resolve) => setTimeout(resolve, ms));
        const end = now();
        spans.push({ start, end });
        lanes[i] = {
          label: label(i),
          spans: [
            { start: arrived, end: start, kind: 'wait' },
            { start, end, kind: 'run' },
          ],
        };
        return label(i);
      });
    }),
  );
  return { lanes, spans, results };
}

/** Seed 1: `asyncio.Semaphore(3)` around 10 tasks of 100 ms, gathered in order. */
export const semaphoreGather: Scenario = async () => {
  const { lanes, spans, results } = await gatherThrough(new AsyncSemaphore(3), 10, 100, (i) => `task-${i}`);
  return {
    name: 'semaphore',
    title: 'asyncio.Semaphore(3): 10 tasks of 100 ms, at most 3 at a time (AsyncSemaphore)',
    checks: [
      atMost('tasks inside the semaphore at once', 3, maxOverlap(spans)),
      equals('results, in order', 'task-0 … task-9', summarize(results)),
    ],
    lanes,
    notes: [`results: [${results.join(', ')}]`],
  };
};

/** Seed 2: 20 workers calling an API that allows 5 connections (2 s calls, shortened to 200 ms). */
export const throttledWorkers: Scenario = async () => {
  const { lanes, spans } = await gatherThrough(new AsyncSemaphore(5), 20, 200, (i) => `Task-${i}`);
  return {
    name: 'workers',
    title: 'asyncio.Semaphore(5): 20 API workers, 5 connections allowed (AsyncSemaphore)',
    checks: [
      atMost('workers inside the semaphore at once', 5, maxOverlap(spans)),
      equals('workers that finished', '20', String(spans.length)),
    ],
    lanes,
    notes: [],
  };
};

/** The car park: three spaces (a SharedSemaphore), cars arriving as tasks on a pool of 6 workers. */
export const carPark: Scenario = async () => {
  const spaces = new SharedSemaphore(3);
  const pool = new WorkerPool<typeof DemoTasks>({ module: TASKS, maxWorkers: 6, minWorkers: 6 });
  try {
    const stays = [300, 200, 400, 250, 150, 350, 200, 300, 250, 200];
    // Ten cars arrive at once on six worker threads (some threads bring two).
    const records = await pool
      .starmap(
        'park',
        stays.map((stay, car) => [spaces, car, stay] as [SharedSemaphore, number, number]),
        { chunkSize: 1 },
      )
      .toArray();
    const parked = records.map((r) => ({ start: r.parkedAt, end: r.leftAt }));
    const threads = new Set(records.map((r) => r.threadId));
    return {
      name: 'car-park',
      title: 'A car park with 3 spaces: SharedSemaphore(3), 10 cars on 6 worker threads',
      checks: [
        atMost('cars parked at once', 3, maxOverlap(parked)),
        equals('spaces free after the last car left', '3', String(spaces.available)),
        {
          label: 'worker threads the cars came from',
          limit: '> 1 (crossing threads)',
          observed: String(threads.size),
          ok: threads.size > 1,
        },
      ],
      lanes: records.map((r) => ({
        label: `car ${r.car} (t${r.threadId})`,
        spans: [
          { start: r.arrivedAt, end: r.parkedAt, kind: 'wait' },
          { start: r.parkedAt, end: r.leftAt, kind: 'run' },
        ],
      })),
      notes: ['· waiting at the barrier   █ parked'],
    };
  } finally {
    await pool.shutdown();
  }
};

/** The seed's ApiRateLimiter against a real local HTTP server: in one thread, then from 4 workers. */
export const rateLimitedApi: Scenario = async ({ arrivalJitterMs = 5 }) => {
  const latencyMs = 600; // longer than 5 × 100 ms: both limits come into play
  const server = await startApiServer(latencyMs);
  const pool = new WorkerPool<typeof DemoTasks>({ module: TASKS, maxWorkers: 4, minWorkers: 4 });
  try {
    const checks: Check[] = [];
    const lanes: Lane[] = [];
    const notes: string[] = [];

    // Every thread's first fetch loads its HTTP client: warm them all before timing anything.
    await (await fetch(`${server.baseUrl}/users/0`)).json();
    const warmed = new Set(await Promise.all([0, 1, 2, 3].map(() => pool.submit('warmFetch', server.baseUrl))));
    await server.reset();

    const limiter = new RateLimiter({ maxConcurrent: 5, minIntervalMs: 100 });
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter.call(
          async () => {
            const response = await fetch(`${server.baseUrl}/users/${i + 1}`);
            return (await response.json()) as { id: string; name: string };
          },
          { requestId: `req-${i + 1}` },
        ),
      ),
    );
    const starts = responses.map((r) => r.startedAt);
    const inThread = await server.stats();
    const complete = responses.every((r, i) => r.requestId === `req-${i + 1}` && r.data.id === String(i + 1) && r.durationMs > 0);
    checks.push(
      atMost('in one thread: requests in progress at the server', 5, inThread.maxConcurrent),
      equals('in one thread: the concurrency limit was reached', '5', String(inThread.maxConcurrent)),
      atLeast('in one thread: gap between starts (limiter clock)', 100, minGap(starts)),
      {
        ...atLeast('in one thread: gap between arrivals (server)', 100, minGap(inThread.arrivals), 'ms', arrivalJitterMs),
        hostDependent: true,
      },
      equals('in one thread: responses with data, requestId, durationMs', '20', String(complete ? responses.length : 0)),
    );
    lanes.push(...requestLanes('1 thread', inThread.arrivals, latencyMs));
    notes.push(`Fetched ${responses.length} users in one thread (${responses[0]?.data.name} … ${responses.at(-1)?.data.name})`);

    await server.reset();
    const shared = new SharedRateLimiter({ maxConcurrent: 5, minIntervalMs: 100 });
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    const perWorker = [0, 1, 2, 3].map((w) => ids.filter((id) => id % 4 === w));
    const records = (await Promise.all(perWorker.map((share) => pool.submit('fetchUsers', shared, server.baseUrl, share)))).flat();
    const threads = new Set(records.map((r) => r.threadId));
    const fromWorkers = await server.stats();
    checks.push(
      atMost('from 4 workers: requests in progress at the server', 5, fromWorkers.maxConcurrent),
      atLeast('from 4 workers: gap between starts (process clock)', 100, minGap(records.map((r) => r.startedAt))),
      {
        ...atLeast('from 4 workers: gap between arrivals (server)', 100, minGap(fromWorkers.arrivals), 'ms', arrivalJitterMs),
        hostDependent: true,
      },
      { label: 'from 4 workers: threads that made requests', limit: '4', observed: String(threads.size), ok: threads.size === 4 },
    );
    lanes.push(...requestLanes('4 workers', fromWorkers.arrivals, latencyMs));
    notes.push(`Each mark is a request reaching the server; each takes ${latencyMs} ms to answer.`);
    notes.push(
      `Allowances: a worker reaches fn's first line up to 0.5 ms after the limiter lets it start; a request reaches the server within ${arrivalJitterMs} ms. (${warmed.size} workers warmed up.)`,
    );
    return {
      name: 'api',
      title: 'ApiRateLimiter: 20 user fetches, max 5 at once, starts ≥ 100 ms apart, against a real HTTP server',
      checks,
      lanes,
      notes,
    };
  } finally {
    await pool.shutdown();
    await server.close();
  }
};

/** Seed 3: `ProcessPoolExecutor(max_workers=2).map(heavy_calculation, range(10))`. */
export const processPool: Scenario = async () => {
  const pool = new WorkerPool<typeof DemoTasks>({ module: TASKS, maxWorkers: 2, minWorkers: 2 });
  try {
    const records = await pool
      .starmap(
        'heavyCalculation',
        Array.from({ length: 10 }, (_, n) => [n, 150] as [number, number]),
        { chunkSize: 1 },
      )
      .toArray();
    const squares = records.map((r) => r.square);
    const threads = [...new Set(records.map((r) => r.threadId))];
    return {
      name: 'process-pool',
      title: 'ProcessPoolExecutor(max_workers=2).map(heavy_calculation, range(10)) as WorkerPool.map',
      checks: [
        atMost('calculations running at once', 2, maxOverlap(records.map((r) => ({ start: r.startedAt, end: r.endedAt })))),
        equals('worker threads used', '2', String(threads.length)),
        equals('results, in input order', '0, 1, 4, 9, 16, 25, 36, 49, 64, 81', squares.join(', ')),
      ],
      lanes: threads.map((t) => ({
        label: `thread ${t}`,
        spans: records.filter((r) => r.threadId === t).map((r) => ({ start: r.startedAt, end: r.endedAt, kind: 'run' as const })),
      })),
      notes: records.map((r) => `  [thread ${r.threadId}] heavy_calculation(${r.n}) = ${r.square}`),
    };
  } finally {
    await pool.shutdown();
  }
};

/** Offloading: Mandelbrot tiles rendered serially, then on the pool, with progress. */
export const offloading: Scenario = async ({ onProgress }) => {
  const { mandelbrotTile } = (await import('threadgate/workloads')) as typeof Workloads;
  const size = 640;
  const tileSize = 80;
  const tiles: Workloads.Tile[] = [];
  for (let y = 0; y < size; y += tileSize) {
    for (let x = 0; x < size; x += tileSize)
      tiles.push({ x, y, width: tileSize, height: tileSize, imageWidth: size, imageHeight: size, maxIterations: 1000 });
  }
  const workers = Math.max(2, cpus().length);
  const pool = new WorkerPool<typeof Workloads>({ module: workloads, maxWorkers: workers, minWorkers: workers });
  try {
    await pool.submit('fib', 20); // workers up before the clock starts
    const serialStart = now();
    let serialChecksum = 0;
    for (const [i, tile] of tiles.entries()) {
      serialChecksum += sum(mandelbrotTile(tile));
      onProgress?.((i + 1) / tiles.length, 'serial');
    }
    const serialMs = now() - serialStart;
    const poolStart = now();
    let poolChecksum = 0;
    let done = 0;
    for await (const pixels of pool.map('mandelbrotTile', tiles, { chunkSize: 1 })) {
      poolChecksum += sum(pixels);
      done++;
      onProgress?.(done / tiles.length, `pool (${workers} workers)`);
    }
    const poolMs = now() - poolStart;
    const speedup = serialMs / poolMs;
    return {
      name: 'offloading',
      title: `Offloading: a ${size}×${size} Mandelbrot in ${tiles.length} tiles, serial vs WorkerPool(${workers})`,
      // Speed is measured and shown, not checked: that is the benchmark suite's job (npm run bench).
      checks: [
        equals('pool image equals serial image (checksum)', String(serialChecksum), String(poolChecksum)),
        equals('tiles rendered by the pool', String(tiles.length), String(done)),
      ],
      lanes: [
        { label: 'serial', spans: [{ start: serialStart, end: serialStart + serialMs, kind: 'run' }] },
        { label: 'pool', spans: [{ start: serialStart, end: serialStart + poolMs, kind: 'run' }] },
      ],
      notes: [
        `speed-up measured here and now: ${speedup.toFixed(2)}× (serial ${serialMs.toFixed(0)} ms, pool ${poolMs.toFixed(0)} ms on ${workers} workers, ${cpus().length} cores; ideal ${workers}×)`,
      ],
    };
  } finally {
    await pool.shutdown();
  }
};

export const scenarios: Record<string, Scenario> = {
  semaphore: semaphoreGather,
  workers: throttledWorkers,
  'car-park': carPark,
  api: rateLimitedApi,
  'process-pool': processPool,
  offloading,
};

/** Five lanes per phase: request i is drawn in lane i mod 5, from arrival to answer. */
function requestLanes(label: string, arrivals: number[], latencyMs: number): Lane[] {
  const lanes: Lane[] = Array.from({ length: 5 }, (_, i) => ({ label: `${label} #${i}`, spans: [] }));
  const sorted = [...arrivals].sort((a, b) => a - b);
  for (const [i, t] of sorted.entries()) lanes[i % 5]?.spans.push({ start: t, end: t + latencyMs, kind: 'run' });
  return lanes;
}

function summarize(results: string[]): string {
  const expected = Array.from({ length: 10 }, (_, i) => `task-${i}`);
  return results.join() === expected.join() ? 'task-0 … task-9' : results.join(', ');
}

function sum(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i] as number;
  return total;
}
