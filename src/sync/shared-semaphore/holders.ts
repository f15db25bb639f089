import { ThreadgateError } from '../../errors.js';
import { H_OWED, H_OWN, HEADER_WORDS, HOLDER_WORDS, M_DEBT, ME, OWED, type View } from './layout.js';

/*
 * ─── The holder table: who holds how many units ──────────────────────────────────────────────
 * One entry per thread that has taken units: [OWNER (threadId + 1, 0 = free entry), OWN, OWED].
 * A thread claims its entry the first time it takes the locked path, and keeps it until it is
 * reclaimed. OWN is written by its own thread only (the fast paths too); OWED by others, under
 * LOCK. Every method here runs under LOCK.
 *
 * ─── Hand-offs ───────────────────────────────────────────────────────────────────────────────
 * A thread may release units another thread took (raw `release(n)`). What it gives beyond its own
 * OWN is booked against the thread that owes it: the one named by `onBehalfOf`, or else the only
 * other thread that holds units. Its OWED grows; the units are free again. That thread's
 * effective hold is OWN − OWED: `heldBy` and `reclaim` count it so, its fast give stands aside
 * while OWED is not 0, and its next locked call settles OWED into OWN. So a dead worker's reclaim
 * gives back exactly what it still held, and no other thread pays for it.
 * When the owner cannot be told (several other holders, none named), the units go to DEBT: any
 * thread that enters the locked path pays DEBT off from its OWN, and `reclaim` pays it from the
 * dead thread's units before giving the rest back. So a reclaim never gives back more than is
 * out; while DEBT stands, fast takes are off so that no OWN grows without bound.
 */
export class HolderTable {
  readonly #view: View;
  /** The OWN word of this thread's entry, or -1 before it has one. Checked on every use. */
  #own = -1;

  constructor(view: View) {
    this.#view = view;
  }

  /** The OWN word of this thread's entry as last found (-1: none yet), for the fast paths. */
  get own(): number {
    return this.#own;
  }

  /** This thread's OWN word, or -1 if it has no entry. */
  find(): number {
    const { m, maxHolders } = this.#view;
    const cached = this.#own;
    if (cached >= 0 && m[cached - H_OWN] === ME) return cached;
    for (let e = 0; e < maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS;
      if (m[at] === ME) return (this.#own = at + H_OWN);
    }
    return -1;
  }

  /** This thread's OWN word, claiming a free entry if it has none. Throws when the table is full, writing nothing. */
  claim(): number {
    const found = this.find();
    if (found >= 0) return found;
    const { m, maxHolders } = this.#view;
    for (let e = 0; e < maxHolders; e++) {
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
      `too many threads hold this semaphore at once (maxHolders: ${maxHolders}); raise options.maxHolders`,
    );
  }

  /** Units the thread marked `owner` holds by its entries: OWN − OWED (a snapshot while it runs). */
  heldBy(owner: number): number {
    const { m, maxHolders } = this.#view;
    let units = 0;
    for (let e = 0; e < maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS;
      if (Atomics.load(m, at) === owner) units += (m[at + H_OWN] as number) - (m[at + H_OWED] as number);
    }
    return units;
  }

  /**
   * Frees the entries of the (exited) thread marked `owner` and returns the units it still held.
   * Units given back for it twice (OWED > OWN, I2) become DEBT, which keeps I1.
   */
  reclaim(owner: number): number {
    const { m, maxHolders } = this.#view;
    let units = 0;
    for (let e = 0; e < maxHolders; e++) {
      const at = HEADER_WORDS + e * HOLDER_WORDS;
      if (m[at] !== owner) continue;
      const held = (m[at + H_OWN] as number) - (m[at + H_OWED] as number); // what others gave back for it is not its to give
      if (held >= 0) units += held;
      else m[M_DEBT] = (m[M_DEBT] as number) - held;
      m[at + H_OWN] = 0;
      m[at + H_OWED] = 0;
      Atomics.store(m, at, 0);
    }
    return units;
  }

  /**
   * The OWN word of the thread units given back on another's behalf are booked against: the one
   * named (if it holds any), else the only other thread that holds any; -1 when it cannot be
   * told. OWN is read plainly: its thread may be taking or giving on its fast path, and a stale
   * read books against a thread that gave the same units back itself (I2's double give-back),
   * never against one that had none.
   */
  debtorFor(onBehalfOf: number | undefined): number {
    const { m, maxHolders } = this.#view;
    const named = onBehalfOf === undefined ? undefined : onBehalfOf + 1;
    let found = -1;
    for (let e = 0; e < maxHolders; e++) {
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
   * Settles what others gave back on this thread's behalf: OWED comes off OWN. On the owner's
   * thread (only it writes OWN). An OWED beyond OWN (the same units given back twice) becomes
   * DEBT, which keeps I1.
   */
  settleOwed(own: number): void {
    const { m } = this.#view;
    const owed = m[own + OWED] as number;
    if (owed === 0) return;
    const paid = Math.min(owed, m[own] as number);
    m[own] = (m[own] as number) - paid;
    m[own + OWED] = 0;
    if (owed > paid) m[M_DEBT] = (m[M_DEBT] as number) + owed - paid;
  }

  /** Settles this thread's OWED, then moves DEBT off its OWN, as far as it goes. */
  payDebt(own: number): void {
    this.settleOwed(own);
    const { m } = this.#view;
    const paid = Math.min(m[own] as number, m[M_DEBT] as number);
    m[own] = (m[own] as number) - paid;
    m[M_DEBT] = (m[M_DEBT] as number) - paid; // I1 unchanged: both sides drop by `paid`
  }
}
