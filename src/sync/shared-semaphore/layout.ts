import { threadId as currentThreadId } from 'node:worker_threads';
import { ThreadgateError } from '../../errors.js';
import { checkInteger, checkOptions, invalidType, invalidValue, MAX_INT32, type OptionNames } from '../../validate.js';
import { HANDLE_TAG, type Handle } from '../../wire/handles.js';
import { isWasmMemory, sharedMemory, type WasmMemory } from './fast-path.js';

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
 */
export const MAGIC = 0x54475331;
export const VERSION = 5;
export const M_MAGIC = 0;
export const M_VERSION = 1;
export const M_CAPACITY = 2;
export const M_LOCK = 3;
export const M_PROBE = 4;
export const M_STATE = 5;
export const M_HEAD = 6;
export const M_TAIL = 7;
export const M_WAITING = 8;
export const M_MAX_HOLDERS = 9;
export const M_MAX_WAITERS = 10;
export const M_FREE = 11;
export const M_DEBT = 12;
export const M_ID_LO = 13;
export const M_ID_HI = 14;
export const HEADER_WORDS = 16;
export const HOLDER_WORDS = 3;
export const H_OWN = 1;
/** OWED sits right after OWN: the fast give reads it at `own + 4` bytes. */
export const H_OWED = 2;
/** Where OWED is from an OWN word. */
export const OWED = H_OWED - H_OWN;
export const SLOT_WORDS = 6;
export const S_STATE = 0;
export const S_WEIGHT = 1;
export const S_OWNER = 2;
export const S_NEXT = 3;
export const S_PREV = 4;
export const S_SEQ = 5;

/** STATE's top bit: somebody waits in line. The other 31 bits are AVAILABLE. */
export const LINE = 1 << 31;
/** AVAILABLE out of a STATE word. */
export const available = (state: number): number => state & MAX_INT32;

/** A waiter slot's states (see waiter-line.ts). */
export const FREE = 0;
export const WAITING = 1;
export const GRANTED = 2;

/** This thread's mark in LOCK, OWNER words and the holder table. */
export const ME = currentThreadId + 1;

export const SHARED_SEMAPHORE_KIND = 'SharedSemaphore';

const DEFAULT_MAX_HOLDERS = 256;
const DEFAULT_MAX_WAITERS = 1024;
const WASM_PAGE = 65_536;

/**
 * The cloneable form of a `SharedSemaphore`: pass it anywhere, rebuild with
 * `SharedSemaphore.from`. It holds exactly one of `memory` and `buffer`.
 */
export interface SharedSemaphoreHandle extends Handle {
  /** The semaphore's shared `WebAssembly.Memory`, whose buffer holds its state. */
  readonly memory?: WasmMemory;
  /** Its state as a bare SharedArrayBuffer, from a process without WebAssembly (`--jitless`). */
  readonly buffer?: SharedArrayBuffer;
}

/** Options of the `SharedSemaphore` constructor. */
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

/** The memory of a semaphore: a shared Wasm memory and its buffer, or a bare buffer. */
export interface Storage {
  memory: WasmMemory | undefined;
  buffer: SharedArrayBuffer;
}

/** A semaphore's memory as its operations see it: the words, and the sizes read from its header. */
export interface View {
  readonly m: Int32Array;
  readonly capacity: number;
  readonly maxHolders: number;
  readonly maxWaiters: number;
  /** The first word of waiter slot 0. */
  readonly slotBase: number;
}

export function viewOn(buffer: SharedArrayBuffer): View {
  const m = new Int32Array(buffer);
  const maxHolders = m[M_MAX_HOLDERS] as number;
  return {
    m,
    capacity: m[M_CAPACITY] as number,
    maxHolders,
    maxWaiters: m[M_MAX_WAITERS] as number,
    slotBase: HEADER_WORDS + maxHolders * HOLDER_WORDS,
  };
}

/** The first word of a waiter slot. */
export const slotAt = (view: View, slot: number): number => view.slotBase + slot * SLOT_WORDS;

/** The semaphore's identity, random at creation: equal in every thread that has it. */
export const idOf = (m: Int32Array): string => `${m[M_ID_HI]}:${m[M_ID_LO]}`;

/** New memory for a semaphore of `capacity` units, all free, nobody in line. */
export function createStorage(capacity: number, options: SharedSemaphoreOptions | undefined): Storage {
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

/**
 * The memory of a handle, checked: a foreign, truncated, newer-layout or damaged one throws
 * `ERR_INVALID_HANDLE` (a wrong shape, `ERR_INVALID_ARG_TYPE` / `_VALUE`).
 */
export function validateHandle(handle: unknown): Storage {
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
  const free = available(Atomics.load(m, M_STATE));
  if (free > capacity) fail(`${free} units are free, more than its capacity of ${capacity}`);
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
export function sameMemory(a: Int32Array, b: Int32Array): boolean {
  const mark = (Atomics.add(a, M_PROBE, 1) + 1) | 0;
  return ((Atomics.load(b, M_PROBE) - mark) | 0) >= 0;
}
