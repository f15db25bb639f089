import { ThreadgateError } from '../../errors.js';
import {
  available,
  FREE,
  GRANTED,
  LINE,
  M_FREE,
  M_HEAD,
  M_STATE,
  M_TAIL,
  M_WAITING,
  ME,
  S_NEXT,
  S_OWNER,
  S_PREV,
  S_SEQ,
  S_STATE,
  S_WEIGHT,
  slotAt,
  type View,
  WAITING,
} from './layout.js';

/*
 * ─── The waiter line: one slot per request that has to wait ──────────────────────────────────
 * A doubly linked list threaded through the waiter slots (FIFO: join at TAIL, served at HEAD);
 * unused slots form a singly linked free list. A request that gives up is unlinked in O(1)
 * wherever it stands, so cancelled requests never take room from live ones. SEQ counts the
 * slot's reuses: a waiter remembers it, so a slot reused after a reclaim is never mistaken for
 * its own. Every method here runs under LOCK, except `stateOf`, which a waiter reads to decide
 * whether to take LOCK at all.
 *
 *   FREE ──join (lock)──▶ WAITING ──grantHead (lock): units leave AVAILABLE, notify──▶ GRANTED
 *                           │                         waiter reads it into OWN (lock) ──▶ FREE
 *                           └──timeout / abort / reclaim (lock): unlinked, notify──▶ FREE
 *
 * A waiter that gives up takes the lock and looks: still WAITING → it leaves the line; already
 * GRANTED → the grant raced the cancel and won: the units are the waiter's, and it keeps them
 * (a zero timeout) or passes them straight on (a timeout or abort). Either way no permit is
 * lost or duplicated (the CPython #90155 fix: every waiter has its own state).
 */

/** A request waiting in line: its slot, the slot's SEQ when it was taken, and the weight. */
export interface Ticket {
  slot: number;
  seq: number;
  weight: number;
}

export class WaiterLine {
  readonly #view: View;

  constructor(view: View) {
    this.#view = view;
  }

  /**
   * Takes a slot and joins the line at its tail, setting LINE (fast paths stop: STATE is the LOCK
   * holder's from here, I6), then grants the head: units freed by a fast release since this
   * thread looked would otherwise sleep (I5). Throws when every slot is taken, writing nothing.
   */
  join(weight: number): Ticket {
    const view = this.#view;
    const { m } = view;
    const free = m[M_FREE] as number;
    if (free === 0) {
      throw new ThreadgateError(
        'ERR_TOO_MANY_WAITERS',
        `too many requests are waiting on this semaphore (maxWaiters: ${view.maxWaiters}); raise options.maxWaiters`,
      );
    }
    const slot = free - 1;
    const base = slotAt(view, slot);
    m[M_FREE] = m[base + S_NEXT] as number; // off the free list
    const seq = ((m[base + S_SEQ] as number) + 1) | 0;
    Atomics.store(m, base + S_SEQ, seq); // a new life for this slot, before it can be granted
    m[base + S_WEIGHT] = weight;
    m[base + S_OWNER] = ME;
    m[base + S_NEXT] = 0;
    m[base + S_PREV] = m[M_TAIL] as number;
    if (m[M_TAIL] === 0) m[M_HEAD] = free;
    else m[slotAt(view, (m[M_TAIL] as number) - 1) + S_NEXT] = free;
    m[M_TAIL] = free; // joins the line at the tail (I4)
    Atomics.store(m, base + S_STATE, WAITING);
    m[M_WAITING] = (m[M_WAITING] as number) + 1; // I3
    Atomics.or(m, M_STATE, LINE); // I6
    this.grantHead();
    return { slot, seq, weight };
  }

  /** Takes a WAITING request out of the line and frees its slot, then grants the head: a heavy head leaving may let the next ones through (I5). */
  leave(ticket: Ticket): void {
    this.#leaveLine(ticket.slot);
    this.#free(ticket.slot);
    this.grantHead();
  }

  /** Frees the slot of a request seen GRANTED, whose units its waiter has taken. */
  pickedUp(ticket: Ticket): void {
    this.#free(ticket.slot);
  }

