/**
 * The benchmark harness. Cases that are compared with each other run in the same session,
 * interleaved: each round is a tinybench `Bench` holding every case of a group, and the
 * samples of all rounds are merged, so machine noise (this is a 2-core, shared machine) falls on
 * every case alike. Each case reports per-operation latency statistics (mean, p50, p99, margin
 * of error, sample count) and ops/s, and the median of each round, so that two cases can be
 * compared round by round (`pairedRatio`): a slow spell of the host then slows both sides of a
 * pair instead of one case's whole window.
 */
import { mean, median, quantileSorted, sampleWithReplacement } from 'simple-statistics';
import { Bench } from 'tinybench';
import { seededRandom } from './seeded-random.js';

export interface CaseResult {
  suite: string;
  group: string;
  name: string;
  /** Operations per second (1000 / mean ms). */
  opsPerSec: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * Relative margin of error of the mean, percent (95%): tinybench's own (Student's t) for a case
   * it timed, the median over the rounds; a bootstrap interval's for hand-measured samples.
   */
  rme: number;
  samples: number;
  /** The median per operation of each round, in round order (absent for hand-measured results). */
  roundP50Ms?: number[];
  /** Extra figures a case reports (speed-ups, observed concurrency...). */
  extra?: Record<string, number | string>;
  /** Why this row's figure cannot be right for its workload (see `flagImplausible`): flagged in the report. */
  implausible?: string;
  /** Hand-measured latencies: [percentile, ms] pairs of their distribution (the report charts them). */
  distribution?: [number, number][];
}

const PERCENTILES = [1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9];

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
  const roundRmes = new Map<string, number[]>(cases.map((c) => [c.name, []]));
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
        const result = task.result as { latency?: { samples?: ArrayLike<number>; rme?: number }; state: string; error?: Error };
        if (result.state === 'errored')
          throw new Error(`${suite} › ${group} › ${task.name} failed: ${result.error?.message}`, { cause: result.error });
        const latency = result.latency?.samples;
        const list = samples.get(task.name) as number[];
        const ops = (cases.find((c) => c.name === task.name) as Case).ops;
        if (!latency || latency.length === 0) continue;
        const perOp = Array.from(latency, (ms) => ms / ops);
        list.push(...perOp);
        (roundMedians.get(task.name) as number[]).push(median(perOp));
        const rme = result.latency?.rme;
        if (rme !== undefined && Number.isFinite(rme)) (roundRmes.get(task.name) as number[]).push(rme);
      }
    }
  } finally {
    for (const c of cases) await stopWithin(TEARDOWN_MS, `${suite} › ${group} › ${c.name}`, c.teardown);
  }
  return cases.map((c) => {
    const rmes = roundRmes.get(c.name) as number[];
    return {
      suite,
      group,
      name: c.name,
      ...summarize(samples.get(c.name) as number[], rmes.length > 0 ? median(rmes) : undefined),
      roundP50Ms: roundMedians.get(c.name) as number[],
    };
  });
}

/** How `pairedRatio` saw a pair of cases: the median of the rounds' ratios, its interval, and their spread. */
export interface PairedRatio {
  median: number;
  /** A 95% bootstrap interval of that median (percentile method, seeded: the same rounds give the same interval). */
  ciLow: number;
  ciHigh: number;
  /** The lowest and highest round. */
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
  const [ciLow, ciHigh] = bootstrapInterval(ratios, median, 2_000);
  return { median: median(ratios), ciLow, ciHigh, low: ratios[0] as number, high: ratios.at(-1) as number, rounds: ratios.length };
}

/**
 * A 95% percentile-bootstrap interval of `statistic` over `values`: the statistic of `resamples`
 * samples drawn with replacement, its 2.5th and 97.5th percentiles. Seeded, so a report is
 * reproducible from its samples. With one value, the interval is that value.
 */
export function bootstrapInterval(values: number[], statistic: (sample: number[]) => number, resamples: number): [number, number] {
  if (values.length < 2) return [statistic(values), statistic(values)];
  const random = seededRandom(values.length * 7919 + 1);
  const estimates: number[] = [];
  for (let i = 0; i < resamples; i++) estimates.push(statistic(sampleWithReplacement(values, values.length, random)));
  estimates.sort((x, y) => x - y);
  return [quantileSorted(estimates, 0.025), quantileSorted(estimates, 0.975)];
}

const TEARDOWN_MS = 5_000;

/**
 * Runs a shutdown (a case's teardown, a peer pool's stop), but waits at most `ms`: one that never
 * settles must not stop the benchmark. poolifier's `destroy()` sometimes never settles (about one
 * cold start in a thousand: it waits for an `exit` event of a thread that has already exited) and
 * holds nothing that keeps Node alive, so the run would end with exit code 13. The timer is
 * referenced, so the process stays up while it waits.
 */
export async function stopWithin(ms: number, label: string, teardown: (() => unknown) | undefined): Promise<void> {
  if (teardown === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  const outcome = await Promise.race([Promise.resolve(teardown()).then(() => 'stopped' as const), deadline]);
  clearTimeout(timer);
  if (outcome === 'late') process.stderr.write(`\nwarning: ${label} did not shut down within ${ms} ms; going on without it\n`);
}

/**
 * Mean, median (the midpoint of the middle two of an even count), p99 and count, by
 * simple-statistics; `rme` as given (tinybench's), else the half-width of a 95% bootstrap interval
 * of the mean (at most 2,000 samples resampled: the interval of a larger set is as narrow).
 */
export function summarize(values: number[], rme?: number): Omit<CaseResult, 'suite' | 'group' | 'name'> {
  const n = values.length;
  if (n === 0) return { opsPerSec: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, rme: 0, samples: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const average = mean(values);
  let margin = rme;
  if (margin === undefined) {
    const kept = n > 2_000 ? sorted.filter((_, i) => i % Math.ceil(n / 2_000) === 0) : values;
    const [low, high] = bootstrapInterval(kept, mean, 200);
    margin = average > 0 ? ((high - low) / 2 / average) * 100 : 0;
  }
  return {
    opsPerSec: average > 0 ? 1000 / average : 0,
    meanMs: average,
    p50Ms: median(sorted),
    p99Ms: quantileSorted(sorted, 0.99),
    rme: margin,
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
  const sorted = [...values].sort((a, b) => a - b);
  const distribution = PERCENTILES.map((p): [number, number] => [p, quantileSorted(sorted, p / 100)]);
  return { suite, group, name, ...summarize(values), distribution, ...(extra ? { extra } : {}) };
}

/** Process-wide monotonic clock in ms, comparable across threads. */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;
