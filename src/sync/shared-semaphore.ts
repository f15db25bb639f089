import { threadId as currentThreadId, isMainThread } from 'node:worker_threads';
import { AbortError, AcquireTimeoutError, abortErrorFrom, invalidType, invalidValue, outOfRange, ThreadgateError } from '../errors.js';
import { HANDLE_TAG, type Handle, type Shareable, TO_HANDLE } from '../handles.js';
import { isBeingKilled } from '../task-control.js';
import { checkInteger, checkOptionalDuration, checkOptions, checkSignal, MAX_INT32 } from '../validate.js';
import { holdEventLoop, releaseEventLoop } from './keep-alive.js';
import { Permit } from './permit.js';
import { registerResource, type ThreadScopedResource } from './registry.js';
import { type AcquireOptions, type Semaphore, withPermitOf } from './semaphore.js';

/*
 * ─── Memory layout ────────────────────────────────────────────────────────────────────────────
 * One SharedArrayBuffer, viewed as Int32Array `m`. Links are slot numbers + 1, so 0 means none.
 *
 *   header  m[0..15]
 *     0 MAGIC         0x54475331 ('TGS1'): marks a SharedSemaphore buffer
 *     1 VERSION       layout version (2)
 *     2 CAPACITY      total units, 1..2^31-1
 *     3 LOCK          0 = free, else (threadId + 1) of the thread inside the critical section
 *     4 LOCK_WAITERS  threads blocked (or about to block) on LOCK
 *     5 AVAILABLE     free units
 *     6 HEAD          first slot of the line (the oldest waiting request)
 *     7 TAIL          last slot of the line
 *     8 WAITING       requests in the line right now
 *     9 MAX_HOLDERS   entries in the holder table
 *    10 MAX_WAITERS   waiter slots
 *    11 FREE          first slot of the free list
 *   holder table  MAX_HOLDERS × [ OWNER (threadId+1, 0 = free entry), UNITS held ]
 *   waiter slots  MAX_WAITERS × [ STATE, WEIGHT, OWNER (threadId+1), NEXT, PREV, SEQ ]
 *
 * The line is a doubly linked list threaded through the waiter slots (FIFO: join at TAIL, served
 * at HEAD); unused slots form a singly linked free list. A request that gives up is unlinked in
 * O(1) wherever it stands, so cancelled requests never take room from live ones. SEQ counts the
 * slot's reuses: a waiter remembers it, so a slot reused after a reclaim is never mistaken for
 * its own.
 *
 * ─── Invariants (hold whenever LOCK is 0) ─────────────────────────────────────────────────────
 *   I1  AVAILABLE + Σ UNITS = CAPACITY            (nothing lost, nothing made up)
 *   I2  0 <= AVAILABLE <= CAPACITY
 *   I3  WAITING = slots in the line = slots in state WAITING; every other slot is FREE (in the free
 *       list) or GRANTED (out of the line, not yet read by its waiter)
 *   I4  requests are granted in the order they joined the line; the head blocks everyone behind
 *       it until it can be granted whole (strict FIFO, weights included)
 *   I5  if the line is not empty, AVAILABLE < WEIGHT of the head: a free permit and a grantable
 *       sleeping waiter never coexist (no lost wake-ups). Every path that adds to AVAILABLE or
 *       removes a request runs `grantHead()` before it unlocks.
 *
 * ─── Waiter state machine (one slot per request that has to wait) ────────────────────────────
 *   FREE ──join the line (lock)──▶ WAITING ──grantHead (lock): units moved to owner, notify──▶ GRANTED
 *                                    │                                  waiter reads it (lock) ──▶ FREE
 *                                    └──timeout / abort / reclaim (lock): unlinked, notify──▶ FREE
 *   A waiter that gives up takes the lock and looks: still WAITING → it leaves the line; already
 *   GRANTED → the grant raced the cancel and won: the units are the waiter's, and it keeps them
 *   (a zero timeout) or passes them straight on (a timeout or abort). Either way no permit is
 *   lost or duplicated (the CPython #90155 fix: every waiter has its own state).
 *
 * Every change to shared state happens inside the LOCK critical section, which never calls user
 * code, never allocates on the shared side, and is a few dozen instructions long. A worker that
 * the pool is about to terminate sees KILLING right after taking LOCK and backs out without
 * writing (see task-control.ts); the pool terminates it only while it does not hold LOCK, so a
 * terminated worker can never leave half-written state. If a thread dies holding LOCK anyway (out
 * of memory in the back-out path), `reclaim()` frees it: nothing was written by then.
 *
 * Memory effects: Atomics operations are sequentially consistent, so everything a thread wrote
 * before `release()` is visible to the thread whose acquire that release grants, as with
 * `java.util.concurrent.Semaphore`.
 */
