/** Options of `pool.map` and `pool.starmap`. */
export interface MapOptions {
  /**
   * Items per message to a worker. `'auto'` (the default) measures the first items and sizes
   * chunks to about 20 ms of work each, so overhead stays a percent or two whether an item takes a
   * microsecond or a second. When the input's length is known (an array, a Set, a Map), each
   * chunk takes half a worker's share of what is left, from 0.5 to 50 ms of work: fewer messages
   * while much is left, small chunks at the end so the workers finish together. A number fixes the
   * size.
   */
  chunkSize?: number | 'auto';
  /**
   * The most items pulled from the input and not yet handed to you: memory stays flat over huge
   * or infinite inputs. Default: enough for 4 chunks per worker (at least 64, at most 65,536 per
   * worker); from an input of unknown length (a generator, a cursor) with automatic chunks, also
   * at most 4 times the items you have taken so far (at least 64), so a consumer that takes a few
   * items and goes off to other work does not have thousands pulled for it.
   */
  buffer?: number;
  /** `true` (default): results in input order. `false`: in completion order. */
  ordered?: boolean;
  /**
   * Per-item timeout, counted from each item's start: an item that runs longer fails the map at
   * its index with `TaskTimeoutError` (`ERR_TASK_TIMEOUT`), about `timeoutMs` after it started,
   * and its worker is stopped as a timed-out task's is. The items of its chunk that had finished
   * run again (see "When a map item fails" in the README).
   */
  timeoutMs?: number;
  /** Aborting stops the map: pending items are cancelled and iteration throws an `AbortError`. */
  signal?: AbortSignal;
  /**
   * Called on the caller's thread after every chunk with items completed so far and the total
   * (once known), and with `value` set for each `currentTask().progress(value)` of a task.
   */
  onProgress?: (progress: MapProgress) => void;
}

/** What `MapOptions.onProgress` receives. */
export interface MapProgress {
  /** Items whose results have come back. */
  completed: number;
  /** All items, when known (arrays, Sets, Maps, or once the input has ended). */
  total: number | undefined;
  /** Present when a task reported progress with `currentTask().progress(value)`. */
  value?: unknown;
}

/** Map options after validation. */
export interface ResolvedMapOptions {
  chunkSize: number | undefined;
  buffer: number | undefined;
  ordered: boolean;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  onProgress: ((progress: MapProgress) => void) | undefined;
}
