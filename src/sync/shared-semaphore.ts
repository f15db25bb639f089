import { threadId as currentThreadId, isMainThread } from 'node:worker_threads';
import { whenAborted } from '../abort-listeners.js';
import { AbortError, AcquireTimeoutError, abortErrorFrom, invalidType, invalidValue, ThreadgateError } from '../errors.js';
import { checkInteger, checkOptionalDuration, checkOptions, MAX_INT32, type OptionNames } from '../validate.js';
import { HANDLE_TAG, type Handle, isInstance, KIND, noteShareable, type Shareable, TO_HANDLE } from '../wire/handles.js';
import { enterSection, leaveSection } from '../wire/task-control.js';
import { type FastPaths, fastPathsOn, isWasmMemory, sharedMemory, type WasmMemory } from './fast-path.js';
import { holdEventLoop, releaseEventLoop } from './keep-alive.js';
import { newPermit, type Permit } from './permit.js';
import { registerResource, type ThreadScopedResource } from './registry.js';
import {
  type AcquireOptions,
  checkAcquireOptions,
  checkWeight,
  checkWeightOption,
  type LocalSemaphore,
  overRelease,
  withPermitOf,
} from './semaphore.js';

/*
 * ─── Memory layout ────────────────────────────────────────────────────────────────────────────
 * One SharedArrayBuffer, viewed as Int32Array `m`: the buffer of a shared WebAssembly.Memory, on
 * which the fast paths run (fast-path.ts), or a bare SharedArrayBuffer where this process has no
 * WebAssembly (`--jitless`; every operation then takes the locked path). Links are slot numbers
 * + 1, so 0 means none.
 *
 *   header  m[0..15]
 *     0 MAGIC         0x54475331 ('TGS1'): marks a SharedSemaphore buffer
 *     1 VERSION       layout version (5)
 *     2 CAPACITY      total units, 1..2^31-1
 *     3 LOCK          0 = free, else (threadId + 1) of the thread inside the critical section,
 *                     plus bit 30 CONTENDED once a thread may be asleep on the word
 *     4 PROBE         counts `from()`'s checks that a handle's memory is this very memory, not a copy
 *     5 STATE         bit 31 LINE: somebody waits in line; bits 0..30: AVAILABLE, the free units
 *     6 HEAD          first slot of the line (the oldest waiting request)
 *     7 TAIL          last slot of the line
 *     8 WAITING       requests in the line right now
 *     9 MAX_HOLDERS   entries in the holder table
 *    10 MAX_WAITERS   waiter slots
 *    11 FREE          first slot of the free list
 *    12 DEBT          units given back on another thread's behalf that could not be told whose
 *                     they were (a hand-off with several holders), still counted in some OWN
 *    13 ID_LO, 14 ID_HI  random at creation: `from()` in a thread that already has this
 *                     semaphore returns that object (its fast paths and holder entry set up)
 *   holder table  MAX_HOLDERS × [ OWNER (threadId+1, 0 = free entry), OWN, OWED ]
 *   waiter slots  MAX_WAITERS × [ STATE, WEIGHT, OWNER (threadId+1), NEXT, PREV, SEQ ]
 *
 * OWN counts the units a thread has taken and not given back. Only its own thread writes it
 * (plain stores: nobody else reads it while that thread lives, but for `heldBy`, a snapshot), so
 * the fast paths need no atomic operation for it. OWED counts the units of that OWN that another
 * thread has given back on its behalf (see "Hand-offs"): written by others under LOCK, settled
 * into OWN by the owner under LOCK. Units granted to a waiter stay in its slot (GRANTED, WEIGHT)
 * until the waiter reads them into its OWN.
 *
 * The line is a doubly linked list threaded through the waiter slots (FIFO: join at TAIL, served
 * at HEAD); unused slots form a singly linked free list. A request that gives up is unlinked in
 * O(1) wherever it stands, so cancelled requests never take room from live ones. SEQ counts the
 * slot's reuses: a waiter remembers it, so a slot reused after a reclaim is never mistaken for
 * its own.
 *
 * ─── Invariants (hold whenever LOCK is 0 and no thread is inside a fast path) ────────────────
 *   I1  AVAILABLE + Σ (OWN − OWED) + Σ WEIGHT of GRANTED slots − DEBT = CAPACITY   (nothing lost or made up)
 *   I2  0 <= AVAILABLE <= CAPACITY; 0 <= OWED <= OWN; DEBT >= 0 (OWED > OWN only after the same
 *       units were given back twice, by their holder and on its behalf; settling moves the excess to DEBT)
 *   I3  WAITING = slots in the line = slots in state WAITING; every other slot is FREE (in the free
 *       list) or GRANTED (out of the line, not yet read by its waiter)
 *   I4  requests are granted in the order they joined the line; the head blocks everyone behind
 *       it until it can be granted whole (strict FIFO, weights included)
 *   I5  if the line is not empty, AVAILABLE < WEIGHT of the head: a free permit and a grantable
 *       sleeping waiter never coexist (no lost wake-ups). Every path that adds to AVAILABLE or
 *       removes a request grants the head before it unlocks.
 *   I6  LINE is set exactly when the line is not empty, and changes only under LOCK. While it is
 *       set, only the LOCK holder writes STATE; while it is clear, anyone may, by compare-exchange.
 *   I7  a thread that holds LOCK is alive, unless it died by itself (out of memory): a pool
 *       terminates a worker only while that worker's seat counts no section (task-control.ts),
 *       and `reclaim` takes LOCK over from the thread it reclaims. So I1-I6 also hold after every
 *       kill, and no thread waits for LOCK forever: a worker waits until the main thread's
 *       reclaim frees it, and the main thread, whose own event loop must run for that reclaim,
 *       gives up after `MAIN_THREAD_LOCK_PATIENCE_MS` with ERR_SEMAPHORE_LOCK_HELD, having
 *       changed nothing.
 *
 * ─── Fast paths (no LOCK: one compare-exchange on STATE each, in WebAssembly) ────────────────
 *   take w     STATE >= w (LINE clear, enough free) and DEBT = 0: CAS STATE s→s−w, then OWN += w
 *   give w     STATE >= 0, s + w <= CAPACITY, OWN >= w, OWED = 0: CAS STATE s→s+w, then OWN −= w
 *   A failed CAS changes nothing and falls back to the locked path. With LINE set both fail, so
 *   a newcomer never overtakes a waiter (I4) and a release always grants the head (I5).
 *   Each is one Wasm function without calls or loops, so a pool's kill (`worker.terminate()`),
 *   which V8 delivers only at function entries and loop back edges, never lands between the
 *   CAS and the store to OWN: no thread dies with I1 half updated (fast-path.ts says how this
 *   was measured; the test "workers killed at random points of a lock-free take/give loop"
 *   guards it).
 *
 * ─── Waiter state machine (one slot per request that has to wait) ────────────────────────────
 *   FREE ──join the line (lock)──▶ WAITING ──grantHead (lock): units leave AVAILABLE, notify──▶ GRANTED
 *                                    │                         waiter reads it into OWN (lock) ──▶ FREE
 *                                    └──timeout / abort / reclaim (lock): unlinked, notify──▶ FREE
 *   A waiter that gives up takes the lock and looks: still WAITING → it leaves the line; already
 *   GRANTED → the grant raced the cancel and won: the units are the waiter's, and it keeps them
 *   (a zero timeout) or passes them straight on (a timeout or abort). Either way no permit is
 *   lost or duplicated (the CPython #90155 fix: every waiter has its own state).
 *
 * ─── Hand-offs ───────────────────────────────────────────────────────────────────────────────
 * A thread may release units another thread took (raw `release(n)`). What it gives beyond its own
 * OWN is booked against the thread that owes it: the one named by `onBehalfOf`, or else the only
 * other thread that holds units. Its OWED grows (under LOCK); the units are free again. That
 * thread's effective hold is OWN − OWED: `heldBy` and `reclaim` count it so, its fast give stands
 * aside while OWED is not 0, and its next locked call settles OWED into OWN. So a dead worker's
 * reclaim gives back exactly what it still held, and no other thread pays for it.
 * When the owner cannot be told (several other holders, none named), the units go to DEBT, as
 * before: any thread that enters the locked path pays DEBT off from its OWN, and `reclaim` pays it
 * from the dead thread's units before giving the rest back. So a reclaim never gives back more
 * than is out; while DEBT stands, fast takes are off so that no OWN grows without bound.
 *
 * Every change under LOCK happens in a critical section that never calls user code, never
 * allocates on the shared side, and is a few dozen instructions long. Each section unlocks in a
 * `finally`, and the stack it needs is made sure of before LOCK is taken (`reserveStack`): a
 * call near the stack's limit overflows before it writes anything, never halfway. A pool worker
 * enters a section only through its thread's seat (task-control.ts): its pool terminates it only
 * while it is in no section and waits for none, and once the pool has decided to, the worker
 * enters none (`acquire` and friends throw AbortError). So no kill of a pool (timeout, cancel,
 * retirement, shutdown) leaves LOCK held or state half-written, whatever code the worker runs. A
 * thread that dies holding LOCK in another way (out of memory) has its lock taken over by
 * `reclaim()` for it.
 *
 * Memory effects: Atomics operations are sequentially consistent, so everything a thread wrote
 * before `release()` is visible to the thread whose acquire that release lets through, as with
 * `java.util.concurrent.Semaphore`.
 */
