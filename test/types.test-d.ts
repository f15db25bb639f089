import { type Callback, callback, type Future, type MapIterator, type Semaphore, SharedSemaphore, WorkerPool, workloads } from 'threadgate';
import { currentTask, type TaskContext } from 'threadgate/worker';
import type * as Workloads from 'threadgate/workloads';
import { describe, expectTypeOf, it } from 'vitest';
import type * as Tasks from './fixtures/tasks.js';

const pool = new WorkerPool<typeof Tasks>({ module: new URL('./fixtures/tasks.ts', import.meta.url) });

describe('WorkerPool types follow the worker module', () => {
  it('submit: result types come from the export, async ones unwrapped', () => {
    expectTypeOf(pool.submit('add', 1, 2)).toEqualTypeOf<Future<number>>();
    expectTypeOf(pool.submit('addLater', 1, 2)).toEqualTypeOf<Future<number>>();
    expectTypeOf(pool.submit('countHere')).toEqualTypeOf<Future<{ threadId: number; count: number }>>();
  });

  it('a result is typed as it arrives: a class instance as its data, a Buffer as a Uint8Array, functions dropped', () => {
    expectTypeOf(pool.submit('makePoint', 1, 2)).toEqualTypeOf<Future<{ x: number; y: number }>>();
    expectTypeOf(pool.submit('pointsAndBytes')).toEqualTypeOf<
      Future<{ points: { x: number; y: number }[]; bytes: Uint8Array; when: Date; label: string }>
    >();
    // @ts-expect-error the method stayed behind in the worker
    pool.submit('makePoint', 1, 2).then((p) => p.norm());
  });

  it('unknown task names and non-function exports do not compile', () => {
    // @ts-expect-error 'nope' is not an export
    pool.submit('nope');
    // @ts-expect-error notAFunction is not a function
    pool.submit('notAFunction');
    // @ts-expect-error ValidationError is a class, not a task
    pool.submit('ValidationError', 'x', 'y');
  });

  it('wrong argument types and counts do not compile', () => {
    // @ts-expect-error add takes numbers
    pool.submit('add', '1', 2);
    // @ts-expect-error add takes two arguments
    pool.submit('add', 1);
    // @ts-expect-error square takes one number per item
    pool.map('square', ['a', 'b']);
    // @ts-expect-error starmap items are argument tuples
    pool.starmap('add', [[1, '2']]);
  });

  it('map and starmap yield the task result type', () => {
    expectTypeOf(pool.map('square', [1, 2, 3])).toEqualTypeOf<MapIterator<number>>();
    expectTypeOf(pool.starmap('add', [[1, 2]])).toEqualTypeOf<MapIterator<number>>();
    expectTypeOf(pool.map('square', [1]).toArray()).resolves.toEqualTypeOf<number[]>();
  });

  it('with() keeps the types; proxy() is typed like a remote module', () => {
    expectTypeOf(pool.with({ timeoutMs: 5 }).submit('add', 1, 2)).toEqualTypeOf<Future<number>>();
    const remote = pool.proxy();
    expectTypeOf(remote.add).parameters.toEqualTypeOf<[number, number]>();
    expectTypeOf(remote.addLater(1, 2)).toEqualTypeOf<Future<number>>();
    // @ts-expect-error not an export
    remote.nope();
  });

  it('shared objects keep their type as task arguments', () => {
    expectTypeOf(pool.submit('useSemaphore', new SharedSemaphore(1), new Int32Array(2), 5)).toEqualTypeOf<Future<boolean>>();
  });

  it('a function parameter takes a callback() of a matching function, never a bare function', () => {
    expectTypeOf(callback((i: number) => i * 2)).toEqualTypeOf<Callback<(i: number) => Promise<number>>>();
    expectTypeOf(
      pool.submit(
        'callEach',
        3,
        callback((i: number) => i * 2),
      ),
    ).toEqualTypeOf<Future<number>>();
    expectTypeOf(
      pool.submit(
        'callEach',
        3,
        callback(async (i: number) => i),
      ),
    ).toEqualTypeOf<Future<number>>();
    // @ts-expect-error functions do not cross threads: wrap it in callback()
    pool.submit('callEach', 3, (i: number) => i);
    const answersAString = callback((i: number) => String(i));
    // @ts-expect-error the callback must answer with a number
    pool.submit('callEach', 3, answersAString);
    const takesAString = callback((s: string) => s.length);
    // @ts-expect-error the callback's parameter must accept a number
    pool.submit('callEach', 3, takesAString);
    expectTypeOf(pool.map('reportThrough', [{ n: 1, report: callback((_n: number) => {}) }])).toEqualTypeOf<MapIterator<number>>();
    // @ts-expect-error nested functions need callback() too
    pool.map('reportThrough', [{ n: 1, report: async (_n: number) => {} }]);
    expectTypeOf(pool.proxy().callEach).parameters.toEqualTypeOf<[number, Callback<(i: number) => Promise<number>>]>();
  });

  it('the built-in workloads are typed too', () => {
    const w = new WorkerPool<typeof Workloads>({ module: workloads });
    expectTypeOf(w.submit('fib', 30)).toEqualTypeOf<Future<number>>();
    expectTypeOf(w.submit('hashChain', 'seed', 10)).toEqualTypeOf<Future<string>>();
  });

  it('an untyped pool takes any name and gives unknown', () => {
    const untyped = new WorkerPool({ module: workloads });
    expectTypeOf(untyped.submit('anything', 1, 'x')).toEqualTypeOf<Future<unknown>>();
  });
});

describe('currentTask() types', () => {
  it('has an id, an AbortSignal and a progress function', () => {
    expectTypeOf(currentTask).returns.toEqualTypeOf<TaskContext>();
    expectTypeOf<TaskContext['id']>().toEqualTypeOf<number>();
    expectTypeOf<TaskContext['signal']>().toEqualTypeOf<AbortSignal>();
    expectTypeOf<TaskContext['progress']>().toEqualTypeOf<(value: unknown) => void>();
  });
});

describe('ClusterPool types follow the worker module too', async () => {
  const { ClusterPool, RedisSemaphore } = await import('threadgate/cluster');
  const cluster = new ClusterPool<typeof Tasks>({ queue: 'types', connection: 'redis://127.0.0.1:1', connectTimeoutMs: 1 });

  it('submit, map and with are typed as on a WorkerPool', () => {
    expectTypeOf(cluster.submit('add', 1, 2)).toEqualTypeOf<Future<number>>();
    expectTypeOf(cluster.with({ timeoutMs: 5 }).map('square', [1, 2])).toEqualTypeOf<MapIterator<number>>();
    // @ts-expect-error add takes numbers
    cluster.submit('add', '1', 2);
    // @ts-expect-error a transfer list does not cross machines
    cluster.with({ transfer: [] });
  });

  it('every semaphore is a Semaphore', () => {
    expectTypeOf(new RedisSemaphore({ key: 'k', capacity: 1, connection: 'redis://127.0.0.1:1' })).toMatchTypeOf<Semaphore>();
    expectTypeOf(new SharedSemaphore(1)).toMatchTypeOf<Semaphore>();
  });
});
