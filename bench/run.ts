/**
 * `npm run bench [-- --quick] [--suite NAME] [--workers 1,2,4]`: runs the suites against the
 * built package (what users import), shows progress, prints a table per group, and writes
 * bench/results/ (results.json, report.md, SVG charts). `--help` prints the options at once,
 * before anything is built.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CaseResult, GroupOptions } from './harness.js';
import type { Suite, SuiteContext } from './suites/context.js';

const SUITES = ['pool-overhead', 'map-scaling', 'gates', 'gated-workload', 'rate-limiter', 'cluster'] as const;

const HELP = `npm run bench [-- options]

  --quick            a smoke run (under a minute): one round per group; figures are printed,
                     targets are not judged
  --suite NAME       run only this suite (repeatable): ${SUITES.join(', ')}
                     (cluster starts its own redis-server; skipped, saying why, without one)
  --workers 1,2,4    the maxWorkers values of the map speed-up (default 1 to cores + 1)
  --help             this text

Results: bench/results/<start>[-quick|-subset]/ (results.json, report.md with tables, targets and
charts, SVG charts); bench/results/latest points to the newest run.
How to read them: bench/README.md.`;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    suite: { type: 'string', multiple: true },
    workers: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const chosen = values.suite ?? [...SUITES];
const unknown = chosen.filter((s) => !(SUITES as readonly string[]).includes(s));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; choose from: ${SUITES.join(', ')}`);
  process.exit(2);
}

// The suites import the built package: build it (JavaScript only, ~2 s) before loading them.
execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build:js', '--silent'], {
  cwd: fileURLToPath(new URL('..', import.meta.url)),
  stdio: 'inherit',
  shell: process.platform === 'win32',
});
const [{ flagImplausible, gatedFindings }, { groupTables, machine, writeReport }, { evaluateTargets }] = await Promise.all([
  import('./findings.js'),
  import('./report.js'),
  import('./targets.js'),
]);
const suites: Record<string, () => Promise<Suite>> = {
  'pool-overhead': async () => (await import('./suites/pool-overhead.js')).poolOverhead,
  'map-scaling': async () => (await import('./suites/map-scaling.js')).mapScaling,
  gates: async () => (await import('./suites/gates.js')).gates,
  'gated-workload': async () => (await import('./suites/gated-workload.js')).gatedWorkload,
  'rate-limiter': async () => (await import('./suites/rate-limiter.js')).rateLimiters,
  cluster: async () => (await import('./suites/cluster.js')).cluster,
};

const cores = availableParallelism();
const workers = values.workers
  ? values.workers.split(',').map((w) => {
      const n = Number(w);
      if (!Number.isInteger(n) || n < 1) {
        console.error(`--workers takes positive integers separated by commas; received ${JSON.stringify(values.workers)}`);
        process.exit(2);
      }
      return n;
    })
  : Array.from({ length: cores + 1 }, (_, i) => i + 1);

const started = performance.now();
const tty = process.stderr.isTTY === true;
const kind = values.quick ? '-quick' : values.suite || values.workers ? '-subset' : '';
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
// How long each suite took in the newest run of the same kind (its timings.json): the ETA.
const expectedS = await previousTimings(resultsDir, kind);
const suiteTimes: Record<string, number> = {};
let current: { name: string; from: number } | undefined;
const eta = (): string => {
  if (expectedS === undefined || current === undefined) return '';
  const inCurrent = (performance.now() - current.from) / 1000;
  const pending = chosen.filter((name) => name !== current?.name && suiteTimes[name] === undefined);
  const left = Math.max(0, (expectedS[current.name] ?? 0) - inCurrent) + pending.reduce((sum, name) => sum + (expectedS[name] ?? 0), 0);
  return `, ~${left >= 90 ? `${Math.round(left / 60)} min` : `${Math.round(left)} s`} left`;
};
// Node ends a run whose awaited promise can never settle, with nothing left to wait on, with exit
// code 13 and no word of where: name the step it was in.
let lastStep = 'start-up';
process.on('exit', (code) => {
  if (code === 13)
    process.stderr.write(`\nthe benchmark stalled in ${lastStep}: a promise there never settled, and nothing kept Node waiting\n`);
});
const progress = (label: string): void => {
  lastStep = label;
  const elapsed = ((performance.now() - started) / 1000).toFixed(0).padStart(3);
  if (tty) process.stderr.write(`\r\x1b[2K[${elapsed} s${eta()}] ${label}`);
  else process.stderr.write(`[${elapsed} s${eta()}] ${label}\n`);
};
const ctx: SuiteContext = {
  quick: values.quick === true,
  workers,
  cores,
  progress,
  group: (overrides: Partial<GroupOptions> = {}): GroupOptions => {
    // A full run judges its ratios on the median of 8 paired rounds; a case's time budget (its
    // `timeMs`, for the whole group) is split across them, so more rounds do not lengthen the run.
    // The same goes for a group's least number of samples: `iterations` is for the whole group too.
    const rounds = overrides.rounds ?? (values.quick ? 1 : 8);
    const budgetMs = overrides.timeMs ?? (values.quick ? 300 : 900);
    const iterations = Math.max(1, Math.ceil((overrides.iterations ?? (values.quick ? 5 : 15)) / rounds));
    return { onProgress: progress, ...overrides, rounds, timeMs: budgetMs / rounds, iterations };
  },
};

const results: CaseResult[] = [];
const implausible: string[] = [];
for (const name of chosen) {
  current = { name, from: performance.now() };
  progress(`${name}…`);
  const suite = await (suites[name] as () => Promise<Suite>)();
  const mine = await suite(ctx);
  suiteTimes[name] = (performance.now() - current.from) / 1000;
  results.push(...mine);
  implausible.push(...flagImplausible(mine, cores));
  if (tty) process.stderr.write('\r\x1b[2K');
  console.log(groupTables(mine).join('\n'));
}

// A smoke run's figures rest on one round each: reported, never judged.
const targets = evaluateTargets(results).map((t) => (values.quick ? { ...t, holds: undefined } : t));
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
// Each run its own folder, named by its start and kind, so a subset or smoke run never
// overwrites a full run's report; `latest` points to the newest. bench/results/sample/ is the
// committed sample, regenerated by hand from a full run.
const runName = `${new Date(Date.now() - performance.now() + started).toISOString().slice(0, 19).replace(/:/g, '-')}${kind}`;
const dir = join(resultsDir, runName);
const notes = [
  `Total time: ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  ...(values.quick ? ['', 'A smoke run (`--quick`): one round per group; the targets are measured, not judged.'] : []),
  '',
  ...implausible,
  ...gatedFindings(results),
];
const charts = await writeReport(dir, results, targets, machine(), command, notes);
await writeFile(join(dir, 'timings.json'), `${JSON.stringify(suiteTimes, null, 2)}\n`);
console.log(values.quick ? 'Targets (smoke run: measured, not judged):' : 'Targets:');
for (const t of targets)
  console.log(`  ${t.holds === undefined ? '·' : t.holds ? '✓' : '✗'} ${t.issue} ${t.what}: ${t.measured} (goal ${t.goal})`);
await rm(join(resultsDir, 'latest'), { force: true });
await symlink(runName, join(resultsDir, 'latest'), 'dir').catch(() => {}); // a file system without symlinks: the folder name says it all
console.log(`\nWrote ${dir}/results.json, report.md and ${charts.join(', ')} in ${((performance.now() - started) / 1000).toFixed(0)} s.`);

/**
 * Seconds per suite in the newest earlier run of the same kind (a full run falls back on the
 * committed sample's), or undefined when there is none.
 */
async function previousTimings(dir: string, kind: string): Promise<Record<string, number> | undefined> {
  const runs = (await readdir(dir).catch(() => [] as string[]))
    .filter(
      (name) =>
        /^\d{4}-\d\d-\d\dT/.test(name) && (kind === '' ? !name.includes('-quick') && !name.includes('-subset') : name.endsWith(kind)),
    )
    .sort()
    .reverse();
  if (kind === '') runs.push('sample');
  for (const run of runs) {
    try {
      return JSON.parse(await readFile(join(dir, run, 'timings.json'), 'utf8')) as Record<string, number>;
    } catch {
      // a run from before timings were kept, or one that did not finish
    }
  }
  return undefined;
}
