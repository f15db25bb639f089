import { isMainThread } from 'node:worker_threads';
import { AbortError, ThreadgateError } from '../../errors.js';
import { enterSection, leaveSection } from '../../wire/task-control.js';
import { M_LOCK, ME } from './layout.js';

/*
 * ─── The internal lock: LOCK, one word of the semaphore's memory ─────────────────────────────
 * A futex mutex after Drepper's "Futexes are tricky" (mutex 2), whose word records its owner:
 *
 *   0                       free
 *   owner                   held by thread owner − 1 (owner = threadId + 1), nobody asleep on it
 *   owner | CONTENDED       held, and somebody may be asleep on it: the unlocker must notify
 *
 *   lock     CAS 0 → ME; after LOCK_SPINS failed tries, set CONTENDED and sleep on the word, at
 *            most LOCK_SLEEP_MS at a time; a thread woken from sleep takes it as ME | CONTENDED,
 *            since others may still sleep
 *   unlock   exchange → 0; if it was CONTENDED, notify one sleeper
 *
 * The mark lives in the word, not in a count of sleepers, so a thread killed in its sleep costs
 * one needless notify at the next unlock and nothing after. A lock held by a thread that has
 * exited (`reclaim`'s `deadThread`) is taken over instead of waited for (I7 in layout.ts).
 *
 * Every critical section runs between `lock` and `unlock`, unlocks in a `finally`, never calls
 * user code, never allocates on the shared side, and is a few dozen instructions long. The stack
 * it needs is made sure of before LOCK is taken (`reserveStack`): a call near the stack's limit
 * overflows before it writes anything, never halfway. A pool worker enters a section only
 * through its thread's seat (wire/task-control.ts): its pool terminates it only while it is in no
 * section and waits for none, and once the pool has decided to, the worker enters none (`lock`
 * throws AbortError). So no kill of a pool (timeout, cancel, retirement, shutdown) leaves LOCK
 * held or state half-written, whatever code the worker runs.
 */

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

/**
 * Takes LOCK of the semaphore memory `m`, entering a section through this thread's seat first;
 * `unlock` leaves it. A lock held by `deadThread` (one that has exited) is taken over. Throws
 * AbortError once this thread's pool is stopping it, and on the main thread
 * ERR_SEMAPHORE_LOCK_HELD after MAIN_THREAD_LOCK_PATIENCE_MS behind one holder; either way
 * holding nothing.
 */
export function lock(m: Int32Array, deadThread = -1): void {
  reserveStack(RESERVED_FRAMES, 0, 0, 0, 0);
  if (!enterSection()) throw new AbortError('this thread is being stopped by its pool');
  let word = Atomics.compareExchange(m, M_LOCK, 0, ME);
  for (let spins = LOCK_SPINS; word !== 0 && spins > 0; spins--) word = Atomics.compareExchange(m, M_LOCK, 0, ME);
  // The main thread gives up on a holder that keeps LOCK too long (I7); other threads wait for
  // the main thread's reclaim of a dead holder to free it.
  let holder = word & ~CONTENDED;
  let patience = isMainThread && word !== 0 ? performance.now() + MAIN_THREAD_LOCK_PATIENCE_MS : Number.POSITIVE_INFINITY;
  while (word !== 0) {
    if ((word & ~CONTENDED) !== holder) {
      holder = word & ~CONTENDED; // another holder: the lock moves, nobody is stuck
      if (isMainThread) patience = performance.now() + MAIN_THREAD_LOCK_PATIENCE_MS;
    } else if (performance.now() > patience) {
      leaveSection();
      throw lockHeld(holder - 1);
    }
    if ((word & CONTENDED) === 0) {
      const seen = Atomics.compareExchange(m, M_LOCK, word, word | CONTENDED); // the owner will notify on unlock
      if (seen !== word) {
        word = seen === 0 ? Atomics.compareExchange(m, M_LOCK, 0, ME | CONTENDED) : seen; // freed meanwhile: take it
        continue;
      }
      word |= CONTENDED;
    }
    // Held by a thread that has exited (reclaim's): nobody else will ever free it.
    if ((word & ~CONTENDED) - 1 === deadThread && Atomics.compareExchange(m, M_LOCK, word, ME | CONTENDED) === word) break;
    Atomics.wait(m, M_LOCK, word, LOCK_SLEEP_MS); // returns at once if the word is no longer `word`
    word = Atomics.compareExchange(m, M_LOCK, 0, ME | CONTENDED);
  }
}

/** Frees LOCK, waking one sleeper if any may sleep, and leaves the section. */
export function unlock(m: Int32Array): void {
  if ((Atomics.exchange(m, M_LOCK, 0) & CONTENDED) !== 0) Atomics.notify(m, M_LOCK, 1);
  leaveSection();
}

/** The main thread gave up on LOCK (see `MAIN_THREAD_LOCK_PATIENCE_MS`). */
function lockHeld(threadId: number): ThreadgateError {
  return new ThreadgateError(
    'ERR_SEMAPHORE_LOCK_HELD',
    `the semaphore's internal lock has been held by thread ${threadId} for over ${MAIN_THREAD_LOCK_PATIENCE_MS} ms: that thread most likely died inside it (out of memory). Nothing was changed. Once this thread's event loop sees the worker's exit, its pool (or your reclaim(${threadId})) takes the lock over, and calls succeed again.`,
  );
}
