/**
 * The performance targets (#22), evaluated from one run's results. Every target is a ratio to its
 * reference measured side by side in the same run (bare threads, bare Atomics, raw Piscina, the
 * best peer, async-sema, a bare promise chain); what earlier issues judged against a serial loop or
 * an absolute time is reported beside them as context. All are on medians (p50 of the samples: on a
 * shared machine a neighbour's burst lands in a few samples and drags a mean). A ratio of two
 * cases that ran in the same rounds is judged on the median of the rounds' own ratios (see
 * `pairedRatio`), with its spread, the ratio of the medians and that of the means beside it. A
 * target that falls short says so.
 */
import { type CaseResult, type PairedRatio, pairedRatio } from './harness.js';
import {
  BARE_REDIS_COARSE,
  BULLMQ_PER_ITEM,
  CLUSTER_COARSE,
  CLUSTER_FINE,
  CLUSTER_SUBMIT,
  LOCAL_COARSE,
  LOCAL_SUBMIT,
  RAW_REDIS_SEMAPHORE,
  REDIS_SEMAPHORE,
} from './suites/cluster-names.js';
import { GC_PER_TASK, NO_GATE, PROMISE_CHAIN } from './suites/gates.js';
import { CEILING_CASE } from './suites/map-scaling.js';
import { MAIN_THREAD_CPU, PROGRESS_EVENTS, PROGRESS_LISTENED, PROGRESS_SILENT } from './suites/pool-overhead.js';

export interface Target {
  issue: string;
  what: string;
  goal: string;
  measured: string;
  holds: boolean | undefined;
  /**
   * A ratio target as numbers, for the report's chart: how far it is from its goal (`share`,
   * at least 1 when it holds), and the same for the ends of its 95% interval when it has one.
   */
  share?: { value: number; low: number; high: number };
}

/** Measured over goal (a "higher is better" goal) or goal over measured (a "lower is better" one): >= 1 holds. */
function shareOfGoal(value: number, goal: number, higherIsBetter: boolean): number {
  return higherIsBetter ? value / goal : goal / value;
}

