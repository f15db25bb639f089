/**
 * Errors crossing threads. Structured clone keeps only the built-in error types and drops
 * custom class names, `code`s and other own properties; here an error is flattened to plain data
 * in the worker and rebuilt on the caller's side with its name, message, stack, `cause` chain and
 * own properties, plus which task (and map item) failed.
 */
import { inspect } from 'node:util';

export interface SerializedError {
  /** The constructor to rebuild with: a built-in error type, or 'Error'. */
  base: string;
  name: string;
  message: string;
  stack?: string;
  cause?: SerializedError | { value: unknown };
  /** Own enumerable properties that could be cloned (`code`, `errno`, custom fields...). */
  props?: Record<string, unknown>;
  /** For AggregateError. */
  errors?: SerializedError[];
}

const BUILTINS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};
const MAX_DEPTH = 8;

export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) {
    // Keep the value itself as `cause`, so callers that threw strings or objects still see them.
    return {
      base: 'Error',
      name: 'Error',
      message: `a task threw a non-Error value: ${render(error)}`,
      cause: { value: cloneable(error) },
    };
  }
  const out: SerializedError = {
    base: baseName(error),
    name: error.name,
    message: error.message,
    stack: error.stack,
  };
  if ('cause' in error && depth < MAX_DEPTH) {
    out.cause = error.cause instanceof Error ? serializeError(error.cause, depth + 1) : { value: cloneable(error.cause) };
  }
  if (error instanceof AggregateError && depth < MAX_DEPTH) {
    out.errors = Array.from(error.errors, (e: unknown) => serializeError(e, depth + 1));
  }
  for (const key of Object.keys(error)) {
    if (key === 'cause' || key === 'name' || key === 'message' || key === 'stack') continue;
    const value = cloneable((error as unknown as Record<string, unknown>)[key]);
    if (value !== undefined) (out.props ??= {})[key] = value;
  }
  return out;
}

/** Where a rebuilt error came from. */
export interface TaskErrorContext {
  taskName: string;
  taskId: number;
  /** The failing item's index in the whole map, for map and starmap. */
  mapIndex?: number;
}

/** A rebuilt error: the original's type, name, message, stack and properties, plus where it failed. */
export type RemoteTaskError = Error & Partial<TaskErrorContext>;

export function deserializeError(data: SerializedError, context?: TaskErrorContext): RemoteTaskError {
  const error: RemoteTaskError = data.errors
    ? new AggregateError(
        data.errors.map((e) => deserializeError(e)),
        data.message,
      )
    : new (BUILTINS[data.base] ?? Error)(data.message);
  if (error.name !== data.name) define(error, 'name', data.name);
  define(error, 'stack', data.stack ?? `${data.name}: ${data.message}`);
  if (data.cause !== undefined) {
    define(error, 'cause', 'value' in data.cause ? data.cause.value : deserializeError(data.cause as SerializedError));
  }
  if (data.props) Object.assign(error, data.props);
  if (context) {
    define(error, 'taskName', context.taskName);
    define(error, 'taskId', context.taskId);
    if (context.mapIndex !== undefined) define(error, 'mapIndex', context.mapIndex);
  }
  return error;
}

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false });
}

function baseName(error: Error): string {
  for (let proto = Object.getPrototypeOf(error); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name;
    if (name !== undefined && name in BUILTINS && BUILTINS[name]?.prototype === proto) return name;
  }
  return 'Error';
}

function cloneable(value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) return value;
  try {
    return structuredClone(value);
  } catch {
    return render(value);
  }
}

/** A thrown value as `util.inspect` shows it (`{ code: 42 }`, not `[object Object]`), on one line, at most 200 characters. */
function render(value: unknown): string {
  try {
    const text = inspect(value, { depth: 2, breakLength: Number.POSITIVE_INFINITY, maxArrayLength: 10, maxStringLength: 120 });
    return text.length > 200 ? `${text.slice(0, 197)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