const MAGIC = 0x54475331;
const VERSION = 2;
const M_MAGIC = 0;
const M_VERSION = 1;
const M_CAPACITY = 2;
const M_LOCK = 3;
const M_LOCK_WAITERS = 4;
const M_AVAILABLE = 5;
const M_HEAD = 6;
const M_TAIL = 7;
const M_WAITING = 8;
const M_MAX_HOLDERS = 9;
const M_MAX_WAITERS = 10;
const M_FREE = 11;
const HEADER_WORDS = 16;
const HOLDER_WORDS = 2;
const SLOT_WORDS = 6;
const S_STATE = 0;
const S_WEIGHT = 1;
const S_OWNER = 2;
const S_NEXT = 3;
const S_PREV = 4;
const S_SEQ = 5;

const FREE = 0;
const WAITING = 1;
const GRANTED = 2;

const LOCK_SPINS = 64;
/** Upper bound of one sleep on LOCK: a thread that died holding it is noticed this soon after reclaim. */
const LOCK_SLEEP_MS = 5;

const DEFAULT_MAX_HOLDERS = 256;
const DEFAULT_MAX_WAITERS = 1024;
export const SHARED_SEMAPHORE_KIND = 'SharedSemaphore';

/** The cloneable form of a {@link SharedSemaphore}: pass it anywhere, rebuild with `SharedSemaphore.from`. */
export interface SharedSemaphoreHandle extends Handle {
  readonly buffer: SharedArrayBuffer;
}

/** Options of the {@link SharedSemaphore} constructor. */
export interface SharedSemaphoreOptions {
  /**
   * The most requests that may wait in line at once, across all threads. One more is refused
   * with `ERR_TOO_MANY_WAITERS`. Each costs 24 bytes of shared memory. Default 1024.
   */
  maxWaiters?: number;
  /**
   * The most threads that may hold units at once (one entry each in the holder table). Default 256.
   */
  maxHolders?: number;
}

/** Options of {@link SharedSemaphore.acquireSync}. */
export interface AcquireSyncOptions {
  /** Units to take, 1..capacity. Default 1. */
  weight?: number;
  /** Give up after this many milliseconds, throwing `AcquireTimeoutError`. Default: wait forever. */
  timeoutMs?: number;
  /**
   * `acquireSync` blocks its thread with `Atomics.wait`. On the main thread that freezes the
   * event loop (timers, I/O, every promise), so it is refused unless this is `true`.
   */
  allowMainThread?: boolean;
}

/** A request waiting in line: its slot, the slot's SEQ when it was taken, and the weight. */
interface Ticket {
  slot: number;
  seq: number;
  weight: number;
}

/**
 * A counting semaphore in a `SharedArrayBuffer`, driven by `Atomics`, that gates a finite
 * resource across every thread of the process.
 *
 * **Fairness.** Strictly first-in, first-out across all threads: requests are granted in the
 * order they took their place in line, and a weighted request at the head holds back the lighter
 * ones behind it until it can be granted whole, so heavy requests are never starved. A request
 * that finds nobody waiting and enough units free takes them at once (barging is impossible:
 * with anybody in line, `acquire` and `tryAcquire` queue up or fail).
 *
 * **Cancellation.** A request that times out or is aborted leaves the line and leaves no permit
 * behind; if a grant raced the cancel, the units go straight to the next in line.
 *
 * **Dead holders.** The buffer records how many units each thread holds. When a `WorkerPool`
 * worker exits, the pool gives its units back; for your own `Worker`s call {@link reclaim}.
 *
 * **Memory effects.** Actions in a thread before `release()` happen-before actions after the
 * acquire that the release lets through, in any thread.
 *
 * **Bounded.** Releasing more units than are out throws `ERR_SEMAPHORE_OVER_RELEASE`.
 */
