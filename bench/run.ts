/**
 * `npm run bench [-- --quick] [--suite NAME] [--workers 1,2,4]`: runs the suites against the
 * built package (what users import), shows progress, prints a table per group, and writes
 * bench/results/ (results.json, report.md, SVG charts). `--help` prints the options at once,
 * before anything is built.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CaseResult, GroupOptions } from './harness.js';
import type { Suite, SuiteContext } from './suites/context.js';

const SUITES = ['pool-overhead', 'map-scaling', 'gates', 'gated-workload', 'rate-limiter'] as const;

const HELP = `npm run bench [-- options]

  --quick            a smoke run (under a minute): one round per group; figures are printed,
                     targets are not judged
  --suite NAME       run only this suite (repeatable): ${SUITES.join(', ')}
  --workers 1,2,4    the maxWorkers values of the map speed-up (default 1 to cores + 1)
  --help             this text

Results: bench/results/results.json, report.md (tables, targets, charts) and SVG charts.
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
const [{ gatedFindings }, { groupTables, machine, writeReport }, { evaluateTargets }] = await Promise.all([
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
const progress = (label: string): void => {
  const elapsed = ((performance.now() - started) / 1000).toFixed(0).padStart(3);
  if (tty) process.stderr.write(`\r\x1b[2K[${elapsed} s] ${label}`);
  else process.stderr.write(`[${elapsed} s] ${label}\n`);
};
const ctx: SuiteContext = {
  quick: values.quick === true,
  workers,
  cores,
  progress,
  group: (overrides?: Partial<GroupOptions>): GroupOptions => ({
    rounds: values.quick ? 1 : 3,
    timeMs: 300,
    iterations: 5,
    onProgress: progress,
    ...overrides,
  }),
};

const results: CaseResult[] = [];
for (const name of chosen) {
  progress(`${name}…`);
  const suite = await (suites[name] as () => Promise<Suite>)();
  const mine = await suite(ctx);
  results.push(...mine);
  if (tty) process.stderr.write('\r\x1b[2K');
  console.log(groupTables(mine).join('\n'));
}

// A smoke run's figures rest on one round each: reported, never judged.
const targets = evaluateTargets(results).map((t) => (values.quick ? { ...t, holds: undefined } : t));
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const dir = fileURLToPath(new URL('./results', import.meta.url));
const notes = [
  `Total time: ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  ...(values.quick ? ['', 'A smoke run (`--quick`): one round per group; the targets are measured, not judged.'] : []),
  '',
  ...gatedFindings(results),
];
const charts = await writeReport(dir, results, targets, machine(), command, notes);
console.log(values.quick ? 'Targets (smoke run: measured, not judged):' : 'Targets:');
for (const t of targets)
  console.log(`  ${t.holds === undefined ? '·' : t.holds ? '✓' : '✗'} ${t.issue} ${t.what}: ${t.measured} (goal ${t.goal})`);
console.log(`\nWrote ${dir}/results.json, report.md and ${charts.join(', ')} in ${((performance.now() - started) / 1000).toFixed(0)} s.`);
