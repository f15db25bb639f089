/**
 * The README's code, pasted as a newcomer would. Its quick start (the `tasks.ts` and `main.ts`
 * blocks) goes into a fresh project folder that has this checkout installed as `threadgate`, is
 * type-checked with strict settings, and runs from source, under tsx and under Node's own type
 * stripping where this Node has it. Every other TypeScript block is type-checked too, in a context
 * that declares the names a fragment takes as given (`pool`, `signal`, `db`, ...), so the
 * reference cannot drift from the API. The README's promise that a misspelt task name or a wrong
 * argument type does not compile is checked on the very lines it quotes.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNode } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const QUICK_START = ['tasks.ts', 'main.ts'];

/** The README's TypeScript block whose first line is `// <file>`. */
function block(file: string): string {
  const found = blocks.find((code) => code.startsWith(`// ${file}`));
  if (found === undefined) throw new Error(`README.md has no \`\`\`ts block starting with "// ${file}"`);
  return found;
}

/** What the README's fragments take as given: a pool over a module with their tasks, and the names they use. */
const FRAGMENT_CONTEXT = `
interface Job { rows: number }
interface ReadmeTasks {
  fib(n: number): number;
  add(a: number, b: number): number;
  render(job: Job): void;
  crawl(urls: string[], onPage: (url: string, bytes: number) => Promise<string>): Promise<number>;
  query(connections: import('threadgate').SharedSemaphore, sql: string): Promise<unknown>;
  fetchAll(limiter: import('threadgate').SharedRateLimiter, urls: string[]): Promise<number>;
}
declare const pool: import('threadgate').WorkerPool<ReadmeTasks>;
declare const futures: import('threadgate').Future<number>[];
declare const signal: AbortSignal;
declare const buffer: ArrayBuffer;
declare const bar: { update(value: unknown): void };
declare const job: Job;
declare const items: number[];
declare const timeoutMs: number;
declare const urls: string[];
declare const id: number;
declare const sql: string;
declare const db: { insert(row: object): Promise<void>; run(sql: string): Promise<unknown> };
declare function fetchPage(url: string): Promise<string>;
declare function fetchUser(id: number): Promise<object>;
declare function drawRow(job: Job, row: number): void;
declare const jobs: Job[];
interface Span {
  setAttribute(key: string, value: string | number): void;
  recordException(error: Error): void;
  setStatus(status: { code: number; message?: string }): void;
  end(): void;
}
declare const tracer: { startSpan(name: string, options?: { attributes?: Record<string, string | number> }): Span };
`;

/** The calls the README says do not compile, quoted in the sentence right after the quick start. */
function callsThatMustNotCompile(): string[] {
  const sentence = readme.split('\n\n').find((paragraph) => paragraph.includes('does not compile')) ?? '';
  return [...sentence.matchAll(/`(pool\.submit\([^`]*\))`/g)].map((m) => m[1] as string);
}

const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2));

describe('README code', () => {
  let project: string;

  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'threadgate-quick-start-'));
    mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
    symlinkSync(root, join(project, 'node_modules', 'threadgate'), 'dir');
    symlinkSync(join(root, 'node_modules', 'tsx'), join(project, 'node_modules', 'tsx'), 'dir');
    symlinkSync(join(root, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'esnext',
          module: 'nodenext',
          types: ['node'],
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          noEmit: true,
          moduleDetection: 'force',
        },
      }),
    );
    for (const file of QUICK_START) writeFileSync(join(project, file), block(file));
    const fragments = blocks.filter((code) => !QUICK_START.some((file) => code.startsWith(`// ${file}`)));
    fragments.forEach((code, i) => {
      writeFileSync(join(project, `fragment-${i + 1}.ts`), code);
    });
    writeFileSync(join(project, 'fragment-context.d.ts'), FRAGMENT_CONTEXT);
  });

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('type-checks, every block of it, and the calls the README calls wrong are the only errors', async () => {
    const wrong = callsThatMustNotCompile();
    expect(wrong).toHaveLength(2);
    const header = [
      "import { WorkerPool } from 'threadgate';",
      "import type * as tasks from './tasks.js';",
      'declare const pool: WorkerPool<typeof tasks>;',
    ];
    writeFileSync(join(project, 'misuse.ts'), [...header, ...wrong.map((call) => `${call};`)].join('\n'));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const output = await promisify(execFile)(process.execPath, [tsc, '-p', project], { cwd: project, timeout: 60_000 }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    const errorLines = [...output.matchAll(/^(\S+)\((\d+),\d+\): error/gm)].map((m) => `${m[1]}:${m[2]}`);
    expect(errorLines, output).toEqual(wrong.map((_, i) => `misuse.ts:${header.length + i + 1}`));
    expect(output.match(/error TS\d+/g), output).toHaveLength(wrong.length); // and no error without a place
  }, 60_000);

  const expected = [30, 25, 30, 35].map((n) => String(fib(n)));

  it('runs from source under tsx, and exits by itself', async () => {
    const run = await runNode(['--import', 'tsx', 'main.ts'], project, 30_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual(expected);
  }, 40_000);

  // `npx tsx main.ts` with tsx installed nowhere in the project: the workers must use the tsx the
  // program itself runs under (on Node 20 they cannot inherit its loader from the flags).
  it('runs from source under a tsx that is not installed in the project (npx tsx main.ts)', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'threadgate-npx-tsx-'));
    try {
      mkdirSync(join(bare, 'node_modules', '@types'), { recursive: true });
      symlinkSync(root, join(bare, 'node_modules', 'threadgate'), 'dir');
      writeFileSync(join(bare, 'package.json'), JSON.stringify({ type: 'module' }));
      for (const file of QUICK_START) writeFileSync(join(bare, file), block(file));
      const tsxCli = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'); // where npx would have put it
      const run = await runNode([tsxCli, 'main.ts'], bare, 30_000);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout.trim().split('\n')).toEqual(expected);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  }, 40_000);

  it.runIf((process.features as { typescript?: string | false }).typescript)(
    "runs from source under Node's own type stripping",
    async () => {
      const run = await runNode(['main.ts'], project, 30_000);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim().split('\n')).toEqual(expected);
    },
    40_000,
  );
});
