/**
 * How a map's results wait to be handed out: in input order, or in completion order. The map
 * iterator decides what runs and when it fails; a delivery only holds what has arrived and says
 * what comes next, including when the map's error has its turn.
 */
import { FifoQueue } from '../../sync/fifo-queue.js';

/** `next()` has nothing to hand out yet. */
export const NOTHING: unique symbol = Symbol('nothing');
/** `next()`: the map's recorded error is what comes next. */
export const ERROR_TURN: unique symbol = Symbol('errorTurn');

export interface Delivery {
  /** True for input order: an error then waits for its item's turn, and results before it still come. */
  readonly ordered: boolean;
  /** Results handed out so far. */
  readonly delivered: number;
  /** The results of a chunk whose first item is at map index `first` (its first `values.length` items). */
  accept(first: number, values: unknown[]): void;
  /** The next result, `ERROR_TURN` when the error recorded at `errorAt` comes first, or `NOTHING`. */
  next(errorAt: number | undefined): unknown;
  /** Moves every result ready to be handed out, up to any error, into `out`. */
  drainInto(out: unknown[]): void;
  /**
   * Records that an error was found at item `at`, and returns where it is thrown: input order, at
   * its item (never before what is already out); completion order, next in line (-1).
   */
  placeError(at: number): number;
  /** Whether an error found at `at` takes the place of one recorded at `recorded` (input order: the earlier item's). */
  replaces(at: number, recorded: number): boolean;
  /** Drops what waits: the map is over. */
  clear(): void;
}

export function deliveryFor(ordered: boolean): Delivery {
  return ordered ? new InputOrder() : new CompletionOrder();
}

/** Completed chunks by their first index; `cursor` is the next index to hand out, `offset` its place in its chunk. */
class InputOrder implements Delivery {
  readonly ordered = true;
  delivered = 0;
  readonly #ready = new Map<number, unknown[]>();
  #cursor = 0;
  #offset = 0;

  accept(first: number, values: unknown[]): void {
    if (values.length > 0) this.#ready.set(first, values);
  }

  next(errorAt: number | undefined): unknown {
    if (errorAt === this.delivered) return ERROR_TURN;
    const values = this.#ready.get(this.#cursor);
    if (values === undefined) return NOTHING;
    const value = values[this.#offset++];
    this.delivered++;
    if (this.#offset >= values.length) this.#nextChunk(values.length);
    return value;
  }

  drainInto(out: unknown[]): void {
    for (let values = this.#ready.get(this.#cursor); values !== undefined; values = this.#ready.get(this.#cursor)) {
      for (let i = this.#offset; i < values.length; i++) out.push(values[i]);
      this.delivered += values.length - this.#offset;
      this.#nextChunk(values.length);
    }
  }

  placeError(at: number): number {
    return Math.max(at, this.delivered);
  }

  replaces(at: number, recorded: number): boolean {
    return at < recorded;
  }

  clear(): void {
    this.#ready.clear();
  }

  #nextChunk(count: number): void {
    this.#ready.delete(this.#cursor);
    this.#cursor += count;
    this.#offset = 0;
  }
}

/** Results in one line as they arrive; the error takes its place in the line when it is found. */
class CompletionOrder implements Delivery {
  readonly ordered = false;
  delivered = 0;
  readonly #arrived = new FifoQueue<unknown>();

  accept(_first: number, values: unknown[]): void {
    for (const value of values) this.#arrived.push(value);
  }

  next(): unknown {
    if (this.#arrived.size === 0) return NOTHING;
    const value = this.#arrived.shift();
    if (value === ERROR_TURN) return ERROR_TURN;
    this.delivered++;
    return value;
  }

  drainInto(out: unknown[]): void {
    while (this.#arrived.size > 0 && this.#arrived.peek() !== ERROR_TURN) {
      out.push(this.#arrived.shift());
      this.delivered++;
    }
  }

  placeError(): number {
    this.#arrived.push(ERROR_TURN);
    return -1;
  }

  replaces(): boolean {
    return false;
  }

  clear(): void {
    this.#arrived.drain(() => {});
  }
}
