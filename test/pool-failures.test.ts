import { MessageChannel } from 'node:worker_threads';
import {
  AbortError,
  AsyncSemaphore,
  callback,
  type Permit,
  PoolClosedError,
  QueueFullError,
  SharedSemaphore,
  TaskTimeoutError,
  WorkerCrashedError,
} from 'threadgate';
import { describe, expect, it } from 'vitest';
import { captureWarnings, delay, tasksPool, waitUntil, within } from './helpers.js';

describe('WorkerPool: errors travel faithfully', () => {
  it('keeps a custom error class name, message, stack, cause and own properties', async () => {
    const pool = tasksPool();
    const error = (await pool.submit('fail', 'bad email').catch((e: unknown) => e)) as Error & Record<string, unknown>;
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ValidationError');
    expect(error.message).toBe('bad email');
    expect(error.code).toBe('E_VALIDATION');
    expect(error.field).toBe('email');
    expect(error.stack).toContain('fail');
    expect(error.cause).toBeInstanceOf(RangeError);
    expect((error.cause as Error).message).toBe('too short');
    expect(error.taskName).toBe('fail');
    expect(typeof error.taskId).toBe('number');
  });

  it('rejections of async tasks arrive the same way', async () => {
    const pool = tasksPool();
    await expect(pool.submit('rejectLater', 'nope')).rejects.toMatchObject({ name: 'ValidationError', message: 'nope', field: 'name' });
  });

  it('a thrown non-Error value arrives as the cause of an Error', async () => {
    const pool = tasksPool();
    const error = (await pool.submit('throwString').catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('plain string');
    expect(error.cause).toBe('plain string');
    const fromObject = (await pool.submit('throwObject').catch((e: unknown) => e)) as Error;
    expect(fromObject.message).toBe("a task threw a non-Error value: { code: 42, why: 'plain' }");
    expect(fromObject.cause).toEqual({ code: 42, why: 'plain' });
  });
});

describe('WorkerPool: only exported functions are tasks', () => {
  it.each(['constructor', '__proto__', 'toString', 'then', 'hasOwnProperty', 'valueOf'])(
    'rejects %s before it reaches a worker',
    async (name) => {
      const pool = tasksPool();
      const error = (await pool.submit(name as never).catch((e: unknown) => e)) as Error & { code?: string };
      expect(error).toBeInstanceOf(TypeError);
      expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(error.message).toContain(name);
      expect(pool.stats.completed + pool.stats.failed).toBe(0); // nothing was queued
    },
  );

  it('rejects a name the module does not export, listing what it does export', async () => {
    const pool = tasksPool();
    const error = (await pool.submit('missing' as never).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error.code).toBe('ERR_UNKNOWN_TASK');
    expect(error.message).toContain("'missing' is not exported");
    expect(error.message).toContain('add');
    expect(error.message).not.toContain('did you mean');
    const misspelt = (await pool.submit('sqaure' as never).catch((e: unknown) => e)) as Error;
    expect(misspelt.message).toContain("(did you mean 'square'?)");
  });

  it('rejects an export that is not a function', async () => {
    const pool = tasksPool();
    const error = (await pool.submit('notAFunction' as never).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error.code).toBe('ERR_UNKNOWN_TASK');
    expect(error.message).toContain('not a function');
  });

  it("a CommonJS module's tasks are the functions of module.exports, even ones Node cannot detect by name", async () => {
    const common = new URL('./fixtures/commonjs-tasks.cjs', import.meta.url);
    const pool = tasksPool<{ double(x: number): number; triple(x: number): number }>({ module: common });
    expect(await pool.submit('triple', 3)).toBe(9);
    expect(await pool.map('double', [1, 2, 3]).toArray()).toEqual([2, 4, 6]);
    for (const name of ['default', 'module.exports', 'version']) {
      const error = (await pool.submit(name as never).catch((e: unknown) => e)) as Error & { code?: string };
      expect(error.code, name).toBe('ERR_UNKNOWN_TASK');
      expect(error.message).toContain('its exported functions are: double, triple');
    }
  });

  it('rejects arguments that cannot cross threads, naming the task and position, queueing nothing', async () => {
    const pool = tasksPool();
    class Secret {
      #key = 1;
      get key(): number {
        return this.#key;
      }
    }
    const moved = new Uint8Array(4);
    structuredClone(moved.buffer, { transfer: [moved.buffer] });
    const unlisted = new MessageChannel();
    const cases: [unknown, string][] = [
      [() => 1, 'argument 0'],
      [Symbol('s'), 'argument 0'],
      [new Secret(), 'argument 0'],
      [{ nested: [1, { fn: () => 2 }] }, 'argument 0.nested[1].fn'],
      [new Map([[() => 1, 'a function as a key']]), 'argument 0 (a Map key)'],
      [new Proxy({}, {}), 'argument 0'],
      [moved.buffer, 'argument 0'], // detached: it would arrive empty, or fail when posted
      [[moved], 'argument 0[0]'],
      [{ port: unlisted.port1 }, 'argument 0.port'], // not in a transfer list
    ];
    for (const [value, path] of cases) {
      const error = (await pool.submit('add', value as never, 1).catch((e: unknown) => e)) as Error & { code?: string };
      expect(error).toBeInstanceOf(TypeError);
      expect(error.code).toBe('ERR_UNCLONEABLE_ARGUMENT');
      expect(error.message).toContain("task 'add'");
      expect(error.message).toContain(path);
    }
    expect(pool.stats.queued).toBe(0);
    expect(await pool.submit('add', 1, 1)).toBe(2); // the pool is unaffected
    unlisted.port1.close();
    // Transferables are arguments too: a MessagePort in the transfer list arrives working.
    const { port1, port2 } = new MessageChannel();
    const echoed = new Promise((resolve) => port1.once('message', resolve));
    await pool.with({ transfer: [port2] }).submit('pingPort', port2);
    expect(await within(5_000, echoed)).toBe('pong');
    port1.close();
  });

  it('checks transfer lists: what Node can move, once, and still there at each submit; a post Node refuses fails only its task', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    expect(() => pool.with({ transfer: [new Uint8Array(4)] as never })).toThrow(
      /options\.transfer\[0\] must be an ArrayBuffer, MessagePort, FileHandle or web stream .*received an instance of Uint8Array/,
    );
    const buffer = new ArrayBuffer(8);
    expect(() => pool.with({ transfer: [buffer, buffer] })).toThrow(
      /options\.transfer\[1\] must be listed once \(it is options\.transfer\[0\] too\)/,
    );
    // A view keeps its list: the second submit through it would send the buffer the first one moved.
    const view = pool.with({ transfer: [buffer] });
    const thread = await pool.submit('whoAmI');
    expect(await view.submit('sumBytes', buffer)).toBe(0);
    const reused = (await view.submit('sumBytes', buffer).catch((e: unknown) => e)) as Error & { code?: string };
    expect(reused.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(reused.message).toMatch(
      /options\.transfer\[0\] must be an ArrayBuffer with contents, not an ArrayBuffer moved to another thread/,
    );
    // A closed MessagePort cannot be told from an open one before Node refuses to post it: the
    // task fails with Node's DataCloneError, and its worker, which never saw it, goes on.
    const { port1, port2 } = new MessageChannel();
    port2.close();
    const refused = (await within(
      5_000,
      pool
        .with({ transfer: [port2] })
        .submit('pingPort', port2)
        .catch((e: unknown) => e),
    )) as Error;
    port1.close();
    expect(refused.name).toBe('DataCloneError');
    expect(pool.stats).toMatchObject({ crashedWorkers: 0, failed: 1 });
    expect(await pool.submit('whoAmI')).toBe(thread);
  });
});

describe('WorkerPool: a worker module that cannot start', () => {
  type StartError = Error & { code?: string };

  it('an initializer that throws fails every task with ERR_WORKER_MODULE, its error the cause, and costs no worker', async () => {
    const pool = tasksPool({ initializer: 'failingInit', initArgs: ['the database is down'] });
    const errors = await within(
      10_000,
      Promise.all(
        [1, 2, 3].map((i) =>
          pool.submit('square', i).then(
            () => undefined,
            (e: unknown) => e as StartError,
          ),
        ),
      ),
    );
    for (const error of errors) {
      expect(error?.code).toBe('ERR_WORKER_MODULE');
      expect(error?.message).toMatch(
        /could not run the initializer 'failingInit' of the worker module .*tasks\.gen\.mjs: the database is down/,
      );
      expect(error?.cause).toMatchObject({ name: 'ValidationError', message: 'the database is down', field: 'init' });
    }
    expect(pool.stats).toMatchObject({ failed: 3, crashedWorkers: 0 });
  });

  it('a module that throws while it is imported fails every task the same way', async () => {
    const pool = tasksPool({ module: new URL('./fixtures/broken-module.mjs', import.meta.url) });
    const error = (await within(
      10_000,
      pool.submit('square', 2).catch((e: unknown) => e),
    )) as StartError;
    expect(error.code).toBe('ERR_WORKER_MODULE');
    expect(error.message).toMatch(/could not load the worker module .*broken-module\.mjs: no config file/);
    expect((error.cause as Error).message).toBe('no config file');
    expect(pool.stats).toMatchObject({ failed: 1, crashedWorkers: 0 });
  });
});

describe('WorkerPool: every task settles', () => {
  it('a task calling process.exit(3) rejects with ERR_WORKER_CRASHED; the next task runs', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const first = await pool.submit('whoAmI');
    const error = (await within(
      10_000,
      pool.submit('exit', 3).catch((e: unknown) => e),
    )) as WorkerCrashedError;
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error.code).toBe('ERR_WORKER_CRASHED');
    expect(error.exitCode).toBe(3);
    expect(error.threadId).toBe(first);
    expect(await within(10_000, pool.submit('add', 1, 2))).toBe(3);
    expect(await pool.submit('whoAmI')).not.toBe(first);
    expect(pool.stats.crashedWorkers).toBe(1);
  });

  it('progress keeps flowing from the worker that replaces a crashed one, complete and in order', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const heard: unknown[][] = [[], []];
    const listen = (i: number) => pool.with({ onProgress: (value) => heard[i]?.push(value) });
    expect(await within(10_000, listen(0).submit('reportProgress', 3))).toBe(3);
    const crashed = await within(
      10_000,
      pool.submit('exit', 3).catch((e: unknown) => e),
    );
    expect(crashed).toBeInstanceOf(WorkerCrashedError);
    expect(await within(10_000, listen(1).submit('reportProgress', 4))).toBe(4);
    const steps = (n: number) => Array.from({ length: n }, (_, i) => ({ done: i + 1, total: n }));
    expect(heard).toEqual([steps(3), steps(4)]);
  });

  it('a result that cannot be cloned fails its task with DataCloneError, in a submit or at its item of a map; the next task runs', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const sync = (await within(
      10_000,
      pool.submit('functionFor', 0).catch((e: unknown) => e),
    )) as Error;
    expect(sync.name).toBe('DataCloneError');
    expect(sync.message).toMatch(/could not be cloned/);
    const later = (await within(
      10_000,
      pool.submit('functionLater').catch((e: unknown) => e),
    )) as Error;
    expect(later.name).toBe('DataCloneError');
    expect(await within(10_000, pool.submit('add', 1, 2))).toBe(3);

    const delivered: number[] = [];
    const failure = await within(
      10_000,
      (async () => {
        for await (const value of pool.map('functionFor', [3, 2, 1, 0, 5], { chunkSize: 5 })) delivered.push(value as number);
      })().catch((e: unknown) => e),
    );
    expect((failure as Error).name).toBe('DataCloneError');
    expect((failure as { mapIndex?: number }).mapIndex).toBe(3);
    expect(delivered).toEqual([3, 2, 1]);
    expect(await within(10_000, pool.submit('add', 2, 2))).toBe(4);
  });

  it('a task exhausting its heap under resourceLimits rejects with ERR_WORKER_CRASHED, cause out of memory; the others are unaffected', async () => {
    const pool = tasksPool({ maxWorkers: 2, resourceLimits: { maxOldGenerationSizeMb: 32 } });
    const before = pool.submit('busy', 50);
    const hog = pool.submit('exhaustMemory').catch((e: unknown) => e);
    const after = Array.from({ length: 6 }, (_, i) => pool.submit('add', i, 1));
    const error = (await within(20_000, hog)) as WorkerCrashedError;
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error.code).toBe('ERR_WORKER_CRASHED');
    expect(error.message).toMatch(/ran out of memory/);
    expect((error.cause as { code?: string }).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
    expect(await within(10_000, before)).toBeTypeOf('number');
    expect(await within(10_000, Promise.all(after))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pool.stats).toMatchObject({ failed: 1, crashedWorkers: 1, completed: 7 });
  });

  it('when no worker can start (a heap too small to boot), every waiting task fails with the cause instead of hanging', async () => {
    // 4 MB is the smallest heap allowed (smaller ones crash the whole process on Node 24), and
    // too small for a worker to start.
    const pool = tasksPool({ maxWorkers: 2, resourceLimits: { maxOldGenerationSizeMb: 4 } });
    const warnings = captureWarnings();
    try {
      const first = await within(20_000, Promise.allSettled(Array.from({ length: 8 }, (_, i) => pool.submit('add', i, 1))));
      for (const r of first) {
        expect(r.status).toBe('rejected');
        const error = (r as PromiseRejectedResult).reason as WorkerCrashedError;
        expect(error.code).toBe('ERR_WORKER_CRASHED');
        expect(error.message).toMatch(/could not run: 3 workers in a row failed to start/);
        expect((error.cause as { code?: string }).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
      }
      // Later tasks get the same fresh attempts and the same clear failure, never a hang.
      await expect(within(20_000, pool.submit('add', 1, 1))).rejects.toMatchObject({ code: 'ERR_WORKER_CRASHED' });
      expect(pool.stats).toMatchObject({ failed: 9, queued: 0 });
      expect(warnings.codes).toContain('THREADGATE_WORKER_ERROR');
    } finally {
      warnings.restore();
    }
  });

  it('an uncaught error in the worker rejects its task with ERR_WORKER_CRASHED and the cause', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const error = (await within(
      10_000,
      pool.submit('throwUncaught').catch((e: unknown) => e),
    )) as WorkerCrashedError;
    expect(error.code).toBe('ERR_WORKER_CRASHED');
    expect((error.cause as Error).message).toBe('uncaught in worker');
    expect(await pool.submit('add', 2, 2)).toBe(4);
    // Node cannot send a DOMException across: it arrives empty (Node 20: a plain object; Node 24:
    // an Error that kept only its stack), and the message says what is left of it.
    const opaque = (await within(
      10_000,
      pool.submit('throwUncaught', true).catch((e: unknown) => e),
    )) as WorkerCrashedError;
    expect(opaque.code).toBe('ERR_WORKER_CRASHED');
    expect(opaque.message).toMatch(
      /died \((InvalidStateError: not serializable|an error that lost its name and message on its way from the worker: \{\})\), exit code 1$/,
    );
  });

  it('tasks queued behind a crash still run', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const crash = pool.submit('exit', 1);
    const after = Array.from({ length: 5 }, (_, i) => pool.submit('square', i));
    await expect(crash).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(await within(10_000, Promise.all(after))).toEqual([0, 1, 4, 9, 16]);
  });
});

