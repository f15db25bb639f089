import { AbortError, AcquireTimeoutError, AsyncSemaphore, type Permit, SharedSemaphore } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { delay, within } from './helpers.js';

/** Node 20's type definitions have no WebAssembly namespace. */
const Wasm = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer } };
  }
).WebAssembly;

describe('SharedSemaphore: construction and bad input', () => {
  it.each([
    [0, 'RangeError'],
    [-1, 'RangeError'],
    [1.5, 'RangeError'],
    [2 ** 31, 'RangeError'],
    ['3', 'TypeError'],
    [Number.NaN, 'TypeError'],
  ])('capacity %o is refused with a %s naming it', (capacity, type) => {
    expect(() => new SharedSemaphore(capacity as number)).toThrow(
      expect.objectContaining({ name: type, message: expect.stringContaining('capacity must be') }),
    );
  });

  it('accepts the largest capacity, 2^31-1', () => {
    const sem = new SharedSemaphore(2 ** 31 - 1);
    expect(sem.capacity).toBe(2 ** 31 - 1);
    expect(sem.available).toBe(2 ** 31 - 1);
  });

  it('refuses bad weights, timeouts and signals in every method', async () => {
    const sem = new SharedSemaphore(3);
    for (const weight of [0, 4, 1.5, -1, null as never]) {
      expect(() => sem.tryAcquire(weight)).toThrow(/weight must be an integer from 1 to the capacity \(3\)/);
      await expect(sem.acquire({ weight })).rejects.toThrow(/options\.weight must be an integer from 1 to the capacity \(3\)/);
      expect(() => sem.acquireSync({ weight, allowMainThread: true })).toThrow(/options\.weight/);
    }
    await expect(sem.withPermit(42 as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: /fn must be a function/ });
    await expect(sem.acquire({ timeoutMs: -1 })).rejects.toThrow(/options\.timeoutMs must be a number of milliseconds >= 0/);
    await expect(sem.acquire({ signal: 'stop' as never })).rejects.toThrow(/options\.signal must be an AbortSignal/);
    expect(() => sem.release(0)).toThrow(/n must be an integer from 1/);
    expect(() => sem.release(1.5)).toThrow(RangeError);
    expect(() => sem.heldBy('x' as never)).toThrow(/threadId must be an integer/);
    expect(() => sem.heldBy(-1)).toThrow(/threadId must be an integer/);
    expect(sem.available).toBe(3); // nothing was taken by any refused call
  });

  it('an already-aborted signal rejects at once with AbortError and takes nothing', async () => {
    const sem = new SharedSemaphore(1);
    const reason = new Error('why');
    const error = (await sem.acquire({ signal: AbortSignal.abort(reason) }).catch((e: unknown) => e)) as AbortError;
    expect(error).toBeInstanceOf(AbortError);
    expect(error.cause).toBe(reason);
    expect(sem.available).toBe(1);
    expect(sem.waiting).toBe(0);
  });
});

