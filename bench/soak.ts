/**
 * `npm run soak [-- --tasks N --map N --workers N --seed N --churn N --tiny N]`: pushes 1,000,000
 * tasks with a fault mix through one pool, then a long lazy map, sampling throughput, heap and RSS
 * every second. A leak shows as a slope: the report fits a line to the memory samples after
 * warm-up and compares the growth it predicts over the run with the samples' own noise. Then two
 * service edges: `--churn` submit-then-cancel cycles with 64 KB arguments while the only worker
 * of a pool is busy (heap growth, target < 20 MB), and a map of `--tiny` tiny items read by a
 * caller whose event-loop delay is watched (`monitorEventLoopDelay`, goal p99 < 20 ms). Writes
 * bench/results/soak.json, soak.md and soak.svg; exits non-zero if any task ended wrongly.
 *
 * Runs with --expose-gc so each memory sample is taken after a full collection: what is measured
 * is what is retained, not what is merely garbage not yet collected.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { median as medianOf } from 'simple-statistics';
import { WorkerPool, type WorkerPoolOptions } from 'threadgate';
import { machine, svg } from './report.js';
import { seededRandom } from './seeded-random.js';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000000' },
    map: { type: 'string', default: '40000000' },
    workers: { type: 'string', default: String(availableParallelism()) },
    inflight: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    churn: { type: 'string', default: '100000' },
    tiny: { type: 'string', default: '1000000' },
  },
});
const positive = (name: string, raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} takes an integer >= 1; received ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
};
const TASKS = positive('tasks', values.tasks);
const MAP_ITEMS = positive('map', values.map);
const WORKERS = positive('workers', values.workers);
const IN_FLIGHT = positive('inflight', values.inflight);
const SEED = positive('seed', values.seed);
const CHURN = positive('churn', values.churn);
const TINY = positive('tiny', values.tiny);
const WARM_UP = 0.15; // share of the run left out of the slope fit
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc (npm run soak does)');
  process.exit(2);
}

/** The fault mix of the task phase: cumulative probabilities, checked in this order. */
const MIX = { fail: 0.02, cancel: 0.03, exit: 0.0302, timeout: 0.0304 } as const;

interface Sample {
  seconds: number;
  phase: 'tasks' | 'map';
  perSecond: number;
  heapMB: number;
  rssMB: number;
  workers: number;
}

/** The exports of workers/soak-tasks.mjs. */
interface SoakModule {
  ok(i: number): number;
  fail(i: number): never;
  exit(code: number): never;
  spin(): never;
  square(n: number): number;
}
const options: WorkerPoolOptions = {
  module: new URL('./workers/soak-tasks.mjs', import.meta.url),
  maxWorkers: WORKERS,
  minWorkers: WORKERS,
  cancelGraceMs: 20,
  maxTasksPerWorker: 100_000, // recycling is part of the mix
};
const pool = new WorkerPool<SoakModule>(options);
const rnd = seededRandom(SEED);
const outcomes: Record<string, number> = {};
const wrong: string[] = [];
const count = (label: string, ok: boolean, detail: () => string): void => {
  outcomes[label] = (outcomes[label] ?? 0) + 1;
  if (!ok && wrong.length < 20) wrong.push(detail());
};

const fault = (e: unknown): { name?: string; message?: string; code?: string } => (e ?? {}) as never;

const started = performance.now();
const samples: Sample[] = [];
let phase: Sample['phase'] = 'tasks';
let finished = 0;
let lastFinished = 0;
let lastAt = started;
const sampler = setInterval(() => {
  gc();
  const now = performance.now();
  const memory = process.memoryUsage();
  samples.push({
    seconds: (now - started) / 1000,
    phase,
    perSecond: ((finished - lastFinished) * 1000) / (now - lastAt),
    heapMB: memory.heapUsed / 2 ** 20,
    rssMB: memory.rss / 2 ** 20,
    workers: pool.stats.workers,
  });
  lastFinished = finished;
  lastAt = now;
  const s = samples.at(-1) as Sample;
  process.stderr.write(
    `\r\x1b[2K[${s.seconds.toFixed(0).padStart(4)} s] ${phase}: ${finished.toLocaleString('en')} done, ${s.perSecond.toFixed(0)}/s, heap ${s.heapMB.toFixed(1)} MB, rss ${s.rssMB.toFixed(0)} MB`,
  );
}, 1000);

// ─── phase 1: a window of tasks in flight, each replaced as it settles ───────────────────────

