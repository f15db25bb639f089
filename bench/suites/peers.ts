/**
 * The peer pools, each behind one interface, so every suite starts and calls them the same way:
 * the same thread count, warm, and a task that is a no-op for `null` and fib(n) for a number.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { FixedThreadPool } from 'poolifier';
import Tinypool from 'tinypool';
import workerpool from 'workerpool';
import { stopWithin } from '../harness.js';
import { workerFile } from './context.js';

export type PeerInput = number | null;

export interface PeerPool {
  /** The library, and the call that runs one task ('piscina run', 'workerpool exec'...). */
  name: string;
  call: string;
  /** `execArgv`: the threads' Node flags; by default they inherit the parent's (tsx, under `npm run bench`). */
  start: (threads: number, execArgv?: string[]) => void;
  run: (input: PeerInput) => Promise<unknown>;
  /** Many tasks at once, one per input: the library's own batch call where it has one. */
  runAll: (inputs: PeerInput[]) => Promise<unknown>;
  /** Shuts the pool down; gives up after {@link PEER_STOP_MS} with a warning (see `stopWithin`). */
  stop: () => Promise<unknown>;
}

/** How long a peer's shutdown may take: a cold start's whole stop takes milliseconds. */
const PEER_STOP_MS = 2_000;

export function peerPools(): PeerPool[] {
  const piscinaFile = fileURLToPath(workerFile('piscina-task.mjs'));
  let piscina: Piscina;
  let tinypool: Tinypool;
  let wpool: ReturnType<typeof workerpool.pool>;
  let poolifier: FixedThreadPool<PeerInput, unknown>;
  const each = (run: (input: PeerInput) => Promise<unknown>) => (inputs: PeerInput[]) => Promise.all(inputs.map(run));
  const piscinaRun = (input: PeerInput) => piscina.run(input);
  const tinypoolRun = (input: PeerInput) => tinypool.run(input);
  const workerpoolRun = (input: PeerInput) => wpool.exec('task', [input]) as unknown as Promise<unknown>;
  const pools: PeerPool[] = [
    {
      name: 'piscina',
      call: 'run',
      start: (threads, execArgv) => {
        piscina = new Piscina({ filename: piscinaFile, minThreads: threads, maxThreads: threads, idleTimeout: 30_000, execArgv });
      },
      run: piscinaRun,
      runAll: each(piscinaRun),
      stop: () => piscina.destroy(),
    },
    {
      name: 'tinypool',
      call: 'run',
      start: (threads, execArgv) => {
        tinypool = new Tinypool({ filename: piscinaFile, minThreads: threads, maxThreads: threads, idleTimeout: 30_000, execArgv });
      },
      run: tinypoolRun,
      runAll: each(tinypoolRun),
      stop: () => tinypool.destroy(),
    },
    {
      name: 'workerpool',
      call: 'exec',
      start: (threads, execArgv) => {
        wpool = workerpool.pool(fileURLToPath(workerFile('workerpool-task.mjs')), {
          minWorkers: threads,
          maxWorkers: threads,
          workerType: 'thread',
          workerThreadOpts: { execArgv },
        });
      },
      run: workerpoolRun,
      runAll: each(workerpoolRun),
      stop: () => wpool.terminate() as unknown as Promise<unknown>,
    },
    {
      name: 'poolifier',
      call: 'execute',
      start: (threads, execArgv) => {
        poolifier = new FixedThreadPool(threads, fileURLToPath(workerFile('poolifier-task.mjs')), { workerOptions: { execArgv } });
      },
      run: (input) => poolifier.execute(input),
      runAll: (inputs) => poolifier.mapExecute(inputs),
      stop: () => poolifier.destroy(),
    },
  ];
  return pools.map((pool) => ({ ...pool, stop: () => stopWithin(PEER_STOP_MS, `${pool.name} pool`, pool.stop) }));
}
