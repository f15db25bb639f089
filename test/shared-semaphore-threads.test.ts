import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { SharedRateLimiter, SharedSemaphore, WorkerCrashedError } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { ACQUIRED, HOLDERS, VIOLATIONS } from './fixtures/tasks.js';
import { delay, runChild, tasksPool, waitUntil, within } from './helpers.js';

const shared = (n: number): Int32Array => new Int32Array(new SharedArrayBuffer(n * 4));

describe('SharedSemaphore across threads', () => {
  it('arrives in a worker as a working SharedSemaphore, also nested in objects, arrays, Maps (keys too) and Sets', async () => {
    const pool = tasksPool();
    const sem = new SharedSemaphore(3);
    const counters = shared(5);
    expect(await pool.submit('useSemaphore', sem, counters, 1)).toBe(true);
    const inSet = new SharedSemaphore(11);
    const set = new Set([inSet]);
    const asKey = new SharedSemaphore(13);
    const keyed = new Map([[asKey, 'pool']]);
    const caps = await pool.submit('nestedSemaphores', {
      inner: { sem },
      list: [new SharedSemaphore(5), new SharedSemaphore(7)],
      byName: new Map([['db', new SharedSemaphore(9)]]),
      keyed,
      set,
    });
    expect(caps).toEqual([3, 5, 7, 9, 13, 11]);
    expect(sem.available).toBe(3);
    expect([...set]).toEqual([inSet]); // the caller's Set and Map are not changed
    expect([...keyed]).toEqual([[asKey, 'pool']]);
  });

  it('comes back live from a task: made in the worker or passed through, in any container, from map too', async () => {
    interface Gates {
      sem: SharedSemaphore;
      list: SharedSemaphore[];
      byName: Map<string, SharedSemaphore>;
      set: Set<SharedSemaphore>;
      limiter: SharedRateLimiter;
    }
    const pool = tasksPool<{
      makeGates(capacity: number): Gates;
      echo(value: unknown): unknown;
      returnKept(): { kept: { sem: SharedSemaphore }; liveHere: boolean };
    }>({ module: new URL('./fixtures/shared-results.mjs', import.meta.url), maxWorkers: 1 });
    const made = await within(10_000, pool.submit('makeGates', 3));
    expect(made.sem).toBeInstanceOf(SharedSemaphore);
    expect(made.sem.available).toBe(2); // the worker's unit is out: the same memory
    expect(made.sem.tryAcquire(2)?.release()).toBeUndefined();
    expect(made.list[0]).toBe(made.sem); // one object per semaphore in this thread
    expect(made.byName.get('db')).toBe(made.sem);
    expect([...made.set]).toEqual([made.sem]);
    expect(made.limiter).toBeInstanceOf(SharedRateLimiter);
    expect((await made.limiter.call(() => 7)).data).toBe(7);

    const sem = new SharedSemaphore(5);
    expect(await within(10_000, pool.submit('echo', { sem }))).toEqual({ sem });
    expect(((await within(10_000, pool.submit('echo', { sem }))) as { sem: SharedSemaphore }).sem).toBe(sem);
    const mapped = await within(10_000, pool.map('echo', [sem, made.sem, 1]).toArray());
    expect(mapped[0]).toBe(sem);
    expect(mapped[1]).toBe(made.sem);

    await within(10_000, pool.submit('returnKept'));
    const again = await within(10_000, pool.submit('returnKept'));
    expect(again.liveHere).toBe(true); // the worker's own object was not changed by the way back
    expect(again.kept.sem).toBeInstanceOf(SharedSemaphore);
  });

  it('regression: a cyclic argument or result holding a semaphore crosses both ways, cycle and all', async () => {
    const pool = tasksPool<{ echo(value: unknown): unknown }>({
      module: new URL('./fixtures/shared-results.mjs', import.meta.url),
      maxWorkers: 1,
    });
    type Ring = { sem: SharedSemaphore; self?: Ring; list: unknown[]; byName: Map<string, unknown> };
    const sem = new SharedSemaphore(2);
    const ring: Ring = { sem, list: [], byName: new Map() };
    ring.self = ring;
    ring.list.push(ring, sem);
    ring.byName.set('ring', ring);
    const back = (await within(10_000, pool.submit('echo', ring))) as Ring;
    expect(back.sem).toBe(sem);
    expect(back.self).toBe(back);
    expect(back.list[0]).toBe(back);
    expect(back.list[1]).toBe(sem);
    expect(back.byName.get('ring')).toBe(back);
  });

  it('in initArgs arrives live for the initializer (the worker loads what revives it first)', async () => {
    const sem = new SharedSemaphore(4);
    const pool = tasksPool({ maxWorkers: 1, initializer: 'init', initArgs: [sem] });
    // Returned as it was kept: a live SharedSemaphore comes back as the caller's own object.
    expect(await within(10_000, pool.submit('getInit'))).toBe(sem);
  });

  it('regression: two back-to-back releases with two sleeping waiters wake both', async () => {
    const pool = tasksPool({ maxWorkers: 2 });
    const sem = new SharedSemaphore(2);
    const held = [sem.tryAcquire(), sem.tryAcquire()];
    const log = shared(8);
    const waiters = [pool.submit('waitInLine', sem, 1, log, 0), pool.submit('waitInLine', sem, 1, log, 0)];
    await waitUntil(() => sem.waiting === 2, 10_000, 'two sleeping waiters');
    for (const permit of held) permit?.release(); // back to back, no yield in between
    await within(5_000, Promise.all(waiters), 'both waiters');
    expect(Atomics.load(log, 0)).toBe(2);
    expect(sem.available).toBe(2);
  });

  it('regression: a small release with an older heavy waiter and a younger light one keeps FIFO and wakes both in turn', async () => {
    const pool = tasksPool({ maxWorkers: 2 });
    const sem = new SharedSemaphore(3);
    const all = sem.tryAcquire(3);
    const log = shared(8);
    const heavy = pool.submit('waitInLine', sem, 3, log, 20);
    await waitUntil(() => sem.waiting === 1, 10_000, 'the heavy waiter');
    const light = pool.submit('waitInLine', sem, 1, log, 0);
    await waitUntil(() => sem.waiting === 2, 10_000, 'the light waiter');
    all?.release(); // grants the heavy head at once, synchronously: nothing is left to take
    expect(sem.tryAcquire()).toBeUndefined();
    expect(await within(5_000, heavy)).toBe(0); // the heavy one, first in line, goes first
    expect(await within(5_000, light)).toBe(1);
    expect(Array.from(log.subarray(1, 3))).toEqual([3, 1]);
    expect(sem.available).toBe(3);
    expect(sem.waiting).toBe(0);
  });

  it('regression: a release too small for the heavy head wakes nobody; the light one behind it does not overtake', async () => {
    const pool = tasksPool({ maxWorkers: 2 });
    const sem = new SharedSemaphore(3);
    const held = [sem.tryAcquire(2), sem.tryAcquire(1)];
    const log = shared(8);
    const heavy = pool.submit('waitInLine', sem, 3, log, 0);
    await waitUntil(() => sem.waiting === 1, 10_000, 'the heavy waiter');
    const light = pool.submit('waitInLine', sem, 1, log, 0);
    await waitUntil(() => sem.waiting === 2, 10_000, 'the light waiter');
    held[1]?.release(); // 1 unit free: the heavy head needs 3
    await delay(100);
    expect(Atomics.load(log, 0)).toBe(0); // the light waiter did not overtake
    expect(sem.waiting).toBe(2);
    held[0]?.release();
    await within(5_000, Promise.all([heavy, light]));
    expect(Array.from(log.subarray(1, 3))).toEqual([3, 1]);
    expect(sem.available).toBe(3);
  });

  it('regression: cancel racing the grant, thousands of times: no permit lost or duplicated', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const sem = new SharedSemaphore(1);
    const counters = shared(5);
    // A worker takes and gives the single unit as fast as it can, while this thread's acquires
    // time out or abort at random moments: grants and cancels collide constantly.
    const hammering = pool.submit('hammer', sem, counters, 20_000, 7);
    let hammeringDone = false;
    hammering.then(
      () => (hammeringDone = true),
      () => (hammeringDone = true),
    );
    // Contend only once the worker is running (before that, this loop would never yield).
    await waitUntil(() => Atomics.load(counters, ACQUIRED) > 0, 10_000, 'the worker to start hammering');
    let got = 0;
    let gaveUp = 0;
    let attempts = 0;
    for (; !hammeringDone && attempts < 100_000; attempts++) {
      const controller = new AbortController();
      if (attempts % 3 === 0) queueMicrotask(() => controller.abort());
      try {
        const permit = await sem.acquire({ timeoutMs: attempts % 5, signal: controller.signal });
        const now = Atomics.add(counters, HOLDERS, 1) + 1;
        if (now > 1) Atomics.add(counters, VIOLATIONS, 1);
        Atomics.sub(counters, HOLDERS, 1);
        permit.release();
        got++;
      } catch {
        gaveUp++;
      }
    }
    await within(30_000, hammering, 'the hammering worker');
    expect(got + gaveUp).toBe(attempts);
    expect(attempts).toBeGreaterThan(1_000);
    expect(Atomics.load(counters, VIOLATIONS)).toBe(0);
    expect(sem.available).toBe(1);
    expect(sem.waiting).toBe(0);
    expect(got).toBeGreaterThan(0);
    expect(gaveUp).toBeGreaterThan(0);
  });

  it('a worker that dies holding 2 of 3 units gives them back within 100 ms, and a blocked waiter proceeds', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const sem = new SharedSemaphore(3);
    const go = shared(1);
    const crash = pool.submit('holdAndExit', sem, 2, go);
    await waitUntil(() => sem.available === 1, 10_000, 'the worker to take 2 units');
    const waiter = sem.acquire({ weight: 3 });
    Atomics.store(go, 0, 1); // now let it die holding them
    Atomics.notify(go, 0);
    const error = await within(
      10_000,
      crash.catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(WorkerCrashedError);
    const diedAt = performance.now();
    const permit = await within(2_000, waiter, 'the blocked waiter');
    expect(performance.now() - diedAt).toBeLessThan(100);
    expect(permit.weight).toBe(3);
    permit.release();
    expect(sem.available).toBe(3);
  });

  // Regression: only a semaphore the main thread still held was reclaimed (a weak registry there).
  // The common shape passes a fresh semaphore to tasks and keeps no reference to it.
  it('a worker that dies holding a unit gives it back also when the main thread no longer holds the semaphore', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const pool = tasksPool({ maxWorkers: 2, minWorkers: 2 });
    const go = shared(1);
    const log = shared(4);
    const { crash, waiter } = await (async () => {
      const sem = new SharedSemaphore(1);
      const crash = pool.submit('holdAndExit', sem, 1, go);
      await waitUntil(() => sem.available === 0, 10_000, 'the first worker to take the unit');
      const waiter = pool.submit('waitInLine', sem, 1, log, 0);
      await waitUntil(() => sem.waiting === 1, 10_000, 'the second worker to wait for it');
      return { crash, waiter };
    })();
    for (let i = 0; i < 3; i++) {
      await delay(5);
      gc(); // the main thread's own object goes, unless something keeps it for the pool
    }
    Atomics.store(go, 0, 1); // now let the first worker die holding the unit
    Atomics.notify(go, 0);
    await expect(within(10_000, crash)).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(await within(5_000, waiter, 'the waiting worker')).toBe(0); // its acquireSync got the unit
  });

  it('a Worker you manage yourself: reclaim(threadId) from its exit gives its units back and a blocked waiter proceeds', async () => {
    const sem = new SharedSemaphore(3);
    const go = shared(1);
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       const { SharedSemaphore } = require('threadgate');
       SharedSemaphore.from(workerData.handle).tryAcquire(2);
       Atomics.wait(workerData.go, 0, 0, 10_000); // ends holding both units`,
      { eval: true, workerData: { handle: sem.handle, go } },
    );
    const id = worker.threadId; // -1 by the time 'exit' fires
    const reclaimed = new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', () => resolve(sem.reclaim(id)));
    });
    await waitUntil(() => sem.heldBy(id) === 2, 10_000, 'the worker to take 2 units');
    const waiter = sem.acquire({ weight: 3 });
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    expect(await within(10_000, reclaimed, 'the worker to exit')).toBe(2);
    const permit = await within(2_000, waiter, 'the blocked waiter');
    permit.release();
    expect(sem.available).toBe(3);
    expect(sem.heldBy(id)).toBe(0);
  });

  it('a worker retired by maxTasksPerWorker gives back the units its task left held', async () => {
    const pool = tasksPool({ maxWorkers: 1, maxTasksPerWorker: 1 });
    const sem = new SharedSemaphore(3);
    const first = await within(10_000, pool.submit('leakPermit', sem, 2));
    await waitUntil(() => sem.available === 3, 5_000, 'the retired worker to give its units back');
    expect(await within(10_000, pool.submit('leakPermit', sem, 3))).not.toBe(first); // a fresh worker
    await waitUntil(() => sem.available === 3, 5_000, 'the second retired worker to give its units back');
  });

  it('hand-off: units a worker took and another thread gave back are not given back again when it exits', async () => {
    const pool = tasksPool({ maxWorkers: 1, maxTasksPerWorker: 1 });
    const sem = new SharedSemaphore(3);
    const worker = await within(10_000, pool.submit('leakPermit', sem, 2));
    sem.release(2); // on the worker's behalf
    const mine = sem.tryAcquire(2); // the main thread holds them now
    expect(mine?.weight).toBe(2);
    await waitUntil(() => sem.heldBy(worker) === 0, 5_000, 'the retired worker to be reclaimed');
    expect(sem.available).toBe(1); // giving the worker's 2 back again would make 5 of 3
    expect(sem.tryAcquire(2)).toBeUndefined();
    mine?.release();
    expect(sem.available).toBe(3);
  });

  it('hand-off, over and over: the units a worker is recorded to hold stay bounded', async () => {
    const pool = tasksPool({ maxWorkers: 1 });
    const sem = new SharedSemaphore(2);
    let worker = -1;
    for (let round = 0; round < 50; round++) {
      worker = await within(10_000, pool.submit('leakPermit', sem, 1));
      sem.release(); // the main thread gives back what the worker took
    }
    expect(sem.available).toBe(2);
    expect(sem.heldBy(worker)).toBeLessThanOrEqual(1);
  });

  // Regression: the debt of a hand-off named no thread, and the first worker to exit paid it from
  // its own units, which never came back, while the thread it was for kept a phantom hold.
  it('hand-off debts are booked against the thread they were given back for, not paid by another exiting worker', async () => {
    const sem = new SharedSemaphore(3);
    const poolA = tasksPool({ maxWorkers: 1 });
    const poolB = tasksPool({ maxWorkers: 1 });
    const a = await within(10_000, poolA.submit('leakPermit', sem, 1), 'worker A takes 1');
    const b = await within(10_000, poolB.submit('leakPermit', sem, 1), 'worker B takes 1');
    expect(a).not.toBe(b);
    sem.release(1, { onBehalfOf: a }); // two holders: the main thread names whose unit this is
    expect([sem.heldBy(a), sem.heldBy(b), sem.available]).toEqual([0, 1, 2]);
    await within(10_000, poolB.shutdown(), 'worker B exits');
    await waitUntil(() => sem.heldBy(b) === 0, 5_000, 'worker B to be reclaimed');
    expect(sem.available).toBe(3); // B's own unit came back; it paid nothing for A
    await within(10_000, poolA.shutdown(), 'worker A exits');
    expect(sem.available).toBe(3); // and A's exit gives back nothing twice
    expect(sem.tryAcquire(3)?.weight).toBe(3);
  });

  it('a hand-off with one other holder is booked against it without naming it', async () => {
    const sem = new SharedSemaphore(2);
    const pool = tasksPool({ maxWorkers: 1 });
    const worker = await within(10_000, pool.submit('leakPermit', sem, 2), 'the worker takes 2');
    sem.release(1);
    expect(sem.heldBy(worker)).toBe(1);
    // Its fast give stands aside while it owes: the locked path settles, then gives its last unit.
    expect(await within(10_000, pool.submit('releaseUnits', sem, 1), 'the worker gives back 1')).toBe(0);
    expect([sem.heldBy(worker), sem.available]).toEqual([0, 2]);
    expect(() => sem.release(1, { onBehalfOf: -1 })).toThrow(/options\.onBehalfOf/);
    expect(() => sem.release(1, { behalfOf: 1 } as never)).toThrow(/not an option of release\(\)/);
  });

  it('a holder cancelled (and killed, since it ignores the signal) gives its units back', async () => {
    const pool = tasksPool({ maxWorkers: 1, cancelGraceMs: 20 });
    const sem = new SharedSemaphore(2);
    const holder = pool.submit('holdAndSpin', sem, 2);
    await waitUntil(() => sem.available === 0, 10_000, 'the worker to take both units');
    expect(holder.cancel()).toBe(true);
    await expect(holder).rejects.toMatchObject({ name: 'AbortError' });
    await waitUntil(() => sem.available === 2, 5_000, 'the killed worker to give its units back');
    expect(sem.waiting).toBe(0);
  });

  // Regression: a thread that dies inside a section (out of memory) leaves LOCK held, and the
  // main thread, blocked on it, could never run the exit handler whose reclaim frees it.
  it('the main thread gives up on a lock whose holder died, with a coded error, and reclaim frees it', async () => {
    const run = await runChild('lock-held-child.mjs', 20_000);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { code: string; waitedMs: number; lock: number; available: number; again: number };
    expect(report).toMatchObject({ code: 'ERR_SEMAPHORE_LOCK_HELD', lock: 0, available: 0, again: 2 });
    expect(report.waitedMs).toBeGreaterThanOrEqual(900); // it gave a live holder its time first
  });

  // Regression: a RangeError thrown inside the internal lock left it held, and the next call on
  // any thread blocked forever (a child process: the stall would block this one's event loop).
  it('calls that overflow the stack near its limit leave the lock free and nothing taken or lost', async () => {
    const run = await runChild('stack-limit-child.mjs', 20_000);
    expect(run.stdout).toBe('overflowed true; lock 0; waiting 0; available 2\n');
    expect(run.code).toBe(0);
  });

  it('without WebAssembly (--jitless) works on a bare SharedArrayBuffer, across threads, on the locked path', async () => {
    const run = await runChild('jitless-child.mjs', 20_000, ['--jitless']);
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('worker saw 1 free; after it: 2 free, 0 waiting\n');
  });

  it('a pending async acquire keeps the process alive until it is granted', async () => {
    const run = await runChild('keepalive-child.mjs', 10_000);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/acquired after \d+ ms/);
    expect(Number(/after (\d+)/.exec(run.stdout)?.[1])).toBeGreaterThanOrEqual(250);
  });
});
