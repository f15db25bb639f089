import { copyFileSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AsyncSemaphore, asCompleted, RateLimiter, SharedRateLimiter, SharedSemaphore, WorkerPool, wait, workloads } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { runNode, TASKS, type Tasks, tasksPool, within } from './helpers.js';

type Case = [option: string, value: unknown, error: 'TypeError' | 'RangeError', mentions: string];

const badOptions: Case[] = [
  ['maxWorkers', 0, 'RangeError', 'an integer from 1'],
  ['maxWorkers', 1.5, 'RangeError', 'an integer from 1'],
  ['maxWorkers', -2, 'RangeError', 'an integer from 1'],
  ['maxWorkers', '2', 'TypeError', 'an integer from 1'],
  ['maxWorkers', Number.NaN, 'TypeError', 'an integer from 1'],
  ['minWorkers', -1, 'RangeError', 'an integer from 0 to 2'],
  ['minWorkers', 3, 'RangeError', 'an integer from 0 to 2'],
  ['idleTimeoutMs', -5, 'RangeError', 'milliseconds >= 0'],
  ['idleTimeoutMs', 3e9, 'RangeError', 'the longest a timer waits'],
  ['taskTimeoutMs', 2 ** 31, 'RangeError', 'or Infinity'],
  ['idleTimeoutMs', 'soon', 'TypeError', 'milliseconds'],
  ['maxQueue', -1, 'RangeError', 'an integer >= 0'],
  ['maxQueue', 2.5, 'RangeError', 'an integer >= 0'],
  ['initializer', 42, 'TypeError', 'the name of a function'],
  ['initializer', 'constructor', 'TypeError', 'exports itself'],
  ['maxTasksPerWorker', 0, 'RangeError', 'an integer >= 1'],
  ['maxTasksPerWorker', '10', 'TypeError', 'an integer >= 1'],
  ['taskTimeoutMs', -1, 'RangeError', 'milliseconds'],
  ['taskTimeoutMs', 0, 'RangeError', '0 cannot be met'],
  ['cancelGraceMs', Number.POSITIVE_INFINITY, 'TypeError', 'finite'],
  ['cancelGraceMs', -1, 'RangeError', 'milliseconds'],
  ['resourceLimits', 5, 'TypeError', 'resource limits'],
  ['resourceLimits', { maxOldGenerationSizeMb: -1 }, 'TypeError', 'megabytes'],
  ['resourceLimits', { heap: 5 }, 'TypeError', 'maxOldGenerationSizeMb'],
  ['resourceLimits', { stackSizeMb: 0.1 }, 'RangeError', 'crash the whole process'],
  ['resourceLimits', { maxOldGenerationSizeMb: 2 }, 'RangeError', 'at least 4 MB'],
  ['execArgv', '--inspect', 'TypeError', 'an array of strings'],
  ['env', { PORT: 8080 }, 'TypeError', 'values are strings'],
  ['maxWorker', 2, 'TypeError', 'not an option of WorkerPool (did you mean maxWorkers?)'],
  ['maxThreads', 2, 'TypeError', '(did you mean maxWorkers?)'],
  ['filename', TASKS, 'TypeError', '(did you mean module?)'],
  ['cancelGrace', 5, 'TypeError', '(did you mean cancelGraceMs?)'],
];

