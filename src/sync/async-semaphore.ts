import { AcquireTimeoutError, abortErrorFrom } from '../errors.js';
import { checkInteger, MAX_INT32 } from '../validate.js';
import { FifoQueue } from './fifo-queue.js';
import { watchGiveUp } from './give-up.js';
import { newPermit, type Permit } from './permit.js';
import { type AcquireOptions, checkAcquireOptions, checkWeight, type LocalSemaphore, overRelease, withPermitOf } from './semaphore.js';

/*
 * State: `#available` free units and a FIFO line of waiters. Each `acquire` waiter has its own
 * state (WAITING → GRANTED, or WAITING → CANCELLED), so a cancel that races a grant can never
 * lose or duplicate a permit. A `withPermit` waiter (HeldCall) cannot give up: it is WAITING
 * while in the line, and it holds one unit from its grant until `fn` settles.
 *
 * Invariants, between any two statements that can yield:
 *   I1  #available <= capacity, always: every give-back checks it, and one that would pass it
 *       throws (ERR_SEMAPHORE_OVER_RELEASE) and changes nothing. #available + units held by
 *       un-released permits and running HeldCalls = capacity, unless release(n) gave units back
 *       on a holder's behalf; that holder's own give-back then throws if it would pass the
 *       capacity, and goes through if the units are out again (no holder is recorded to tell)
 *   I2  #waiting = waiters in the line still WAITING; #cancelled = the CANCELLED ones still in it,
 *       at most half the line (or a few): a waiter that gives up drops what it holds at once and
 *       is swept out with the others when they reach half, so abandoned requests cost no memory
 *       behind a head that never moves
 *   I3  if the head of the line is WAITING, #available < its weight (no free permit sits next to
 *       a grantable waiter): every path that frees units or removes a waiter calls #grantHead().
 *   I4  waiters are granted in the order they called acquire (strict FIFO, weights included)
 *   I5  HeldCalls start in the order they were granted: one runs at once only while #ready is
 *       empty, and never inside a caller's release() (only from our own reactions)
 */
const WAITING = 0;
const GRANTED = 1;
const CANCELLED = 2;

/** A waiter of `acquire`: `grant` resolves its promise with a Permit. */
interface Acquirer {
  state: number;
  weight: number;
  grant: () => void;
}

/** What a cancelled waiter's `grant` becomes: it lets go of the caller's promise and timers. */
const NOTHING = (): void => {};
/** Cancelled waiters the line may keep before it is swept (see I2). */
const SWEEP_AFTER = 32;
const isCancelled = (waiter: Waiter): boolean => !(waiter instanceof HeldCall) && waiter.state === CANCELLED;

/**
 * A waiter of `withPermit` without options: one unit, held for `fn` directly. It cannot give up
 * (no timeout, no signal), so it needs no state, and its weight is always 1. Two fields and no
 * `reject`: a burst of 100k queued calls is mostly the garbage collector moving what they keep
 * alive, so every function kept per call shows in it (bench: the AsyncSemaphore queued cases).
 */
class HeldCall {
  constructor(
    readonly fn: () => unknown,
    readonly resolve: (value: unknown) => void,
  ) {}
}

type Waiter = Acquirer | HeldCall;

let capturedResolve: (value: unknown) => void = () => {};
/** The executor of every `withPermit` promise: hands its resolve function over through the variable above. */
function captureResolve(resolve: (value: never) => void): void {
  capturedResolve = resolve as (value: unknown) => void;
}

/**
 * The in-thread counting semaphore (Python's `asyncio.BoundedSemaphore`): same interface and
 * guarantees as {@link SharedSemaphore} for code on one event loop, with an O(1) queue.
 *
 * **Fairness**: strict FIFO, weights included; a heavy request at the head holds back lighter
 * ones behind it until it fits. `tryAcquire` never overtakes a waiter.
 * **Cancellation**: a timed-out or aborted request leaves no permit behind, even when the grant
 * and the cancel happen in the same tick.
 * **Bounded**: releasing more than is out throws `ERR_SEMAPHORE_OVER_RELEASE`, changing nothing.
 * A raw `release(n)` names no holder: a permit whose units it gave back still releases once those
 * units are out again (as with `SharedSemaphore`); use one or the other for the same units.
 */
