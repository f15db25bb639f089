/**
 * `npm run bench [-- --quick] [--suite NAME] [--workers 1,2,4]`: runs the suites against the
 * built package (what users import), shows progress, prints a table per group, and writes
 * bench/results/ (results.json, report.md, SVG charts).
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gatedFindings } from './findings.js';
import type { CaseResult, GroupOptions } from './harness.js';
import { groupTables, machine, writeReport } from './report.js';
import type { Suite, SuiteContext } from './suites/context.js';
import { gatedWorkload } from './suites/gated-workload.js';
import { gates } from './suites/gates.js';
import { mapScaling } from './suites/map-scaling.js';
import { poolOverhead } from './suites/pool-overhead.js';
import { rateLimiters } from './suites/rate-limiter.js';
import { evaluateTargets } from './targets.js';

const suites: Record<string, Suite> = {
  'pool-overhead': poolOverhead,
  'map-scaling': mapScaling,
  gates,
  'gated-workload': gatedWorkload,
  'rate-limiter': rateLimiters,
};

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, suite: { type: 'string', multiple: true }, workers: { type: 'string' } },
});
const chosen = values.suite ?? Object.keys(suites);
const unknown = chosen.filter((s) => !(s in suites));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; choose from: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
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
  const suite = suites[name] as Suite;
  progress(`${name}…`);
  const mine = await suite(ctx);
  results.push(...mine);
  if (tty) process.stderr.write('\r\x1b[2K');
  console.log(groupTables(mine).join('\n'));
}

const targets = evaluateTargets(results);
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const dir = fileURLToPath(new URL('./results', import.meta.url));
const notes = [`Total time: ${((performance.now() - started) / 1000).toFixed(0)} s.`, '', ...gatedFindings(results)];
const charts = await writeReport(dir, results, targets, machine(), command, notes);
console.log('Targets:');
for (const t of targets)
  console.log(`  ${t.holds === undefined ? '·' : t.holds ? '✓' : '✗'} ${t.issue} ${t.what}: ${t.measured} (goal ${t.goal})`);
console.log(`\nWrote ${dir}/results.json, report.md and ${charts.join(', ')} in ${((performance.now() - started) / 1000).toFixed(0)} s.`);