export function evaluateTargets(results: CaseResult[]): Target[] {
  const find = (suite: string, group: string, name: string): CaseResult | undefined =>
    results.find((r) => r.suite === suite && r.group.startsWith(group) && r.name === name);
  const targets: Target[] = [];
  /**
   * How many times faster `a` is than `b`: paired round by round when they ran in the same rounds,
   * else the ratio of their medians; the other figures beside it.
   */
  const ratio = (issue: string, what: string, goal: number, a?: CaseResult, b?: CaseResult): void => {
    if (!a || !b) return;
    const paired = pairedRatio(a, b);
    const ofMedians = b.p50Ms / a.p50Ms;
    const value = paired?.median ?? ofMedians;
    const measured = paired
      ? `${value.toFixed(2)}× ${pairedOver(paired)}; ratio of medians ${ofMedians.toFixed(2)}×, of means ${(b.meanMs / a.meanMs).toFixed(2)}×)`
      : `${value.toFixed(2)}× (means: ${(b.meanMs / a.meanMs).toFixed(2)}×)`;
    const [low, high] = paired ? [paired.ciLow, paired.ciHigh] : [value, value];
    targets.push({
      issue,
      what,
      goal: `>= ${goal}×`,
      measured,
      holds: value >= goal,
      share: { value: shareOfGoal(value, goal, true), low: shareOfGoal(low, goal, true), high: shareOfGoal(high, goal, true) },
    });
  };

  // ─── #22: every target a ratio to its reference in the same run ─────────────────────────────

  /**
   * `a`'s time over `b`'s (lower is better): paired round by round when they ran in the same
   * rounds, else the ratio of their medians.
   */
  const timeRatio = (a: CaseResult, b: CaseResult): { value: number; low: number; high: number; text: string } => {
    const paired = pairedRatio(b, a); // how many times faster b ran than a = a's time over b's
    const ofMedians = a.p50Ms / b.p50Ms;
    const value = paired?.median ?? ofMedians;
    return {
      value,
      low: paired?.ciLow ?? value,
      high: paired?.ciHigh ?? value,
      text: paired
        ? `${value.toFixed(2)}× ${pairedOver(paired)}; ratio of medians ${ofMedians.toFixed(2)}×)`
        : `${value.toFixed(2)}× (ratio of medians)`,
    };
  };
  const atMostTimes = (issue: string, what: string, goal: number, a?: CaseResult, b?: CaseResult, context = ''): void => {
    if (!a || !b) return;
    const { value, low, high, text } = timeRatio(a, b);
    targets.push({
      issue,
      what,
      goal: `<= ${goal}×`,
      measured: `${text}${context}`,
      holds: value <= goal,
      // The upper end of a time ratio is the lower end of its share of the goal.
      share: { value: shareOfGoal(value, goal, false), low: shareOfGoal(high, goal, false), high: shareOfGoal(low, goal, false) },
    });
  };

  // ─── #21: the cluster, on loopback ────────────────────────────────────────────────────────
  const cluster = (group: string, name: string) => find('cluster', group, name);
  ratio(
    '#21',
    '(a) fine map through Redis: items/s vs plain BullMQ with one job per item',
    50,
    cluster('(a)', CLUSTER_FINE),
    cluster('(a)', BULLMQ_PER_ITEM),
  );
  ratio(
    '#21',
    '(b) coarse map over 2 serving processes × 1 worker vs a local pool of 2 workers',
    0.85,
    cluster('(b)', CLUSTER_COARSE),
    cluster('(b)', LOCAL_COARSE),
  );
  const [clusterCoarse, localCoarse, bareRedis] = [CLUSTER_COARSE, LOCAL_COARSE, BARE_REDIS_COARSE].map((name) => cluster('(b)', name));
  const ceiling = bareRedis && localCoarse ? pairedRatio(bareRedis, localCoarse) : undefined;
  const againstCeiling = clusterCoarse && bareRedis ? pairedRatio(clusterCoarse, bareRedis) : undefined;
  if (ceiling && againstCeiling)
    targets.push({
      issue: '#21',
      what: '(b) context: the ceiling here (2 bare processes through Redis lists) vs the local pool, and the cluster map vs that ceiling',
      goal: 'reported',
      measured: `ceiling ${ceiling.median.toFixed(2)}× ${pairedOver(ceiling)}); cluster map ${againstCeiling.median.toFixed(2)}× the ceiling ${pairedOver(againstCeiling)})`,
      holds: undefined,
    });
  const [remoteSubmit, localSubmit] = [cluster('(c)', CLUSTER_SUBMIT), cluster('(c)', LOCAL_SUBMIT)];
  if (remoteSubmit && localSubmit)
    targets.push({
      issue: '#21',
      what: '(c) submit round trip through Redis vs a local submit (reported)',
      goal: 'reported',
      measured: `${(remoteSubmit.p50Ms * 1000).toFixed(0)} vs ${(localSubmit.p50Ms * 1000).toFixed(0)} µs p50 (${(remoteSubmit.p50Ms / localSubmit.p50Ms).toFixed(1)}×)`,
      holds: undefined,
    });
  atMostTimes(
    '#21',
    '(d) RedisSemaphore acquire + release vs raw redis-semaphore (its time)',
    1.1,
    cluster('(d)', REDIS_SEMAPHORE),
    cluster('(d)', RAW_REDIS_SEMAPHORE),
  );

  const coarse = (name: string) => find('map scaling', 'coarse', name);
  const fine = (name: string) => find('map scaling', 'fine: fib', name);
  ratio(
    '#22',
    'coarse map (fib ~8 ms × 40) vs bare threads splitting the items evenly',
    0.97,
    coarse('threadgate map'),
    coarse(CEILING_CASE),
  );
  ratio('#22', 'fine map (~2 µs × 200k) vs bare threads splitting the items evenly', 0.97, fine('threadgate map'), fine(CEILING_CASE));

  const handoff = find('gates', 'cross-thread hand-off', 'SharedSemaphore (acquireSync waiter)');
  const bareAtomics = find('gates', 'cross-thread hand-off', 'bare Atomics.wait/notify');
  atMostTimes(
    '#22',
    'cross-thread hand-off p50 vs a bare Atomics.wait/notify ping-pong',
    1.5,
    handoff,
    bareAtomics,
    handoff && bareAtomics ? ` (${(handoff.p50Ms * 1000).toFixed(1)} vs ${(bareAtomics.p50Ms * 1000).toFixed(1)} µs)` : '',
  );

  const cold = (name: string) => find('pool overhead', 'cold start', name);
  const [coldOurs, coldPiscina] = [cold('threadgate submit'), cold('piscina run')];
  atMostTimes(
    '#22',
    'cold start (new pool, first no-op result) vs raw Piscina',
    1.0,
    coldOurs,
    coldPiscina,
    coldOurs && coldPiscina ? ` (${coldOurs.p50Ms.toFixed(1)} vs ${coldPiscina.p50Ms.toFixed(1)} ms)` : '',
  );

  const submit = find('pool overhead', 'no-op throughput', 'threadgate submit');
  const peers = ['piscina run', 'tinypool run', 'workerpool exec', 'poolifier execute']
    .map((name) => find('pool overhead', 'no-op throughput', name))
    .filter((r): r is CaseResult => r !== undefined);
  const bestPeer = peers.reduce<CaseResult | undefined>((best, r) => (best === undefined || r.p50Ms < best.p50Ms ? r : best), undefined);
  if (submit && bestPeer) {
    ratio('#22', `submit no-op throughput vs the best peer pool in the run (${bestPeer.name})`, 1.2, submit, bestPeer);
    const cpu = (r: CaseResult | undefined) => r?.extra?.[MAIN_THREAD_CPU] as number | undefined;
    const [ourCpu, theirCpu] = [cpu(submit), cpu(bestPeer)];
    if (ourCpu !== undefined && theirCpu !== undefined) {
      (targets.at(-1) as Target).measured += ` (main-thread CPU per task: ${ourCpu.toFixed(1)} vs ${theirCpu.toFixed(1)} µs)`;
    }
  }

  const [noop, channel, reported] = ['noop', 'noop + onProgress', 'report + onProgress'].map((name) =>
    find('pool overhead', PROGRESS_LISTENED, name),
  );
  if (noop && channel && reported) {
    const perTask = (channel.p50Ms - noop.p50Ms) * 1000;
    targets.push({
      issue: '#22',
      what: 'onProgress: what its channel adds to a task, vs a no-op task',
      goal: '<= 20 µs',
      measured: `${perTask.toFixed(1)} µs/task, + ${(((reported.p50Ms - channel.p50Ms) * 1000) / PROGRESS_EVENTS).toFixed(1)} µs per event`,
      holds: perTask <= 20,
    });
  }

  const awaited = (name: string) => find('gates', 'uncontended awaited', name);
  atMostTimes(
    '#22',
    'AsyncSemaphore awaited acquire + release vs async-sema (its time)',
    0.8,
    awaited('AsyncSemaphore'),
    awaited('async-sema'),
  );

  const sweep = (kind: string, size: string) => find('gates', 'queue length sweep', `${kind}, ${size} queued`);
  for (const [size, label] of [
    ['100k', '100k'],
    ['1000k', '1M'],
  ] as const) {
    atMostTimes(
      '#22',
      `AsyncSemaphore per task at ${label} queued vs a bare promise chain of the same length`,
      1.3,
      sweep('AsyncSemaphore', size),
      sweep('bare promise chain', size),
    );
  }

  // ─── reported for context, not judged ───────────────────────────────────────────────────────

  const context = (issue: string, what: string, measured: string | undefined): void => {
    if (measured !== undefined) targets.push({ issue, what, goal: 'reported', measured, holds: undefined });
  };
  const speedup = (a?: CaseResult, b?: CaseResult): string | undefined => {
    if (!a || !b) return undefined;
    const paired = pairedRatio(a, b);
    return paired ? `${paired.median.toFixed(2)}× ${pairedOver(paired)})` : `${(b.p50Ms / a.p50Ms).toFixed(2)}×`;
  };
  context(
    '#2',
    'coarse map vs a serial loop (bare threads beside it)',
    joined(speedup(coarse('threadgate map'), coarse('serial loop')), speedup(coarse(CEILING_CASE), coarse('serial loop'))),
  );
  context(
    '#2',
    'fine map vs a serial loop (bare threads beside it)',
    joined(speedup(fine('threadgate map'), fine('serial loop')), speedup(fine(CEILING_CASE), fine('serial loop'))),
  );
  context(
    '#2',
    'fine map vs one Piscina task per item (per item)',
    speedup(fine('threadgate map'), find('map scaling', 'fine: fib', 'piscina, one task per item')),
  );
  const silent = (name: string) => find('pool overhead', PROGRESS_SILENT, name);
  context(
    '#6',
    `a task calling progress() ${PROGRESS_EVENTS}× with no onProgress, vs a no-op task`,
    speedup(silent('report, no onProgress'), silent('noop')),
  );
  const tryPair = ns(find('gates', 'uncontended tryAcquire', 'SharedSemaphore'));
  context('#3', 'SharedSemaphore uncontended tryAcquire + release', tryPair === undefined ? undefined : `${tryPair.toFixed(1)} ns`);
  const spacing = find('rate limiter', 'spacing', 'RateLimiter')?.extra?.meanGapMinusIntervalMs as number | undefined;
  context('#4', 'RateLimiter spacing accuracy (mean gap − interval)', spacing === undefined ? undefined : `${spacing.toFixed(3)} ms`);
  const burst = (size: string, name: string) => find('gates', `queued burst of ${size}`, name);
  const growth = (name: string): number | undefined => {
    const [at10, at100] = [burst('10k', name), burst('100k', name)];
    return at10 && at100 ? at100.p50Ms / at10.p50Ms : undefined;
  };
  const ours100 = burst('100k', 'AsyncSemaphore');
  if (ours100) {
    const others = ['async-sema', 'p-limit', PROMISE_CHAIN, NO_GATE]
      .map((name) => [name, burst('100k', name)] as const)
      .filter((entry): entry is readonly [string, CaseResult] => entry[1] !== undefined)
      .map(([name, r]) => `${name} ${(r.p50Ms * 1000).toFixed(2)}`);
    const step = growth('AsyncSemaphore');
    const gc = ours100.extra?.[GC_PER_TASK];
    context(
      '#4',
      'AsyncSemaphore queued burst of 100k at concurrency 1, per task',
      `${(ours100.p50Ms * 1000).toFixed(2)} µs (same run: ${others.join(', ')} µs)` +
        (step === undefined
          ? ''
          : `; 100k vs 10k ${step.toFixed(2)}× (a bare promise chain ${growth(PROMISE_CHAIN)?.toFixed(2) ?? '—'}×)`) +
        (typeof gc === 'number' ? `; garbage collection ${gc.toFixed(2)} µs/task` : ''),
    );
  }
  return targets;
}

/** The parts that are there, joined: the figure, then what stood beside it. */
function joined(main: string | undefined, beside: string | undefined): string | undefined {
  if (main === undefined) return undefined;
  return beside === undefined ? main : `${main}; bare threads ${beside}`;
}

/** "paired over N rounds (lowest–highest", the start of a paired ratio's details. */
function pairedOver(paired: PairedRatio): string {
  const rounds = `paired over ${paired.rounds} round${paired.rounds === 1 ? '' : 's'}`;
  if (paired.rounds < 2) return `${rounds} (one round, no interval`;
  return `${rounds} (95% CI ${paired.ciLow.toFixed(2)}–${paired.ciHigh.toFixed(2)}, rounds ${paired.low.toFixed(2)}–${paired.high.toFixed(2)}`;
}

function ns(result: CaseResult | undefined): number | undefined {
  return result ? result.p50Ms * 1e6 : undefined;
}
