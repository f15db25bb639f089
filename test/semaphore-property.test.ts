import fc from 'fast-check';
import { AsyncSemaphore, type Permit, type Semaphore, SharedSemaphore } from 'threadgate';
import { describe, expect, it } from 'vitest';

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

async function run(make: (capacity: number) => Semaphore, capacity: number, ops: Op[]): Promise<void> {
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

describe.each([
  ['SharedSemaphore', (capacity: number): Semaphore => new SharedSemaphore(capacity)],
  ['AsyncSemaphore', (capacity: number): Semaphore => new AsyncSemaphore(capacity)],
])('%s agrees with the sequential model on random schedules', (_name, make) => {
  it('acquire / tryAcquire / release / abort / timeout / over-release', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ([capacity, ops]) => {
        await run(make, capacity, ops);
      }),
      { numRuns: 150, interruptAfterTimeLimit: 60_000 },
    );
  }, 90_000);
});
