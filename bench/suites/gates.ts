/**
 * Gates, micro: SharedSemaphore vs AsyncSemaphore vs p-limit vs async-sema. Uncontended
 * acquire+release (sync and awaited), a queued burst at concurrency 1 (10k and 100k, to see
 * whether the cost per task grows with the queue), and the cross-thread hand-off latency of
 * SharedSemaphore next to a bare Atomics ping-pong and a MessagePort ping-pong.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { MessageChannel } from 'node:worker_threads';
import { Sema } from 'async-sema';
import pLimit from 'p-limit';
import { AsyncSemaphore, SharedSemaphore, WorkerPool } from 'threadgate';
import { type Case, type CaseResult, fromSamples, type GroupOptions, now, runGroup } from '../harness.js';
import type * as Gated from '../workers/gated.js';
import { type Suite, workerFile } from './context.js';

/** A gate for the burst: how to run a task through it, and how to hold its only unit until told. */
interface BurstGate {
  run: (task: () => Promise<void>) => Promise<void>;
  hold: () => () => void;
}

/** `size` tasks queue behind a held unit, which is then released; timed from the first enqueue until all have passed. */
function burst(name: string, size: number, make: () => BurstGate): Case {
  return {
    name,
    ops: size,
    run: async () => {
      const gate = make();
      const release = gate.hold();
      const pending = new Array<Promise<void>>(size);
      for (let i = 0; i < size; i++) pending[i] = gate.run(async () => {});
      release();
      await Promise.all(pending);
    },
  };
}

/** The extra column of the burst groups: the garbage collector's pauses per task. */
export const GC_PER_TASK = 'GC µs/task';

/**
 * The garbage collector's share of each burst: the pauses (`perf_hooks` 'gc' entries) that start
 * inside a case's timed runs, per task. The cost per task steps up with queue length once what the
 * queued calls keep alive no longer dies young; this column says how much of a step is collection.
 */
