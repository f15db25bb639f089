import fc from 'fast-check';
import { AsyncSemaphore, type LocalSemaphore, type Permit, SharedSemaphore } from 'threadgate';
import { describe, expect, it } from 'vitest';
import { within } from '../helpers.js';
import { scale } from '../tier.js';

/** Random schedules per property: enough in `npm test` to catch a broken rule, many more in the stress tier. */
const numRuns = scale(30, 300);

/**
 * Random schedules against a sequential model of a fair, bounded, weighted semaphore. After
 * every step the real semaphore must agree with the model on: free units, requests waiting, and
 * the fate of every request (granted, waiting, aborted, timed out). The model is the whole
 * specification: strict FIFO with weights, nothing lost, nothing made up.
 */
type Op =
  | { op: 'try'; weight: number }
  | { op: 'acquire'; weight: number }
  | { op: 'acquireWithTimeout'; weight: number }
  | { op: 'release'; pick: number }
  | { op: 'abort'; pick: number }
  | { op: 'overRelease' };

type Fate = 'waiting' | 'granted' | 'aborted' | 'timedOut';

interface Request {
  weight: number;
  fate: Fate;
  controller: AbortController;
  permit?: Permit;
}

class Model {
  available: number;
  readonly line: Request[] = [];
  constructor(readonly capacity: number) {
    this.available = capacity;
  }
  canTakeNow(weight: number): boolean {
    return this.line.length === 0 && this.available >= weight;
  }
  grantHead(): void {
    while (this.line.length > 0 && this.available >= (this.line[0] as Request).weight) {
      const head = this.line.shift() as Request;
      this.available -= head.weight;
      head.fate = 'granted';
    }
  }
  leave(request: Request, fate: Fate): void {
    const at = this.line.indexOf(request);
    if (at < 0) throw new Error('model error: the request is not in line');
    this.line.splice(at, 1);
    request.fate = fate;
    this.grantHead();
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
};

const opArb = (capacity: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({ op: fc.constant('try' as const), weight: fc.integer({ min: 1, max: capacity }) }),
    fc.record({ op: fc.constant('acquire' as const), weight: fc.integer({ min: 1, max: capacity }) }),
    fc.record({ op: fc.constant('acquireWithTimeout' as const), weight: fc.integer({ min: 1, max: capacity }) }),
    fc.record({ op: fc.constant('release' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('abort' as const), pick: fc.nat() }),
    fc.constant({ op: 'overRelease' as const }),
  );

const scenario = fc
  .integer({ min: 2, max: 5 })
  .chain((capacity) => fc.tuple(fc.constant(capacity), fc.array(opArb(capacity), { minLength: 5, maxLength: 40, size: 'max' })));

async function run(make: (capacity: number) => LocalSemaphore, capacity: number, ops: Op[]): Promise<void> {
  const sem = make(capacity);
  const model = new Model(capacity);
  const requests: Request[] = [];
  const held = (): Request[] => requests.filter((r) => r.fate === 'granted' && r.permit !== undefined && !r.permit.released);
  for (const step of ops) {
    switch (step.op) {
      case 'try': {
        const permit = sem.tryAcquire(step.weight);
        const expected = model.canTakeNow(step.weight);
        expect(permit !== undefined).toBe(expected);
        if (permit) {
          model.available -= step.weight;
          requests.push({ weight: step.weight, fate: 'granted', controller: new AbortController(), permit });
        }
        break;
      }
      case 'acquire':
      case 'acquireWithTimeout': {
        const request: Request = { weight: step.weight, fate: 'waiting', controller: new AbortController() };
        requests.push(request);
        const timed = step.op === 'acquireWithTimeout';
        sem.acquire({ weight: step.weight, signal: request.controller.signal, ...(timed ? { timeoutMs: 1 } : {}) }).then(
          (permit) => {
            request.permit = permit;
          },
          () => {},
        );
        if (model.canTakeNow(step.weight)) {
          model.available -= step.weight;
          request.fate = 'granted';
        } else {
          model.line.push(request);
        }
        if (timed) {
          await new Promise((resolve) => setTimeout(resolve, 8));
          if (request.fate === 'waiting') model.leave(request, 'timedOut');
        }
        break;
      }
      case 'release': {
        const holding = held();
        if (holding.length === 0) break;
        const request = holding[step.pick % holding.length] as Request;
        request.permit?.release();
        model.available += request.weight;
        model.grantHead();
        break;
      }
      case 'abort': {
        const waiting = model.line;
        if (waiting.length === 0) break;
        const request = waiting[step.pick % waiting.length] as Request;
        request.controller.abort();
        model.leave(request, 'aborted');
        break;
      }
      case 'overRelease': {
        const out = capacity - sem.available;
        expect(() => sem.release(out + 1)).toThrow(/over|cannot release/);
        break;
      }
    }
    await settle();
    expect(sem.available).toBe(model.available);
    expect(sem.waiting).toBe(model.line.length);
    for (const request of requests) {
      expect(request.permit !== undefined).toBe(request.fate === 'granted');
    }
  }
  // Drain: abort everyone waiting (from the tail, which never lets anyone through), then release
  // everything held: all units must come back.
  while (model.line.length > 0) {
    const request = model.line.at(-1) as Request;
    request.controller.abort();
    model.leave(request, 'aborted');
  }
  await settle();
  for (const request of held()) request.permit?.release();
  await settle();
  expect(sem.available).toBe(capacity);
  expect(sem.waiting).toBe(0);
}

/**
 * `withPermit` calls, whose functions run for a random number of turns (0: synchronously) and
 * return or throw, mixed with weighted `acquire`s held for a while, and pauses. Checked all along:
 * the units in use (counted by the callers, so never more than the semaphore has out) stay within
 * the capacity; no function starts inside a caller's `release()`. At the end every call has
 * settled with its own value or error, and every unit is back. For AsyncSemaphore, functions also
 * start in the order of their calls and acquires resume in theirs. SharedSemaphore promises FIFO
 * grants (checked against the model above), but a waiter granted a unit resumes when its
 * `Atomics.waitAsync` wakes it, and a later call may take another free unit and run first.
 */
type CallOp =
  | { op: 'call'; turns: number; throws: boolean }
  | { op: 'acquire'; weight: number; turns: number }
  | { op: 'pause'; turns: number };

const callOpArb = (capacity: number): fc.Arbitrary<CallOp> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('call' as const), turns: fc.nat({ max: 4 }), throws: fc.boolean() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('acquire' as const),
        weight: fc.integer({ min: 1, max: capacity }),
        turns: fc.nat({ max: 4 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('pause' as const), turns: fc.integer({ min: 1, max: 4 }) }) },
  );

