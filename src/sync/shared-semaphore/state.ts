import { overRelease } from '../semaphore.js';
import { type FastPaths, fastPathsOn } from './fast-path.js';
import { HolderTable } from './holders.js';
import { available, GRANTED, M_DEBT, M_STATE, M_WAITING, ME, OWED, type Storage, type View, viewOn, WAITING } from './layout.js';
import { lock, unlock } from './lock.js';
import { type Ticket, WaiterLine } from './waiter-line.js';

/*
 * ─── Fast paths (no LOCK: one compare-exchange on STATE each, in WebAssembly) ────────────────
 *   take w     STATE >= w (LINE clear, enough free) and DEBT = 0: CAS STATE s→s−w, then OWN += w
 *   give w     STATE >= 0, s + w <= CAPACITY, OWN >= w, OWED = 0: CAS STATE s→s+w, then OWN −= w
 *   A failed CAS changes nothing and falls back to the locked path. With LINE set both fail, so
 *   a newcomer never overtakes a waiter (I4) and a release always grants the head (I5).
 *   Each is one Wasm function without calls or loops, so a pool's kill (`worker.terminate()`),
 *   which V8 delivers only at function entries and loop back edges, never lands between the
 *   CAS and the store to OWN: no thread dies with I1 half updated (fast-path.ts says why; the
 *   test "workers killed at random points of a lock-free take/give loop" guards it).
 *
 * ─── The locked paths ────────────────────────────────────────────────────────────────────────
 * Each public operation below that is not a fast path is one critical section (lock.ts): it
 * takes LOCK, moves units between AVAILABLE, the holder table (holders.ts) and the waiter line
 * (waiter-line.ts) keeping I1-I6 (layout.ts), and unlocks in a `finally`.
 */

/** A semaphore's state in shared memory, and every transition of it, for this thread. */
export class SemaphoreState {
  readonly view: View;
  readonly #fast: FastPaths | undefined;
  readonly #holders: HolderTable;
  readonly #line: WaiterLine;

  constructor(storage: Storage) {
    this.view = viewOn(storage.buffer);
    this.#fast = storage.memory && fastPathsOn(storage.memory, M_STATE * 4, M_DEBT * 4);
    this.#holders = new HolderTable(this.view);
    this.#line = new WaiterLine(this.view);
  }

  get available(): number {
    return available(Atomics.load(this.view.m, M_STATE));
  }

  get waiting(): number {
    return Atomics.load(this.view.m, M_WAITING);
  }

  /** Units the thread marked `owner` holds, granted ones not yet read included (a snapshot). */
  heldBy(owner: number): number {
    return this.#holders.heldBy(owner) + this.#line.grantedTo(owner);
  }

  /** Takes `weight` units with one compare-exchange if nobody waits, enough are free and DEBT is 0. */
  takeFast(weight: number): boolean {
    const own = this.#holders.own;
    return own >= 0 && this.#fast?.take(weight, own * 4, ME) === 1;
  }

  /** Gives `weight` of this thread's own units back with one compare-exchange if nobody waits. */
  giveFast(weight: number): boolean {
    const own = this.#holders.own;
    return own >= 0 && this.#fast?.give(weight, own * 4, ME, this.view.capacity) === 1;
  }

  /** Takes `weight` if nobody waits and it is free; never queues. */
  tryTake(weight: number): boolean {
    lock(this.view.m);
    try {
      return this.#take(weight);
    } finally {
      unlock(this.view.m);
    }
  }

  /** Takes `weight` at once if nobody waits and it is free (undefined); otherwise joins the line. */
  enter(weight: number): Ticket | undefined {
    lock(this.view.m);
    try {
      return this.#take(weight) ? undefined : this.#line.join(weight);
    } finally {
      unlock(this.view.m);
    }
  }

  /** The word a waiter sleeps on: its request's state (see `turnOf`). */
  stateWord(ticket: Ticket): number {
    return this.#line.stateWord(ticket);
  }

  /**
   * Leaves the line. True if the request had been granted meanwhile (the grant won the race:
   * the units are now this thread's), else false.
   */
  cancel(ticket: Ticket): boolean {
    lock(this.view.m);
    try {
      const s = this.#line.stateOf(ticket);
      if (s === WAITING) this.#line.leave(ticket);
      else if (s === GRANTED) this.#takeGrant(ticket);
      return s === GRANTED;
    } finally {
      unlock(this.view.m);
    }
  }

  /**
   * Where a waiting request stands: `granted` once its units are picked up (they are this thread's
   * now), `waiting`, or `revoked` when its slot was reclaimed, before or after a grant (the units
   * went back with the rest of the thread's).
   */
  turnOf(ticket: Ticket): 'granted' | 'waiting' | 'revoked' {
    const s = this.#line.stateOf(ticket);
    if (s === WAITING) return 'waiting';
    return s === GRANTED && this.#pickUp(ticket) ? 'granted' : 'revoked';
  }