await new Promise<void>((resolve) => {
  let next = 0;
  const launch = (): void => {
    const i = next++;
    const r = rnd();
    const settle = (label: string, ok: boolean, detail: () => string): void => {
      count(label, ok, detail);
      finished++;
      if (next < TASKS) launch();
      else if (finished === TASKS) resolve();
    };
    if (r < MIX.fail) {
      pool.submit('fail', i).then(
        () => settle('fail', false, () => `task ${i} (fail) succeeded`),
        (e: unknown) => settle('fail', fault(e).message === `planned failure ${i}`, () => `task ${i} (fail): ${e}`),
      );
    } else if (r < MIX.cancel) {
      const future = pool.submit('ok', i);
      setImmediate(() => future.cancel()); // at a random point: queued, handed over, or done
      future.then(
        (v) => settle('cancel (finished first)', v === i, () => `task ${i} (cancel) gave ${v}`),
        (e: unknown) => settle('cancel', fault(e).name === 'AbortError', () => `task ${i} (cancel): ${e}`),
      );
    } else if (r < MIX.exit) {
      pool.submit('exit', 3).then(
        () => settle('exit', false, () => `task ${i} (exit) succeeded`),
        (e: unknown) => settle('exit', fault(e).code === 'ERR_WORKER_CRASHED', () => `task ${i} (exit): ${e}`),
      );
    } else if (r < MIX.timeout) {
      pool
        .with({ timeoutMs: 20 })
        .submit('spin')
        .then(
          () => settle('timeout', false, () => `task ${i} (spin) succeeded`),
          (e: unknown) => settle('timeout', fault(e).code === 'ERR_TASK_TIMEOUT', () => `task ${i} (spin): ${e}`),
        );
    } else {
      pool.submit('ok', i).then(
        (v) => settle('ok', v === i, () => `task ${i} gave ${v}`),
        (e: unknown) => settle('ok', false, () => `task ${i} failed: ${e}`),
      );
    }
  };
  for (let k = 0; k < Math.min(IN_FLIGHT, TASKS); k++) launch();
});
const tasksEndedAt = (performance.now() - started) / 1000;

// ─── phase 2: one long lazy map over a generator ─────────────────────────────────────────────

phase = 'map';
function* naturals(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}
let index = 0;
for await (const square of pool.map('square', naturals(MAP_ITEMS))) {
  if (square !== index * index && wrong.length < 20) wrong.push(`map item ${index} gave ${square}`);
  index++;
  finished++;
}
count('map runs complete', index === MAP_ITEMS, () => `map yielded ${index} of ${MAP_ITEMS} items`);
clearInterval(sampler);
process.stderr.write('\n');
const elapsed = (performance.now() - started) / 1000;

// ─── service edge 1: clients that submit and then cancel, behind a busy worker ───────────────

/**
 * Heap used plus ArrayBuffer memory (where the 64 KB arguments live) after full collections, MB.
 * V8 frees the memory behind dead ArrayBuffers on a background thread after a collection, so
 * `arrayBuffers` read at once still counts buffers that are already garbage: collect, let the
 * event loop turn, collect again, then read.
 */
const heapAfterGc = async (): Promise<number> => {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return (heapUsed + arrayBuffers) / 2 ** 20;
};
const churnPool = new WorkerPool<SoakModule>({ module: options.module, maxWorkers: 1 });
const blocker = churnPool
  .with({ timeoutMs: 60_000 })
  .submit('spin')
  .catch(() => undefined); // holds the only worker
await new Promise((resolve) => setTimeout(resolve, 200));
const churnHeapBefore = await heapAfterGc();
let churnHeapPeak = churnHeapBefore;
function churnBatch(from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const future = churnPool.submit('ok', new Uint8Array(64 * 1024) as never);
    future.cancel();
    future.catch(() => undefined);
  }
}
for (let i = 0; i < CHURN; i += 1_000) {
  churnBatch(i, Math.min(CHURN, i + 1_000));
  await new Promise((resolve) => setImmediate(resolve));
  if (i % 10_000 === 0) churnHeapPeak = Math.max(churnHeapPeak, await heapAfterGc());
}
const churnHeapAfter = await heapAfterGc();
churnHeapPeak = Math.max(churnHeapPeak, churnHeapAfter);
const churnQueued = churnPool.stats.queued;
count('churn cycles', churnPool.stats.cancelled >= CHURN, () => `${churnPool.stats.cancelled} of ${CHURN} cancelled`);
await churnPool.shutdown({ timeoutMs: 0 });
await blocker;