export class SharedSemaphore implements Semaphore, Shareable, ThreadScopedResource {
  readonly #m: Int32Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #maxHolders: number;
  readonly #maxWaiters: number;
  readonly #slotBase: number;
  /** This thread's entry in the holder table, cached; checked on every use. */
  #holderEntry = -1;
  /** Gives units back under LOCK: one function for every Permit of this semaphore. */
  readonly #releaseUnits = (weight: number): void => {
    this.#lock();
    this.#giveBack(weight);
    this.#unlock();
  };

  /**
   * @param capacity how many units may be out at once: an integer from 1 to 2^31-1.
   */
  constructor(capacity: number, options?: SharedSemaphoreOptions) {
    let buffer = adopting;
    adopting = undefined;
    if (buffer === undefined) buffer = createBuffer(capacity, options);
    this.#buffer = buffer;
    this.#m = new Int32Array(buffer);
    this.#maxHolders = this.#m[M_MAX_HOLDERS] as number;
    this.#maxWaiters = this.#m[M_MAX_WAITERS] as number;
    this.#slotBase = HEADER_WORDS + this.#maxHolders * HOLDER_WORDS;
    registerResource(this);
  }

  /**
   * Rebuilds a semaphore on the memory of a handle (from `sem.handle`, possibly in another
   * thread). The buffer is validated: a foreign, truncated or newer-layout buffer is rejected with
   * `ERR_INVALID_HANDLE`, never silently used.
   */
  static from(handle: SharedSemaphoreHandle): SharedSemaphore {
    adopting = validateHandle(handle);
    return new SharedSemaphore(1);
  }

  /** The cloneable form of this semaphore; send it anywhere and call `SharedSemaphore.from`. */
  get handle(): SharedSemaphoreHandle {
    return { [HANDLE_TAG]: SHARED_SEMAPHORE_KIND, version: VERSION, buffer: this.#buffer };
  }

  /** @internal Used by the pool to send this semaphore as a task argument. */
  [TO_HANDLE](): SharedSemaphoreHandle {
    return this.handle;
  }

  get capacity(): number {
    return this.#m[M_CAPACITY] as number;
  }

  get available(): number {
    return Atomics.load(this.#m, M_AVAILABLE);
  }

  get waiting(): number {
    return Atomics.load(this.#m, M_WAITING);
  }

  /** Units held by thread `threadId` right now (0 for the main thread's id). */
  heldBy(threadId: number): number {
    const m = this.#m;
    for (let e = 0; e < this.#maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS;
      if (Atomics.load(m, at) === threadId + 1) return Atomics.load(m, at + 1);
    }
    return 0;
  }

  tryAcquire(weight = 1): Permit | undefined {
    if (weight !== 1) this.#checkWeight('weight', weight); // 1 is always valid: capacity >= 1
    this.#lock();
    const m = this.#m;
    let took = false;
    // Only with nobody in line: a free unit never lets a newcomer overtake a waiter (I4).
    if (m[M_HEAD] === 0 && (m[M_AVAILABLE] as number) >= weight) {
      this.#take(weight);
      took = true;
    }
    this.#unlock();
    return took ? this.#permit(weight) : undefined;
  }

  acquire(options?: AcquireOptions): Promise<Permit> {
    let weight: number;
    let timeoutMs: number | undefined;
    let signal: AbortSignal | undefined;
    try {
      ({ weight, timeoutMs, signal } = this.#checkAcquire(options));
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(abortErrorFrom(signal));
    let ticket: Ticket | undefined;
    try {
      ticket = this.#enter(weight);
    } catch (err) {
      return Promise.reject(err);
    }
    if (ticket === undefined) return Promise.resolve(this.#permit(weight));
    if (timeoutMs === 0) {
      // Granted between joining the line and leaving it: the units are ours, keep them.
      if (!this.#cancel(ticket)) return Promise.resolve(this.#consumeGrant(ticket));
      return Promise.reject(new AcquireTimeoutError(0));
    }
    return this.#waitAsync(ticket, timeoutMs, signal);
  }

  /**
   * Waits for `weight` units, blocking this thread with `Atomics.wait` (for worker threads,
   * whose task has nothing else to do meanwhile). Refused on the main thread unless
   * `allowMainThread` is set. Throws `AcquireTimeoutError` on timeout.
   */
  acquireSync(options?: AcquireSyncOptions): Permit {
    const opts = checkOptions<AcquireSyncOptions>('options', options);
    const weight = opts.weight ?? 1;
    this.#checkWeight('options.weight', weight);
    const timeoutMs = checkOptionalDuration('options.timeoutMs', opts.timeoutMs) ?? Number.POSITIVE_INFINITY;
    if (isMainThread && opts.allowMainThread !== true) {
      const err = invalidValue(
        'options.allowMainThread',
        opts.allowMainThread,
        'true to block the main thread (acquireSync freezes its event loop; use `await sem.acquire()` there)',
      );
      throw err;
    }
    const ticket = this.#enter(weight);
    if (ticket === undefined) return this.#permit(weight);
    const m = this.#m;
    const state = this.#slotWord(ticket.slot, S_STATE);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const s = this.#stateOf(ticket);
      if (s === GRANTED) return this.#consumeGrant(ticket);
      if (s !== WAITING) throw revoked();
      const left = deadline - performance.now();
      if (left <= 0) {
        if (this.#cancel(ticket)) throw new AcquireTimeoutError(timeoutMs);
        return this.#consumeGrant(ticket); // granted while timing out: the grant wins
      }
      Atomics.wait(m, state, WAITING, left === Number.POSITIVE_INFINITY ? undefined : left);
    }
  }

  withPermit<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    return withPermitOf(this, fn, options);
  }

  /**
   * Gives back `n` units taken without a `Permit` (or on another thread's behalf). Throws
   * `ERR_SEMAPHORE_OVER_RELEASE` when fewer than `n` units are out, changing nothing.
   */
  release(n = 1): void {
    checkInteger('n', n, 1, MAX_INT32);
    this.#lock();
    const m = this.#m;
    const out = (m[M_CAPACITY] as number) - (m[M_AVAILABLE] as number);
    if (n > out) {
      this.#unlock();
      throw overRelease(n, out);
    }
    this.#giveBack(n);
    this.#unlock();
  }

  /**
   * Gives back every unit thread `threadId` holds and drops its waiting requests, waking the
   * waiters that can now go. For threads that have exited: `WorkerPool` calls this for its own
   * workers; call it from a `Worker`'s `'exit'` handler for threads you manage yourself.
   * Returns how many units came back.
   */
  reclaim(threadId: number): number {
    checkInteger('threadId', threadId, 0);
    const owner = threadId + 1;
    const m = this.#m;
    // A dead thread can only have held LOCK in its back-out path, having written nothing.
    if (Atomics.compareExchange(m, M_LOCK, owner, 0) === owner) Atomics.notify(m, M_LOCK);
    this.#lock();
    let units = 0;
    for (let e = 0; e < this.#maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS;
      if (m[at] !== owner) continue;
      units = m[at + 1] as number;
      m[at + 1] = 0;
      Atomics.store(m, at, 0);
    }
    m[M_AVAILABLE] = (m[M_AVAILABLE] as number) + units; // I1: its units are free again
    for (let slot = 0; slot < this.#maxWaiters; slot++) {
      const base = this.#slotBase + slot * SLOT_WORDS;
      if (m[base + S_OWNER] !== owner) continue;
      const s = m[base + S_STATE];
      if (s === WAITING) {
        this.#unlink(slot); // leaves the line (I3)
        m[M_WAITING] = (m[M_WAITING] as number) - 1;
        this.#free(slot);
      } else if (s === GRANTED) {
        this.#free(slot); // granted but never read: its units were counted above
      }
    }
    this.#grantHead();
    this.#unlock();
    return units;
  }

  /** @internal For the pool: true while thread `threadId` is inside this semaphore's critical section. */
  isLockedBy(threadId: number): boolean {
    return Atomics.load(this.#m, M_LOCK) === threadId + 1;
  }

  // ─── waiting ──────────────────────────────────────────────────────────────────────────────

  #waitAsync(ticket: Ticket, timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<Permit> {
    const m = this.#m;
    const state = this.#slotWord(ticket.slot, S_STATE);
    return new Promise<Permit>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        releaseEventLoop();
      };
      const giveUp = (error: Error): void => {
        if (settled) return;
        finish();
        if (!this.#cancel(ticket)) this.#consumeGrant(ticket).release(); // the grant won the race: pass the units on
        reject(error);
      };
      const onAbort = (): void => giveUp(abortErrorFrom(signal as AbortSignal));
      const watch = (): void => {
        if (settled) return;
        const s = this.#stateOf(ticket);
        if (s === GRANTED) {
          finish();
          resolve(this.#consumeGrant(ticket));
          return;
        }
        if (s !== WAITING) {
          finish();
          reject(revoked());
          return;
        }
        const result = Atomics.waitAsync(m, state, WAITING);
        if (result.async) result.value.then(watch);
        else queueMicrotask(watch);
      };
      holdEventLoop();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined && timeoutMs !== Number.POSITIVE_INFINITY) {
        timer = setTimeout(() => giveUp(new AcquireTimeoutError(timeoutMs)), timeoutMs);
      }
      watch();
    });
  }

  // ─── critical sections (all run under LOCK) ───────────────────────────────────────────────

  /** Takes `weight` at once if nobody waits and it is free; otherwise joins the line. */
  #enter(weight: number): Ticket | undefined {
    this.#lock();
    const m = this.#m;
    if (m[M_HEAD] === 0 && (m[M_AVAILABLE] as number) >= weight) {
      this.#take(weight);
      this.#unlock();
      return undefined;
    }
    const free = m[M_FREE] as number;
    if (free === 0) {
      this.#unlock();
      throw new ThreadgateError(
        'ERR_TOO_MANY_WAITERS',
        `too many requests are waiting on this semaphore (maxWaiters: ${this.#maxWaiters}); raise options.maxWaiters`,
      );
    }
    this.#claimEntry(currentThreadId + 1); // reserve now (may throw, before any write): a grant must never find the table full
    const slot = free - 1;
    const base = this.#slotBase + slot * SLOT_WORDS;
    m[M_FREE] = m[base + S_NEXT] as number; // off the free list
    const seq = ((m[base + S_SEQ] as number) + 1) | 0;
    Atomics.store(m, base + S_SEQ, seq); // a new life for this slot, before it can be granted
    m[base + S_WEIGHT] = weight;
    m[base + S_OWNER] = currentThreadId + 1;
    m[base + S_NEXT] = 0;
    m[base + S_PREV] = m[M_TAIL] as number;
    if (m[M_TAIL] === 0) m[M_HEAD] = free;
    else m[this.#slotBase + ((m[M_TAIL] as number) - 1) * SLOT_WORDS + S_NEXT] = free;
    m[M_TAIL] = free; // joins the line at the tail (I4)
    Atomics.store(m, base + S_STATE, WAITING);
    m[M_WAITING] = (m[M_WAITING] as number) + 1; // I3
    this.#unlock();
    return { slot, seq, weight };
  }

  /** Leaves the line. Returns false if the request had been granted meanwhile (the caller owns it). */
  #cancel(ticket: Ticket): boolean {
    this.#lock();
    const s = this.#stateOf(ticket);
    if (s !== WAITING) {
      this.#unlock();
      return s !== GRANTED;
    }
    this.#unlink(ticket.slot); // out of line, wherever it stood (I3)
    this.#m[M_WAITING] = (this.#m[M_WAITING] as number) - 1;
    this.#free(ticket.slot);
    this.#grantHead(); // a heavy head leaving may let the next ones through (I5)
    this.#unlock();
    return true;
  }

  /** Grants the head of the line while it fits. Restores I5. */
  #grantHead(): void {
    const m = this.#m;
    for (let head = m[M_HEAD] as number; head !== 0; head = m[M_HEAD] as number) {
      const base = this.#slotBase + (head - 1) * SLOT_WORDS;
      const weight = m[base + S_WEIGHT] as number;
      if ((m[M_AVAILABLE] as number) < weight) return; // FIFO: the head blocks everyone behind it (I4)
      this.#unlink(head - 1);
      m[M_WAITING] = (m[M_WAITING] as number) - 1;
      m[M_AVAILABLE] = (m[M_AVAILABLE] as number) - weight;
      this.#addUnits(m[base + S_OWNER] as number, weight); // I1: units move to the waiter's thread
      Atomics.store(m, base + S_STATE, GRANTED);
      Atomics.notify(m, base + S_STATE, 1); // wakes exactly that waiter: no herd, no lost wake-up
    }
  }

  /** Takes a slot out of the line (O(1), from anywhere in it). */
  #unlink(slot: number): void {
    const m = this.#m;
    const base = this.#slotBase + slot * SLOT_WORDS;
    const next = m[base + S_NEXT] as number;
    const prev = m[base + S_PREV] as number;
    if (prev === 0) m[M_HEAD] = next;
    else m[this.#slotBase + (prev - 1) * SLOT_WORDS + S_NEXT] = next;
    if (next === 0) m[M_TAIL] = prev;
    else m[this.#slotBase + (next - 1) * SLOT_WORDS + S_PREV] = prev;
  }

  /** Puts a slot on the free list and wakes anyone still watching it. */
  #free(slot: number): void {
    const m = this.#m;
    const base = this.#slotBase + slot * SLOT_WORDS;
    m[base + S_OWNER] = 0;
    m[base + S_NEXT] = m[M_FREE] as number;
    m[M_FREE] = slot + 1;
    Atomics.store(m, base + S_STATE, FREE);
    Atomics.notify(m, base + S_STATE); // a waiter that was reclaimed sees it has lost its place
  }

  #take(weight: number): void {
    const m = this.#m;
    const at = HEADER_WORDS + this.#claimEntry(currentThreadId + 1) * HOLDER_WORDS + 1; // may throw: before any write
    m[M_AVAILABLE] = (m[M_AVAILABLE] as number) - weight;
    m[at] = (m[at] as number) + weight; // I1: the units move from AVAILABLE to this thread
  }

  /** Returns `n` units (n <= units out): this thread's first, then any other holder's. */
  #giveBack(n: number): void {
    const m = this.#m;
    let rest = n;
    const own = this.#findEntry(currentThreadId + 1);
    if (own >= 0) {
      const at = HEADER_WORDS + own * HOLDER_WORDS + 1;
      const fromOwn = Math.min(rest, m[at] as number);
      m[at] = (m[at] as number) - fromOwn;
      rest -= fromOwn;
    }
    // Released on another thread's behalf (a hand-off): keep I1 exact by debiting other holders.
    for (let e = 0; rest > 0 && e < this.#maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS + 1;
      const take = Math.min(rest, m[at] as number);
      m[at] = (m[at] as number) - take;
      rest -= take;
    }
    m[M_AVAILABLE] = (m[M_AVAILABLE] as number) + n;
    this.#grantHead(); // I5
  }

  /** Credits units to a waiter's thread; its entry was claimed when it queued. */
  #addUnits(owner: number, units: number): void {
    const at = HEADER_WORDS + this.#claimEntry(owner) * HOLDER_WORDS + 1;
    this.#m[at] = (this.#m[at] as number) + units;
  }

  /** The holder-table entry of `owner`, or -1. Under LOCK. */
  #findEntry(owner: number): number {
    const m = this.#m;
    const mine = owner === currentThreadId + 1;
    const cached = this.#holderEntry;
    if (mine && cached >= 0 && m[HEADER_WORDS + cached * HOLDER_WORDS] === owner) return cached;
    for (let e = 0; e < this.#maxHolders; e++) {
      if (m[HEADER_WORDS + e * HOLDER_WORDS] === owner) {
        if (mine) this.#holderEntry = e;
        return e;
      }
    }
    return -1;
  }

  /** The holder-table entry of `owner`, claiming a free one if it has none. Under LOCK; throws (unlocked) when full. */
  #claimEntry(owner: number): number {
    const found = this.#findEntry(owner);
    if (found >= 0) return found;
    const m = this.#m;
    for (let e = 0; e < this.#maxHolders; e++) {
      if (m[HEADER_WORDS + e * HOLDER_WORDS] !== 0) continue;
      Atomics.store(m, HEADER_WORDS + e * HOLDER_WORDS, owner);
      if (owner === currentThreadId + 1) this.#holderEntry = e;
      return e;
    }
    this.#unlock();
    throw new ThreadgateError(
      'ERR_TOO_MANY_HOLDERS',
      `too many threads hold this semaphore at once (maxHolders: ${this.#maxHolders}); raise options.maxHolders`,
    );
  }

  // ─── the internal lock ────────────────────────────────────────────────────────────────────

  /**
   * Takes LOCK (a futex-style mutex that records its owner). Spins briefly, then sleeps on the
   * word; LOCK_WAITERS tells the unlocker whether anyone needs a notify. A thread being killed
   * by its pool backs out right after taking the lock, having written nothing.
   */
  #lock(): void {
    const m = this.#m;
    const me = currentThreadId + 1;
    if (Atomics.compareExchange(m, M_LOCK, 0, me) !== 0) {
      let spins = LOCK_SPINS;
      let owner = Atomics.compareExchange(m, M_LOCK, 0, me);
      while (owner !== 0 && spins-- > 0) owner = Atomics.compareExchange(m, M_LOCK, 0, me);
      if (owner !== 0) {
        Atomics.add(m, M_LOCK_WAITERS, 1); // announce before the last try: the unlocker will notify
        while ((owner = Atomics.compareExchange(m, M_LOCK, 0, me)) !== 0) {
          Atomics.wait(m, M_LOCK, owner, LOCK_SLEEP_MS);
        }
        Atomics.sub(m, M_LOCK_WAITERS, 1);
      }
    }
    // Only pool workers are ever terminated mid-task; the main thread need not look.
    if (!isMainThread && isBeingKilled()) {
      this.#unlock();
      throw new AbortError('this task is being stopped by its pool');
    }
  }

  #unlock(): void {
    const m = this.#m;
    Atomics.store(m, M_LOCK, 0);
    if (Atomics.load(m, M_LOCK_WAITERS) > 0) Atomics.notify(m, M_LOCK, 1);
  }

  // ─── helpers ──────────────────────────────────────────────────────────────────────────────

  /** Reads a granted request's units into a Permit and frees its slot. */
  #consumeGrant(ticket: Ticket): Permit {
    this.#lock();
    this.#free(ticket.slot);
    this.#unlock();
    return this.#permit(ticket.weight);
  }

  /** The state of a waiter's request; FREE if its slot has moved on to another life (reclaimed). */
  #stateOf(ticket: Ticket): number {
    const base = this.#slotBase + ticket.slot * SLOT_WORDS;
    const state = Atomics.load(this.#m, base + S_STATE);
    return Atomics.load(this.#m, base + S_SEQ) === ticket.seq ? state : FREE;
  }

  #permit(weight: number): Permit {
    return new Permit(weight, this.#releaseUnits);
  }

  #slotWord(slot: number, word: number): number {
    return this.#slotBase + slot * SLOT_WORDS + word;
  }

  #checkWeight(name: string, weight: unknown): void {
    checkInteger(name, weight, 1, MAX_INT32);
    if ((weight as number) > this.capacity) throw outOfRange(name, weight, `an integer from 1 to the capacity (${this.capacity})`);
  }

  #checkAcquire(options: AcquireOptions | undefined): AcquireOptions & { weight: number } {
    const opts = checkOptions<AcquireOptions>('options', options);
    const weight = opts.weight ?? 1;
    this.#checkWeight('options.weight', weight);
    const timeoutMs = checkOptionalDuration('options.timeoutMs', opts.timeoutMs);
    const signal = checkSignal('options.signal', opts.signal);
    return { weight, timeoutMs, signal };
  }
}

