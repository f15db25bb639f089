/**
 * Map scaling: a coarse CPU workload (fib, ~10 ms an item) and a fine-grained one (~2 µs an
 * item). A serial loop on the main thread, threadgate `map` (automatic chunking), and one task
 * per item in Piscina, tinypool, workerpool and poolifier (`mapExecute`), and the machine's
 * ceiling (bare worker threads splitting the items evenly), interleaved; then
 * threadgate's speed-up over the serial loop as `maxWorkers` grows from 1 to one beyond the core
 * count (oversubscription).
 */
import { Worker } from 'node:worker_threads';
import { WorkerPool, workloads } from 'threadgate';
import type * as Workloads from 'threadgate/workloads';
import { fib } from 'threadgate/workloads';
import { type Case, type CaseResult, type GroupOptions, pairedRatio, runGroup } from '../harness.js';
import { type Suite, type SuiteContext, workerFile } from './context.js';
import { type PeerPool, peerPools } from './peers.js';

/** The row that shows what the machine allows (see `bareThreadsCase`). */
export const CEILING_CASE = 'ceiling: bare threads, items split evenly';

/**
 * The n whose fib(n) takes closest to `ms` here (measured, so figures mean the same everywhere).
 * Each n is timed five times and its fastest time counts: on a shared machine a neighbour's burst
 * lands in some of them, and one slow timing made fib(10), a 1.1 µs item, pass for a 2 µs one.
 */
export function calibrateFib(ms: number): number {
  // Warm fib up first: timed while it was still interpreted, a small n passed for a large one
  // (fib(n) of a fraction of a microsecond taken for 2 µs), and a serial loop over it beat every pool.
  for (let i = 0; i < 50; i++) fib(20);
  const timeOf = (n: number): number => {
    const reps = n < 20 ? 2_000 : 3;
    let fastest = Number.POSITIVE_INFINITY;
    for (let trial = 0; trial < 5; trial++) {
      const started = performance.now();
      for (let i = 0; i < reps; i++) fib(n);
      fastest = Math.min(fastest, (performance.now() - started) / reps);
    }
    return fastest;
  };
  let below = { n: 5, ms: timeOf(5) };
  for (let n = 6; n < 40; n++) {
    const took = timeOf(n);
    // fib(n) takes ~1.6× fib(n - 1): of the two around `ms`, the one nearer by ratio.
    if (took >= ms) return ms / below.ms <= took / ms ? below.n : n;
    below = { n, ms: took };
  }
  return 40;
}

/** The loop a user would write instead of a pool: over the same input array the pools get. */
function serialCase(n: number, items: number): Case {
  const input = new Array<number>(items).fill(n);
  return {
    name: 'serial loop',
    ops: items,
    run: () => {
      let sink = 0;
      for (let i = 0; i < items; i++) sink += fib(input[i] as number);
      if (sink < 0) throw new Error('unreachable');
    },
  };
}

function mapCase(name: string, n: number, items: number, workers: number): Case {
  let pool: WorkerPool<typeof Workloads>;
  const input = new Array<number>(items).fill(n);
  return {
    name,
    ops: items,
    setup: async () => {
      pool = new WorkerPool<typeof Workloads>({ module: workloads, maxWorkers: workers, minWorkers: workers });
      await pool.map('fib', input.slice(0, Math.min(items, 2_000))).toArray();
    },
    run: async () => {
      await pool.map('fib', input).toArray();
    },
    teardown: () => pool.shutdown(),
  };
}

/**
 * What the machine allows: one bare worker thread per core, each given an equal share of the
 * items in a single message. Any pool's speed-up is measured against the same serial loop, so
 * this row says how much of the gap to the ideal is the pool's and how much the machine's.
 */
