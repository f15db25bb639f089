/**
 * The benchmark harness. Cases that are compared with each other run in the same session,
 * interleaved: each round is a tinybench `Bench` holding every case of a group, and the
 * samples of all rounds are merged, so machine noise (this is a 2-core, shared machine) falls on
 * every case alike. Each case reports per-operation latency statistics (mean, p50, p99, margin
 * of error, sample count) and ops/s, and the median of each round, so that two cases can be
 * compared round by round (`pairedRatio`): a slow spell of the host then slows both sides of a
 * pair instead of one case's whole window.
 */
import { Bench } from 'tinybench';

export interface CaseResult {
  suite: string;
  group: string;
  name: string;
  /** Operations per second (1000 / mean ms). */
  opsPerSec: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Relative margin of error of the mean, percent (95%). */
  rme: number;
  samples: number;
  /** The median per operation of each round, in round order (absent for hand-measured results). */
  roundP50Ms?: number[];
  /** Extra figures a case reports (speed-ups, observed concurrency...). */
  extra?: Record<string, number | string>;
}

/** One case: each call of `run` performs `ops` operations; tinybench times the call. */
export interface Case {
  name: string;
  ops: number;
  run: () => Promise<void> | void;
  setup?: () => Promise<void> | void;
  teardown?: () => Promise<void> | void;
}

export interface GroupOptions {
  rounds: number;
  /** Time budget per case per round, ms. */
  timeMs: number;
  /** Minimum iterations per case per round. */
  iterations: number;
  onProgress?: (label: string) => void;
}

/** Runs the cases of a group interleaved over several rounds; returns one result per case. */
export async function runGroup(suite: string, group: string, cases: Case[], options: GroupOptions): Promise<CaseResult[]> {
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const roundMedians = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (const c of cases) await c.setup?.();
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Alternate the order each round, so no case always runs first (warm caches) or last.
      const order = round % 2 === 0 ? cases : [...cases].reverse();
      const bench = new Bench({
        time: options.timeMs,
        iterations: options.iterations,
        warmupIterations: round === 0 ? 2 : 0,
        warmupTime: 0,
        retainSamples: true,
      });
      for (const c of order) {
        bench.add(c.name, c.run);
      }
      options.onProgress?.(`${suite} › ${group} (round ${round + 1}/${options.rounds})`);
      await bench.run();
      for (const task of bench.tasks) {
        const result = task.result as { latency?: { samples?: ArrayLike<number> }; state: string; error?: Error };
        if (result.state === 'errored')
          throw new Error(`${suite} › ${group} › ${task.name} failed: ${result.error?.message}`, { cause: result.error });
        const latency = result.latency?.samples;
        const list = samples.get(task.name) as number[];
        const ops = (cases.find((c) => c.name === task.name) as Case).ops;
        if (!latency || latency.length === 0) continue;
        const perOp = Array.from(latency, (ms) => ms / ops);
        list.push(...perOp);
        (roundMedians.get(task.name) as number[]).push(summarize(perOp).p50Ms);
      }
    }
  } finally {
    for (const c of cases) await stopWithin(TEARDOWN_MS, `${suite} › ${group} › ${c.name}`, c.teardown);
  }
  return cases.map((c) => ({
    suite,
    group,
    name: c.name,
    ...summarize(samples.get(c.name) as number[]),
    roundP50Ms: roundMedians.get(c.name) as number[],
  }));
}

/** How `pairedRatio` saw a pair of cases: the median of the rounds' ratios, and their spread. */
export interface PairedRatio {
  median: number;
  low: number;
  high: number;
  rounds: number;
}

/**
 * How many times faster `fast` ran than `slow`, round by round: each round's ratio of the two
 * cases' medians, then the median of those ratios (with the lowest and highest). Undefined unless
 * both ran in the same rounds of one group.
 */
export function pairedRatio(fast: CaseResult, slow: CaseResult): PairedRatio | undefined {
  const [a, b] = [fast.roundP50Ms, slow.roundP50Ms];
  if (!a || !b || a.length === 0 || a.length !== b.length || fast.group !== slow.group) return undefined;
  const ratios = a.map((ms, i) => (b[i] as number) / ms).sort((x, y) => x - y);
  return { median: summarize(ratios).p50Ms, low: ratios[0] as number, high: ratios.at(-1) as number, rounds: ratios.length };
}

const TEARDOWN_MS = 5_000;

/**
 * Runs a case's teardown, but waits at most `ms`: a peer pool whose shutdown never settles
 * (poolifier's `destroy()` sometimes does not, and holds nothing that keeps Node alive, so the
 * run would end with exit code 13) must not stop the benchmark. The timer is referenced, so the
 * process stays up while it waits.
 */
async function stopWithin(ms: number, label: string, teardown: Case['teardown']): Promise<void> {
  if (teardown === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  const outcome = await Promise.race([Promise.resolve(teardown()).then(() => 'stopped' as const), deadline]);
  clearTimeout(timer);
  if (outcome === 'late') process.stderr.write(`\nwarning: ${label} did not shut down within ${ms} ms; going on without it\n`);
}

/** Mean, median, p99, relative margin of error (95%, Student's t approximated by 1.96) and count. */
export function summarize(values: number[]): Omit<CaseResult, 'suite' | 'group' | 'name'> {
  const n = values.length;
  if (n === 0) return { opsPerSec: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, rme: 0, samples: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  const sem = Math.sqrt(variance / n);
  const at = (q: number): number => sorted[Math.min(n - 1, Math.floor(q * n))] as number;
  return {
    opsPerSec: mean > 0 ? 1000 / mean : 0,
    meanMs: mean,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    rme: mean > 0 ? ((1.96 * sem) / mean) * 100 : 0,
    samples: n,
  };
}

/** A result built from latencies measured by hand (hand-off latencies, spacing gaps). */
export function fromSamples(
  suite: string,
  group: string,
  name: string,
  values: number[],
  extra?: Record<string, number | string>,
): CaseResult {
  return { suite, group, name, ...summarize(values), ...(extra ? { extra } : {}) };
}

/** Process-wide monotonic clock in ms, comparable across threads. */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;