  /**
   * Grants the head of the line while it fits, then writes STATE back: LINE cleared if the line
   * emptied (I6). Restores I5. Only with LINE set, when STATE is the LOCK holder's alone.
   */
  grantHead(): void {
    const view = this.#view;
    const { m } = view;
    let free = available(Atomics.load(m, M_STATE));
    for (let head = m[M_HEAD] as number; head !== 0; head = m[M_HEAD] as number) {
      const base = slotAt(view, head - 1);
      const weight = m[base + S_WEIGHT] as number;
      if (free < weight) break; // FIFO: the head blocks everyone behind it (I4)
      this.#unlink(head - 1);
      m[M_WAITING] = (m[M_WAITING] as number) - 1;
      free -= weight; // I1: the units move into the slot until its waiter reads them
      Atomics.store(m, base + S_STATE, GRANTED);
      Atomics.notify(m, base + S_STATE, 1); // wakes exactly that waiter: no herd, no lost wake-up
    }
    Atomics.store(m, M_STATE, m[M_HEAD] === 0 ? free : free | LINE); // I6: fast paths resume once the line is empty
  }

  /**
   * Drops every slot of the (exited) thread marked `owner`: its waiting requests leave the line
   * (its waiters, if any still watch, see their slot FREE). Returns the units granted to it and
   * never read, which are still its own. Does not grant the head: the caller puts units back.
   */
  reclaim(owner: number): number {
    const view = this.#view;
    const { m } = view;
    let units = 0;
    for (let slot = 0; slot < view.maxWaiters; slot++) {
      const base = slotAt(view, slot);
      if (m[base + S_OWNER] !== owner) continue;
      const s = m[base + S_STATE];
      if (s === WAITING) this.#leaveLine(slot);
      else if (s === GRANTED) units += m[base + S_WEIGHT] as number;
      if (s !== FREE) this.#free(slot);
    }
    return units;
  }

  /** Units granted to the thread marked `owner` and not read yet (a snapshot). */
  grantedTo(owner: number): number {
    const view = this.#view;
    const { m } = view;
    let units = 0;
    for (let slot = 0; slot < view.maxWaiters; slot++) {
      const base = slotAt(view, slot);
      if (m[base + S_OWNER] === owner && Atomics.load(m, base + S_STATE) === GRANTED) units += m[base + S_WEIGHT] as number;
    }
    return units;
  }

  /** The state of a waiter's request; FREE if its slot has moved on to another life (reclaimed). */
  stateOf(ticket: Ticket): number {
    const { m } = this.#view;
    const base = slotAt(this.#view, ticket.slot);
    const state = Atomics.load(m, base + S_STATE);
    return Atomics.load(m, base + S_SEQ) === ticket.seq ? state : FREE;
  }

  /** The word a waiter sleeps on: its slot's STATE. */
  stateWord(ticket: Ticket): number {
    return slotAt(this.#view, ticket.slot) + S_STATE;
  }

  /** Out of the line and out of the count (I3). */
  #leaveLine(slot: number): void {
    this.#unlink(slot);
    this.#view.m[M_WAITING] = (this.#view.m[M_WAITING] as number) - 1;
  }

  /** Takes a slot out of the line (O(1), from anywhere in it). */
  #unlink(slot: number): void {
    const view = this.#view;
    const { m } = view;
    const base = slotAt(view, slot);
    const next = m[base + S_NEXT] as number;
    const prev = m[base + S_PREV] as number;
    if (prev === 0) m[M_HEAD] = next;
    else m[slotAt(view, prev - 1) + S_NEXT] = next;
    if (next === 0) m[M_TAIL] = prev;
    else m[slotAt(view, next - 1) + S_PREV] = prev;
  }

  /** Puts a slot on the free list and wakes anyone still watching it. */
  #free(slot: number): void {
    const { m } = this.#view;
    const base = slotAt(this.#view, slot);
    m[base + S_OWNER] = 0;
    m[base + S_NEXT] = m[M_FREE] as number;
    m[M_FREE] = slot + 1;
    Atomics.store(m, base + S_STATE, FREE);
    Atomics.notify(m, base + S_STATE); // a waiter that was reclaimed sees it has lost its place
  }
}