const MAGIC = 0x54475331;
const VERSION = 5;
const M_MAGIC = 0;
const M_VERSION = 1;
const M_CAPACITY = 2;
const M_LOCK = 3;
const M_PROBE = 4;
const M_STATE = 5;
const M_HEAD = 6;
const M_TAIL = 7;
const M_WAITING = 8;
const M_MAX_HOLDERS = 9;
const M_MAX_WAITERS = 10;
const M_FREE = 11;
const M_DEBT = 12;
const M_ID_LO = 13;
const M_ID_HI = 14;
const HEADER_WORDS = 16;
const HOLDER_WORDS = 3;
const H_OWN = 1;
/** OWED sits right after OWN: the fast give reads it at `own + 4` bytes. */
const H_OWED = 2;
/** Where OWED is from an OWN word. */
const OWED = H_OWED - H_OWN;
const SLOT_WORDS = 6;
const S_STATE = 0;
const S_WEIGHT = 1;
const S_OWNER = 2;
const S_NEXT = 3;
const S_PREV = 4;
const S_SEQ = 5;

/** STATE's top bit: somebody waits in line. The other 31 bits are AVAILABLE. */
const LINE = 1 << 31;

const FREE = 0;
const WAITING = 1;
const GRANTED = 2;

/** This thread's mark in LOCK, OWNER words and the holder table. */
const ME = currentThreadId + 1;

/** LOCK's flag: somebody may be asleep on the word, so the unlocker must notify. Owners stay below it. */
const CONTENDED = 1 << 30;
const LOCK_SPINS = 64;
/** Upper bound of one sleep on LOCK: a sleeper looks again this often, in case the holder died and no unlock will notify. */
const LOCK_SLEEP_MS = 5;
/**
 * How long the main thread waits for LOCK held by one thread before it gives up (see I7). A
 * section takes microseconds: a thread that holds LOCK this long has died inside one (out of
 * memory), and only the main thread's own event loop, when it sees that exit, can take the lock
 * over (`reclaim`). Blocking on, the main thread would wait forever.
 */
const MAIN_THREAD_LOCK_PATIENCE_MS = 1_000;