export class AsyncSemaphore implements LocalSemaphore {
  readonly capacity: number;
  #available: number;
  #waiting = 0;
  #cancelled = 0;
  readonly #line = new FifoQueue<Waiter>();
  /** Granted HeldCalls, run together in one microtask: never inside the release() that granted them. */
  readonly #ready = new FifoQueue<HeldCall>();
  #readyScheduled = false;
  readonly #runReady = (): void => {
    this.#readyScheduled = false;
    for (let call = this.#ready.shift(); call !== undefined; call = this.#ready.shift()) this.#run(call);
  };
  /**
   * Takes units back (a permit's release, `release(n)`, a HeldCall's end): never beyond the
   * capacity (I1). `inReaction`: called from one of our own reactions (see #grantHead).
   */
  readonly #giveBack = (weight: number, inReaction = false): void => {
    const out = this.capacity - this.#available;
    if (weight > out) throw overRelease(weight, out);
    this.#available += weight;
    this.#grantHead(inReaction);
  };

  /** @param capacity how many units may be out at once: an integer from 1 to 2^31-1. */
  constructor(capacity: number) {
    this.capacity = checkInteger('capacity', capacity, 1, MAX_INT32);
    this.#available = capacity;
  }

  get available(): number {
    return this.#available;
  }

  get waiting(): number {
    return this.#waiting;
  }

  tryAcquire(weight = 1): Permit | undefined {
    checkWeight('weight', weight, this.capacity);
    if (this.#waiting > 0 || this.#available < weight) return undefined;
    this.#available -= weight;
    return newPermit(weight, this.#giveBack);
  }

  acquire(options?: AcquireOptions): Promise<Permit> {
    let weight = 1;
    let timeoutMs: number | undefined;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      try {
        ({ weight, timeoutMs, signal } = checkAcquireOptions(options, this.capacity));
      } catch (err) {
        return Promise.reject(err);
      }
      if (signal?.aborted) return Promise.reject(abortErrorFrom(signal));
    }
    if (this.#waiting === 0 && this.#available >= weight) {
      this.#available -= weight;
      return Promise.resolve(newPermit(weight, this.#giveBack));
    }
    if (timeoutMs === 0) return Promise.reject(new AcquireTimeoutError(0));
    return new Promise<Permit>((resolve, reject) => {
      let stopWatching: () => void;
      const waiter: Acquirer = {
        state: WAITING,
        weight,
        grant: () => {
          stopWatching();
          resolve(newPermit(weight, this.#giveBack));
        },
      };
      const giveUp = (error: Error): void => {
        if (waiter.state !== WAITING) return; // granted first: the permit is the caller's
        waiter.state = CANCELLED; // skipped at the head, or swept out before (I2)
        waiter.grant = NOTHING;
        this.#waiting--;
        if (++this.#cancelled > SWEEP_AFTER && this.#cancelled * 2 > this.#line.size) {
          this.#line.removeWhere(isCancelled);
          this.#cancelled = 0;
        }
        stopWatching();
        this.#grantHead(); // a heavy head leaving may let the next ones through (I3)
        reject(error);
      };
      stopWatching = watchGiveUp(timeoutMs, signal, giveUp);
      this.#line.push(waiter);
      this.#waiting++;
    });
  }

  withPermit<T>(fn: () => T | PromiseLike<T>, options?: AcquireOptions): Promise<T> {
    if (options !== undefined || typeof fn !== 'function') return withPermitOf(this, fn, options); // the latter rejects
    // No timeout or signal to honour: hold one unit for fn directly, with no Permit, no acquire
    // promise and no closure in between. This is the queued-burst path (p-limit's use case).
    const promise = new Promise<T>(captureResolve); // a shared executor: no closure per call
    const call = new HeldCall(fn, capturedResolve);
    if (this.#waiting === 0 && this.#available >= 1) {
      this.#available -= 1;
      this.#start(call, true);
    } else {
      this.#line.push(call);
      this.#waiting++;
    }
    return promise;
  }

  #run(call: HeldCall): void {
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(call.fn());
    } catch (error) {
      result = Promise.reject(error);
    }
    // The unit is back before the caller resumes: the caller's promise settles as these return.
    call.resolve(result.then(this.#returnUnitWith, this.#returnUnitThrowing));
  }

  // A HeldCall's `fn` has settled: its unit goes back, from one of our own reactions. A unit that
  // `release()` gave back meanwhile is not given back twice: the call rejects with
  // ERR_SEMAPHORE_OVER_RELEASE instead, as a permit's release in `finally` would throw (I1).
  readonly #returnUnitWith = (value: unknown): unknown => {
    this.#giveBack(1, true);
    return value;
  };

  readonly #returnUnitThrowing = (error: unknown): never => {
    this.#giveBack(1, true);
    throw error;
  };

  release(n = 1): void {
    checkInteger('n', n, 1, MAX_INT32);
    this.#giveBack(n);
  }

  /**
   * Grants the head of the line while it fits, sweeping cancelled waiters (I3, I4). A granted
   * HeldCall runs in a later microtask, never inside the caller's `release()`; from one of our own
   * reactions (`inReaction`, nothing of the caller's on the stack) it runs at once, unless calls
   * granted earlier still wait to run.
   */
  #grantHead(inReaction = false): void {
    for (let head = this.#line.peek(); head !== undefined; head = this.#line.peek()) {
      if (head instanceof HeldCall) {
        if (this.#available < 1) return; // FIFO: the head blocks everyone behind it
        this.#line.shift();
        this.#available -= 1;
        this.#waiting--;
        this.#start(head, inReaction);
        continue;
      }
      if (head.state === CANCELLED) {
        this.#line.shift();
        this.#cancelled--;
        continue;
      }
      if (this.#available < head.weight) return; // FIFO: the head blocks everyone behind it
      this.#line.shift();
      this.#available -= head.weight;
      this.#waiting--;
      head.state = GRANTED;
      head.grant();
    }
  }

  /**
   * Starts a granted call: at once when `now` allows it and no call granted before it still waits
   * to run, else after those, in a microtask (I5).
   */
  #start(call: HeldCall, now: boolean): void {
    if (now && this.#ready.size === 0) this.#run(call);
    else this.#schedule(call);
  }

  #schedule(call: HeldCall): void {
    this.#ready.push(call);
    if (this.#readyScheduled) return;
    this.#readyScheduled = true;
    queueMicrotask(this.#runReady);
  }
}