class GcShare {
  readonly #pauses: Array<[start: number, duration: number]> = [];
  readonly #runs = new Map<string, { windows: Array<[start: number, end: number]>; tasks: number }>();
  readonly #observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) this.#pauses.push([entry.startTime, entry.duration]);
  });

  constructor() {
    this.#observer.observe({ entryTypes: ['gc'] });
  }

  /** The case, with each run's window recorded (on `performance.now()`, the clock of 'gc' entries). */
  track(burstCase: Case): Case {
    const runs = { windows: [] as Array<[number, number]>, tasks: 0 };
    this.#runs.set(burstCase.name, runs);
    return {
      ...burstCase,
      run: async () => {
        const started = performance.now();
        await burstCase.run();
        runs.windows.push([started, performance.now()]);
        runs.tasks += burstCase.ops;
      },
    };
  }

  /**
   * Adds the {@link GC_PER_TASK} figure to each tracked result, and stops observing. Adds nothing
   * when no pause was seen at all: bursts of 10k+ calls always collect, so that is a measurement
   * that failed (one full run reported every case of a group at 0), not a figure.
   */
  async annotate(results: CaseResult[]): Promise<CaseResult[]> {
    await nextTurn(); // gc entries are queued from the collector's callback on a later turn
    await nextTurn();
    for (const entry of this.#observer.takeRecords()) this.#pauses.push([entry.startTime, entry.duration]);
    this.#observer.disconnect();
    if (this.#pauses.length === 0) return results;
    for (const result of results) {
      const runs = this.#runs.get(result.name);
      if (runs === undefined || runs.tasks === 0) continue;
      let pausedMs = 0;
      for (const [start, duration] of this.#pauses) {
        if (runs.windows.some(([from, to]) => start >= from && start < to)) pausedMs += duration;
      }
      result.extra = { ...result.extra, [GC_PER_TASK]: Number(((pausedMs * 1000) / runs.tasks).toFixed(3)) };
    }
    return results;
  }
}

/** Runs a group of bursts, each with its garbage collector's share (see {@link GcShare}). */
async function runBursts(group: string, cases: Case[], options: GroupOptions): Promise<CaseResult[]> {
  const gc = new GcShare();
  return gc.annotate(
    await runGroup(
      'gates',
      group,
      cases.map((c) => gc.track(c)),
      options,
    ),
  );
}

/** The burst's reference cases, read by the targets. */
export const PROMISE_CHAIN = 'reference: a bare promise chain';
export const NO_GATE = 'reference: no gate (every task called at once)';

/**
 * Not a gate: every task is called at once. What is left is the burst's own bookkeeping (the
 * tasks, their promises, `Promise.all`), which any gate's figure includes.
 */
const noGate = (): BurstGate => ({ run: (task) => task(), hold: () => () => {} });

/** No gate at all, only what any gate's queue costs at least: each task chained on the one before. */
const promiseChainGate = (): BurstGate => {
  let held = true;
  let opened!: () => void;
  let tail: Promise<void> = new Promise<void>((resolve) => {
    opened = resolve;
  });
  return {
    run: (task) => {
      tail = tail.then(task);
      return tail;
    },
    hold: () => () => {
      if (held) opened();
      held = false;
    },
  };
};

const asyncSemaphoreGate = (): BurstGate => {
  const sem = new AsyncSemaphore(1);
  return {
    run: (task) => sem.withPermit(task),
    hold: () => {
      const held = sem.tryAcquire();
      return () => held?.release();
    },
  };
};

const asyncSemaGate = (): BurstGate => {
  const s = new Sema(1);
  return {
    run: async (task) => {
      await s.acquire();
      try {
        await task();
      } finally {
        s.release();
      }
    },
    hold: () => {
      void s.acquire();
      return () => s.release();
    },
  };
};

const pLimitGate = (): BurstGate => {
  const l = pLimit(1);
  return {
    run: (task) => l(task),
    hold: () => {
      // p-limit starts queued functions asynchronously: make the gate before handing it over.
      let open: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      void l(() => gate);
      return () => open();
    },
  };
};

export const gates: Suite = async (ctx) => {
  const results: CaseResult[] = [];
  const ops = ctx.quick ? 20_000 : 200_000;
  const shared = new SharedSemaphore(1);
  const local = new AsyncSemaphore(1);
  const sema = new Sema(1);
  const limit = pLimit(1);
  const micro = ctx.group({ timeMs: ctx.quick ? 100 : 1_200 });

  results.push(
    ...(await runGroup(
      'gates',
      'uncontended tryAcquire + release (sync)',
      [
        // Each case writes out its own loop: an op called through one closure that every case
        // shares is not inlined, which added 5-14 ns to each op here and measured the harness.
        {
          name: 'SharedSemaphore',
          ops,
          run: () => {
            for (let i = 0; i < ops; i++) shared.tryAcquire()?.release();
          },
        },
        {
          name: 'AsyncSemaphore',
          ops,
          run: () => {
            for (let i = 0; i < ops; i++) local.tryAcquire()?.release();
          },
        },
        {
          name: 'async-sema',
          ops,
          run: () => {
            for (let i = 0; i < ops; i++) if (sema.tryAcquire() !== undefined) sema.release();
          },
        },
      ],
      micro,
    )),
  );
  const awaited = ctx.quick ? 5_000 : 50_000;
  results.push(
    ...(await runGroup(
      'gates',
      'uncontended awaited acquire + release',
      [
        {
          name: 'SharedSemaphore',
          ops: awaited,
          run: async () => {
            for (let i = 0; i < awaited; i++) (await shared.acquire()).release();
          },
        },
        {
          name: 'AsyncSemaphore',
          ops: awaited,
          run: async () => {
            for (let i = 0; i < awaited; i++) (await local.acquire()).release();
          },
        },
        {
          name: 'async-sema',
          ops: awaited,
          run: async () => {
            for (let i = 0; i < awaited; i++) {
              await sema.acquire();
              sema.release();
            }
          },
        },
        {
          name: 'p-limit',
          ops: awaited,
          run: async () => {
            for (let i = 0; i < awaited; i++) await limit(async () => {});
          },
        },
      ],
      micro,
    )),
  );

  for (const size of ctx.quick ? [10_000] : [10_000, 100_000]) {
    const group = await runBursts(
      `queued burst of ${size / 1000}k at concurrency 1`,
      [
        burst('p-limit', size, pLimitGate),
        burst('AsyncSemaphore', size, asyncSemaphoreGate),
        burst('async-sema', size, asyncSemaGate),
        burst(PROMISE_CHAIN, size, promiseChainGate),
        burst(NO_GATE, size, noGate),
      ],
      ctx.group({ timeMs: ctx.quick ? 100 : 1_500, iterations: 3 }),
    );
    results.push(...group);
  }

  // Cost per task against queue length, from a queue that fits in the CPU's caches to one that
  // does not: an O(n) queue climbs with every step; an O(1) queue (and the bare chain) steps up
  // once, when what the queued calls keep alive outgrows the caches and the young generation.
  if (!ctx.quick) {
    const sizes = [1_000, 10_000, 100_000, 1_000_000];
    const sweep = await runBursts(
      'queue length sweep, concurrency 1 (per task)',
      sizes.flatMap((size) => [
        burst(`AsyncSemaphore, ${size / 1000}k queued`, size, asyncSemaphoreGate),
        burst(`bare promise chain, ${size / 1000}k queued`, size, promiseChainGate),
      ]),
      // One sample per round at least: the 1M case runs ~1.5 s a sample, and its targets are paired round by round.
      ctx.group({ rounds: ctx.quick ? 1 : 8, timeMs: 1_500, iterations: 1 }),
    );
    results.push(...sweep);
  }

  results.push(...(await handoff(ctx.quick ? 300 : 3_000, ctx.progress)));
  return results;
};

/** One-way wake-up latency: main thread releases/notifies/posts, the worker records when it woke. */
async function handoff(rounds: number, progress: (label: string) => void): Promise<CaseResult[]> {
  const pool = new WorkerPool<typeof Gated>({ module: workerFile('gated.ts'), maxWorkers: 1, minWorkers: 1 });
  const group = `cross-thread hand-off, ${rounds} rounds (release → waiter running)`;
  try {
    await pool.submit('atomicsResponder', new Int32Array(new SharedArrayBuffer(8)), new Float64Array(new SharedArrayBuffer(8)), 0);
    const results: CaseResult[] = [];

    progress(`gates › hand-off: SharedSemaphore`);
    // SharedSemaphore: one unit circulates; main blocks on pong so its side does not add event-loop delay.
    {
      const ping = new SharedSemaphore(1);
      const pong = new SharedSemaphore(1);
      ping.tryAcquire();
      pong.tryAcquire();
      const wakes = new Float64Array(new SharedArrayBuffer(rounds * 8));
      const sent = new Float64Array(rounds);
      const responder = pool.submit('semaphoreResponder', ping, pong, wakes, rounds);
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (let i = 0; i < rounds; i++) {
        sent[i] = now();
        ping.release();
        pong.acquireSync({ allowMainThread: true, timeoutMs: 5_000 });
      }
      await responder;
      results.push(fromSamples('gates', group, 'SharedSemaphore (acquireSync waiter)', latencies(sent, wakes)));
    }
    progress(`gates › hand-off: bare Atomics`);
    // Bare Atomics ping-pong: the floor.
    {
      const cells = new Int32Array(new SharedArrayBuffer(8));
      const wakes = new Float64Array(new SharedArrayBuffer(rounds * 8));
      const sent = new Float64Array(rounds);
      const responder = pool.submit('atomicsResponder', cells, wakes, rounds);
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (let i = 0; i < rounds; i++) {
        sent[i] = now();
        Atomics.store(cells, 0, 1);
        Atomics.notify(cells, 0);
        while (Atomics.load(cells, 1) === 0) Atomics.wait(cells, 1, 0, 5_000);
        Atomics.store(cells, 1, 0);
      }
      await responder;
      results.push(fromSamples('gates', group, 'bare Atomics.wait/notify', latencies(sent, wakes)));
    }
    progress(`gates › hand-off: MessagePort`);
    // MessagePort ping-pong.
    {
      const { port1, port2 } = new MessageChannel();
      const wakes = new Float64Array(new SharedArrayBuffer(rounds * 8));
      const sent = new Float64Array(rounds);
      const responder = pool.with({ transfer: [port2] }).submit('portResponder', port2, wakes, rounds);
      const failed = responder.then(
        () => new Promise<never>(() => {}),
        (error: unknown) => Promise.reject(error),
      );
      for (let i = 0; i < rounds; i++) {
        const back = new Promise((resolve) => port1.once('message', resolve));
        sent[i] = now();
        port1.postMessage(i);
        await Promise.race([back, failed]); // a responder that fails must fail the run, not hang it
      }
      await responder;
      port1.close();
      results.push(fromSamples('gates', group, 'MessagePort postMessage', latencies(sent, wakes)));
    }
    return results;
  } finally {
    await pool.shutdown();
  }
}

function latencies(sent: Float64Array, woke: Float64Array): number[] {
  const out: number[] = [];
  for (let i = 10; i < sent.length; i++) out.push((woke[i] as number) - (sent[i] as number)); // skip warm-up rounds
  return out;
}