describe('WorkerPool: timeouts count from the start of the task', () => {
  it('a task queued behind a long one is not timed out by its wait', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const long = pool.submit('busy', 600);
    const queued = pool.with({ timeoutMs: 300 }).submit('add', 1, 1);
    expect(await within(10_000, queued)).toBe(2); // waited ~600 ms, ran ~0 ms
    await long;
  });

  it('a running task past its timeout rejects with ERR_TASK_TIMEOUT and its worker is replaced', async () => {
    const pool = tasksPool({ maxWorkers: 1, cancelGraceMs: 20 });
    const before = await pool.submit('whoAmI');
    const started = performance.now();
    const error = (await within(
      10_000,
      pool
        .with({ timeoutMs: 200 })
        .submit('spinForever')
        .catch((e: unknown) => e),
    )) as TaskTimeoutError;
    const took = performance.now() - started;
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error.code).toBe('ERR_TASK_TIMEOUT');
    expect(took).toBeGreaterThanOrEqual(190);
    const after = await within(10_000, pool.submit('whoAmI'));
    expect(after).not.toBe(before);
  });

  it('a task that ends within its timeout keeps its result, even if the pool thread was too busy to see it in time', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    await pool.submit('whoAmI');
    const task = pool.with({ timeoutMs: 150 }).submit('busy', 100);
    await waitUntil(() => task.running, 5_000, 'the task to start');
    await delay(10); // the pool has seen the start and set its timer
    const blockedUntil = performance.now() + 500; // the task ends at ~100 ms, the timer is due at ~150 ms
    while (performance.now() < blockedUntil) {
      // this thread is busy: when it turns again, the overdue timer runs before the outcome is read
    }
    expect(await within(5_000, task)).toBeTypeOf('number');
  });

  it('the pool-wide taskTimeoutMs applies, and a per-call timeout overrides it', async () => {
    const pool = tasksPool({ maxWorkers: 1, taskTimeoutMs: 100, cancelGraceMs: 10 });
    await expect(within(10_000, pool.submit('busy', 400))).rejects.toBeInstanceOf(TaskTimeoutError);
    expect(await within(10_000, pool.with({ timeoutMs: 2_000 }).submit('busy', 300))).toBeTypeOf('number');
  });
});

