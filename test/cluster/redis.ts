/**
 * A real redis-server for the cluster tests: started on a free loopback port with persistence off,
 * stopped after. `REDIS_URL` points the tests at a server of your own instead (one the tests may
 * fill and flush). Without redis-server (Debian package `redis-server`), the cluster tests are
 * skipped with a message, except under `CI=true`, where a missing server fails the run.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

const installed = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;

/** Why the cluster tests cannot run here, or undefined when they can. */
export const noRedis: string | undefined =
  process.env.REDIS_URL !== undefined || installed
    ? undefined
    : 'redis-server is not installed: the cluster tests need it (apt-get install redis-server), or REDIS_URL pointing at a server';

if (noRedis !== undefined && process.env.CI === 'true') throw new Error(`CI=true: ${noRedis}`);
if (noRedis !== undefined) console.warn(`[threadgate] skipping the cluster tests: ${noRedis}`);

/** A free loopback port, from the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  /** Stops the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A fresh redis-server of this test file's own (or `REDIS_URL`'s, which is never stopped). */
export async function startRedis(): Promise<RedisServer> {
  const given = process.env.REDIS_URL;
  if (given !== undefined) {
    const noop = async (): Promise<void> => {};
    return { url: given, port: Number(new URL(given).port || 6379), kill: noop, restart: noop, stop: noop };
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const running = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('redis-server did not start within 10 s')), 10_000);
      let out = '';
      running.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          running.stdout?.removeAllListeners('data');
          running.stdout?.resume();
          resolve();
        }
      });
      running.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with code ${code} before it was ready:\n${out}`));
      });
    });
  };
  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    await new Promise((resolve) => {
      running.once('exit', resolve);
      running.kill('SIGKILL');
    });
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: start, stop: kill };
}

/** Serving processes (test/fixtures/serve-child.mjs), each a WorkerPool served on `queue`. */
export interface Servers {
  pids: number[];
  /** SIGKILLs server `i`, as a crash would. */
  kill(i: number): void;
  /** SIGTERMs every live server and waits (bounded) for each to exit. */
  stop(): Promise<void>;
}

export async function startServers(
  count: number,
  url: string,
  queue: string,
  workers = 1,
  lockDurationMs = 30_000,
  module?: URL,
): Promise<Servers> {
  const script = new URL('../fixtures/serve-child.mjs', import.meta.url).pathname;
  const root = new URL('../..', import.meta.url).pathname;
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [script, url, queue, String(workers), String(lockDurationMs), ...(module ? [module.href] : [])], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const pids = await Promise.all(
    children.map(
      (child) =>
        new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('a serving process was not ready within 20 s')), 20_000);
          let out = '';
          child.stdout?.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            const ready = /ready (\d+)/.exec(out);
            if (ready) {
              clearTimeout(timer);
              resolve(Number(ready[1]));
            }
          });
          child.once('exit', (code) => reject(new Error(`a serving process exited with code ${code} before it was ready`)));
        }),
    ),
  );
  const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    pids,
    kill: (i) => void children[i]?.kill('SIGKILL'),
    stop: async () => {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (exited(child)) return resolve();
              const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
              child.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