/**
 * Frames made sure of on the stack before LOCK is taken: several times what the deepest critical
 * section calls. A call made near the stack's limit then overflows in `reserveStack`, having
 * written nothing, never inside a section, where the RangeError would leave shared state half
 * written (the `finally` that unlocks cannot undo a half-linked line).
 */
const RESERVED_FRAMES = 8;

/** Recurses `frames` deep (with arguments, so each frame has some size) and returns. */
function reserveStack(frames: number, a: number, b: number, c: number, d: number): number {
  return frames === 0 ? a + b + c + d : reserveStack(frames - 1, b, c, d, a) + 1;
}

const DEFAULT_MAX_HOLDERS = 256;
const DEFAULT_MAX_WAITERS = 1024;
export const SHARED_SEMAPHORE_KIND = 'SharedSemaphore';

/**
 * The cloneable form of a {@link SharedSemaphore}: pass it anywhere, rebuild with
 * `SharedSemaphore.from`. It holds exactly one of `memory` and `buffer`.
 */
export interface SharedSemaphoreHandle extends Handle {
  /** The semaphore's shared `WebAssembly.Memory`, whose buffer holds its state. */
  readonly memory?: WasmMemory;
  /** Its state as a bare SharedArrayBuffer, from a process without WebAssembly (`--jitless`). */
  readonly buffer?: SharedArrayBuffer;
}

/** The memory of a semaphore: a shared Wasm memory and its buffer, or a bare buffer. */
interface Storage {
  memory: WasmMemory | undefined;
  buffer: SharedArrayBuffer;
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

const SHARED_SEMAPHORE_OPTIONS: OptionNames<SharedSemaphoreOptions> = {
  of: 'new SharedSemaphore()',
  names: { maxWaiters: true, maxHolders: true },
};

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

const ACQUIRE_SYNC_OPTIONS: OptionNames<AcquireSyncOptions> = {
  of: 'acquireSync()',
  names: { weight: true, timeoutMs: true, allowMainThread: true },
};

/** Options of `SharedSemaphore.release`. */
export interface ReleaseOptions {
  /**
   * The `threadId` of the thread whose units these are (the main thread's is 0). Its record is
   * booked with them, so its exit does not give them back again. Needed only when several
   * other threads hold units; with one, it is that one.
   */
  onBehalfOf?: number;
}

const RELEASE_OPTIONS: OptionNames<ReleaseOptions> = { of: 'release()', names: { onBehalfOf: true } };

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
 * **Bounded.** Releasing more units than are out throws `ERR_SEMAPHORE_OVER_RELEASE`, changing
 * nothing: never more than `capacity` units are free. A raw `release(n)` names no holder, so a
 * permit whose units it gave back still releases once those units are out again (taken by
 * another request); use one or the other for the same units, never both.
 */
export class SharedSemaphore implements LocalSemaphore, Shareable, ThreadScopedResource {
  readonly #m: Int32Array;
  readonly #storage: Storage;
  /** The Wasm fast paths on this thread, or undefined where there is no WebAssembly. */
  readonly #fast: FastPaths | undefined;
  readonly #capacity: number;
  readonly #maxHolders: number;
  readonly #maxWaiters: number;
  readonly #slotBase: number;
  /** The OWN word of this thread's holder entry, or -1 before it has one. Checked on every use. */
  #own = -1;
  /** Gives units back: one function for every Permit of this semaphore. */
  readonly #releaseUnits = (weight: number): void => {
    if (!this.#giveFast(weight)) this.#giveLocked(weight, undefined);
  };

