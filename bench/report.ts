/**
 * Writes bench/results/: results.json (machine and every case), report.md (tables, charts,
 * targets) and SVG charts rendered by vega-lite, plus the console tables.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, totalmem } from 'node:os';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { CaseResult } from './harness.js';
import type { Target } from './targets.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  date: string;
}

export function machine(): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  };
}

const fmtTime = (ms: number): string =>
  ms >= 1 ? `${ms.toFixed(2)} ms` : ms >= 0.001 ? `${(ms * 1000).toFixed(2)} µs` : `${(ms * 1e6).toFixed(1)} ns`;
const fmtOps = (ops: number): string =>
  ops >= 1e6 ? `${(ops / 1e6).toFixed(2)} M` : ops >= 1e3 ? `${(ops / 1e3).toFixed(1)} k` : ops.toFixed(1);

/** One Markdown table per group: ops/s, mean, p50, p99, ± and samples, plus any extra figures. */
export function groupTables(results: CaseResult[]): string[] {
  const groups = new Map<string, CaseResult[]>();
  for (const r of results) {
    const key = `${r.suite} › ${r.group}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out: string[] = [];
  for (const [title, rows] of groups) {
    const extras = [...new Set(rows.flatMap((r) => Object.keys(r.extra ?? {})))];
    out.push(`#### ${title}`, '');
    out.push(`| case | ops/s | mean | p50 | p99 | ± | samples |${extras.map((e) => ` ${e} |`).join('')}`);
    out.push(`|---|---:|---:|---:|---:|---:|---:|${extras.map(() => '---:|').join('')}`);
    for (const r of rows) {
      const extra = extras.map((e) => {
        const v = r.extra?.[e];
        return ` ${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(2)) : (v ?? '')} |`;
      });
      out.push(
        `| ${r.implausible ? `⚠ ${r.name} (implausible)` : r.name} | ${fmtOps(r.opsPerSec)} | ${fmtTime(r.meanMs)} | ${fmtTime(r.p50Ms)} | ${fmtTime(r.p99Ms)} | ${r.rme.toFixed(1)}% | ${r.samples} |${extra.join('')}`,
      );
    }
    out.push('');
  }
  return out;
}

/** Renders a vega-lite spec to SVG (no browser). */
export async function svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const rendered = await view.toSVG();
  view.finalize();
  return rendered;
}

/** The charts: speed-up vs workers (with the ideal line), pool overhead, gated workload. */
export async function charts(results: CaseResult[], cores: number, subtitle: string): Promise<Record<string, string>> {
  /** Legends show whole labels, under the chart, where long ones have room. */
  const legend = { orient: 'bottom', direction: 'vertical', labelLimit: 0 } as const;
  const out: Record<string, string> = {};
  const sweep = results
    .filter((r) => r.group.startsWith('speed-up vs workers') && r.extra?.speedup !== undefined)
    .map((r) => ({ workers: r.extra?.workers, speedup: r.extra?.speedup, series: `threadgate map (${r.extra?.workload})` }));
  if (sweep.length > 0) {
    const maxWorkers = Math.max(...sweep.map((s) => s.workers as number));
    const ideal = Array.from({ length: maxWorkers }, (_, i) => ({
      workers: i + 1,
      speedup: Math.min(i + 1, cores),
      series: `ideal (${cores} cores)`,
    }));
    out['speedup.svg'] = await svg({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: 'map speed-up over a serial loop, by maxWorkers', subtitle },
      width: 420,
      height: 260,
      data: { values: [...sweep, ...ideal] },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'workers', type: 'quantitative', title: 'maxWorkers', axis: { tickMinStep: 1 } },
        y: { field: 'speedup', type: 'quantitative', title: 'speed-up (×)' },
        color: { field: 'series', type: 'nominal', title: null, legend },
        strokeDash: { condition: { test: "indexof(datum.series, 'ideal') >= 0", value: [4, 4] }, value: [1, 0] },
      },
    });
  }
  const overhead = results.filter((r) => r.suite === 'pool overhead' && r.group.startsWith('no-op throughput'));
  if (overhead.length > 0) {
    // One explicit order for both layers (vega-lite cannot union a '-x' sort across them).
    const order = [...overhead].sort((a, b) => b.opsPerSec - a.opsPerSec).map((r) => r.name);
    out['pool-overhead.svg'] = await svg({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: 'no-op task throughput (tasks/s, higher is better)', subtitle },
      width: 420,
      height: 200,
      data: {
        values: overhead.map((r) => ({
          pool: r.name,
          ops: Math.round(r.opsPerSec),
          // The 95% interval of the mean time, as throughput.
          low: Math.round(r.opsPerSec / (1 + r.rme / 100)),
          high: Math.round(r.opsPerSec / Math.max(0.01, 1 - r.rme / 100)),
        })),
      },
      layer: [
        {
          mark: 'bar',
          encoding: {
            y: { field: 'pool', type: 'nominal', sort: order, title: null },
            x: { field: 'ops', type: 'quantitative', title: 'tasks/s (bars: 95% interval)' },
          },
        },
        {
          mark: { type: 'errorbar', ticks: true },
          encoding: {
            y: { field: 'pool', type: 'nominal', sort: order },
            x: { field: 'low', type: 'quantitative' },
            x2: { field: 'high' },
          },
        },
      ],
    });
  }
  const handoff = results.filter((r) => r.group.startsWith('cross-thread hand-off') && r.distribution !== undefined);
  if (handoff.length > 0) {
    out['handoff.svg'] = await svg({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: {
        text: 'cross-thread hand-off latency: release (or post) → waiter running',
        subtitle: [subtitle, 'each line is one way of waking a thread; lower is faster; log scale'],
      },
      width: 420,
      height: 240,
      data: {
        values: handoff.flatMap((r) => (r.distribution ?? []).map(([percentile, ms]) => ({ how: r.name, percentile, us: ms * 1000 }))),
      },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'percentile', type: 'quantitative', title: 'percentile of round trips', scale: { type: 'log' } },
        y: { field: 'us', type: 'quantitative', title: 'latency (µs)', scale: { type: 'log' } },
        color: { field: 'how', type: 'nominal', title: null, legend },
      },
    });
  }
  const gated = results.filter((r) => r.suite === 'gated workload');
  if (gated.length > 0) {
    out['gated-workload.svg'] = await svg({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: {
        text: 'gated workload: tasks/s by variant',
        subtitle: [subtitle, 'K: units of the finite resource; each task computes 2 ms, then holds a unit for 4 ms'],
      },
      data: { values: gated.map((r) => ({ config: r.group, variant: r.name, tasks: r.opsPerSec })) },
      mark: 'bar',
      width: 80,
      height: 200,
      encoding: {
        column: { field: 'config', type: 'nominal', title: null },
        x: { field: 'variant', type: 'nominal', title: null, axis: { labels: false, ticks: false } },
        y: { field: 'tasks', type: 'quantitative', title: 'tasks/s' },
        color: { field: 'variant', type: 'nominal', title: 'variant', legend },
      },
    });
  }
  return out;
}