function bareThreadsCase(n: number, items: number, threads: number): Case {
  let workers: Worker[] = [];
  const share = (i: number): number => Math.floor(items / threads) + (i < items % threads ? 1 : 0);
  return {
    name: CEILING_CASE,
    ops: items,
    setup: async () => {
      workers = Array.from({ length: threads }, () => new Worker(workerFile('split-fib.mjs')));
      await Promise.all(workers.map((w) => runShare(w, n, 1)));
    },
    run: async () => {
      await Promise.all(workers.map((w, i) => runShare(w, n, share(i))));
    },
    teardown: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

function runShare(worker: Worker, n: number, items: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (values: unknown): void => {
      worker.off('error', onError);
      resolve(values);
    };
    const onError = (error: Error): void => {
      worker.off('message', onMessage);
      reject(error);
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.postMessage({ n, items });
  });
}

/** A peer without chunking: every item is its own task, all submitted at once (what users of these pools write). */
function perItemCase(peer: PeerPool, n: number, items: number, workers: number): Case {
  const inputs = new Array<number>(items).fill(n);
  return {
    name: peer.name === 'poolifier' ? 'poolifier mapExecute' : `${peer.name}, one task per item`,
    ops: items,
    setup: async () => {
      peer.start(workers);
      await peer.runAll(inputs.slice(0, 100));
    },
    run: async () => {
      await peer.runAll(inputs);
    },
    teardown: async () => {
      await peer.stop();
    },
  };
}

/**
 * One sample of each case per round, over many rounds: the speed-ups here are ratios of cases,
 * paired round by round (see `pairedRatio`), and the host's slow spells last seconds, so the two
 * sides of a pair must run within a second or two of each other, not in windows of their own.
 */
function interleavedSamples(ctx: SuiteContext, rounds: number): GroupOptions {
  return ctx.group({ rounds: ctx.quick ? 2 : rounds, timeMs: 0, iterations: 1 });
}

export const mapScaling: Suite = async (ctx) => {
  const results: CaseResult[] = [];
  const cores = ctx.cores;
  const coarseN = calibrateFib(8);
  const fineN = calibrateFib(0.002);
  const coarseItems = ctx.quick ? 12 : 40;
  const fineItems = ctx.quick ? 50_000 : 200_000;
  const perItemItems = ctx.quick ? 5_000 : 10_000;

  const coarse = await runGroup(
    'map scaling',
    `coarse: fib(${coarseN}) × ${coarseItems}, ${cores} workers`,
    [
      serialCase(coarseN, coarseItems),
      mapCase('threadgate map', coarseN, coarseItems, cores),
      bareThreadsCase(coarseN, coarseItems, cores),
      ...peerPools().map((p) => perItemCase(p, coarseN, coarseItems, cores)),
    ],
    interleavedSamples(ctx, 12),
  );
  const fine = await runGroup(
    'map scaling',
    `fine: fib(${fineN}) × ${fineItems}, ${cores} workers`,
    [serialCase(fineN, fineItems), mapCase('threadgate map', fineN, fineItems, cores), bareThreadsCase(fineN, fineItems, cores)],
    interleavedSamples(ctx, 12),
  );
  // One task per item for 200k items takes many seconds; its per-item cost is the same over fewer.
  const perItem = await runGroup(
    'map scaling',
    `fine: fib(${fineN}), one task per item in each pool (${perItemItems} items; per-item cost compared)`,
    peerPools().map((p) => perItemCase(p, fineN, perItemItems, cores)),
    // Context, not a target: three rounds of two samples (each sample is seconds of one task per item).
    ctx.group({ rounds: ctx.quick ? 1 : 3, timeMs: ctx.quick ? 200 : 3_000, iterations: 2 }),
  );
  results.push(...coarse, ...fine, ...perItem);

  for (const [label, n, items] of [
    ['coarse', coarseN, coarseItems],
    ['fine', fineN, fineItems],
  ] as const) {
    const cases = [serialCase(n, items), ...ctx.workers.map((w) => mapCase(`threadgate map, ${w} worker${w > 1 ? 's' : ''}`, n, items, w))];
    const sweep = await runGroup('map scaling', `speed-up vs workers (${label})`, cases, interleavedSamples(ctx, 4));
    const serial = sweep[0] as CaseResult;
    for (const [i, r] of sweep.entries()) {
      if (i === 0) continue;
      const speedup = pairedRatio(r, serial)?.median ?? serial.p50Ms / r.p50Ms;
      r.extra = { workers: ctx.workers[i - 1] as number, speedup, workload: label };
    }
    results.push(...sweep);
  }
  return results;
};