  /**
   * @param capacity how many units may be out at once: an integer from 1 to 2^31-1.
   */
  constructor(capacity: number, options?: SharedSemaphoreOptions) {
    let storage = adopting;
    adopting = undefined;
    if (storage === undefined) storage = createStorage(capacity, options);
    this.#storage = storage;
    this.#m = new Int32Array(storage.buffer);
    this.#fast = storage.memory && fastPathsOn(storage.memory, M_STATE * 4, M_DEBT * 4);
    this.#capacity = this.#m[M_CAPACITY] as number;
    this.#maxHolders = this.#m[M_MAX_HOLDERS] as number;
    this.#maxWaiters = this.#m[M_MAX_WAITERS] as number;
    this.#slotBase = HEADER_WORDS + this.#maxHolders * HOLDER_WORDS;
    registerResource(this);
    noteShareable();
    const id = idOf(this.#m);
    inThisThread.set(id, new WeakRef(this));
    forgetWhenCollected.register(this, id);
  }

  /**
   * Rebuilds a semaphore on the memory of a handle (from `sem.handle`, possibly in another
   * thread). The buffer is validated: a foreign, truncated, newer-layout or damaged buffer, or a
   * copy of a live semaphore's buffer, is rejected with `ERR_INVALID_HANDLE`, never silently used.
   */
  static from(handle: SharedSemaphoreHandle): SharedSemaphore {
    const storage = validateHandle(handle);
    const m = new Int32Array(storage.buffer);
    const known = inThisThread.get(idOf(m))?.deref();
    if (known === undefined) return adopt(storage);
    if (sameMemory(known.#m, m)) return known;
    throw new ThreadgateError(
      'ERR_INVALID_HANDLE',
      "the handle's memory is a copy of a SharedSemaphore's memory, not that memory itself: a copy would be a second semaphore with the same identity; pass `sem.handle` as it is",
    );
  }

  /** The cloneable form of this semaphore; send it anywhere and call `SharedSemaphore.from`. */
  get handle(): SharedSemaphoreHandle {
    const { memory, buffer } = this.#storage;
    const tag = { [HANDLE_TAG]: SHARED_SEMAPHORE_KIND, version: VERSION };
    return memory ? { ...tag, memory } : { ...tag, buffer };
  }

  /** Used by the pool to send this semaphore as a task argument (a symbol: no name of yours meets it). Kept in the types: it makes a semaphore a shared object to them. */
  [TO_HANDLE](): SharedSemaphoreHandle {
    return this.handle;
  }

  /** What `instanceof` looks for: see the static `Symbol.hasInstance`. */
  get [KIND](): string {
    return SHARED_SEMAPHORE_KIND;
  }

  /**
   * True for a SharedSemaphore of any copy of threadgate in this thread: in a CommonJS worker
   * module, a semaphore that arrived as a task argument is one too, though the worker runtime
   * (ESM) revived it with its own copy of the class.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class asked, which may be a subclass
    return isInstance(this, SHARED_SEMAPHORE_KIND, value);
  }

  get capacity(): number {
    return this.#capacity;
  }

  get available(): number {
    return Atomics.load(this.#m, M_STATE) & MAX_INT32;
  }

  get waiting(): number {
    return Atomics.load(this.#m, M_WAITING);
  }

  /**
   * Units thread `threadId` has taken and not given back (0 for the main thread's id), granted
   * ones not yet picked up included, less those another thread gave back on its behalf (see
   * `release`). A snapshot while that thread runs.
   */
  heldBy(threadId: number): number {
    checkInteger('threadId', threadId, 0);
    const m = this.#m;
    const owner = threadId + 1;
    let units = 0;
    for (let e = 0; e < this.#maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS;
      if (Atomics.load(m, at) === owner) units += (m[at + H_OWN] as number) - (m[at + H_OWED] as number);
    }
    for (let slot = 0; slot < this.#maxWaiters; slot++) {
      const base = this.#slotBase + slot * SLOT_WORDS;
      if (m[base + S_OWNER] === owner && Atomics.load(m, base + S_STATE) === GRANTED) units += m[base + S_WEIGHT] as number;
    }
    return units;
  }

  tryAcquire(weight = 1): Permit | undefined {
    if (weight !== 1) checkWeight('weight', weight, this.#capacity); // 1 is always valid: capacity >= 1
    if (this.#takeFast(weight)) return this.#permit(weight);
    this.#lock();
    let took: boolean;
    try {
      took = this.#takeLocked(weight);
    } finally {
      this.#unlock();
    }
    return took ? this.#permit(weight) : undefined;
  }

  acquire(options?: AcquireOptions): Promise<Permit> {
    if (options === undefined && this.#takeFast(1)) return Promise.resolve(this.#permit(1));
    let weight: number;
    let timeoutMs: number | undefined;
    let signal: AbortSignal | undefined;
    try {
      ({ weight, timeoutMs, signal } = checkAcquireOptions(options, this.#capacity));
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
      const permit = this.#cancel(ticket);
      return permit === undefined ? Promise.reject(new AcquireTimeoutError(0)) : Promise.resolve(permit);
    }
    return this.#waitAsync(ticket, timeoutMs, signal);
  }

  /**
   * Waits for `weight` units, blocking this thread with `Atomics.wait` (for worker threads,
   * whose task has nothing else to do meanwhile). Refused on the main thread unless
   * `allowMainThread` is set. Throws `AcquireTimeoutError` on timeout.
   */
  acquireSync(options?: AcquireSyncOptions): Permit {
    const opts = checkOptions('options', options, ACQUIRE_SYNC_OPTIONS);
    const weight = checkWeightOption(opts.weight, this.#capacity);
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
      const permit = s === GRANTED ? this.#pickUp(ticket) : undefined;
      if (permit !== undefined) return permit;
      if (s !== WAITING) throw revoked();
      const left = deadline - performance.now();
      if (left <= 0) {
        const granted = this.#cancel(ticket); // granted while timing out: the grant wins
        if (granted === undefined) throw new AcquireTimeoutError(timeoutMs);
        return granted;
      }
      Atomics.wait(m, state, WAITING, left === Number.POSITIVE_INFINITY ? undefined : left);
    }
  }

  withPermit<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    return withPermitOf(this, fn, options);
  }

  /**
   * Gives back `n` units taken without a `Permit`, or on another thread's behalf: units beyond what
   * this thread holds are booked against the thread that took them, `options.onBehalfOf` (its
   * `threadId`) or else the only other thread holding units, so that its exit does not give them
   * back again. With several other holders and none named, no thread is booked: the next thread
   * to take the locked path pays the debt from its own record, and a dead worker's units pay it
   * first. Throws `ERR_SEMAPHORE_OVER_RELEASE` when fewer than `n` units are out, changing nothing.
   */
  release(n = 1, options?: ReleaseOptions): void {
    checkInteger('n', n, 1, MAX_INT32);
    if (options === undefined) {
      if (!this.#giveFast(n)) this.#giveLocked(n, undefined);
      return;
    }
    const { onBehalfOf } = checkOptions('options', options, RELEASE_OPTIONS);
    this.#giveLocked(n, onBehalfOf === undefined ? undefined : checkInteger('options.onBehalfOf', onBehalfOf, 0));
  }

  /**
   * Gives back every unit thread `threadId` holds and drops its waiting requests, waking the
   * waiters that can now go. For threads that have exited: `WorkerPool` calls this for its own
   * workers; call it from a `Worker`'s `'exit'` handler for threads you manage yourself, with the
   * `threadId` read when the worker started (`worker.threadId` is -1 by the time `'exit'` fires).
   * Returns how many units came back.
   */
  reclaim(threadId: number): number {
    checkInteger('threadId', threadId, 0);
    const owner = threadId + 1;
    const m = this.#m;
    this.#lock(threadId); // it has exited: if it still holds LOCK, take it over
    let units = 0;
    try {
      for (let e = 0; e < this.#maxHolders; e++) {
        const at = HEADER_WORDS + e * HOLDER_WORDS;
        if (m[at] !== owner) continue;
        const held = (m[at + H_OWN] as number) - (m[at + H_OWED] as number); // what others gave back for it is not its to give
        if (held >= 0) units += held;
        else m[M_DEBT] = (m[M_DEBT] as number) - held; // given back twice (I2): I1 keeps the excess as DEBT
        m[at + H_OWN] = 0;
        m[at + H_OWED] = 0;
        Atomics.store(m, at, 0);
      }
      for (let slot = 0; slot < this.#maxWaiters; slot++) {
        const base = this.#slotBase + slot * SLOT_WORDS;
        if (m[base + S_OWNER] !== owner) continue;
        const s = m[base + S_STATE];
        if (s === WAITING) {
          this.#unlink(slot); // leaves the line (I3)
          m[M_WAITING] = (m[M_WAITING] as number) - 1;
        } else if (s === GRANTED) {
          units += m[base + S_WEIGHT] as number; // granted but never read: the units are still its own
        }
        if (s !== FREE) this.#free(slot);
      }
      const paid = Math.min(units, m[M_DEBT] as number);
      m[M_DEBT] = (m[M_DEBT] as number) - paid; // units someone already gave back for it (I1)
      units -= paid;
      // By I1 a dead thread's units are out, so they fit. With LINE set (always, if one of its
      // requests was in line) this grants the head and clears LINE if the line is now empty (I5, I6).
      this.#putBack(units);
    } finally {
      this.#unlock();
    }
    return units;
  }

  // ─── fast paths (no LOCK; see "Fast paths" above) ─────────────────────────────────────────

  /** Takes `weight` units with one compare-exchange if nobody waits, enough are free and DEBT is 0. */
  #takeFast(weight: number): boolean {
    return this.#own >= 0 && this.#fast?.take(weight, this.#own * 4, ME) === 1;
  }

  /** Gives `weight` of this thread's own units back with one compare-exchange if nobody waits. */
  #giveFast(weight: number): boolean {
    return this.#own >= 0 && this.#fast?.give(weight, this.#own * 4, ME, this.#capacity) === 1;
  }

  // ─── waiting ──────────────────────────────────────────────────────────────────────────────

  #waitAsync(ticket: Ticket, timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<Permit> {
    const m = this.#m;
    const state = this.#slotWord(ticket.slot, S_STATE);
    return new Promise<Permit>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let unwatch: (() => void) | undefined;
      const finish = (): void => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        unwatch?.();
        releaseEventLoop();
      };
      const giveUp = (error: Error): void => {
        if (settled) return;
        finish();
        this.#cancel(ticket)?.release(); // if the grant won the race, pass the units on
        reject(error);
      };
      const watch = (): void => {
        if (settled) return;
        const s = this.#stateOf(ticket);
        const permit = s === GRANTED ? this.#pickUp(ticket) : undefined;
        if (permit !== undefined) {
          finish();
          resolve(permit);
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
      if (signal) unwatch = whenAborted(signal, () => giveUp(abortErrorFrom(signal)));
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
    try {
      return this.#takeLocked(weight) ? undefined : this.#joinLine(weight);
    } finally {
      this.#unlock();
    }
  }

  /** Takes a waiter slot and joins the line at its tail. Under LOCK; throws when every slot is taken. */
  #joinLine(weight: number): Ticket {
    const m = this.#m;
    const free = m[M_FREE] as number;
    if (free === 0) {
      throw new ThreadgateError(
        'ERR_TOO_MANY_WAITERS',
        `too many requests are waiting on this semaphore (maxWaiters: ${this.#maxWaiters}); raise options.maxWaiters`,
      );
    }
    const slot = free - 1;
    const base = this.#slotBase + slot * SLOT_WORDS;
    m[M_FREE] = m[base + S_NEXT] as number; // off the free list
    const seq = ((m[base + S_SEQ] as number) + 1) | 0;
    Atomics.store(m, base + S_SEQ, seq); // a new life for this slot, before it can be granted
    m[base + S_WEIGHT] = weight;
    m[base + S_OWNER] = ME;
    m[base + S_NEXT] = 0;
    m[base + S_PREV] = m[M_TAIL] as number;
    if (m[M_TAIL] === 0) m[M_HEAD] = free;
    else m[this.#slotBase + ((m[M_TAIL] as number) - 1) * SLOT_WORDS + S_NEXT] = free;
    m[M_TAIL] = free; // joins the line at the tail (I4)
    Atomics.store(m, base + S_STATE, WAITING);
    m[M_WAITING] = (m[M_WAITING] as number) + 1; // I3
    Atomics.or(m, M_STATE, LINE); // I6: fast paths stop; STATE is ours from here
    this.#grantHead(); // units freed by a fast release since we looked would otherwise sleep (I5)
    return { slot, seq, weight };
  }

  /** Takes `weight` for this thread if nobody waits and it is free (the locked `#takeFast`). */
  #takeLocked(weight: number): boolean {
    const m = this.#m;
    const own = this.#claimEntry(); // may throw, before any write; a request that queues needs it too, to read its grant
    this.#payDebt(own);
    for (;;) {
      const s = Atomics.load(m, M_STATE);
      if (s < weight) return false; // somebody waits (LINE), or too few are free: never overtake (I4)
      if (Atomics.compareExchange(m, M_STATE, s, s - weight) !== s) continue; // a fast path moved it: look again
      m[own] = (m[own] as number) + weight; // I1
      return true;
    }
  }

  /**
   * Gives back `n` units under LOCK: this thread's own first, the rest booked against the thread
   * that owes them (`#debtorFor`), or as DEBT. Throws on over-release, changing nothing.
   */
  #giveLocked(n: number, onBehalfOf: number | undefined): void {
    this.#lock();
    try {
      const m = this.#m;
      const own = this.#findEntry();
      if (own >= 0) this.#settleOwed(own);
      const ownBefore = own < 0 ? 0 : (m[own] as number);
      const debtBefore = m[M_DEBT] as number;
      const fromOwn = Math.min(n, ownBefore);
      let rest = n - fromOwn;
      const debtor = rest > 0 ? this.#debtorFor(onBehalfOf) : -1;
      const booked = debtor < 0 ? 0 : Math.min(rest, (m[debtor] as number) - (m[debtor + OWED] as number));
      if (debtor >= 0) m[debtor + OWED] = (m[debtor + OWED] as number) + booked; // its OWED (I1: OWN − OWED drops by `booked`)
      rest -= booked;
      if (own >= 0) m[own] = ownBefore - fromOwn;
      m[M_DEBT] = debtBefore + rest; // I1: given back for nobody it can name
      if (own >= 0) this.#payDebt(own);
      if (this.#putBack(n)) return;
      if (own >= 0) m[own] = ownBefore;
      if (debtor >= 0) m[debtor + OWED] = (m[debtor + OWED] as number) - booked;
      m[M_DEBT] = debtBefore;
      throw overRelease(n, this.#capacity - (Atomics.load(m, M_STATE) & MAX_INT32));
    } finally {
      this.#unlock();
    }
  }

  /**
   * The OWN word of the thread units given back on another's behalf are booked against: the one
   * named (if it holds any), else the only other thread that holds any; -1 when it cannot be
   * told. Under LOCK. OWN is read plainly: its thread may be taking or giving on its fast path,
   * and a stale read books against a thread that gave the same units back itself (I2's double
   * give-back), never against one that had none.
   */
  #debtorFor(onBehalfOf: number | undefined): number {
    const m = this.#m;
    const named = onBehalfOf === undefined ? undefined : onBehalfOf + 1;
    let found = -1;
    for (let e = 0; e < this.#maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS;
      const owner = m[at] as number;
      if (owner === 0 || owner === ME || (named !== undefined && owner !== named)) continue;
      if ((m[at + H_OWN] as number) - (m[at + H_OWED] as number) <= 0) continue;
      if (named !== undefined) return at + H_OWN;
      if (found >= 0) return -1; // two holders: whose units these were cannot be told
      found = at + H_OWN;
    }
    return found;
  }

  /**
   * Settles what others gave back on this thread's behalf: OWED comes off OWN. Under LOCK, on the
   * owner's thread (only it writes OWN). An OWED beyond OWN (the same units given back twice)
   * becomes DEBT, which keeps I1.
   */
  #settleOwed(own: number): void {
    const m = this.#m;
    const owed = m[own + OWED] as number;
    if (owed === 0) return;
    const paid = Math.min(owed, m[own] as number);
    m[own] = (m[own] as number) - paid;
    m[own + OWED] = 0;
    if (owed > paid) m[M_DEBT] = (m[M_DEBT] as number) + owed - paid;
  }

  /**
   * Adds `n` to AVAILABLE, granting the head if somebody waits (I5). Returns false, changing
   * nothing, if that would exceed the capacity.
   */
  #putBack(n: number): boolean {
    const m = this.#m;
    for (;;) {
      const s = Atomics.load(m, M_STATE);
      if (n > this.#capacity - (s & MAX_INT32)) return false;
      if (s < 0) {
        Atomics.store(m, M_STATE, s + n); // LINE is set: only the LOCK holder writes STATE (I6)
        this.#grantHead();
        return true;
      }
      if (Atomics.compareExchange(m, M_STATE, s, s + n) === s) return true; // nobody waits; fast paths may race
    }
  }

  /** Settles this thread's OWED, then moves DEBT off its OWN, as far as it goes (see "Hand-offs"). */
  #payDebt(own: number): void {
    this.#settleOwed(own);
    const m = this.#m;
    const paid = Math.min(m[own] as number, m[M_DEBT] as number);
    m[own] = (m[own] as number) - paid;
    m[M_DEBT] = (m[M_DEBT] as number) - paid; // I1 unchanged: both sides drop by `paid`
  }

  /**
   * Leaves the line. Returns the Permit if the request had been granted meanwhile (the grant won
   * the race: the caller owns the units), else undefined.
   */
  #cancel(ticket: Ticket): Permit | undefined {
    this.#lock();
    let s: number;
    try {
      s = this.#stateOf(ticket);
      if (s === WAITING) {
        this.#unlink(ticket.slot); // out of line, wherever it stood (I3)
        this.#m[M_WAITING] = (this.#m[M_WAITING] as number) - 1;
        this.#free(ticket.slot);
        this.#grantHead(); // a heavy head leaving may let the next ones through (I5)
      } else if (s === GRANTED) {
        this.#takeGrant(ticket);
      }
    } finally {
      this.#unlock();
    }
    return s === GRANTED ? this.#permit(ticket.weight) : undefined;
  }

  /**
   * Grants the head of the line while it fits, then writes STATE back: LINE cleared if the line
   * emptied (I6). Restores I5. Only with LINE set, when STATE is the LOCK holder's alone.
   */
  #grantHead(): void {
    const m = this.#m;
    let available = Atomics.load(m, M_STATE) & MAX_INT32;
    for (let head = m[M_HEAD] as number; head !== 0; head = m[M_HEAD] as number) {
      const base = this.#slotBase + (head - 1) * SLOT_WORDS;
      const weight = m[base + S_WEIGHT] as number;
      if (available < weight) break; // FIFO: the head blocks everyone behind it (I4)
      this.#unlink(head - 1);
      m[M_WAITING] = (m[M_WAITING] as number) - 1;
      available -= weight; // I1: the units move into the slot until its waiter reads them
      Atomics.store(m, base + S_STATE, GRANTED);
      Atomics.notify(m, base + S_STATE, 1); // wakes exactly that waiter: no herd, no lost wake-up
    }
    Atomics.store(m, M_STATE, m[M_HEAD] === 0 ? available : available | LINE); // I6: fast paths resume once the line is empty
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

  /** This thread's OWN word, or -1 if it has no holder entry. Under LOCK. */
  #findEntry(): number {
    const m = this.#m;
    const cached = this.#own;
    if (cached >= 0 && m[cached - H_OWN] === ME) return cached;
    for (let e = 0; e < this.#maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS;
      if (m[at] === ME) return (this.#own = at + H_OWN);
    }
    return -1;
  }

  /** This thread's OWN word, claiming a free holder entry if it has none. Under LOCK; throws when full. */
  #claimEntry(): number {
    const found = this.#findEntry();
    if (found >= 0) return found;
    const m = this.#m;
    for (let e = 0; e < this.#maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS;
      if (m[at] !== 0) continue;
      m[at + H_OWN] = 0;
      m[at + H_OWED] = 0;
      Atomics.store(m, at, ME);
      this.#own = at + H_OWN;
      return this.#own;
    }
    throw new ThreadgateError(
      'ERR_TOO_MANY_HOLDERS',
      `too many threads hold this semaphore at once (maxHolders: ${this.#maxHolders}); raise options.maxHolders`,
    );
  }

  // ─── the internal lock ────────────────────────────────────────────────────────────────────

  /**
   * Takes LOCK: a futex mutex after Drepper's "Futexes are tricky" (mutex 2), whose word records
   * its owner. Spins briefly, then marks the word CONTENDED and sleeps on it; a thread woken from
   * sleep takes the lock as CONTENDED, since others may still sleep. The mark lives in the word,
   * not in a count of sleepers, so a thread killed in its sleep costs one needless notify at the
   * next unlock and nothing after. A lock held by `deadThread` (one that has exited, from
   * `reclaim`) is taken over instead of waited for. Enters the section through this thread's
   * seat first (see "Every change under LOCK" above); `#unlock` leaves it.
   */
  #lock(deadThread = -1): void {
    reserveStack(RESERVED_FRAMES, 0, 0, 0, 0);
    if (!enterSection()) throw new AbortError('this thread is being stopped by its pool');
    const m = this.#m;
    let lock = Atomics.compareExchange(m, M_LOCK, 0, ME);
    for (let spins = LOCK_SPINS; lock !== 0 && spins > 0; spins--) lock = Atomics.compareExchange(m, M_LOCK, 0, ME);
    // The main thread gives up on a holder that keeps LOCK too long (I7); other threads wait for
    // the main thread's reclaim of a dead holder to free it.
    let holder = lock & ~CONTENDED;
    let patience = isMainThread && lock !== 0 ? performance.now() + MAIN_THREAD_LOCK_PATIENCE_MS : Number.POSITIVE_INFINITY;
    while (lock !== 0) {
      if ((lock & ~CONTENDED) !== holder) {
        holder = lock & ~CONTENDED; // another holder: the lock moves, nobody is stuck
        if (isMainThread) patience = performance.now() + MAIN_THREAD_LOCK_PATIENCE_MS;
      } else if (performance.now() > patience) {
        leaveSection();
        throw lockHeld(holder - 1);
      }
      if ((lock & CONTENDED) === 0) {
        const seen = Atomics.compareExchange(m, M_LOCK, lock, lock | CONTENDED); // the owner will notify on unlock
        if (seen !== lock) {
          lock = seen === 0 ? Atomics.compareExchange(m, M_LOCK, 0, ME | CONTENDED) : seen; // freed meanwhile: take it
          continue;
        }
        lock |= CONTENDED;
      }
      // Held by a thread that has exited (reclaim's): nobody else will ever free it.
      if ((lock & ~CONTENDED) - 1 === deadThread && Atomics.compareExchange(m, M_LOCK, lock, ME | CONTENDED) === lock) break;
      Atomics.wait(m, M_LOCK, lock, LOCK_SLEEP_MS); // returns at once if the word is no longer `lock`
      lock = Atomics.compareExchange(m, M_LOCK, 0, ME | CONTENDED);
    }
  }

