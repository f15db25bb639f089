/**
 * Pool overhead: no-op tasks, so only the pool's own cost is measured. Throughput with many
 * tasks in flight, and the round-trip latency of one task at a time; threadgate `submit` next to
 * raw Piscina and the peer pools, all with the same number of threads; what a cold start costs
 * (a new pool's first result: what a replaced or recycled worker costs too). Then what progress
 * costs: a task's progress() calls with and without an `onProgress` listening.
 */
import { WorkerPool, workloads } from 'threadgate';
import type * as Workloads from 'threadgate/workloads';
import { type Case, runGroup } from '../harness.js';
import { type Suite, threadCpuNs, workerFile } from './context.js';
import { peerPools } from './peers.js';

interface Contender {
  name: string;
  start: (threads: number) => Promise<void> | void;
  call: () => Promise<unknown>;
  stop: () => Promise<unknown>;
}

function contenders(): Contender[] {
  let pool: WorkerPool<typeof Workloads>;
  const threadgate: Contender = {
    name: 'threadgate submit',
    start: (threads) => {
      pool = new WorkerPool<typeof Workloads>({ module: workloads, maxWorkers: threads, minWorkers: threads });
    },
    call: () => pool.submit('noop') as PromiseLike<void> as Promise<void>,
    stop: () => pool.shutdown(),
  };
  const peers = peerPools().map((peer) => ({
    name: `${peer.name} ${peer.call}`,
    start: peer.start,
    call: () => peer.run(null),
    stop: peer.stop,
  }));
  return [threadgate, ...peers];
}

export const poolOverhead: Suite = async (ctx) => {
  const threads = ctx.cores;
  const inFlight = ctx.quick ? 500 : 2_000;
  const sequential = ctx.quick ? 50 : 200;
  const all = contenders();
  const mainCpu = new Map<string, { ns: number; tasks: number }>();
  const throughput: Case[] = all.map((c) => ({
    name: c.name,
    ops: inFlight,
    setup: async () => {
      await c.start(threads);
      await Promise.all(Array.from({ length: 200 }, () => c.call())); // workers up and warm
    },
    run: async () => {
      const before = threadCpuNs();
      const pending: Promise<unknown>[] = new Array(inFlight);
      for (let i = 0; i < inFlight; i++) pending[i] = c.call();
      await Promise.all(pending);
      const after = threadCpuNs();
      if (before === undefined || after === undefined) return;
      const sum = mainCpu.get(c.name) ?? { ns: 0, tasks: 0 };
      sum.ns += after - before;
      sum.tasks += inFlight;
      mainCpu.set(c.name, sum);
    },
    teardown: async () => {
      await c.stop();
    },
  }));
  const throughputResults = await runGroup(
    'pool overhead',
    `no-op throughput, ${inFlight} in flight, ${threads} threads`,
    throughput,
    ctx.group({ timeMs: ctx.quick ? 150 : 1_800 }),
  );
  for (const r of throughputResults) {
    const cpu = mainCpu.get(r.name);
    // The main thread's own CPU per task: the part of a pool's cost that no core count hides.
    if (cpu) r.extra = { [MAIN_THREAD_CPU]: Number((cpu.ns / cpu.tasks / 1000).toFixed(2)) };
  }
  const latency: Case[] = contenders().map((c) => ({
    name: c.name,
    ops: sequential,
    setup: async () => {
      await c.start(threads);
      for (let i = 0; i < 50; i++) await c.call();
    },
    run: async () => {
      for (let i = 0; i < sequential; i++) await c.call();
    },
    teardown: async () => {
      await c.stop();
    },
  }));
  return [
    ...throughputResults,
    ...(await runGroup(
      'pool overhead',
      `no-op round trip, one at a time, ${threads} threads`,
      latency,
      ctx.group({ timeMs: ctx.quick ? 100 : 1_200 }),
    )),
    ...(await runGroup('pool overhead', COLD_START, coldStarts(), ctx.group({ timeMs: ctx.quick ? 100 : 1_800 }))),
    ...(await runGroup(
      'pool overhead',
      `${LARGE_RESULT}, ${RESULT_MB} MB`,
      largeResults(),
      ctx.group({ timeMs: ctx.quick ? 100 : 1_800 }),
    )),
    ...(await runGroup(
      'pool overhead',
      `${PROGRESS_SILENT}: ${PROGRESS_EVENTS} calls per task, no onProgress, ${inFlight / 4} in flight, ${threads} threads`,
      progressCases(threads, inFlight / 4, false),
      ctx.group({ timeMs: ctx.quick ? 150 : 1_800 }),
    )),
    ...(await runGroup(
      'pool overhead',
      `${PROGRESS_LISTENED}: ${PROGRESS_EVENTS} events per task, ${inFlight / 4} in flight, ${threads} threads`,
      progressCases(threads, inFlight / 4, true),
      ctx.group({ timeMs: ctx.quick ? 150 : 1_800 }),
    )),
  ];
};