  /** Picks up a request seen GRANTED: true, or false if its slot was reclaimed since. */
  #pickUp(ticket: Ticket): boolean {
    lock(this.view.m);
    try {
      const granted = this.#line.stateOf(ticket) === GRANTED;
      if (granted) this.#takeGrant(ticket);
      return granted;
    } finally {
      unlock(this.view.m);
    }
  }

  /**
   * Gives back `n` units: this thread's own first, the rest booked against the thread that owes
   * them (`HolderTable.debtorFor`), or as DEBT. Throws on over-release, changing nothing.
   */
  give(n: number, onBehalfOf: number | undefined): void {
    const { m, capacity } = this.view;
    const holders = this.#holders;
    lock(m);
    try {
      const own = holders.find();
      if (own >= 0) holders.settleOwed(own);
      const ownBefore = own < 0 ? 0 : (m[own] as number);
      const debtBefore = m[M_DEBT] as number;
      const fromOwn = Math.min(n, ownBefore);
      let rest = n - fromOwn;
      const debtor = rest > 0 ? holders.debtorFor(onBehalfOf) : -1;
      const booked = debtor < 0 ? 0 : Math.min(rest, (m[debtor] as number) - (m[debtor + OWED] as number));
      if (debtor >= 0) m[debtor + OWED] = (m[debtor + OWED] as number) + booked; // its OWED (I1: OWN − OWED drops by `booked`)
      rest -= booked;
      if (own >= 0) m[own] = ownBefore - fromOwn;
      m[M_DEBT] = debtBefore + rest; // I1: given back for nobody it can name
      if (own >= 0) holders.payDebt(own);
      if (this.#putBack(n)) return;
      if (own >= 0) m[own] = ownBefore;
      if (debtor >= 0) m[debtor + OWED] = (m[debtor + OWED] as number) - booked;
      m[M_DEBT] = debtBefore;
      throw overRelease(n, capacity - available(Atomics.load(m, M_STATE)));
    } finally {
      unlock(m);
    }
  }

  /**
   * Gives back every unit the exited thread `threadId` holds and drops its waiting requests,
   * taking LOCK over if that thread died holding it. Returns the units that came back.
   */
  reclaim(threadId: number): number {
    const { m } = this.view;
    const owner = threadId + 1;
    lock(m, threadId);
    try {
      let units = this.#holders.reclaim(owner) + this.#line.reclaim(owner);
      const paid = Math.min(units, m[M_DEBT] as number);
      m[M_DEBT] = (m[M_DEBT] as number) - paid; // units someone already gave back for it (I1)
      units -= paid;
      // By I1 a dead thread's units are out, so they fit. With LINE set (always, if one of its
      // requests was in line) this grants the head and clears LINE if the line is now empty (I5, I6).
      this.#putBack(units);
      return units;
    } finally {
      unlock(m);
    }
  }

  /** The locked `takeFast`: takes `weight` for this thread if nobody waits and it is free. */
  #take(weight: number): boolean {
    const { m } = this.view;
    const own = this.#holders.claim(); // may throw, before any write; a request that queues needs it too, to read its grant
    this.#holders.payDebt(own);
    for (;;) {
      const s = Atomics.load(m, M_STATE);
      if (s < weight) return false; // somebody waits (LINE), or too few are free: never overtake (I4)
      if (Atomics.compareExchange(m, M_STATE, s, s - weight) !== s) continue; // a fast path moved it: look again
      m[own] = (m[own] as number) + weight; // I1
      return true;
    }
  }

  /** Moves a granted request's units into this thread's OWN and frees its slot. */
  #takeGrant(ticket: Ticket): void {
    const own = this.#holders.find(); // claimed when the request joined the line
    const { m } = this.view;
    m[own] = (m[own] as number) + ticket.weight; // I1: from the slot to OWN
    this.#line.pickedUp(ticket);
    this.#holders.payDebt(own);
  }

  /**
   * Adds `n` to AVAILABLE, granting the head if somebody waits (I5). Returns false, changing
   * nothing, if that would exceed the capacity.
   */
  #putBack(n: number): boolean {
    const { m, capacity } = this.view;
    for (;;) {
      const s = Atomics.load(m, M_STATE);
      if (n > capacity - available(s)) return false;
      if (s < 0) {
        Atomics.store(m, M_STATE, s + n); // LINE is set: only the LOCK holder writes STATE (I6)
        this.#line.grantHead();
        return true;
      }
      if (Atomics.compareExchange(m, M_STATE, s, s + n) === s) return true; // nobody waits; fast paths may race
    }
  }
}
