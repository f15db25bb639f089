/**
 * The task control board: one `Int32Array` on a `SharedArrayBuffer`, shared by a pool and its
 * workers, with one slot per task in flight. It lets the two sides agree on a task's life
 * without a message per task:
 *
 * ```
 * slot i:  [ STATE, THREAD_ID, ITEM, ITEM_STARTED ]
 *
 *   IDLE ──dispatch──▶ QUEUED ──worker starts it──▶ RUNNING ──cancel/timeout──▶ CANCEL ──grace over──▶ KILLING
 *                        │                             │ (worker writes           │
 *                        │                             │  THREAD_ID first)        │
 *                        │                             └──worker ends it──▶ ENDED ◀┘
 *                        └──cancel before start──▶ SKIP  (the worker never runs it)
 * ```
 *
 * - The worker moves QUEUED→RUNNING with a compare-exchange; if it finds SKIP, it does not run
 *   the task. The pool moves QUEUED→SKIP with a compare-exchange; if it finds RUNNING, the task
 *   is running and must be stopped instead. Exactly one side wins, so a cancelled task never
 *   starts late and a started one is never forgotten.
 * - CANCEL makes `currentTask().signal.aborted` true inside the worker, even in a synchronous
 *   loop whose event loop never turns: `aborted` reads this word.
 * - KILLING is the last word before the worker is terminated, which then waits for the thread's
 *   seat (below): never inside a change to shared memory.
 * - The worker moves RUNNING or CANCEL→ENDED with a compare-exchange as it hands its outcome back;
 *   the pool moves CANCEL→KILLING the same way. If the worker wins, its outcome is on its way and
 *   the worker lives on: a timeout that fires after the task ended (the pool's thread was busy)
 *   stands down, and so does a kill after the grace period. If the pool wins, the worker never
 *   hands the task back and waits to be terminated.
 * - The slot goes back to IDLE only on the pool's side, once Piscina has settled the task.
 * - A map chunk's worker writes ITEM, the position in the chunk of the item it is running, before
 *   each item, and, when the chunk has a timeout, ITEM_STARTED (`boardClock()`) just before it.
 *   Only the worker writes them, only the pool reads them: when the worker dies or the timeout
 *   fires, ITEM names the item that was running, and the items before it had finished; the
 *   timeout counts from ITEM_STARTED, so it applies to each item.
 */
const SLOT_WORDS = 4;
const STATE = 0;
const THREAD_ID = 1;
const ITEM = 2;
const ITEM_STARTED = 3;

/** The index in the board's words of one field (STATE, THREAD_ID, ITEM, ITEM_STARTED) of a slot. */
function wordOf(slot: number, field: number): number {
  return slot * SLOT_WORDS + field;
}

/**
 * Milliseconds on a clock every thread of the process reads alike (`timeOrigin + now()`), cut to
 * 32 bits for an Int32Array word: compare two readings by `(later - earlier) | 0`, exact for
 * spans under 24 days.
 */
export function boardClock(): number {
  return (performance.timeOrigin + performance.now()) | 0;
}

export const IDLE = 0;
export const QUEUED = 1;
export const RUNNING = 2;
export const SKIP = 3;
export const CANCEL = 4;
export const KILLING = 5;
export const ENDED = 6;

/**
 * The board, read and changed slot by slot through the named steps above: the only code that
 * knows the slot's layout. The pool and every worker each wrap the same shared words.
 */
export class TaskBoard {
  /** The shared words (what crosses to the workers in `RuntimeData`). */
  readonly words: Int32Array;

  constructor(words: Int32Array) {
    this.words = words;
  }

  /** A board of `slots` free slots, on fresh shared memory. */
  static ofSlots(slots: number): TaskBoard {
    return new TaskBoard(new Int32Array(new SharedArrayBuffer(slots * SLOT_WORDS * 4)));
  }

  get slots(): number {
    return this.words.length / SLOT_WORDS;
  }

  state(slot: number): number {
    return Atomics.load(this.words, wordOf(slot, STATE));
  }

  /** The thread that started the task in `slot` (0 before it started). */
  thread(slot: number): number {
    return Atomics.load(this.words, wordOf(slot, THREAD_ID));
  }

  // ─── the pool's steps ─────────────────────────────────────────────────────────────────────

  /** IDLE → QUEUED: the task in `slot` is handed over; its worker may start it from now on. */
  occupy(slot: number): void {
    Atomics.store(this.words, wordOf(slot, THREAD_ID), 0);
    Atomics.store(this.words, wordOf(slot, STATE), QUEUED);
  }