describe('WorkerPool options: every bad value is refused with a clear error', () => {
  it.each(badOptions)('options.%s = %o → %s', (option, value, type, mentions) => {
    let error: (Error & { code?: string }) | undefined;
    try {
      new WorkerPool({ module: TASKS, maxWorkers: 2, [option]: value });
    } catch (e) {
      error = e as Error & { code?: string };
    }
    expect(error?.name).toBe(type);
    expect(error?.code).toMatch(/^ERR_/);
    expect(error?.message).toContain(`options.${option}`);
    expect(error?.message).toContain(mentions);
  });

  it("options.env is the workers' process.env; by default they see the parent's", async () => {
    process.env.THREADGATE_TEST_PARENT = 'parent';
    try {
      const inherited = tasksPool({ maxWorkers: 1 });
      expect(await within(10_000, inherited.submit('envHere', 'THREADGATE_TEST_PARENT'))).toBe('parent');
      const own = tasksPool({ maxWorkers: 1, env: { GREETING: 'hello' } });
      expect(await within(10_000, own.submit('envHere', 'GREETING'))).toBe('hello');
      expect(await within(10_000, own.submit('envHere', 'THREADGATE_TEST_PARENT'))).toBeUndefined();
    } finally {
      delete process.env.THREADGATE_TEST_PARENT;
    }
  });

  it('options.initArgs must be an array, and needs an initializer', () => {
    expect(() => new WorkerPool({ module: TASKS, initializer: 'init', initArgs: 'x' as never })).toThrow(
      /options\.initArgs must be an array/,
    );
    expect(() => new WorkerPool({ module: TASKS, initArgs: [1] })).toThrow(
      /options\.initArgs must be given only together with options\.initializer/,
    );
  });

  it('options.module must exist, be a file URL or absolute path', () => {
    expect(() => new WorkerPool({ module: new URL('./nope.js', import.meta.url) })).toThrow(
      /options\.module must be an existing worker module file; nothing is at .*nope\.js \(nor at its TypeScript source .*nope\.ts\)/,
    );
    expect(() => new WorkerPool({ module: new URL('./nope.txt', import.meta.url) })).toThrow(
      /nothing is at .*nope\.txt; received the URL "file:/,
    );
    expect(() => new WorkerPool({ module: 'relative/tasks.js' })).toThrow(/absolute path/);
    expect(() => new WorkerPool({ module: new URL('https://example.com/tasks.js') })).toThrow(/only file: URLs/);
    expect(() => new WorkerPool({ module: 42 as never })).toThrow(TypeError);
    expect(() => new WorkerPool(undefined as never)).toThrow(/options must be an options object/);
  });

  it('accepts a URL, a file: URL string and an absolute path', async () => {
    for (const module of [workloads, workloads.href, workloads.pathname]) {
      const pool = new WorkerPool({ module, maxWorkers: 1 });
      expect(await pool.submit('fib', 10)).toBe(55);
      await pool.shutdown();
    }
  });

  it('a .js module that is not there is loaded from its .ts source, as TypeScript names imports', async () => {
    const pool = new WorkerPool<typeof Tasks>({ module: new URL('./fixtures/tasks.js', import.meta.url), maxWorkers: 1 });
    expect(await pool.submit('add', 2, 3)).toBe(5);
    await pool.shutdown();
  });

  it('a .ts module with ES module syntax loads in a package without "type": "module" (CommonJS for tsx)', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'threadgate-typeless-'));
    try {
      writeFileSync(join(folder, 'package.json'), '{}');
      writeFileSync(join(folder, 'tasks.ts'), 'export function square(n: number): number {\n  return n * n;\n}\n');
      const pool = tasksPool<{ square(n: number): number }>({ module: join(folder, 'tasks.ts'), maxWorkers: 1 });
      expect(await pool.submit('square', 7)).toBe(49);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('a copy of threadgate without its worker runtime beside it (bundled into an app) refuses to make a pool, saying why', async () => {
    const dist = fileURLToPath(new URL('../dist/', import.meta.url));
    const folder = mkdtempSync(join(tmpdir(), 'threadgate-bundled-'));
    try {
      // What a bundler leaves: the library's code in the app's folder, dist/runtime.js not.
      for (const file of readdirSync(dist).filter((name) => name.endsWith('.js') && name !== 'runtime.js')) {
        copyFileSync(join(dist, file), join(folder, file));
      }
      writeFileSync(join(folder, 'package.json'), '{"type":"module"}');
      symlinkSync(fileURLToPath(new URL('../node_modules', import.meta.url)), join(folder, 'node_modules'), 'dir');
      const script = `const { WorkerPool } = await import(${JSON.stringify(pathToFileURL(join(folder, 'index.js')).href)});
        try { new WorkerPool({ module: ${JSON.stringify(fileURLToPath(TASKS))} }); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
      const run = await runNode(['--input-type=module', '-e', script], folder, 15_000);
      expect(run.code, run.stderr).toBe(0);
      const error = JSON.parse(run.stdout) as { code: string; message: string };
      expect(error.code).toBe('ERR_WORKER_RUNTIME');
      expect(error.message).toContain(join(folder, 'runtime.js'));
      expect(error.message).toContain('external');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('defaults maxWorkers to os.availableParallelism()', async () => {
    const { availableParallelism } = await import('node:os');
    const pool = new WorkerPool({ module: workloads });
    expect(pool.maxWorkers).toBe(availableParallelism());
    await pool.shutdown();
  });
});

describe('per-call and map options', () => {
  it('with() refuses bad values', () => {
    const pool = tasksPool();
    expect(() => pool.with({ timeoutMs: -1 })).toThrow(/options\.timeoutMs/);
    expect(() => pool.with({ timeoutMs: 0 })).toThrow(/options\.timeoutMs .*0 cannot be met/);
    expect(() => pool.map('square', [1], { timeoutMs: 0 })).toThrow(/options\.timeoutMs .*0 cannot be met/);
    expect(() => pool.with({ signal: {} as never })).toThrow(/options\.signal must be an AbortSignal/);
    expect(() => pool.with({ transfer: 'x' as never })).toThrow(/options\.transfer/);
    expect(() => pool.with({ onProgress: 3 as never })).toThrow(/options\.onProgress must be a function/);
  });

  it('map refuses bad values before pulling anything', () => {
    const pool = tasksPool();
    expect(() => pool.map('square', [1], { chunkSize: 0 })).toThrow(/options\.chunkSize/);
    expect(() => pool.map('square', [1], { chunkSize: 'big' as never })).toThrow(/'auto' or an integer >= 1/);
    expect(() => pool.map('square', [1], { buffer: 0 })).toThrow(/options\.buffer/);
    expect(() => pool.map('square', [1], { ordered: 'yes' as never })).toThrow(/options\.ordered must be a boolean/);
    expect(() => pool.map('square', 42 as never)).toThrow(/items must be an Iterable or AsyncIterable/);
    expect(() => pool.map('__proto__' as never, [1] as never)).toThrow(/name must be/);
  });
});

describe('durations: no timer is ever set longer than a timer can wait (it would fire after 1 ms)', () => {
  it('every timeout refuses more than 2^31-1 ms but Infinity; a chunk of many items caps its own', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const pool = tasksPool({ maxWorkers: 1 });
      const tooLong = 3e9; // ~35 days: every one of these fired after 1 ms
      const refusals = [
        () => pool.with({ timeoutMs: tooLong }),
        () => pool.map('square', [1], { timeoutMs: tooLong }),
        () => wait([], { timeoutMs: tooLong }),
        () => new AsyncSemaphore(1).acquire({ timeoutMs: tooLong }),
        () => new SharedSemaphore(1).acquire({ timeoutMs: tooLong }),
        () => new RateLimiter({ maxConcurrent: 1, minIntervalMs: tooLong }),
      ];
      for (const refuse of refusals) {
        await expect((async () => refuse())()).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
      }
      // 100 items of up to 10^8 ms each: the chunk's 10^10 ms is more than a timer can wait.
      const items = Array.from({ length: 100 }, (_, i) => i);
      const squares = await within(10_000, pool.map('square', items, { timeoutMs: 1e8, chunkSize: 100 }).toArray());
      expect(squares).toEqual(items.map((i) => i * i));
      expect(await within(10_000, pool.with({ timeoutMs: 2 ** 31 - 1 }).submit('delayed', 20))).toBe(20);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('every options object refuses a name it does not know, and takes nothing for it', () => {
  it('names the option, what takes it and the options it has: a misspelt timeout must not pass as none', async () => {
    const pool = tasksPool();
    const asyncSemaphore = new AsyncSemaphore(2);
    const sharedSemaphore = new SharedSemaphore(2);
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const sharedLimiter = new SharedRateLimiter({ maxConcurrent: 1 });
    let ran = 0;
    const fn = (): number => ++ran;
    const calls: [of: string, key: string, call: () => unknown][] = [
      ['pool.with()', 'timeout', () => pool.with({ timeout: 5 } as never)],
      ['pool.map() and pool.starmap()', 'chunksize', () => pool.map('square', [1], { chunksize: 4 } as never)],
      ['pool.map() and pool.starmap()', 'order', () => pool.starmap('add', [[1, 2]], { order: false } as never)],
      ['pool.shutdown()', 'cancelPending', () => pool.shutdown({ cancelPending: true } as never)],
      ['wait()', 'return_when', () => wait([], { return_when: 'FIRST_COMPLETED' } as never)],
      ['asCompleted()', 'timeout', () => asCompleted([], { timeout: 5 } as never)],
      ['acquire() and withPermit()', 'timeout', () => asyncSemaphore.acquire({ timeout: 5 } as never)],
      ['acquire() and withPermit()', 'timeout', () => asyncSemaphore.withPermit(fn, { timeout: 5 } as never)],
      ['acquire() and withPermit()', 'timeout', () => sharedSemaphore.acquire({ timeout: 5 } as never)],
      ['acquire() and withPermit()', 'abortSignal', () => sharedSemaphore.withPermit(fn, { abortSignal: undefined } as never)],
      ['acquireSync()', 'allowMain', () => sharedSemaphore.acquireSync({ allowMain: true } as never)],
      ['new SharedSemaphore()', 'maxWaiter', () => new SharedSemaphore(1, { maxWaiter: 4 } as never)],
      ['new RateLimiter()', 'minInterval', () => new RateLimiter({ maxConcurrent: 1, minInterval: 100 } as never)],
      ['new SharedRateLimiter()', 'minInterval', () => new SharedRateLimiter({ maxConcurrent: 1, minInterval: 100 } as never)],
      ['limiter.call()', 'id', () => limiter.call(fn, { id: 'a' } as never)],
      ['limiter.call()', 'id', () => sharedLimiter.call(fn, { id: 'a' } as never)],
    ];
    for (const [of, key, call] of calls) {
      const error = await (async () => call())().then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(error?.name, `${of}: ${key}`).toBe('TypeError');
      expect(error?.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(error?.message).toContain(`options.${key} must be left out: it is not an option of ${of}`);
      expect(error?.message).toContain('; its options are ');
    }
    expect(ran).toBe(0);
    expect([asyncSemaphore.available, sharedSemaphore.available, limiter.available]).toEqual([2, 2, 1]);
    expect(await pool.submit('square', 3)).toBe(9); // the refused shutdown did not close the pool
  });

  it('shutdown() refuses option values it would ignore, and a refused shutdown closes nothing', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    expect(() => pool.shutdown({ cancelFutures: 1 as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringMatching(/options\.cancelFutures must be a boolean/) }),
    );
    expect(() => pool.shutdown({ wait: 'no' as never })).toThrow(/options\.wait must be a boolean/);
    expect(await within(10_000, pool.submit('square', 4))).toBe(16);
  });
});
