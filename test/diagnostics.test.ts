import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  callback,
  SharedSemaphore,
  type TaskEndEvent,
  type TaskEventBase,
  type TaskStartEvent,
  type WorkerExitEvent,
  type WorkerStartEvent,
} from 'threadgate';
import { afterEach, describe, expect, it } from 'vitest';
import { tasksPool, waitUntil, within } from './helpers.js';

type Seen = { channel: string; event: TaskEventBase | WorkerStartEvent | WorkerExitEvent };

const NAMES = [
  'threadgate:task:queued',
  'threadgate:task:start',
  'threadgate:task:end',
  'threadgate:worker:start',
  'threadgate:worker:exit',
];
const listeners: [string, (message: unknown) => void][] = [];

function record(): Seen[] {
  const seen: Seen[] = [];
  for (const name of NAMES) {
    const listener = (message: unknown): void =>
      void seen.push({ channel: name.slice('threadgate:'.length), event: message as Seen['event'] });
    subscribe(name, listener);
    listeners.push([name, listener]);
  }
  return seen;
}

/** The pool of the first task queued: the one the test made. */
function poolOf(seen: Seen[]): number {
  const queued = seen.find((s) => s.channel === 'task:queued');
  if (queued === undefined) throw new Error('no task:queued event');
  return queued.event.poolId;
}

afterEach(() => {
  for (const [name, listener] of listeners.splice(0)) unsubscribe(name, listener);
});

describe('diagnostics channels', () => {
  it('every event of a submit, a map, a crash and a timeout arrives once, in order', async () => {
    const seen = record();
    const pool = tasksPool({ maxWorkers: 2, cancelGraceMs: 20 });
    expect(await pool.submit('square', 3)).toBe(9);
    expect(await pool.map('square', [1, 2, 3, 4, 5, 6], { chunkSize: 3 }).toArray()).toEqual([1, 4, 9, 16, 25, 36]);
    await expect(pool.submit('exit', 3)).rejects.toMatchObject({ code: 'ERR_WORKER_CRASHED' });
    await expect(pool.with({ timeoutMs: 50 }).submit('spinForever')).rejects.toMatchObject({ code: 'ERR_TASK_TIMEOUT' });
    await within(10_000, pool.shutdown(), 'shutdown');

    const poolId = poolOf(seen);
    const mine = seen.filter((s) => s.event.poolId === poolId);
    const byTask = new Map<number, Seen[]>();
    for (const s of mine) {
      if (!s.channel.startsWith('task:')) continue;
      const id = (s.event as TaskEventBase).taskId;
      byTask.set(id, [...(byTask.get(id) ?? []), s]);
    }
    expect(byTask.size).toBe(5); // a submit, two chunks, the crash, the timeout
    for (const events of byTask.values()) expect(events.map((s) => s.channel)).toEqual(['task:queued', 'task:start', 'task:end']);

    const ends = [...byTask.values()].map((events) => events[2]?.event as TaskEndEvent);
    expect(ends.map((e) => [e.taskName, e.outcome, e.mapIndex, e.items])).toEqual([
      ['square', 'completed', undefined, undefined],
      ['square', 'completed', 0, 3],
      ['square', 'completed', 3, 3],
      ['exit', 'crashed', undefined, undefined],
      ['spinForever', 'timeout', undefined, undefined],
    ]);
    expect(ends[0]?.runMs).toBeGreaterThanOrEqual(0);
    expect(ends[3]?.error).toMatchObject({ code: 'ERR_WORKER_CRASHED', exitCode: 3 });
    expect(ends[4]?.error).toMatchObject({ code: 'ERR_TASK_TIMEOUT' });
    const starts = [...byTask.values()].map((events) => events[1]?.event as TaskStartEvent);
    for (const start of starts) {
      expect(start.threadId).toBeGreaterThan(0);
      expect(start.waitMs).toBeGreaterThanOrEqual(0);
    }

    // Workers: each starts once and exits once; the one the crash ran on exited crashed, the one
    // the pool killed for the timeout did not.
    const workers = new Map<number, string[]>();
    const exits = new Map<number, WorkerExitEvent>();
    for (const s of mine) {
      if (!s.channel.startsWith('worker:')) continue;
      const { threadId } = s.event as WorkerStartEvent;
      workers.set(threadId, [...(workers.get(threadId) ?? []), s.channel]);
      if (s.channel === 'worker:exit') exits.set(threadId, s.event as WorkerExitEvent);
    }
    for (const events of workers.values()) expect(events).toEqual(['worker:start', 'worker:exit']);
    expect(exits.get(starts[3]?.threadId as number)).toMatchObject({ crashed: true, exitCode: 3 });
    expect(exits.get(starts[4]?.threadId as number)).toMatchObject({ crashed: false });
  });

  it('a task cancelled before it starts has no start event, and ends as cancelled', async () => {
    const seen = record();
    const pool = tasksPool({ maxWorkers: 1 });
    const running = pool.submit('delayed', 100);
    await waitUntil(() => running.running, 5_000, 'the first task to start');
    const waiting = pool.submit('square', 2);
    waiting.cancel();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    await running;
    const poolId = poolOf(seen);
    const forTask = (id: number): string[] =>
      seen.filter((s) => s.event.poolId === poolId && (s.event as TaskEventBase).taskId === id).map((s) => s.channel);
    const ids = [
      ...new Set(
        seen.filter((s) => s.channel === 'task:queued' && s.event.poolId === poolId).map((s) => (s.event as TaskEventBase).taskId),
      ),
    ];
    expect(ids).toHaveLength(2);
    expect(forTask(ids[0] as number)).toEqual(['task:queued', 'task:start', 'task:end']);
    expect(forTask(ids[1] as number)).toEqual(['task:queued', 'task:end']);
    const end = seen.find((s) => s.channel === 'task:end' && (s.event as TaskEventBase).taskId === ids[1])?.event as TaskEndEvent;
    expect(end.outcome).toBe('cancelled');
  });
});

describe('pool.with({ context }): what belongs to the call, for currentTask().context', () => {
  it('reaches a submit and every item of a map; an AsyncLocalStorage request id rides along', async () => {
    const pool = tasksPool();
    expect(await pool.submit('contextHere')).toEqual({ item: undefined, context: undefined });
    const view = pool.with({ context: { requestId: 'r-1', tags: ['a'] } });
    expect(await view.submit('contextHere')).toEqual({ item: undefined, context: { requestId: 'r-1', tags: ['a'] } });
    const mapped = await within(10_000, view.map('contextHere', [1, 2, 3], { chunkSize: 2 }).toArray(), 'the map');
    expect(mapped.map((r) => r.context)).toEqual(Array(3).fill({ requestId: 'r-1', tags: ['a'] }));

    const request = new AsyncLocalStorage<string>();
    const forRequest = () => pool.with({ context: { requestId: request.getStore() } });
    const seen = await request.run('req-42', () => forRequest().submit('contextHere'));
    expect(seen.context).toEqual({ requestId: 'req-42' });
  });

  it('refuses what cannot be copied to a worker, and callbacks or shared gates', () => {
    const pool = tasksPool();
    expect(() => pool.with({ context: { log: () => {} } })).toThrow(expect.objectContaining({ code: 'ERR_UNCLONEABLE_ARGUMENT' }));
    expect(() => pool.with({ context: callback(async () => 1) })).toThrow(/options\.context must be plain data/);
    expect(() => pool.with({ context: new SharedSemaphore(1) })).toThrow(/options\.context must be plain data/);
  });
});