/** Set by `from()` for the one constructor call that adopts an existing, validated buffer. */
let adopting: SharedArrayBuffer | undefined;

function createBuffer(capacity: number, options: SharedSemaphoreOptions | undefined): SharedArrayBuffer {
  checkInteger('capacity', capacity, 1, MAX_INT32);
  const opts = checkOptions<SharedSemaphoreOptions>('options', options);
  const maxWaiters = checkInteger('options.maxWaiters', opts.maxWaiters ?? DEFAULT_MAX_WAITERS, 1, 2 ** 20);
  const maxHolders = checkInteger('options.maxHolders', opts.maxHolders ?? DEFAULT_MAX_HOLDERS, 1, 2 ** 16);
  const buffer = new SharedArrayBuffer(bytesFor(maxHolders, maxWaiters));
  const m = new Int32Array(buffer);
  m[M_VERSION] = VERSION;
  m[M_CAPACITY] = capacity;
  m[M_AVAILABLE] = capacity;
  m[M_MAX_HOLDERS] = maxHolders;
  m[M_MAX_WAITERS] = maxWaiters;
  const slotBase = HEADER_WORDS + maxHolders * HOLDER_WORDS;
  for (let slot = 0; slot < maxWaiters; slot++) m[slotBase + slot * SLOT_WORDS + S_NEXT] = slot + 2 > maxWaiters ? 0 : slot + 2;
  m[M_FREE] = 1; // every slot on the free list, in order
  Atomics.store(m, M_MAGIC, MAGIC); // last: a half-built buffer never passes validation
  return buffer;
}

