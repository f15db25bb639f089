/**
 * The performance targets of the issues, evaluated from one run's results. Every target is a
 * ratio or a bound measured side by side in the same run, on medians (p50 of the samples: on a
 * shared machine a neighbour's burst lands in a few samples and drags a mean). A ratio of two
 * cases that ran in the same rounds is judged on the median of the rounds' own ratios (see
 * `pairedRatio`), with its spread, the ratio of the medians and that of the means beside it. A
 * target that falls short says so.
 */
import { type CaseResult, type PairedRatio, pairedRatio } from './harness.js';
import { GC_PER_TASK, NO_GATE, PROMISE_CHAIN } from './suites/gates.js';
import { CEILING_CASE } from './suites/map-scaling.js';
import { MAIN_THREAD_CPU, PROGRESS_EVENTS, PROGRESS_LISTENED, PROGRESS_SILENT } from './suites/pool-overhead.js';

export interface Target {
  issue: string;
  what: string;
  goal: string;
  measured: string;
  holds: boolean | undefined;
}

export function evaluateTargets(results: CaseResult[]): Target[] {
  const find = (suite: string, group: string, name: string): CaseResult | undefined =>
    results.find((r) => r.suite === suite && r.group.startsWith(group) && r.name === name);
  const targets: Target[] = [];
  /**
   * How many times faster `a` is than `b`: paired round by round when they ran in the same rounds,
   * else the ratio of their medians; the other figures beside it.
   */
  const ratio = (issue: string, what: string, goal: number, a?: CaseResult, b?: CaseResult, ceiling?: CaseResult): void => {
    if (!a || !b) return;
    const paired = pairedRatio(a, b);
    const ofMedians = b.p50Ms / a.p50Ms;
    const value = paired?.median ?? ofMedians;
    const bareThreads = ceiling && (pairedRatio(ceiling, b)?.median ?? b.p50Ms / ceiling.p50Ms);
    const bound = bareThreads ? `; bare threads in the same run: ${bareThreads.toFixed(2)}×` : '';
    const measured = paired
      ? `${value.toFixed(2)}× ${pairedOver(paired)}; ratio of medians ${ofMedians.toFixed(2)}×, of means ${(b.meanMs / a.meanMs).toFixed(2)}×${bound})`
      : `${value.toFixed(2)}× (means: ${(b.meanMs / a.meanMs).toFixed(2)}×${bound})`;
    targets.push({ issue, what, goal: `>= ${goal}×`, measured, holds: value >= goal });
  };
  const bound = (issue: string, what: string, goal: string, value: number | undefined, unit: string, ok: (v: number) => boolean): void => {
    if (value === undefined) return;
    targets.push({ issue, what, goal, measured: `${value < 10 ? value.toFixed(3) : value.toFixed(1)} ${unit}`, holds: ok(value) });
  };

  const submit = find('pool overhead', 'no-op throughput', 'threadgate submit');
  const piscinaRun = find('pool overhead', 'no-op throughput', 'piscina run');
  ratio('#2', 'submit throughput, no-op tasks, vs raw piscina.run (same threads)', 0.95, submit, piscinaRun);
  const cpu = (r: CaseResult | undefined) => r?.extra?.[MAIN_THREAD_CPU] as number | undefined;
  const [ourCpu, theirCpu] = [cpu(submit), cpu(piscinaRun)];
  if (ourCpu !== undefined && theirCpu !== undefined) {
    (targets.at(-1) as Target).measured += ` (main-thread CPU per task: ${ourCpu.toFixed(1)} vs ${theirCpu.toFixed(1)} µs)`;
  }
  ratio(
    '#2',
    'coarse CPU map (fib ~8 ms/item) vs serial loop',
    1.9,
    find('map scaling', 'coarse', 'threadgate map'),
    find('map scaling', 'coarse', 'serial loop'),
    find('map scaling', 'coarse', CEILING_CASE),
  );
  ratio(
    '#2',
    'fine-grained map (~2 µs/item) vs serial loop',
    1.6,
    find('map scaling', 'fine: fib', 'threadgate map'),
    find('map scaling', 'fine: fib', 'serial loop'),
    find('map scaling', 'fine: fib', CEILING_CASE),
  );
  ratio(
    '#2',
    'fine-grained map vs one Piscina task per item (per item)',
    10,
    find('map scaling', 'fine: fib', 'threadgate map'),
    find('map scaling', 'fine: fib', 'piscina, one task per item'),
  );
  const silent = (name: string) => find('pool overhead', PROGRESS_SILENT, name);
  ratio(
    '#6',
    `task calling progress() ${PROGRESS_EVENTS}× with no onProgress, vs a no-op task`,
    0.9,
    silent('report, no onProgress'),
    silent('noop'),
  );
  const [noop, channel, reported] = ['noop', 'noop + onProgress', 'report + onProgress'].map((name) =>
    find('pool overhead', PROGRESS_LISTENED, name),
  );
  if (noop && channel && reported) {
    targets.push({
      issue: '#6',
      what: 'onProgress: cost of the channel per task, and of each event',
      goal: 'reported',
      measured: `${((channel.p50Ms - noop.p50Ms) * 1000).toFixed(1)} µs/task + ${(((reported.p50Ms - channel.p50Ms) * 1000) / PROGRESS_EVENTS).toFixed(1)} µs/event`,
      holds: undefined,
    });
  }
  bound(
    '#3',
    'SharedSemaphore uncontended tryAcquire + release',
    '<= 50 ns',
    ns(find('gates', 'uncontended tryAcquire', 'SharedSemaphore')),
    'ns',
    (v) => v <= 50,
  );
  const handoff = find('gates', 'cross-thread hand-off', 'SharedSemaphore (acquireSync waiter)');
  bound(
    '#3',
    'cross-thread hand-off p50 (release → waiter running)',
    '<= 15 µs',
    handoff ? handoff.p50Ms * 1000 : undefined,
    'µs',
    (v) => v <= 15,
  );
  const asyncSema = find('gates', 'uncontended awaited', 'async-sema');
  const ours = find('gates', 'uncontended awaited', 'AsyncSemaphore');
  if (asyncSema && ours) {
    const paired = pairedRatio(ours, asyncSema);
    const faster = paired?.median ?? asyncSema.p50Ms / ours.p50Ms;
    targets.push({
      issue: '#4',
      what: 'AsyncSemaphore awaited acquire + release vs async-sema',
      goal: 'faster',
      measured:
        `${ns(ours)?.toFixed(0)} ns vs ${ns(asyncSema)?.toFixed(0)} ns` +
        (paired ? ` (${faster.toFixed(2)}× as fast, ${pairedOver(paired)}))` : ''),
      holds: faster > 1,
    });
  }
  const burst10 = find('gates', 'queued burst of 10k', 'AsyncSemaphore');
  const burst100 = find('gates', 'queued burst of 100k', 'AsyncSemaphore');
  bound(
    '#4',
    'AsyncSemaphore queued burst of 100k at concurrency 1',
    '<= 1.5 µs/task',
    burst100 ? burst100.p50Ms * 1000 : undefined,
    'µs/task',
    (v) => v <= 1.5,
  );
  // The goal is an absolute time from another machine (where async-sema took ~1.5 µs): the peers
  // in the same run say how fast this machine was.
  const peers = ['async-sema', 'p-limit']
    .map((name) => [name, find('gates', 'queued burst of 100k', name)] as const)
    .filter((entry): entry is readonly [string, CaseResult] => entry[1] !== undefined);
  if (burst100 && peers.length > 0) {
    (targets.at(-1) as Target).measured +=
      ` (in the same run: ${peers.map(([name, r]) => `${name} ${(r.p50Ms * 1000).toFixed(2)}`).join(', ')} µs/task)`;
  }
  if (burst10 && burst100) {
    // Judged as the issue states it: the cost per task at 100k queued against 10k. That step is
    // also V8's young generation, outgrown by what the waiting calls keep alive, and any burst of
    // waiting promises pays it, the same burst with no gate at all included; the queue's own
    // growth (an O(n) queue such as async-mutex's Array.shift climbs with every step) shows in the
    // sweep's steps beside the same steps of a bare promise chain, paired round by round. Those
    // are reported, not judged.
    const growthOf = (name: string): number | undefined => {
      const [at10, at100] = [find('gates', 'queued burst of 10k', name), find('gates', 'queued burst of 100k', name)];
      return at10 && at100 ? at100.p50Ms / at10.p50Ms : undefined;
    };
    const [chain, none] = [growthOf(PROMISE_CHAIN), growthOf(NO_GATE)];
    const sweep = (kind: string, size: string) => find('gates', 'queue length sweep', `${kind}, ${size} queued`);
    const step = (kind: string, from: string, to: string): number | undefined => {
      const [a, b] = [sweep(kind, from), sweep(kind, to)];
      return a && b ? (pairedRatio(a, b)?.median ?? b.p50Ms / a.p50Ms) : undefined;
    };
    const steps = (
      [
        ['10k', '100k', '10k → 100k'],
        ['100k', '1000k', '100k → 1M'],
      ] as const
    ).map(([from, to, label]) => ({ label, gate: step('AsyncSemaphore', from, to), floor: step('bare promise chain', from, to) }));
    const stepsText = steps.every((s) => s.gate !== undefined && s.floor !== undefined)
      ? steps.map((s) => `${s.label} ${s.gate?.toFixed(2)}× (bare chain ${s.floor?.toFixed(2)}×)`).join(', ')
      : 'sweep not run';
    const references = [
      none === undefined ? undefined : `the same burst with no gate at all, every task called at once: ${none.toFixed(2)}×`,
      chain === undefined ? undefined : `a bare promise chain: ${chain.toFixed(2)}×`,
    ].filter((text) => text !== undefined);
    const bursts = references.length > 0 ? ` (${references.join('; ')})` : '';
    const sizes = ['1k', '10k', '100k', '1000k'].map((size) => sweep('AsyncSemaphore', size));
    const perTask = sizes.every((r) => r !== undefined)
      ? `; per task at 1k / 10k / 100k / 1M queued: ${sizes.map((r) => ((r as CaseResult).p50Ms * 1000).toFixed(2)).join(' / ')} µs`
      : '';
    // Garbage collection is measured as a total over the runs, so it is set against the means.
    const gc10 = burst10.extra?.[GC_PER_TASK];
    const gc100 = burst100.extra?.[GC_PER_TASK];
    let collected = '';
    if (typeof gc10 === 'number' && typeof gc100 === 'number') {
      const rest10 = burst10.meanMs * 1000 - gc10;
      const rest100 = burst100.meanMs * 1000 - gc100;
      collected =
        `; outside garbage collection ${(rest100 / rest10).toFixed(2)}× (means: ${rest10.toFixed(2)} → ${rest100.toFixed(2)} µs/task,` +
        ` collection ${gc10.toFixed(2)} → ${gc100.toFixed(2)})`;
    }
    const growth = burst100.p50Ms / burst10.p50Ms;
    targets.push({
      issue: '#4',
      what: 'no growth with queue length (100k vs 10k, per task)',
      goal: '<= 1.25×',
      measured: `${growth.toFixed(2)}×${bursts}; in the sweep, paired: ${stepsText}${collected}${perTask}`,
      holds: growth <= 1.25,
    });
  }
  const spacing = find('rate limiter', 'spacing', 'RateLimiter');
  bound(
    '#4',
    'RateLimiter spacing accuracy (mean gap − interval)',
    '< 2 ms',
    spacing?.extra?.meanGapMinusIntervalMs as number | undefined,
    'ms',
    (v) => v < 2,
  );
  return targets;
}

/** "paired over N rounds (lowest–highest", the start of a paired ratio's details. */
function pairedOver(paired: PairedRatio): string {
  return `paired over ${paired.rounds} round${paired.rounds === 1 ? '' : 's'} (${paired.low.toFixed(2)}–${paired.high.toFixed(2)}`;
}

function ns(result: CaseResult | undefined): number | undefined {
  return result ? result.p50Ms * 1e6 : undefined;
}