/** Every ratio target against its goal, with its 95% interval: at or right of 1 holds. */
async function targetsChart(targets: Target[], subtitle: string): Promise<string | undefined> {
  const rows = targets.filter((t) => t.share !== undefined);
  if (rows.length === 0) return undefined;
  const label = (t: Target): string => `${t.issue} ${t.what.length > 70 ? `${t.what.slice(0, 67)}…` : t.what}`;
  return svg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'targets: measured against goal (1 = exactly the goal; right of it holds)',
      subtitle: [subtitle, 'point: median of paired rounds; bar: its 95% bootstrap interval; log scale'],
    },
    width: 360,
    data: {
      values: rows.map((t) => ({
        target: label(t),
        ...(t.share as NonNullable<Target['share']>),
        holds: t.holds === undefined ? 'not judged (smoke run)' : t.holds ? 'holds' : 'misses',
      })),
    },
    layer: [
      {
        mark: { type: 'rule', strokeDash: [4, 4] },
        data: { values: [{ one: 1 }] },
        encoding: { x: { field: 'one', type: 'quantitative' } },
      },
      {
        mark: { type: 'errorbar', ticks: true },
        encoding: {
          y: { field: 'target', type: 'nominal', title: null, axis: { labelLimit: 0 } },
          x: { field: 'low', type: 'quantitative', scale: { type: 'log' }, title: 'share of goal' },
          x2: { field: 'high' },
        },
      },
      {
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          y: { field: 'target', type: 'nominal' },
          x: { field: 'value', type: 'quantitative' },
          color: {
            field: 'holds',
            type: 'nominal',
            title: null,
            legend: { labelLimit: 0 },
            scale: { domain: ['holds', 'misses', 'not judged (smoke run)'], range: ['#2a9d4b', '#d1495b', '#888888'] },
          },
        },
      },
    ],
  });
}

export async function writeReport(
  dir: string,
  results: CaseResult[],
  targets: Target[],
  m: Machine,
  command: string,
  notes: string[],
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const mode = command.includes('--quick') ? 'smoke run (--quick), one round' : 'full run';
  const subtitle = `${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}; ${mode}`;
  const svgs = await charts(results, m.cores, subtitle);
  const targetsSvg = await targetsChart(targets, subtitle);
  if (targetsSvg !== undefined) svgs['targets.svg'] = targetsSvg;
  for (const [name, content] of Object.entries(svgs)) await writeFile(`${dir}/${name}`, content);
  await writeFile(`${dir}/results.json`, `${JSON.stringify({ machine: m, command, results, targets }, null, 2)}\n`);
  const md = [
    '# threadgate benchmark report',
    '',
    `\`${command}\` on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.date}.`,
    '',
    'Cases compared with each other ran in the same session, interleaved over several rounds (8 in',
    'a full run); each row gives per-operation latency (mean, p50, p99; by simple-statistics), the',
    "95% relative margin of error of the mean (tinybench's own, Student's t, the median over the",
    'rounds; a bootstrap interval for hand-measured latencies), and the number of samples. Ratios',
    'matter; absolute times move with the machine. Targets are judged on medians. A ratio of two',
    'cases of one group is the median of their ratios round by round (the map groups run one sample',
    'of each case per round), so a slow spell of the host falls on both sides of a pair; its 95%',
    'bootstrap interval, its range over the rounds, the ratio of the medians and that of the means',
    'are quoted beside it. The speed-up chart is paired the same way. A row marked implausible',
    'claims a figure its workload cannot reach on this machine.',
    '',
    '## Targets',
    '',
    '| issue | target | goal | measured | holds |',
    '|---|---|---|---|---|',
    ...targets.map(
      (t) => `| ${t.issue} | ${t.what} | ${t.goal} | ${t.measured} | ${t.holds === undefined ? '—' : t.holds ? 'yes' : '**no**'} |`,
    ),
    '',
    ...notes,
    '',
    '## Charts',
    '',
    ...Object.keys(svgs).map((name) => `![${name}](./${name})`),
    '',
    '## Results',
    '',
    ...groupTables(results),
  ].join('\n');
  await writeFile(`${dir}/report.md`, md);
  return Object.keys(svgs);
}
