/**
 * The README's quick start, pasted as a newcomer would: its `tasks.ts` and `main.ts` blocks go
 * into a fresh project folder that has this checkout installed as `threadgate`, are type-checked
 * with strict settings, and run from source, under tsx and under Node's own type stripping where
 * this Node has it. The README's promise that a misspelt task name or a wrong argument type does
 * not compile is checked on the very lines it quotes.
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

/** The README's TypeScript block whose first line is `// <file>`. */
function block(file: string): string {
  const found = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string).find((code) => code.startsWith(`// ${file}`));
  if (found === undefined) throw new Error(`README.md has no \`\`\`ts block starting with "// ${file}"`);
  return found;
}

/** The calls the README says do not compile, quoted in the sentence right after the quick start. */
function callsThatMustNotCompile(): string[] {
  const sentence = readme.split('\n\n').find((paragraph) => paragraph.includes('does not compile')) ?? '';
  return [...sentence.matchAll(/`(pool\.submit\([^`]*\))`/g)].map((m) => m[1] as string);
}

const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2));

describe('README quick start', () => {
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
        },
      }),
    );
    writeFileSync(join(project, 'tasks.ts'), block('tasks.ts'));
    writeFileSync(join(project, 'main.ts'), block('main.ts'));
  });

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('type-checks, and the calls the README calls wrong are the only errors', async () => {
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
    const errorLines = [...output.matchAll(/^([\w.]+)\((\d+),\d+\): error/gm)].map((m) => `${m[1]}:${m[2]}`);
    expect(errorLines, output).toEqual(wrong.map((_, i) => `misuse.ts:${header.length + i + 1}`));
  }, 60_000);

  const expected = [30, 25, 30, 35].map((n) => String(fib(n)));

  it('runs from source under tsx, and exits by itself', async () => {
    const run = await runNode(['--import', 'tsx', 'main.ts'], project, 30_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual(expected);
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
