/**
 * `npm run demo [name...]`: the seed scenarios, live, each with a timeline and the limits it
 * observed next to the ones it was given. Exits non-zero if any limit the library promises was
 * broken; what only the host measures (arrivals at an HTTP server) warns instead.
 */
import { clusterDemo } from './cluster.js';
import { type Scenario, type ScenarioReport, scenarios } from './scenarios.js';
import { renderTimeline, useColor } from './timeline.js';

const color = useColor();
const paint = (code: string, text: string): string => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
if (process.argv.includes('--help')) {
  console.log(`npm run demo [-- name...]

Runs the scenarios this project grew from (Python's asyncio.Semaphore, ApiRateLimiter and
ProcessPoolExecutor examples, and a car park), each with a timeline and the limits it observed.
Scenarios: ${Object.keys(scenarios).join(', ')} (default: all of these), and cluster (only when
named: it starts a redis-server and three serving processes, and kills one mid-map).
Exits 1 if a limit the library promises was broken; a miss that only the host measures (when a
request reaches the HTTP server) is a warning.`);
  process.exit(0);
}
const runnable: Record<string, Scenario> = { ...scenarios, cluster: clusterDemo };
const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = names.filter((n) => !(n in runnable));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; choose from: ${Object.keys(runnable).join(', ')}`);
  process.exit(2);
}

let failed = 0;
for (const name of names.length > 0 ? names : Object.keys(scenarios)) {
  const scenario = runnable[name];
  if (scenario === undefined) continue;
  const started = performance.now();
  const report = await scenario({ onProgress: progressBar });
  clearLine();
  print(report, performance.now() - started);
  failed += report.checks.filter((c) => !c.ok && c.hostDependent !== true).length;
}
console.log(failed === 0 ? paint('32', 'Every limit held.') : paint('31', `${failed} limit(s) broken.`));
process.exitCode = failed === 0 ? 0 : 1;

function print(report: ScenarioReport, ms: number): void {
  console.log(`\n${paint('1', `▶ ${report.title}`)} ${paint('2', `(${(ms / 1000).toFixed(1)} s)`)}`);
  for (const line of renderTimeline(report.lanes, { width: 80, color })) console.log(line);
  for (const note of report.notes) console.log(paint('2', note));
  for (const check of report.checks) {
    const mark = check.ok ? paint('32', '✓') : check.hostDependent ? paint('33', '⚠') : paint('31', '✗');
    const why = !check.ok && check.hostDependent ? paint('2', ' (measured by the host, not promised: a warning)') : '';
    console.log(`  ${mark} ${check.label}: ${paint('1', check.observed)} (limit ${check.limit})${why}`);
  }
}

function progressBar(fraction: number, label: string): void {
  if (!process.stdout.isTTY) return;
  const width = 40;
  const filled = Math.round(fraction * width);
  process.stdout.write(`\r  ${label.padEnd(22)} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.round(fraction * 100)}%`);
}

function clearLine(): void {
  if (process.stdout.isTTY) process.stdout.write('\r\x1b[2K');
}
