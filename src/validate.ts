/** A `TypeError` or `RangeError` with a Node-style `code`, for bad arguments. */
export type ArgumentError = (TypeError | RangeError) & { code: 'ERR_INVALID_ARG_TYPE' | 'ERR_OUT_OF_RANGE' | 'ERR_INVALID_ARG_VALUE' };

/** `name` received `value`, which is not of the allowed type. */
export function invalidType(name: string, value: unknown, allowed: string): ArgumentError {
  const err = new TypeError(`${name} must be ${allowed}; received ${describe(value)}`) as ArgumentError;
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

/** `name` received `value`, of the right type but out of range. */
export function outOfRange(name: string, value: unknown, allowed: string): ArgumentError {
  const err = new RangeError(`${name} must be ${allowed}; received ${describe(value)}`) as ArgumentError;
  err.code = 'ERR_OUT_OF_RANGE';
  return err;
}

/** `name` received `value`, which is not one of the allowed values. */
export function invalidValue(name: string, value: unknown, allowed: string): ArgumentError {
  const err = new TypeError(`${name} must be ${allowed}; received ${describe(value)}`) as ArgumentError;
  err.code = 'ERR_INVALID_ARG_VALUE';
  return err;
}

/** A short, unambiguous rendering of a received value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'string':
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return `function ${value.name || '(anonymous)'}`;
    default: {
      if (Array.isArray(value)) return `an array of length ${value.length}`;
      if (value instanceof URL) return `the URL ${describe(value.href)}`;
      const ctor = (value as object).constructor;
      return ctor && ctor !== Object ? `an instance of ${ctor.name}` : 'an object';
    }
  }
}

/**
 * Argument checks shared by every public constructor and method. Each throws the coded
 * `TypeError`/`RangeError` from `errors.ts`, naming the argument, the value and what is allowed.
 *
 * @module
 */

export const MAX_INT32 = 2 ** 31 - 1;

/** An integer in `[min, max]`. */
export function checkInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalidType(name, value, describeRange(min, max));
  if (!Number.isInteger(value) || value < min || value > max) throw outOfRange(name, value, describeRange(min, max));
  return value;
}

/** The longest a Node timer waits: a longer delay fires after 1 ms instead (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A number of milliseconds from 0 to {@link MAX_TIMER_MS}, or `Infinity` ("no limit"). Longer
 * finite durations are refused, not passed on: a timer given one fires at once, so a 30-day
 * timeout would expire every task and every wait after 1 ms.
 */
export function checkDuration(name: string, value: unknown): number {
  const allowed = `a number of milliseconds >= 0 and <= ${MAX_TIMER_MS} (about 24.8 days, the longest a timer waits), or Infinity`;
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalidType(name, value, allowed);
  if (value < 0 || (value > MAX_TIMER_MS && value !== Number.POSITIVE_INFINITY)) throw outOfRange(name, value, allowed);
  return value;
}

/**
 * A task's timeout: a duration above 0. Zero is refused rather than defined: a task cannot start
 * and be checked in no time, and whether it "finished within 0 ms" would depend on which thread
 * looked first.
 */
export function checkTaskTimeout(name: string, value: unknown): number {
  const duration = checkDuration(name, value);
  if (duration === 0)
    throw outOfRange(name, value, `a number of milliseconds > 0 and <= ${MAX_TIMER_MS}, or Infinity for none (0 cannot be met)`);
  return duration;
}

/** `true`, `false` or `undefined` (left out). */
export function checkOptionalBoolean(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalidType(name, value, 'a boolean (true or false)');
  return value;
}

/** An optional duration: `undefined` passes through. */
export function checkOptionalDuration(name: string, value: unknown): number | undefined {
  return value === undefined ? undefined : checkDuration(name, value);
}

/** An `AbortSignal` or `undefined`. */
export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidType(name, value, 'an AbortSignal');
  return value;
}

/** A detached ArrayBuffer (moved to another thread): it reads as empty, and only it refuses a new view. */
export function isDetached(value: unknown): boolean {
  if (!(value instanceof ArrayBuffer) || value.byteLength !== 0) return false;
  try {
    new Uint8Array(value);
    return false;
  } catch {
    return true;
  }
}

/** A function. */
export function checkFunction<F>(name: string, value: unknown): F {
  if (typeof value !== 'function') throw invalidType(name, value, 'a function');
  return value as F;
}

/**
 * The names of every option of `T`, as an object the compiler keeps complete (`{ weight: true, ... }`).
 * `of` names what takes them, for the error message.
 */
export interface OptionNames<T> {
  readonly of: string;
  readonly names: Readonly<Record<keyof T, true>>;
  /** What other libraries call some of these options (Piscina's `maxThreads`), to suggest ours. */
  readonly elsewhere?: Readonly<Record<string, keyof T & string>>;
}

/**
 * An options object (or undefined, which becomes `{}`) with no key but the options of `options`:
 * a misspelt name would otherwise be ignored without a word (a `timeout` that never fires).
 */
export function checkOptions<T extends object>(name: string, value: unknown, options: OptionNames<T>): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw invalidType(name, value, 'an options object');
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(options.names, key)) {
      const known = Object.keys(options.names);
      const guess =
        (options.elsewhere && Object.hasOwn(options.elsewhere, key) ? options.elsewhere[key] : undefined) ?? closestName(key, known);
      throw invalidValue(
        `${name}.${key}`,
        (value as Record<string, unknown>)[key],
        `left out: it is not an option of ${options.of}${guess ? ` (did you mean ${guess}?)` : ''}; its options are ${known.join(', ')}`,
      );
    }
  }
  return value as Partial<T>;
}

/**
 * The name among `names` that `name` most likely misspells, if one is close: the same but for
 * case, one that begins with the other (`timeout`, `timeoutMs`), or a few letters apart.
 */
export function closestName(name: string, names: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of names) {
    const other = candidate.toLowerCase();
    if (other === lower || other.startsWith(lower) || lower.startsWith(other)) return candidate;
    const distance = editDistance(lower, other);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance: the fewest one-letter insertions, deletions and substitutions from `a` to `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

function describeRange(min: number, max: number): string {
  if (max === Number.MAX_SAFE_INTEGER) return `an integer >= ${min}`;
  return `an integer from ${min} to ${max}`;
}