function bytesFor(maxHolders: number, maxWaiters: number): number {
  return (HEADER_WORDS + maxHolders * HOLDER_WORDS + maxWaiters * SLOT_WORDS) * 4;
}

function revoked(): AbortError {
  return new AbortError('the wait was cancelled: its thread was reclaimed (reclaim() is for threads that have exited)');
}

function validateHandle(handle: unknown): SharedSemaphoreHandle['buffer'] {
  const expected = 'a SharedSemaphore handle (from `sem.handle`)';
  if (typeof handle !== 'object' || handle === null) throw invalidType('handle', handle, expected);
  const h = handle as Partial<SharedSemaphoreHandle>;
  if (h[HANDLE_TAG] !== SHARED_SEMAPHORE_KIND) throw invalidValue('handle', handle, expected);
  const buffer = h.buffer;
  if (!(buffer instanceof SharedArrayBuffer)) throw invalidType('handle.buffer', buffer, 'a SharedArrayBuffer');
  const fail = (why: string): never => {
    throw new ThreadgateError('ERR_INVALID_HANDLE', `handle.buffer is not a usable SharedSemaphore buffer: ${why}`);
  };
  if (buffer.byteLength < HEADER_WORDS * 4) fail(`it is ${buffer.byteLength} bytes, shorter than the header`);
  const m = new Int32Array(buffer);
  if (Atomics.load(m, M_MAGIC) !== MAGIC) fail('the marker is missing (not made by SharedSemaphore)');
  if (m[M_VERSION] !== VERSION) fail(`layout version ${m[M_VERSION]} is not the supported version ${VERSION}`);
  const capacity = m[M_CAPACITY] as number;
  const holders = m[M_MAX_HOLDERS] as number;
  const waiters = m[M_MAX_WAITERS] as number;
  if (capacity < 1 || holders < 1 || waiters < 1) fail('the header is corrupt');
  const bytes = bytesFor(holders, waiters);
  if (buffer.byteLength < bytes) fail(`it is ${buffer.byteLength} bytes; its header needs ${bytes}`);
  return buffer;
}

function overRelease(n: number, out: number): ThreadgateError {
  return new ThreadgateError(
    'ERR_SEMAPHORE_OVER_RELEASE',
    `cannot release ${n} unit(s): only ${out} ${out === 1 ? 'is' : 'are'} out (a bounded semaphore never exceeds its capacity)`,
  );
}