describe('WorkerPool: cancellation', () => {
  // Regression: one listener per call on a shared signal passed Node's limit of 10 and printed a
  // MaxListenersExceededWarning (a service passes one request's signal to many calls).
  it('one AbortSignal shared by many tasks, maps and acquires: no listener warning, and aborting stops them all', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const gate = new AsyncSemaphore(1);
    const shared = new SharedSemaphore(1);
    const heldGate = gate.tryAcquire() as Permit;
    const heldShared = shared.tryAcquire() as Permit;
    const controller = new AbortController();
    const warnings = captureWarnings();
    try {
      const { signal } = controller;
      const calls = [
        ...Array.from({ length: 30 }, () => pool.with({ signal }).submit('delayed', 2_000)),
        ...Array.from({ length: 30 }, () => gate.acquire({ signal })),
        ...Array.from({ length: 30 }, () => shared.acquire({ signal })),
        ...Array.from({ length: 15 }, () => pool.map('delayed', [2_000], { signal }).toArray()),
      ];
      await delay(20);
      expect(warnings.codes).toEqual([]);
      controller.abort();
      const outcomes = await within(20_000, Promise.allSettled(calls));
      expect(outcomes.every((o) => o.status === 'rejected' && (o.reason as Error).name === 'AbortError')).toBe(true);
      expect([gate.waiting, shared.waiting]).toEqual([0, 0]);
    } finally {
      warnings.restore();
      heldGate.release();
      heldShared.release();
    }
  });

  it('cancelling a queued task removes it: it never runs', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const blocker = pool.submit('busy', 300);
    const queued = pool.submit('countHere');
    expect(queued.state).toBe('pending');
    expect(queued.cancel()).toBe(true);
    await expect(queued).rejects.toBeInstanceOf(AbortError);
    expect(queued.cancelled).toBe(true);
    await blocker;
    const next = await pool.submit('countHere');
    expect(next.count).toBe(1); // countHere had never run on this worker
    expect(queued.cancel()).toBe(false);
  });

  it("tasks with onProgress or callbacks cancelled while they wait in Piscina's queue take no worker down", async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const worker = await pool.submit('whoAmI');
    const blocker = pool.submit('busy', 200);
    // Handed to Piscina behind the blocker (two messages per worker), then cancelled: Piscina still
    // posts them when the worker is free, with their ports in the transfer list, and the worker skips them.
    const waiting = [
      pool.with({ onProgress: () => {} }).submit('reportProgress', 3),
      pool.submit(
        'callEach',
        2,
        callback(async (i: number) => i),
      ),
    ];
    for (const future of waiting) expect(future.cancel()).toBe(true);
    await within(10_000, blocker);
    for (const future of waiting) await expect(future).rejects.toBeInstanceOf(AbortError);
    const ac = new AbortController();
    let seen = 0;
    const items = Array.from({ length: 2_000 }, (_, i) => i);
    const mapped = (async () => {
      for await (const _ of pool.map('reportItem', items, { chunkSize: 10, signal: ac.signal, onProgress: () => {} })) {
        if (++seen === 15) ac.abort();
      }
    })();
    await expect(within(10_000, mapped)).rejects.toBeInstanceOf(AbortError);
    expect(await within(10_000, pool.submit('whoAmI'))).toBe(worker);
    expect(pool.stats.crashedWorkers).toBe(0);
  });

  it('cancelling a running task stops it and replaces its worker when it ignores the signal', async () => {
    const pool = tasksPool({ maxWorkers: 1, cancelGraceMs: 20 });
    const before = await pool.submit('whoAmI');
    const running = pool.submit('spinForever');
    await waitUntil(() => running.running, 5_000, 'the task to start');
    expect(running.cancel()).toBe(true);
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    expect(await within(10_000, pool.submit('whoAmI'))).not.toBe(before);
  });

  it('an AbortSignal cancels a task', async () => {
    const pool = tasksPool({ maxWorkers: 1, cancelGraceMs: 20 });
    const controller = new AbortController();
    const task = pool.with({ signal: controller.signal }).submit('spinForever');
    setTimeout(() => controller.abort(new Error('user gave up')), 50);
    const error = (await within(
      10_000,
      task.catch((e: unknown) => e),
    )) as Error;
    expect(error.name).toBe('AbortError');
    expect((error.cause as Error).message).toBe('user gave up');
  });

  it('an already-aborted signal rejects at once and queues nothing', async () => {
    const pool = tasksPool();
    const error = await pool
      .with({ signal: AbortSignal.abort() })
      .submit('add', 1, 2)
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(pool.stats.queued).toBe(0);
  });

  it('maxQueue rejects the task beyond it with ERR_QUEUE_FULL, losing nothing queued', async () => {
    const pool = tasksPool({ maxWorkers: 1, maxQueue: 2 });
    const running = pool.submit('busy', 200);
    await waitUntil(() => running.running, 5_000, 'the task to start');
    const a = pool.submit('square', 2);
    const b = pool.submit('square', 3);
    const c = pool.submit('square', 4);
    await expect(c).rejects.toBeInstanceOf(QueueFullError);
    expect(await Promise.all([a, b])).toEqual([4, 9]);
  });
  it("cancellation has Node's shape: ABORT_ERR with the reason as cause, and TimeoutError for AbortSignal.timeout()", async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const controller = new AbortController();
    const reason = new Error('client went away');
    const cancelled = pool.with({ signal: controller.signal }).submit('delayed', 5_000);
    controller.abort(reason);
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    const timedOut = (await pool
      .with({ signal: AbortSignal.timeout(20) })
      .submit('delayed', 5_000)
      .catch((e: unknown) => e)) as Error & { code?: string; cause?: { name?: string } };
    expect(timedOut).toBeInstanceOf(AbortError);
    expect([timedOut.name, timedOut.code, timedOut.cause?.name]).toEqual(['TimeoutError', 'ABORT_ERR', 'TimeoutError']);
  });
});