// ─── service edge 2: a map of tiny items, and the caller's own event loop ────────────────────

const delay = monitorEventLoopDelay({ resolution: 1 });
let tinyIndex = 0;
const tinyStarted = performance.now();
delay.enable();
for await (const square of pool.map('square', naturals(TINY))) {
  if (square !== tinyIndex * tinyIndex && wrong.length < 20) wrong.push(`tiny map item ${tinyIndex} gave ${square}`);
  tinyIndex++;
}
delay.disable();
const tinySeconds = (performance.now() - tinyStarted) / 1000;
count('tiny map runs complete', tinyIndex === TINY, () => `tiny map yielded ${tinyIndex} of ${TINY} items`);
const loopDelayMs = { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
await pool.shutdown();

// ─── the report ──────────────────────────────────────────────────────────────────────────────

/**
 * Least-squares line through one phase's (seconds, value) samples, after warm-up; growth over the
 * phase vs the residuals' spread. Per phase: the map holds other buffers than the task phase, and
 * a step between phases is not a leak.
 */
function trend(
  key: 'heapMB' | 'rssMB',
  phase: Sample['phase'],
): { slopePerMin: number; growthMB: number; noiseMB: number; holds: boolean } {
  const inPhase = samples.filter((s) => s.phase === phase);
  const from = (inPhase[0]?.seconds ?? 0) + ((inPhase.at(-1)?.seconds ?? 0) - (inPhase[0]?.seconds ?? 0)) * WARM_UP;
  const points = inPhase.filter((s) => s.seconds >= from);
  const n = points.length;
  const mx = points.reduce((a, s) => a + s.seconds, 0) / n;
  const my = points.reduce((a, s) => a + s[key], 0) / n;
  const sxy = points.reduce((a, s) => a + (s.seconds - mx) * (s[key] - my), 0);
  const sxx = points.reduce((a, s) => a + (s.seconds - mx) ** 2, 0);
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const residuals = points.map((s) => s[key] - (my + slope * (s.seconds - mx)));
  const noise = Math.sqrt(residuals.reduce((a, r) => a + r * r, 0) / Math.max(1, n - 2));
  const span = (points.at(-1)?.seconds ?? 0) - (points[0]?.seconds ?? 0);
  const growth = slope * span;
  // "Beyond noise": the fitted growth over the whole window exceeds twice the samples' spread around the line.
  return { slopePerMin: slope * 60, growthMB: growth, noiseMB: noise, holds: growth <= Math.max(2 * noise, 1) };
}

/** The same p50 as every benchmark table. */
const median = (xs: number[]): number => medianOf(xs);
const first = samples.find((s) => s.seconds >= tasksEndedAt * WARM_UP) ?? samples[0];
const last = samples.at(-1);
const heap = trend('heapMB', 'tasks');
const rss = trend('rssMB', 'tasks');
const mapHeap = trend('heapMB', 'map');
const mapRss = trend('rssMB', 'map');
const summary = {
  machine: machine(),
  options: { tasks: TASKS, mapItems: MAP_ITEMS, workers: WORKERS, inFlight: IN_FLIGHT, seed: SEED, mix: MIX },
  elapsedSeconds: elapsed,
  tasksPhaseSeconds: tasksEndedAt,
  medianTasksPerSecond: median(samples.filter((s) => s.phase === 'tasks').map((s) => s.perSecond)),
  medianMapItemsPerSecond: median(samples.filter((s) => s.phase === 'map').map((s) => s.perSecond)),
  heapMB: { afterWarmUp: first?.heapMB, end: last?.heapMB, tasks: heap, map: mapHeap },
  rssMB: { afterWarmUp: first?.rssMB, end: last?.rssMB, tasks: rss, map: mapRss },
  maxWorkersSeen: Math.max(...samples.map((s) => s.workers)),
  churn: {
    cycles: CHURN,
    heapMB: { before: churnHeapBefore, peak: churnHeapPeak, after: churnHeapAfter },
    growthMB: churnHeapPeak - churnHeapBefore,
    targetMB: 20,
    queuedAfter: churnQueued,
  },
  tinyMap: { items: TINY, seconds: tinySeconds, loopDelayMs, goalP99Ms: 20 },
  outcomes,
  wrong,
  samples,
};

const mb = (v: number | undefined): string => (v === undefined ? '—' : `${v.toFixed(1)} MB`);
const report = [
  '# Soak run',
  '',
  `${summary.machine.cpu}, ${summary.machine.cores} cores, Node ${summary.machine.node}, ${summary.machine.date}.`,
  `${TASKS.toLocaleString('en')} tasks (${IN_FLIGHT} in flight, seed ${SEED}) then a map of ${MAP_ITEMS.toLocaleString('en')} items, ${WORKERS} workers, ${elapsed.toFixed(0)} s.`,
  '',
  '| figure | value |',
  '|---|---|',
  `| tasks/s (median of 1 s samples) | ${summary.medianTasksPerSecond.toFixed(0)} |`,
  `| map items/s (median of 1 s samples) | ${summary.medianMapItemsPerSecond.toFixed(0)} |`,
  `| heap after warm-up → end | ${mb(first?.heapMB)} → ${mb(last?.heapMB)} |`,
  `| RSS after warm-up → end | ${mb(first?.rssMB)} → ${mb(last?.rssMB)} |`,
  ...(
    [
      ['heap', 'tasks', heap],
      ['RSS', 'tasks', rss],
      ['heap', 'map', mapHeap],
      ['RSS', 'map', mapRss],
    ] as const
  ).map(
    ([what, phase, t]) =>
      `| ${what} slope, ${phase} phase after warm-up | ${t.slopePerMin.toFixed(3)} MB/min (growth ${t.growthMB.toFixed(2)} MB vs noise ${t.noiseMB.toFixed(2)} MB): ${t.holds ? 'flat' : 'GROWS'} |`,
  ),
  `| most workers at once | ${summary.maxWorkersSeen} (maxWorkers ${WORKERS}) |`,
  `| ${CHURN.toLocaleString('en')} submit-then-cancel cycles, 64 KB each, behind 1 busy worker: heap + ArrayBuffer growth (peak − before, after GC) | ${summary.churn.growthMB.toFixed(1)} MB (${mb(churnHeapBefore)} → peak ${mb(churnHeapPeak)}, end ${mb(churnHeapAfter)}; target < 20 MB): ${summary.churn.growthMB < 20 ? 'holds' : 'MISSED'} |`,
  `| map of ${TINY.toLocaleString('en')} tiny items: the caller's event-loop delay | p50 ${loopDelayMs.p50.toFixed(1)} ms, p99 ${loopDelayMs.p99.toFixed(1)} ms, max ${loopDelayMs.max.toFixed(1)} ms (goal p99 < 20 ms): ${loopDelayMs.p99 < 20 ? 'holds' : 'MISSED'}; ${(TINY / tinySeconds).toFixed(0)} items/s |`,
  `| outcomes | ${Object.entries(outcomes)
    .map(([k, v]) => `${k} ${v.toLocaleString('en')}`)
    .join(', ')} |`,
  `| wrong outcomes | ${wrong.length === 0 ? 'none' : wrong.join('; ')} |`,
  '',
  '![throughput, heap and RSS over time](soak.svg)',
  '',
];

const long = samples.flatMap((s) => [
  {
    seconds: s.seconds,
    phase: s.phase,
    panel: 'throughput (per s)',
    series: s.phase === 'tasks' ? 'tasks/s' : 'map items/s',
    value: s.perSecond,
  },
  { seconds: s.seconds, phase: s.phase, panel: 'memory (MB)', series: 'heap used', value: s.heapMB },
  { seconds: s.seconds, phase: s.phase, panel: 'memory (MB)', series: 'RSS', value: s.rssMB },
]);
const chart = await svg({
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title: 'Soak: throughput, heap and RSS over time',
  data: { values: long },
  width: 640,
  height: 180,
  mark: { type: 'line', interpolate: 'monotone' },
  encoding: {
    row: { field: 'panel', type: 'nominal', title: null },
    x: { field: 'seconds', type: 'quantitative', title: 'seconds' },
    y: { field: 'value', type: 'quantitative', title: null },
    color: { field: 'series', type: 'nominal', title: null },
  },
  resolve: { scale: { y: 'independent' } },
});
const out = new URL('./results/', import.meta.url);
await mkdir(out, { recursive: true });
await writeFile(new URL('soak.json', out), `${JSON.stringify(summary, null, 2)}\n`);
await writeFile(new URL('soak.md', out), report.join('\n'));
await writeFile(new URL('soak.svg', out), chart);
console.log(report.slice(0, -2).join('\n'));
console.log(`\nWrote ${new URL('soak.md', out).pathname}, soak.json and soak.svg.`);
if (wrong.length > 0 || !heap.holds || !mapHeap.holds) process.exitCode = 1;