/**
 * A new pool with one thread: until its first no-op result, then shut down. The thread's start is
 * most of it, and what the pool loads in the thread beyond the task's module: what a worker
 * replaced after a crash or a timeout, or recycled by `maxTasksPerWorker`, costs too.
 */
export const COLD_START = 'cold start: new pool (1 thread), first no-op result, shut down';

/**
 * The cold-start contenders: every pool loads a plain `.mjs` task module (threadgate too, not its
 * workloads, which load `node:crypto`), and no thread inherits the benchmark's own TypeScript
 * loader (it took ~100 ms of each start), so the figures are what a service's pool costs.
 */
function coldStarts(): Case[] {
  const noLoader: string[] = [];
  const threadgate = (): Case => ({
    name: 'threadgate submit',
    ops: 1,
    run: async () => {
      const pool = new WorkerPool({ module: workerFile('piscina-task.mjs'), maxWorkers: 1, execArgv: noLoader });
      await pool.submit('default', null);
      await pool.shutdown();
    },
  });
  const peers = peerPools().map(
    (peer): Case => ({
      name: `${peer.name} ${peer.call}`,
      ops: 1,
      run: async () => {
        peer.start(1, noLoader);
        await peer.run(null);
        await peer.stop();
      },
    }),
  );
  return [threadgate(), ...peers];
}

/** The group that compares a large result copied back with one moved back by `move()`. */
export const LARGE_RESULT = 'a large result: copied vs moved with move()';
export const RESULT_MB = 8;

/** One task at a time on one thread, each filling a fresh buffer: the cases differ only in the copy. */
function largeResults(): Case[] {
  const pool = new WorkerPool<{ filled(bytes: number, moved: boolean): Uint8Array }>({
    module: workerFile('results.mjs'),
    maxWorkers: 1,
    minWorkers: 1,
  });
  const bytes = RESULT_MB * 2 ** 20;
  return (['copied', 'moved'] as const).map((how, i) => ({
    name: how,
    ops: 1,
    setup: async () => {
      await pool.submit('filled', bytes, how === 'moved');
    },
    run: async () => {
      await pool.submit('filled', bytes, how === 'moved');
    },
    teardown: i === 1 ? () => pool.shutdown() : undefined,
  }));
}

/** The extra column of the throughput group: the main thread's CPU time per task. */
export const MAIN_THREAD_CPU = 'main-thread CPU µs/task';

/** Events each task reports in the progress groups; the cost per event is the difference over this. */
export const PROGRESS_EVENTS = 20;
/** The group that compares a task calling `progress()` without a listener with a no-op task. */
export const PROGRESS_SILENT = 'progress without a listener';
/** The group that measures what an `onProgress` channel and each event cost. */
export const PROGRESS_LISTENED = 'progress with onProgress';

/**
 * Tasks with and without progress calls, with and without an `onProgress`, on one pool per group:
 * the figures compare what a task costs, and two pools side by side on two cores differ by more
 * than that (a second pool's tasks measured up to 20% slower in the same run). Two groups: whether
 * `progress()` costs anything without a listener is measured between two light cases only; beside
 * the `onProgress` cases, whichever case follows one in a round may pay for the ports it left behind.
 */
function progressCases(threads: number, inFlight: number, listened: boolean): Case[] {
  const onProgress = (): void => {};
  const pool = new WorkerPool<typeof Workloads>({ module: workloads, maxWorkers: threads, minWorkers: threads });
  const variants: [name: string, call: () => PromiseLike<unknown>][] = listened
    ? [
        ['noop', () => pool.submit('noop')],
        ['noop + onProgress', () => pool.with({ onProgress }).submit('noop')],
        ['report + onProgress', () => pool.with({ onProgress }).submit('report', PROGRESS_EVENTS)],
      ]
    : [
        ['noop', () => pool.submit('noop')],
        ['report, no onProgress', () => pool.submit('report', PROGRESS_EVENTS)],
      ];
  return variants.map(([name, call], i) => ({
    name,
    ops: inFlight,
    setup: async () => {
      await Promise.all(Array.from({ length: 100 }, call));
    },
    run: async () => {
      await Promise.all(Array.from({ length: inFlight }, call));
    },
    // The harness tears every case down after the last round: the pool goes with the last one.
    teardown: i === variants.length - 1 ? () => pool.shutdown() : undefined,
  }));
}