  /** QUEUED → SKIP: true when the worker had not started it, and now never will. */
  skip(slot: number): boolean {
    return Atomics.compareExchange(this.words, wordOf(slot, STATE), QUEUED, SKIP) === QUEUED;
  }

  /** RUNNING → CANCEL: `currentTask().signal` aborts in the worker. */
  askToStop(slot: number): void {
    Atomics.compareExchange(this.words, wordOf(slot, STATE), RUNNING, CANCEL);
  }

  /** CANCEL → KILLING; returns the state found (CANCEL or KILLING: the pool won; ENDED: the task did). */
  markKilling(slot: number): number {
    return Atomics.compareExchange(this.words, wordOf(slot, STATE), CANCEL, KILLING);
  }

  /** Back to IDLE once Piscina is done with the task, waking a start watcher that never fired. */
  free(slot: number): void {
    Atomics.store(this.words, wordOf(slot, STATE), IDLE);
    Atomics.notify(this.words, wordOf(slot, STATE));
  }

  /** Settles when the state of `slot` is no longer QUEUED (the worker notifies when asked to: `watchStart`). */
  whenStarted(slot: number): ReturnType<typeof Atomics.waitAsync> {
    return Atomics.waitAsync(this.words, wordOf(slot, STATE), QUEUED);
  }

  /** A map chunk: the position of the item that is running (or was, when its worker died). */
  item(slot: number): number {
    return Atomics.load(this.words, wordOf(slot, ITEM));
  }

  /** A timed map chunk: how long its item in hand has run, in ms. */
  itemRanMs(slot: number): number {
    return (boardClock() - Atomics.load(this.words, wordOf(slot, ITEM_STARTED))) | 0;
  }

  /** Tasks running now: started, and not ended. */
  countRunning(): number {
    let n = 0;
    for (let slot = 0; slot < this.slots; slot++) {
      const state = this.state(slot);
      if (state === RUNNING || state === CANCEL || state === KILLING) n++;
    }
    return n;
  }

  // ─── the worker's steps ───────────────────────────────────────────────────────────────────

  /**
   * QUEUED → RUNNING by thread `threadId`; false when the pool skipped it first. A map chunk's
   * first item is placed before (see ITEM), `timed` with its start; `notify` wakes the pool's start watcher.
   */
  start(slot: number, threadId: number, chunk: boolean, timed: boolean, notify: boolean): boolean {
    Atomics.store(this.words, wordOf(slot, THREAD_ID), threadId);
    if (chunk) {
      if (timed) Atomics.store(this.words, wordOf(slot, ITEM_STARTED), boardClock());
      Atomics.store(this.words, wordOf(slot, ITEM), 0);
    }
    const state = wordOf(slot, STATE);
    if (Atomics.compareExchange(this.words, state, QUEUED, RUNNING) !== QUEUED) return false;
    if (notify) Atomics.notify(this.words, state);
    return true;
  }

  /** A map chunk moves on to item `i` (`timed`: with its start). */
  enterItem(slot: number, i: number, timed: boolean): void {
    if (timed) Atomics.store(this.words, wordOf(slot, ITEM_STARTED), boardClock());
    Atomics.store(this.words, wordOf(slot, ITEM), i);
  }

  /** RUNNING or CANCEL → ENDED; returns the state it found: KILLING means the pool won, and the task must not hand back. */
  end(slot: number): number {
    const word = wordOf(slot, STATE);
    const state = Atomics.compareExchange(this.words, word, RUNNING, ENDED);
    return state === CANCEL ? Atomics.compareExchange(this.words, word, CANCEL, ENDED) : state;
  }

  /** The pool asked the task to stop (CANCEL), or is terminating its worker (KILLING). */
  stopRequested(slot: number): boolean {
    const state = this.state(slot);
    return state === CANCEL || state === KILLING;
  }

  /** Settles when the state of `slot` changes from what it is now. */
  whenChanged(slot: number): ReturnType<typeof Atomics.waitAsync> {
    const word = wordOf(slot, STATE);
    return Atomics.waitAsync(this.words, word, Atomics.load(this.words, word));
  }
}

/** What the worker runtime publishes about the task this thread is running. */
export interface TaskControl {
  board: TaskBoard;
  slot: number;
}

// A global, not a module variable: `threadgate`, `threadgate/worker` and the runtime may be
// loaded as separate module instances (ESM and CJS builds), and must all see the same task.
const CONTROL_KEY = Symbol.for('threadgate.taskControl');
type ControlHolder = { [CONTROL_KEY]?: TaskControl | undefined };

export function setTaskControl(control: TaskControl | undefined): void {
  (globalThis as ControlHolder)[CONTROL_KEY] = control;
}

export function getTaskControl(): TaskControl | undefined {
  return (globalThis as ControlHolder)[CONTROL_KEY];
}