const callScenario = fc
  .integer({ min: 1, max: 4 })
  .chain((capacity) => fc.tuple(fc.constant(capacity), fc.array(callOpArb(capacity), { minLength: 5, maxLength: 40, size: 'max' })));

/** Lets `turns` turns pass, alternating a microtask and a macrotask. */
async function pass(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await (i % 2 === 0 ? Promise.resolve() : new Promise((resolve) => setImmediate(resolve)));
}

async function runCalls(
  make: (capacity: number) => LocalSemaphore,
  capacity: number,
  ops: CallOp[],
  resumesInOrder: boolean,
): Promise<void> {
  const sem = make(capacity);
  let inUse = 0;
  let releasing = false;
  const started: number[] = [];
  const granted: number[] = [];
  const settled: Promise<void>[] = [];
  const take = (units: number): void => {
    inUse += units;
    expect(inUse).toBeLessThanOrEqual(capacity);
  };
  for (const [seq, step] of ops.entries()) {
    if (step.op === 'pause') {
      await pass(step.turns);
    } else if (step.op === 'call') {
      const fn = (): number | Promise<number> => {
        expect(releasing, 'a function ran inside a release()').toBe(false);
        started.push(seq);
        take(1);
        const end = (): number => {
          inUse -= 1;
          if (step.throws) throw new Error(`call ${seq}`);
          return seq;
        };
        return step.turns === 0 ? end() : pass(step.turns).then(end);
      };
      settled.push(
        sem.withPermit(fn).then(
          (value) => expect(value).toBe(seq),
          (error: Error) => expect([step.throws, error.message]).toEqual([true, `call ${seq}`]),
        ),
      );
    } else if (step.op === 'acquire') {
      settled.push(
        sem.acquire({ weight: step.weight }).then(async (permit) => {
          granted.push(seq);
          take(step.weight);
          await pass(step.turns);
          inUse -= step.weight;
          releasing = true;
          permit.release();
          releasing = false;
        }),
      );
    }
  }
  await within(10_000, Promise.all(settled), 'every call and acquire');
  if (resumesInOrder) {
    expect(started).toEqual([...started].sort((a, b) => a - b));
    expect(granted).toEqual([...granted].sort((a, b) => a - b));
  }
  expect(started.length).toBe(ops.filter((o) => o.op === 'call').length);
  expect(sem.available).toBe(capacity);
  expect(sem.waiting).toBe(0);
}

describe.each([
  ['SharedSemaphore', (capacity: number): LocalSemaphore => new SharedSemaphore(capacity), false],
  ['AsyncSemaphore', (capacity: number): LocalSemaphore => new AsyncSemaphore(capacity), true],
])('%s agrees with the sequential model on random schedules', (_name, make, resumesInOrder) => {
  it('acquire / tryAcquire / release / abort / timeout / over-release', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ([capacity, ops]) => {
        await run(make, capacity, ops);
      }),
      { numRuns, interruptAfterTimeLimit: 120_000 },
    );
  }, 180_000);

  it('withPermit calls (sync and async, returning and throwing) mixed with held acquires', async () => {
    await fc.assert(
      fc.asyncProperty(callScenario, async ([capacity, ops]) => {
        await runCalls(make, capacity, ops, resumesInOrder);
      }),
      { numRuns, interruptAfterTimeLimit: 120_000 },
    );
  }, 180_000);
});