describe('WorkerPool: shutdown', () => {
  it('shutdown({ wait: true }) waits for running and queued tasks', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const tasks = [pool.submit('busy', 100), pool.submit('busy', 100), pool.submit('square', 5)];
    let settled = 0;
    for (const t of tasks) t.then(() => settled++);
    await within(10_000, pool.shutdown({ wait: true }));
    await delay(0);
    expect(settled).toBe(3);
    expect(pool.stats.workers).toBe(0);
  });

  it('shutdown({ cancelFutures: true }) cancels what has not started; running tasks finish', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const running = pool.submit('busy', 200);
    await waitUntil(() => running.running, 5_000, 'the task to start');
    const pending = [pool.submit('square', 1), pool.submit('square', 2)];
    await within(10_000, pool.shutdown({ cancelFutures: true }));
    expect(await running).toBeTypeOf('number');
    for (const p of pending) {
      await expect(p).rejects.toBeInstanceOf(AbortError);
      expect(p.cancelled).toBe(true);
    }
  });

  it('shutdown({ timeoutMs }) stops whatever is not done by the deadline: a cooperative task, a deaf one, a queued one', async () => {
    const pool = tasksPool({ maxWorkers: 2, cancelGraceMs: 50 });
    const deaf = pool.submit('spinForever');
    const cooperative = pool.submit('spinUntilCancelled');
    const queued = pool.submit('add', 1, 2); // both workers are taken
    await waitUntil(() => deaf.running && cooperative.running, 10_000, 'both spinners to start');
    const asked = performance.now();
    await within(10_000, pool.shutdown({ timeoutMs: 200 }));
    expect(performance.now() - asked).toBeGreaterThanOrEqual(190);
    for (const future of [deaf, cooperative, queued]) {
      await expect(future).rejects.toMatchObject({ name: 'AbortError', message: expect.stringContaining('timeoutMs: 200') });
    }
    expect(pool.stats.workers).toBe(0);
    expect(pool.stats.cancelled).toBe(3);
  });

  it('after shutdown, submit and map reject with ERR_POOL_CLOSED; shutdown is idempotent', async () => {
    const pool = tasksPool();
    await pool.shutdown();
    await pool.shutdown();
    await expect(pool.submit('add', 1, 2)).rejects.toBeInstanceOf(PoolClosedError);
    await expect(pool.submit('add', 1, 2)).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
    await expect(pool.map('square', [1, 2]).toArray()).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(pool.closed).toBe(true);
  });

  it('a map being read when the pool shuts down delivers what it had sent, in order, then throws ERR_POOL_CLOSED', async () => {
    const pool = tasksPool({ maxWorkers: 2 });
    const items = Array.from({ length: 200 }, (_, i) => i);
    const iterator = pool.map('slowSquare', items, { chunkSize: 2 })[Symbol.asyncIterator]();
    const values = [(await iterator.next()).value as number];
    const closed = pool.shutdown({ wait: true });
    const error = await within(
      10_000,
      (async () => {
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) values.push(next.value as number);
      })().catch((e: unknown) => e as PoolClosedError & { mapIndex?: number }),
      'the rest of the map',
    );
    await within(10_000, closed, 'shutdown');
    expect(error).toBeInstanceOf(PoolClosedError);
    expect(values).toEqual(items.slice(0, values.length).map((i) => i * i));
    expect(values.length).toBeLessThan(items.length);
    expect(error?.mapIndex).toBe(values.length);
  });

  it('await using shuts the pool down at the end of the scope', async () => {
    let outside: { closed: boolean } | undefined;
    {
      await using pool = tasksPool();
      outside = pool;
      expect(await pool.submit('add', 2, 2)).toBe(4);
    }
    expect(outside?.closed).toBe(true);
  });
});