/*
 * ─── Thread seats: the kill handshake ──────────────────────────────────────────────────────────
 * One more `Int32Array` shared by a pool and its workers, one seat per live worker:
 *
 *   seat i:  [ THREAD_ID (0 = free), KILL, SECTIONS ]
 *
 * A worker takes a free seat when its runtime starts (compare-exchange on THREAD_ID); the pool
 * frees it after the worker's exit. Every termination the pool makes (timeout, cancel after its
 * grace, retirement, shutdown) goes through the seat:
 *
 *   worker, entering a shared-memory critical section:  SECTIONS += 1, then read KILL;
 *                                                       if set, SECTIONS -= 1 and refuse (AbortError)
 *   worker, leaving it:                                 SECTIONS -= 1
 *   pool, before terminating:                           KILL = 1, then read SECTIONS;
 *                                                       0 → terminate; else look again shortly
 *
 * Atomics are sequentially consistent, so of the two reads one sees the other side's write: a
 * thread is never terminated inside a critical section (nor while waiting to enter one, holding
 * nothing), and never enters one once its pool has decided to terminate it, whether the code
 * that runs is a task or not (a timer, an initializer's background job).
 */
export const SEAT_WORDS = 3;
export const SEAT_THREAD = 0;
export const SEAT_KILL = 1;
export const SEAT_SECTIONS = 2;

/** Seats for a pool of `maxWorkers`: room for replacements that start before the exit of those they replace is seen. */
export function seatsFor(maxWorkers: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer((maxWorkers * 2 + 8) * SEAT_WORDS * 4));
}

/** This thread's seat: the seats and its first word, once its runtime has taken one. */
interface Seat {
  seats: Int32Array;
  at: number;
}

const SEAT_KEY = Symbol.for('threadgate.threadSeat');
type SeatHolder = { [SEAT_KEY]?: Seat };

/**
 * Takes a free seat for thread `threadId` (in the worker runtime, before any user code runs).
 * Returns false when every seat is taken: that thread then has no handshake, and its pool
 * terminates it as it finds it.
 */
export function takeSeat(seats: Int32Array, threadId: number): boolean {
  for (let at = 0; at < seats.length; at += SEAT_WORDS) {
    if (Atomics.compareExchange(seats, at + SEAT_THREAD, 0, threadId) !== 0) continue;
    (globalThis as SeatHolder)[SEAT_KEY] = { seats, at };
    return true;
  }
  return false;
}

/**
 * This thread's seat, read once: a worker's runtime takes it before any user code can call a
 * semaphore, so the first call already sees it; a thread without one never gets one.
 */
let seatRead: Seat | null = null;
let seatKnown = false;
function mySeat(): Seat | undefined {
  if (!seatKnown) {
    seatRead = (globalThis as SeatHolder)[SEAT_KEY] ?? null;
    seatKnown = true;
  }
  return seatRead ?? undefined;
}

/** The first word of thread `threadId`'s seat, or -1. */
export function seatOf(seats: Int32Array, threadId: number): number {
  for (let at = 0; at < seats.length; at += SEAT_WORDS) if (Atomics.load(seats, at + SEAT_THREAD) === threadId) return at;
  return -1;
}

/** The pool's side: marks the thread to be terminated, and says whether that may happen now. */
export function mayTerminate(seats: Int32Array, at: number): boolean {
  Atomics.store(seats, at + SEAT_KILL, 1);
  return Atomics.load(seats, at + SEAT_SECTIONS) === 0;
}

/** The pool's side, after the thread's exit: the seat is free again. */
export function freeSeat(seats: Int32Array, at: number): void {
  Atomics.store(seats, at + SEAT_KILL, 0);
  Atomics.store(seats, at + SEAT_SECTIONS, 0);
  Atomics.store(seats, at + SEAT_THREAD, 0);
}

/**
 * The worker's side, entering a critical section: false when this thread's pool is terminating
 * it, and then it must not enter. A thread without a seat (the main thread, a `Worker` of your
 * own) always may.
 */
export function enterSection(): boolean {
  const seat = mySeat();
  if (seat === undefined) return true;
  Atomics.add(seat.seats, seat.at + SEAT_SECTIONS, 1);
  if (Atomics.load(seat.seats, seat.at + SEAT_KILL) === 0) return true;
  Atomics.sub(seat.seats, seat.at + SEAT_SECTIONS, 1);
  return false;
}

/** The worker's side, leaving a critical section it entered. */
export function leaveSection(): void {
  const seat = mySeat();
  if (seat !== undefined) Atomics.sub(seat.seats, seat.at + SEAT_SECTIONS, 1);
}