describe('SharedSemaphore: methods', () => {
  it('tryAcquire takes units only when free, and never overtakes a waiter', async () => {
    const sem = new SharedSemaphore(2);
    const a = sem.tryAcquire();
    const b = sem.tryAcquire();
    expect(a?.weight).toBe(1);
    expect(b).toBeDefined();
    expect(sem.tryAcquire()).toBeUndefined();
    const heavy = sem.acquire({ weight: 2 });
    a?.release();
    expect(sem.available).toBe(1);
    expect(sem.tryAcquire()).toBeUndefined(); // one unit is free, but the heavy request is first in line
    b?.release();
    const permit = await within(1_000, heavy);
    expect(permit.weight).toBe(2);
    permit.release();
    expect(sem.available).toBe(2);
  });

  it('acquire resolves in FIFO order with weights', async () => {
    const sem = new SharedSemaphore(3);
    const all = sem.tryAcquire(3);
    const order: string[] = [];
    const logged = (label: string) => (permit: Permit) => {
      order.push(label);
      return permit;
    };
    const p1 = sem.acquire({ weight: 2 }).then(logged('first:2'));
    const p2 = sem.acquire({ weight: 1 }).then(logged('second:1'));
    const p3 = sem.acquire({ weight: 3 }).then(logged('third:3'));
    expect(sem.waiting).toBe(3);
    all?.release();
    const [a, b] = await within(1_000, Promise.all([p1, p2]));
    expect(order).toEqual(['first:2', 'second:1']);
    a.release();
    b.release();
    (await within(1_000, p3)).release();
    expect(order).toEqual(['first:2', 'second:1', 'third:3']);
    expect(sem.available).toBe(3);
  });

  it('release is idempotent on a permit, and disposable with using', async () => {
    const sem = new SharedSemaphore(1);
    {
      using permit = await sem.acquire();
      expect(sem.available).toBe(0);
      permit.release();
      permit.release();
      expect(permit.released).toBe(true);
      expect(sem.available).toBe(1);
    }
    {
      using _held = sem.tryAcquire();
      expect(sem.available).toBe(0);
    }
    expect(sem.available).toBe(1);
  });

  it('raw release throws on over-release and changes nothing', () => {
    const sem = new SharedSemaphore(2);
    expect(() => sem.release()).toThrow(expect.objectContaining({ code: 'ERR_SEMAPHORE_OVER_RELEASE' }));
    sem.tryAcquire(2);
    expect(() => sem.release(3)).toThrow(/only 2 are out/);
    expect(sem.available).toBe(0);
    sem.release(2);
    expect(sem.available).toBe(2);
  });

  it('a Permit whose units were already released on its behalf throws on release and changes nothing', () => {
    const sem = new SharedSemaphore(2);
    const permit = sem.tryAcquire();
    sem.release(); // the hand-off: somebody gave its unit back for it
    expect(sem.available).toBe(2);
    expect(() => permit?.release()).toThrow(expect.objectContaining({ code: 'ERR_SEMAPHORE_OVER_RELEASE' }));
    expect(sem.available).toBe(2);
    expect(sem.tryAcquire(2)?.weight).toBe(2); // nothing made up, nothing lost
  });

  it('what over-release detection covers: never more than capacity free; a raw release names no holder (README)', () => {
    for (const sem of [new SharedSemaphore(2), new AsyncSemaphore(2)]) {
      const b = sem.tryAcquire(1) as Permit;
      sem.release(1); // on b's behalf
      const c = sem.tryAcquire(2) as Permit;
      b.release(); // the unit given back for b is out again (c's): nothing tells the two apart
      expect(sem.available).toBe(1);
      expect(() => c.release()).toThrow(expect.objectContaining({ code: 'ERR_SEMAPHORE_OVER_RELEASE' })); // 3 > capacity
      expect(sem.available).toBe(1); // the refused give-back changed nothing
    }
  });

  it('withPermit releases however the function ends', async () => {
    const sem = new SharedSemaphore(1);
    expect(await sem.withPermit(() => 'ok')).toBe('ok');
    await expect(sem.withPermit(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(sem.available).toBe(1);
  });

  it('a timed-out acquire rejects with AcquireTimeoutError and leaves nothing behind', async () => {
    const sem = new SharedSemaphore(1);
    const held = sem.tryAcquire();
    const started = performance.now();
    await expect(sem.acquire({ timeoutMs: 50 })).rejects.toBeInstanceOf(AcquireTimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    await expect(sem.acquire({ timeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_ACQUIRE_TIMEOUT' });
    expect(sem.waiting).toBe(0);
    held?.release();
    expect(sem.available).toBe(1);
  });

  it('an aborted acquire leaves the line and the next waiter gets the permit', async () => {
    const sem = new SharedSemaphore(1);
    const held = sem.tryAcquire();
    const controller = new AbortController();
    const aborted = sem.acquire({ signal: controller.signal });
    const next = sem.acquire();
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    expect(sem.waiting).toBe(1);
    held?.release();
    (await within(1_000, next)).release();
    expect(sem.available).toBe(1);
  });

  it('acquireSync is refused on the main thread unless explicitly allowed', () => {
    const sem = new SharedSemaphore(1);
    expect(() => sem.acquireSync()).toThrow(/options\.allowMainThread must be true to block the main thread/);
    const permit = sem.acquireSync({ allowMainThread: true });
    expect(sem.available).toBe(0);
    expect(() => sem.acquireSync({ allowMainThread: true, timeoutMs: 20 })).toThrow(AcquireTimeoutError);
    permit.release();
  });

  it('from() rejects foreign, truncated and future memory, and handles that are not one', () => {
    const good = new SharedSemaphore(2).handle;
    const memory = good.memory as { buffer: SharedArrayBuffer };
    const bytes = memory.buffer.byteLength;
    const bare = (buffer: unknown): never => ({ ...good, memory: undefined, buffer }) as never;
    const copy = (length: number): SharedArrayBuffer => {
      const buffer = new SharedArrayBuffer(length);
      new Uint8Array(buffer).set(new Uint8Array(memory.buffer, 0, length));
      return buffer;
    };
    // A byte copy of a live semaphore's memory would be a second semaphore with its identity.
    expect(() => SharedSemaphore.from(bare(copy(bytes)))).toThrow(/a copy of a SharedSemaphore's memory/);
    expect(() => SharedSemaphore.from(bare(new SharedArrayBuffer(bytes)))).toThrow(/the marker is missing/);
    const foreignMemory = new Wasm.Memory({ initial: 1, maximum: 1, shared: true });
    expect(() => SharedSemaphore.from({ ...good, memory: foreignMemory })).toThrow(/the marker is missing/);
    expect(() => SharedSemaphore.from(bare(copy(200)))).toThrow(/its header needs/);
    expect(() => SharedSemaphore.from(bare(new SharedArrayBuffer(8)))).toThrow(/shorter than the header/);
    const future = copy(bytes);
    new Int32Array(future)[1] = 99;
    expect(() => SharedSemaphore.from(bare(future))).toThrow(/layout version 99/);
    // A forged header: more units free than the capacity (two tryAcquire(3) at capacity 3 both took).
    const forged = new SharedSemaphore(3);
    const forgedWords = new Int32Array((forged.handle.memory as { buffer: SharedArrayBuffer }).buffer);
    const forgedCopy = (edit: (words: Int32Array) => void): SharedArrayBuffer => {
      const buffer = new SharedArrayBuffer(forgedWords.byteLength);
      const words = new Int32Array(buffer);
      words.set(forgedWords);
      words[13] = (words[13] as number) ^ 1; // another identity: not a copy of a live one
      edit(words);
      return buffer;
    };
    expect(() => SharedSemaphore.from(bare(forgedCopy((w) => void (w[5] = 6))))).toThrow(/6 units are free, more than its capacity of 3/);
    expect(() => SharedSemaphore.from(bare(forgedCopy((w) => void (w[12] = -1))))).toThrow(/debt is negative/);
    expect(() => SharedSemaphore.from(bare(forgedCopy((w) => void (w[6] = 5000))))).toThrow(/outside 0\.\.1024/);
    expect(SharedSemaphore.from(bare(forgedCopy(() => {}))).capacity).toBe(3); // a bare buffer is a valid form
    expect(() => SharedSemaphore.from(bare(new ArrayBuffer(64)))).toThrow(/a SharedArrayBuffer/);
    expect(() => SharedSemaphore.from({ ...good, buffer: copy(bytes) })).toThrow(/a memory or a buffer, not both/);
    expect(() => SharedSemaphore.from({ ...good, memory: { buffer: memory.buffer } })).toThrow(/a shared WebAssembly\.Memory/);
    expect(() => SharedSemaphore.from({} as never)).toThrow(/a SharedSemaphore handle/);
    expect(() => SharedSemaphore.from(null as never)).toThrow(TypeError);
  });

  it('from() in a thread that has the semaphore already returns that one', () => {
    const sem = new SharedSemaphore(2);
    expect(SharedSemaphore.from(structuredClone(sem.handle))).toBe(sem);
    expect(SharedSemaphore.from(structuredClone(new SharedSemaphore(2).handle))).not.toBe(sem);
  });

  it('refuses more waiters than maxWaiters with ERR_TOO_MANY_WAITERS, losing nobody in line', async () => {
    const sem = new SharedSemaphore(1, { maxWaiters: 2 });
    const held = sem.tryAcquire();
    const a = sem.acquire();
    const b = sem.acquire();
    await expect(sem.acquire()).rejects.toMatchObject({ code: 'ERR_TOO_MANY_WAITERS' });
    held?.release();
    (await within(1_000, a)).release();
    (await within(1_000, b)).release();
    expect(sem.available).toBe(1);
  });

  it('reclaim gives back what a thread held and drops its waiters', async () => {
    const sem = new SharedSemaphore(3);
    sem.tryAcquire(2);
    expect(sem.heldBy(0)).toBe(2); // the main thread's id is 0
    expect(sem.reclaim(0)).toBe(2);
    expect(sem.available).toBe(3);
    expect(sem.heldBy(0)).toBe(0);
  });

  it('a pending async acquire wakes when another holder releases later', async () => {
    const sem = new SharedSemaphore(1);
    const held = sem.tryAcquire();
    setTimeout(() => held?.release(), 30);
    const permit = await within(2_000, sem.acquire());
    expect(permit.weight).toBe(1);
    permit.release();
    await delay(0);
  });
});
