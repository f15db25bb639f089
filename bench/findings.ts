/**
 * What the figures of one run say, in sentences built from those figures: the report explains
 * the run it belongs to, not a run someone once had.
 */
import type { CaseResult } from './harness.js';

/** Within this factor of each other, two throughputs are called even on a noisy machine. */
const EVEN = 1.1;

/** One finding per gated-workload configuration: which gate wins, by how much, and why. */
export function gatedFindings(results: CaseResult[]): string[] {
  const groups = new Map<string, CaseResult[]>();
  for (const r of results.filter((r) => r.suite === 'gated workload')) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  if (groups.size === 0) return [];
  const out = [
    '### The gated workload, read from this run',
    '',
    'Each task computes, holds a resource of K permits, and computes again. (a) gates whole tasks',
    'with an AsyncSemaphore on the main thread; (b) gates only the resource phase with a',
    'SharedSemaphore inside the workers; (c) has no gate.',
    '',
  ];
  for (const [group, rows] of groups) {
    const [a, b, c] = rows as [CaseResult, CaseResult, CaseResult];
    const workers = Number(a.extra?.workers);
    const k = Number(a.extra?.k);
    const ratio = b.opsPerSec / a.opsPerSec;
    const tps = (r: CaseResult): string => `${r.opsPerSec.toFixed(0)} tasks/s`;
    let verdict: string;
    if (ratio >= EVEN) {
      verdict = `(b) ${tps(b)} against (a) ${tps(a)}: ${ratio.toFixed(2)}× for the shared gate. With K = ${k} below ${workers} workers, (a) leaves workers idle through the compute phases of the tasks it holds back, while (b) lets every worker compute and queues tasks only at the resource.`;
    } else if (ratio > 1 / EVEN) {
      verdict = `(b) ${tps(b)} and (a) ${tps(a)} are even (${ratio.toFixed(2)}×)${k >= workers ? `: with K = ${k} permits for ${workers} workers, the gate rarely makes anyone wait, whichever side it is on` : ': the resource phase dominates, so both gates serialize the same work'}.`;
    } else {
      verdict = `(a) ${tps(a)} beats (b) ${tps(b)} (${ratio.toFixed(2)}×): here each in-worker acquire costs more than the overlap it buys.`;
    }
    const ceiling = c.opsPerSec / b.opsPerSec;
    const unsafe = Number(c.extra?.maxAtResource);
    const held = Math.max(Number(a.extra?.maxAtResource), Number(b.extra?.maxAtResource));
    const gateCost =
      ceiling >= EVEN
        ? `The ungated (c) does ${tps(c)} (${ceiling.toFixed(2)}× (b))`
        : `The ungated (c) does ${tps(c)}, no faster than (b)`;
    const safety =
      unsafe > k
        ? `but put ${unsafe} tasks in a resource of ${k}, which is the overrun the gates exist to prevent`
        : `and never exceeded K here (${unsafe}), by luck of the timing rather than by any guarantee`;
    out.push(
      `- **${group}**: ${verdict} ${gateCost}, ${safety}. Under (a) and (b) the most seen at the resource was ${held} ${held <= k ? '(≤ K)' : '(**above K: a bug**)'}.`,
    );
  }
  out.push('');
  return out;
}

/** A map row faster than this share of what the machine allows is flagged (timer noise stays below it). */
const PLAUSIBLE_SHARE = 0.8;

/**
 * Flags rows whose figure the machine cannot produce: in a map group, an item cannot take less
 * than the serial loop's time per item over the cores. A row below that did not run the work it
 * claims (a peer that returned early, a broken case): it is marked in the table and listed here,
 * not silently ranked. Returns the report's lines about them.
 */
export function flagImplausible(results: CaseResult[], cores: number): string[] {
  const lines: string[] = [];
  const groups = new Map<string, CaseResult[]>();
  for (const r of results.filter((r) => r.suite === 'map scaling')) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  for (const [group, rows] of groups) {
    const serial = rows.find((r) => r.name === 'serial loop');
    if (serial === undefined) continue;
    const floor = serial.p50Ms / cores;
    for (const row of rows) {
      if (row === serial || row.p50Ms >= PLAUSIBLE_SHARE * floor) continue;
      row.implausible = `p50 ${fmt(row.p50Ms)} per item, below the machine's floor of ${fmt(floor)} (the serial loop's ${fmt(serial.p50Ms)} over ${cores} cores)`;
      lines.push(`- ⚠ map scaling › ${group} › ${row.name}: ${row.implausible}; the work likely did not run as claimed.`);
    }
  }
  return lines.length === 0 ? [] : ['### Implausible rows', '', ...lines, ''];
}

function fmt(ms: number): string {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(2)} µs`;
}