  #unlock(): void {
    if ((Atomics.exchange(this.#m, M_LOCK, 0) & CONTENDED) !== 0) Atomics.notify(this.#m, M_LOCK, 1); // wake one sleeper
    leaveSection();
  }

  // ─── helpers ──────────────────────────────────────────────────────────────────────────────

  /**
   * Picks up a request seen GRANTED: its Permit, or undefined if the slot was reclaimed since
   * (the units went back with the rest of the thread's).
   */
  #pickUp(ticket: Ticket): Permit | undefined {
    this.#lock();
    let granted: boolean;
    try {
      granted = this.#stateOf(ticket) === GRANTED;
      if (granted) this.#takeGrant(ticket);
    } finally {
      this.#unlock();
    }
    return granted ? this.#permit(ticket.weight) : undefined;
  }

  /** Moves a granted request's units into this thread's OWN and frees its slot. Under LOCK. */
  #takeGrant(ticket: Ticket): void {
    const own = this.#findEntry(); // claimed when the request joined the line
    this.#m[own] = (this.#m[own] as number) + ticket.weight; // I1: from the slot to OWN
    this.#free(ticket.slot);
    this.#payDebt(own);
  }

  /** The state of a waiter's request; FREE if its slot has moved on to another life (reclaimed). */
  #stateOf(ticket: Ticket): number {
    const base = this.#slotBase + ticket.slot * SLOT_WORDS;
    const state = Atomics.load(this.#m, base + S_STATE);
    return Atomics.load(this.#m, base + S_SEQ) === ticket.seq ? state : FREE;
  }

  #permit(weight: number): Permit {
    return newPermit(weight, this.#releaseUnits);
  }

  #slotWord(slot: number, word: number): number {
    return this.#slotBase + slot * SLOT_WORDS + word;
  }
}

/** Set by `from()` for the one constructor call that adopts an existing, validated memory. */
let adopting: Storage | undefined;
/** The semaphores this thread has, by ID: `from()` hands out the one it already made. */
const inThisThread = new Map<string, WeakRef<SharedSemaphore>>();
const forgetWhenCollected = new FinalizationRegistry<string>((id) => {
  if (inThisThread.get(id)?.deref() === undefined) inThisThread.delete(id);
});

const idOf = (m: Int32Array): string => `${m[M_ID_HI]}:${m[M_ID_LO]}`;

const WASM_PAGE = 65_536;

function createStorage(capacity: number, options: SharedSemaphoreOptions | undefined): Storage {
  checkInteger('capacity', capacity, 1, MAX_INT32);
  const opts = checkOptions('options', options, SHARED_SEMAPHORE_OPTIONS);
  const maxWaiters = checkInteger('options.maxWaiters', opts.maxWaiters ?? DEFAULT_MAX_WAITERS, 1, 2 ** 20);
  const maxHolders = checkInteger('options.maxHolders', opts.maxHolders ?? DEFAULT_MAX_HOLDERS, 1, 2 ** 16);
  const bytes = bytesFor(maxHolders, maxWaiters);
  const memory = sharedMemory(Math.ceil(bytes / WASM_PAGE));
  const buffer = memory ? (memory.buffer as SharedArrayBuffer) : new SharedArrayBuffer(bytes);
  const m = new Int32Array(buffer);
  crypto.getRandomValues(m.subarray(M_ID_LO, M_ID_HI + 1));
  m[M_VERSION] = VERSION;
  m[M_CAPACITY] = capacity;
  m[M_STATE] = capacity; // all free, nobody in line
  m[M_MAX_HOLDERS] = maxHolders;
  m[M_MAX_WAITERS] = maxWaiters;
  const slotBase = HEADER_WORDS + maxHolders * HOLDER_WORDS;
  for (let slot = 0; slot < maxWaiters; slot++) m[slotBase + slot * SLOT_WORDS + S_NEXT] = slot + 2 > maxWaiters ? 0 : slot + 2;
  m[M_FREE] = 1; // every slot on the free list, in order
  Atomics.store(m, M_MAGIC, MAGIC); // last: a half-built buffer never passes validation
  return { memory, buffer };
}

function bytesFor(maxHolders: number, maxWaiters: number): number {
  return (HEADER_WORDS + maxHolders * HOLDER_WORDS + maxWaiters * SLOT_WORDS) * 4;
}

function revoked(): AbortError {
  return new AbortError('the wait was cancelled: its thread was reclaimed (reclaim() is for threads that have exited)');
}

function validateHandle(handle: unknown): Storage {
  const expected = 'a SharedSemaphore handle (from `sem.handle`)';
  if (typeof handle !== 'object' || handle === null) throw invalidType('handle', handle, expected);
  const h = handle as Partial<SharedSemaphoreHandle>;
  if (h[HANDLE_TAG] !== SHARED_SEMAPHORE_KIND) throw invalidValue('handle', handle, expected);
  const { memory } = h;
  if (memory !== undefined && h.buffer !== undefined)
    throw invalidValue('handle', handle, `${expected}, with a memory or a buffer, not both`);
  if (memory !== undefined && !isWasmMemory(memory)) throw invalidType('handle.memory', memory, 'a shared WebAssembly.Memory');
  const buffer = memory === undefined ? h.buffer : memory.buffer;
  if (!(buffer instanceof SharedArrayBuffer))
    throw invalidType(memory ? 'handle.memory.buffer' : 'handle.buffer', buffer, 'a SharedArrayBuffer');
  const fail = (why: string): never => {
    throw new ThreadgateError('ERR_INVALID_HANDLE', `the handle's memory is not a usable SharedSemaphore memory: ${why}`);
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
  // Ranges every state of a live semaphore keeps (I2, I3): a forged or damaged header fails here.
  const available = Atomics.load(m, M_STATE) & MAX_INT32;
  if (available > capacity) fail(`${available} units are free, more than its capacity of ${capacity}`);
  if (Atomics.load(m, M_DEBT) < 0) fail('its hand-off debt is negative');
  for (const word of [M_WAITING, M_HEAD, M_TAIL, M_FREE]) {
    const value = Atomics.load(m, word);
    if (value < 0 || value > waiters) fail(`header word ${word} is ${value}, outside 0..${waiters} (its waiter slots)`);
  }
  return { memory, buffer };
}

/**
 * Whether two views of a semaphore's memory are one memory: a count bumped through `a` is seen
 * through `b`. Other threads only ever add to the count, so through one memory `b` reads at least
 * the value written; a copy holds the count from when it was made, which is lower.
 */
function sameMemory(a: Int32Array, b: Int32Array): boolean {
  const mark = (Atomics.add(a, M_PROBE, 1) + 1) | 0;
  return ((Atomics.load(b, M_PROBE) - mark) | 0) >= 0;
}

/** The main thread gave up on LOCK (see `MAIN_THREAD_LOCK_PATIENCE_MS`). */
function lockHeld(threadId: number): ThreadgateError {
  return new ThreadgateError(
    'ERR_SEMAPHORE_LOCK_HELD',
    `the semaphore's internal lock has been held by thread ${threadId} for over ${MAIN_THREAD_LOCK_PATIENCE_MS} ms: that thread most likely died inside it (out of memory). Nothing was changed. Once this thread's event loop sees the worker's exit, its pool (or your reclaim(${threadId})) takes the lock over, and calls succeed again.`,
  );
}

/**
 * A semaphore on memory that exists already. Outside the class on purpose: esbuild renames a class
 * that names itself in its own body (`SharedSemaphore.name` would read `_SharedSemaphore`).
 */
function adopt(storage: Storage): SharedSemaphore {
  adopting = storage;
  return new SharedSemaphore(1);
}
