import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WorkerPool, type WorkerPoolOptions } from 'threadgate';
import { afterEach, vi } from 'vitest';
import type * as Tasks from './fixtures/tasks.js';

export type { Tasks };
/** fixtures/tasks.ts as JavaScript (test/build.mjs compiles it): workers start without tsx. */
export const TASKS = new URL('./fixtures/tasks.gen.mjs', import.meta.url);

const open: { shutdown: WorkerPool['shutdown'] }[] = [];

/**
 * A pool over the test fixture module (or `options.module`, typed as `M`), shut down (without
 * waiting on stuck tasks) after the test.
 */
export function tasksPool<M = typeof Tasks>(options: Partial<WorkerPoolOptions> = {}): WorkerPool<M> {
  const pool = new WorkerPool<M>({ module: TASKS, maxWorkers: 2, ...options });
  open.push(pool);
  return pool;
}

afterEach(async () => {
  const pools = open.splice(0);
  await Promise.all(pools.map((pool) => pool.shutdown({ cancelFutures: true })));
});

/**
 * Takes the warnings this process emits from now until `restore()`, instead of printing them: a
 * test that causes a warning on purpose asserts it, and the log stays quiet. Each is kept as its
 * `code` (or its name when it has none).
 */
export function captureWarnings(): { codes: string[]; restore(): void } {
  const codes: string[] = [];
  const spy = vi.spyOn(process, 'emitWarning').mockImplementation((warning: string | Error, options?: unknown) => {
    const code = typeof options === 'object' && options !== null ? (options as { code?: string }).code : undefined;
    codes.push(code ?? (typeof warning === 'string' ? 'Warning' : warning.name));
  });
  return { codes, restore: () => spy.mockRestore() };
}

/** Resolves after `ms`. */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects if `promise` has not settled within `ms`: every wait in a test is bounded. */
export function within<T>(ms: number, promise: PromiseLike<T>, what = 'operation'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    Promise.resolve(promise).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Polls `condition` until it holds; rejects after `ms`, naming `what`. */
export async function waitUntil(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(2);
  }
}

/** What a child process did: its exit code, its output, and when it last wrote and when it exited. */
export interface ChildRun {
  code: number | null;
  stdout: string;
  stderr: string;
  lastOutputAt: number;
  exitedAt: number;
}

/**
 * Runs a fixture script in a child Node process from the package root (so `threadgate` resolves
 * to this package), and waits for it to exit by itself; kills it and rejects after `ms`.
 */
export function runChild(fixture: string, ms: number, nodeArgs: string[] = [], scriptArgs: string[] = []): Promise<ChildRun> {
  const script = fileURLToPath(new URL(`./fixtures/${fixture}`, import.meta.url));
  return runNode([...nodeArgs, script, ...scriptArgs], fileURLToPath(new URL('..', import.meta.url)), ms);
}

/** Runs `node ...args` in `cwd` and waits for it to exit by itself; kills it and rejects after `ms`. */
export function runNode(args: string[], cwd: string, ms: number): Promise<ChildRun> {
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: ChildRun = { code: null, stdout: '', stderr: '', lastOutputAt: 0, exitedAt: 0 };
  child.stdout.on('data', (d: Buffer) => {
    run.stdout += d;
    run.lastOutputAt = performance.now();
  });
  child.stderr.on('data', (d: Buffer) => {
    run.stderr += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not exit within ${ms} ms; stdout: ${run.stdout}; stderr: ${run.stderr}`));
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      run.code = code;
      run.exitedAt = performance.now();
      resolve(run);
    });
  });
}
