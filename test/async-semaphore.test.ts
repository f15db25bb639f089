import { inspect } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AbortError, AcquireTimeoutError, AsyncSemaphore, Permit, type Semaphore, SharedSemaphore } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { waitUntil, within } from './helpers.js';

describe('AsyncSemaphore', () => {
  it.each([
    [0, 'RangeError'],
    [-3, 'RangeError'],
    [2.5, 'RangeError'],
    [2 ** 31, 'RangeError'],
    [undefined, 'TypeError'],
  ])('refuses capacity %o with a %s naming it', (capacity, type) => {
    expect(() => new AsyncSemaphore(capacity as number)).toThrow(
      expect.objectContaining({ name: type, message: expect.stringContaining('capacity must be') }),
    );
  });

  it('refuses bad weights, timeouts and signals, taking nothing', async () => {
    const sem = new AsyncSemaphore(2);
    for (const weight of [0, 3, 0.5, null as never]) {
      expect(() => sem.tryAcquire(weight)).toThrow(/weight must be an integer from 1 to the capacity \(2\)/);
      await expect(sem.acquire({ weight })).rejects.toThrow(/options\.weight/);
    }
    for (const options of [undefined, { timeoutMs: 10 }]) {
      await expect(sem.withPermit(42 as never, options)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARG_TYPE',
        message: /fn must be a function/,
      });
    }
    await expect(sem.acquire({ timeoutMs: -1 })).rejects.toThrow(/options\.timeoutMs/);
    await expect(sem.acquire({ signal: 1 as never })).rejects.toThrow(/options\.signal/);
    await expect(sem.acquire({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(sem.available).toBe(2);
    expect(sem.waiting).toBe(0);
  });

  it('is FIFO with weights; a heavy head is not starved by light newcomers', async () => {
    const sem = new AsyncSemaphore(3);
    const first = sem.tryAcquire(1);
    const order: string[] = [];
    const heavy = sem.acquire({ weight: 3 }).then((p) => {
      order.push('heavy');
      return p;
    });
    const light = sem.acquire({ weight: 1 }).then((p) => {
      order.push('light');
      return p;
    });
    expect(sem.tryAcquire(1)).toBeUndefined(); // 2 free, but newcomers queue behind the heavy head
    first?.release();
    (await within(1_000, heavy)).release();
    (await within(1_000, light)).release();
    expect(order).toEqual(['heavy', 'light']);
    expect(sem.available).toBe(3);
  });

  it('timeout and abort leave nothing behind, also when they race the grant in the same tick', async () => {
    const sem = new AsyncSemaphore(1);
    const held = sem.tryAcquire() as Permit;
    await expect(sem.acquire({ timeoutMs: 20 })).rejects.toBeInstanceOf(AcquireTimeoutError);
    const controller = new AbortController();
    const racing = sem.acquire({ signal: controller.signal });
    held.release(); // grants `racing`...
    controller.abort(); // ...and the abort comes in the same tick: the grant has already won
    const permit = await racing;
    expect(permit.weight).toBe(1);
    permit.release();
    expect(sem.available).toBe(1);
    expect(sem.waiting).toBe(0);
  });

  // Regression: each abandoned request stayed in the line, with its closures, until it reached a
  // head that never moved (~1.2 KB each, without bound).
  it('requests that give up behind a blocked head are let go at once: nothing of theirs stays reachable', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const sem = new AsyncSemaphore(1);
    const held = sem.tryAcquire() as Permit;
    const blocked = sem.acquire(); // a live waiter at the head, behind the held unit
    const signals: WeakRef<AbortSignal>[] = [];
    const granted: number[] = [];
    const live: Promise<void>[] = [];
    for (let i = 0; i < 2_000; i++) {
      // Every 100th request stays in line.
      if (i % 100 === 0)
        live.push(
          sem.acquire().then((permit) => {
            granted.push(i);
            permit.release();
          }),
        );
      const controller = new AbortController();
      signals.push(new WeakRef(controller.signal));
      const gaveUp = sem.acquire({ signal: controller.signal }).catch((e: unknown) => e);
      controller.abort();
      await gaveUp;
    }
    expect(sem.waiting).toBe(21);
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const kept = signals.filter((ref) => ref.deref() !== undefined).length;
    expect(kept).toBeLessThanOrEqual(64); // at most the few the line sweeps out together (see I2)
    held.release();
    (await blocked).release(); // the line still works: the head is granted, then the rest in order
    await within(5_000, Promise.all(live));
    expect(granted).toEqual(Array.from({ length: 20 }, (_, k) => k * 100));
    expect(sem.available).toBe(1);
    expect(sem.waiting).toBe(0);
  });

  it('an aborted head lets the waiters behind it through', async () => {
    const sem = new AsyncSemaphore(2);
    const one = sem.tryAcquire(1);
    const controller = new AbortController();
    const heavy = sem.acquire({ weight: 2, signal: controller.signal });
    const light = sem.acquire({ weight: 1 });
    controller.abort();
    await expect(heavy).rejects.toBeInstanceOf(AbortError);
    (await within(1_000, light)).release();
    one?.release();
    expect(sem.available).toBe(2);
  });

  it('over-release throws and changes nothing; permits are idempotent and disposable', () => {
    const sem = new AsyncSemaphore(2);
    expect(() => sem.release()).toThrow(expect.objectContaining({ code: 'ERR_SEMAPHORE_OVER_RELEASE' }));
    {
      using permit = sem.tryAcquire(2);
      expect(sem.available).toBe(0);
      permit?.release();
      permit?.release();
      expect(sem.available).toBe(2);
    }
    expect(sem.available).toBe(2);
  });

  it("a unit that release() gave back on a holder's behalf is not given back twice, by a permit or a withPermit", async () => {
    for (const sem of [new AsyncSemaphore(2), new SharedSemaphore(2)]) {
      const permit = sem.tryAcquire();
      sem.release(); // the hand-off: somebody gave its unit back for it
      expect(() => permit?.release()).toThrow(expect.objectContaining({ code: 'ERR_SEMAPHORE_OVER_RELEASE' }));
      expect(sem.available).toBe(2);

      let finish: ((value: number) => void) | undefined;
      const held = sem.withPermit(() => new Promise<number>((resolve) => (finish = resolve)));
      await waitUntil(() => finish !== undefined, 1_000, 'the call to start');
      sem.release(); // gives back the unit the running call holds
      finish?.(5);
      await expect(within(1_000, held)).rejects.toMatchObject({ code: 'ERR_SEMAPHORE_OVER_RELEASE' });
      expect(sem.available).toBe(2); // never above the capacity
      expect(sem.tryAcquire(2)?.weight).toBe(2);
    }
  });

  it('a permit is a Permit that reads its weight and state, from either semaphore; only semaphores make one', async () => {
    for (const sem of [new AsyncSemaphore(3), new SharedSemaphore(3)]) {
      const permit = await sem.acquire({ weight: 2 });
      expect(permit).toBeInstanceOf(Permit);
      expect([permit.weight, permit.released, sem.available]).toEqual([2, false, 1]);
      permit.release();
      expect([permit.weight, permit.released, sem.available]).toEqual([2, true, 3]);
      expect(Object.keys(permit)).toEqual([]);
      expect(inspect(permit)).toBe('Permit { weight: 2, released: true }');
    }
    expect(() => new (Permit as unknown as new () => Permit)()).toThrow(
      expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('acquire()') }),
    );
  });

  it('withPermit releases on success and failure', async () => {
    const sem = new AsyncSemaphore(1);
    expect(await sem.withPermit(async () => 7)).toBe(7);
    await expect(sem.withPermit(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(sem.available).toBe(1);
    // The unit is back by the time the caller resumes, also on the queued path.
    const seen: number[] = [];
    for (const fn of [async () => 1, async () => Promise.reject(new Error('y'))]) {
      const held = sem.tryAcquire();
      const queued = sem.withPermit(fn).then(
        () => seen.push(sem.available),
        () => seen.push(sem.available),
      );
      held?.release();
      await queued;
    }
    expect(seen).toEqual([1, 1]);
  });

  it('withPermit keeps FIFO with acquire waiters, never runs fn inside a release(), and frees the unit on a sync throw', async () => {
    const sem = new AsyncSemaphore(1);
    const order: string[] = [];
    const held = sem.tryAcquire() as Permit;
    const a = sem.withPermit(() => void order.push('withPermit a'));
    const b = sem.acquire().then((p) => {
      order.push('acquire b');
      p.release();
    });
    const c = sem.withPermit(() => {
      order.push('withPermit c');
      throw new RangeError('sync throw');
    });
    const d = sem.withPermit(async () => void order.push('withPermit d'));
    held.release();
    order.push('after release()'); // a was granted by that release, but must not run inside it
    await Promise.all([a, b, expect(c).rejects.toThrow('sync throw'), d]);
    expect(order).toEqual(['after release()', 'withPermit a', 'acquire b', 'withPermit c', 'withPermit d']);
    expect(sem.available).toBe(1);
    expect(sem.waiting).toBe(0);
  });

  it('withPermit functions start in the order of their calls, also when a later call finds a free unit', async () => {
    const sem = new AsyncSemaphore(2);
    const order: string[] = [];
    const first = sem.tryAcquire() as Permit;
    const second = sem.tryAcquire() as Permit;
    const a = sem.withPermit(() => void order.push('a'));
    first.release(); // grants a, which starts in a later microtask
    second.release(); // a free unit, and nobody waiting
    const b = sem.withPermit(() => void order.push('b'));
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    expect(sem.available).toBe(2);
  });

  it('serves a burst of 100k queued waiters in order', async () => {
    const sem = new AsyncSemaphore(1);
    const held = sem.tryAcquire() as Permit;
    let next = 0;
    let inOrder = true;
    const all = Array.from({ length: 100_000 }, (_, i) =>
      sem.acquire().then((p) => {
        if (i !== next++) inOrder = false;
        p.release();
      }),
    );
    expect(sem.waiting).toBe(100_000);
    held.release();
    await within(10_000, Promise.all(all));
    expect(inOrder).toBe(true);
    expect(sem.available).toBe(1);
  });

  it('code can take either semaphore through the Semaphore interface', async () => {
    const limit = async (sem: Semaphore): Promise<number> => {
      let running = 0;
      let max = 0;
      await Promise.all(
        Array.from({ length: 10 }, () =>
          sem.withPermit(async () => {
            max = Math.max(max, ++running);
            await new Promise((resolve) => setTimeout(resolve, 2));
            running--;
          }),
        ),
      );
      return max;
    };
    expect(await limit(new AsyncSemaphore(3))).toBe(3);
    expect(await limit(new SharedSemaphore(3))).toBe(3);
  });
});
