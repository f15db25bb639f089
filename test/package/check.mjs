// `npm run test:package`: the package as users install it. Packs the tarball, installs it into
// fresh consumer projects with the oldest and the newest @types/node the package supports, and
// type-checks the same consumer code under NodeNext, Bundler and node10/CommonJS resolution with
// `skipLibCheck: false` (the cluster entry once its optional peers are installed, after checking
// that importing it without them fails with a coded error); then runs @arethetypeswrong/cli and publint on the package. Needs the
// npm registry (the consumers install @types/node). Exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const TYPES_NODE = ['20', 'latest'];
/** The cluster entry's optional peers, at the versions this package's own tests run. */
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const CLUSTER_PEERS = ['bullmq', 'ioredis', 'redis-semaphore'].map((name) => `${name}@${pkg.devDependencies[name]}`);

/** The consumer's code: every entry point, and the public types a service reaches for. */
const CONSUMER = `
import { type CallOptions, type Cloned, SharedSemaphore, type TaskEndEvent, type TransferItem, WorkerPool, workloads } from 'threadgate';
import { currentTask, move } from 'threadgate/worker';
import { fib } from 'threadgate/workloads';

export async function main(): Promise<number> {
  const pool = new WorkerPool<{ fib: typeof fib }>({ module: workloads, maxWorkers: 1 });
  const transfer: TransferItem[] = [new ArrayBuffer(8)];
  const options: CallOptions = { timeoutMs: 100, priority: 1, context: { requestId: 'r' } };
  const viewed = pool.with(options).with({ transfer });
  const n: number = await viewed.submit('fib', 10);
  const end: TaskEndEvent | undefined = undefined;
  const point: Cloned<{ x: number; norm(): number }> = { x: 1 };
  const sem = new SharedSemaphore(2);
  sem.release(1, { onBehalfOf: 0 });
  await pool.shutdown();
  return n + point.x + (end === undefined ? 0 : 1) + (typeof currentTask === 'function' ? 0 : 1) + (typeof move === 'function' ? 0 : 1);
}
`;

/** A consumer of \`threadgate/cluster\` (type-checked once its peers are installed). */
const CLUSTER_CONSUMER = `
import { WorkerPool } from 'threadgate';
import { ClusterPool, type ClusterServer, RedisRateLimiter, RedisSemaphore, serve } from 'threadgate/cluster';
import type { Semaphore } from 'threadgate';
import type { fib } from 'threadgate/workloads';

export async function cluster(url: string): Promise<number> {
  const pool = new WorkerPool<{ fib: typeof fib }>({ module: new URL('file:///tasks.js') });
  const server: ClusterServer = await serve(pool, { queue: 'math', connection: url });
  const remote = new ClusterPool<{ fib: typeof fib }>({ queue: 'math', connection: { host: '127.0.0.1', port: 6379 } });
  const n: number = await remote.with({ timeoutMs: 1000 }).submit('fib', 20);
  const gate: Semaphore = new RedisSemaphore({ key: 'k', capacity: 2, connection: url });
  const { data } = await new RedisRateLimiter({ key: 'r', maxConcurrent: 1, connection: url }).call(() => 1);
  await using permit = await gate.acquire();
  await server.close();
  return n + data + permit.weight;
}
`;

/** Importing \`threadgate/cluster\` without its optional peers fails with a coded error naming them. */
const PEER_CHECK = `
const check = (error) => {
  if (error?.code !== 'ERR_CLUSTER_PEER_MISSING' || !/bullmq, ioredis, redis-semaphore/.test(error.message)) throw error ?? new Error('imported');
};
try { require('threadgate/cluster'); check(undefined); } catch (error) { check(error); }
import('threadgate/cluster').then(() => check(undefined), check).then(() => console.log('refused as expected'));
`;

/** tsconfig.json compiler options for each resolution mode, and the package type its project needs. */
const MODES = {
  nodenext: { type: 'module', options: { module: 'nodenext', moduleResolution: 'nodenext' } },
  bundler: { type: 'module', options: { module: 'esnext', moduleResolution: 'bundler' } },
  node10: { type: 'commonjs', options: { module: 'commonjs', moduleResolution: 'node10' } },
};

function run(command, args, cwd) {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], shell: process.platform === 'win32' });
}

const work = mkdtempSync(join(tmpdir(), 'threadgate-package-'));
const failures = [];
try {
  run(npm, ['pack', '--pack-destination', work, '--silent'], root);
  const tarball = join(
    work,
    readdirSync(work).find((name) => name.endsWith('.tgz')),
  );
  for (const typesNode of TYPES_NODE) {
    const installed = join(work, `types-node-${typesNode}`);
    mkdirSync(installed);
    writeFileSync(join(installed, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    run(npm, ['install', '--no-audit', '--no-fund', '--no-package-lock', tarball, `@types/node@${typesNode}`], installed);
    const version = JSON.parse(run(process.execPath, ['-p', "JSON.stringify(require('@types/node/package.json').version)"], installed));
    try {
      run(process.execPath, ['-e', PEER_CHECK], installed);
      console.log(`ok    @types/node ${version}: threadgate/cluster without its peers throws ERR_CLUSTER_PEER_MISSING`);
    } catch (error) {
      failures.push('cluster without peers');
      console.log(`FAIL  threadgate/cluster without its peers\n${error.stdout}${error.stderr}`);
    }
    // ioredis 6's declarations import 'redis-errors' without depending on its types: under
    // skipLibCheck: false a consumer of ioredis needs them whether or not threadgate is there.
    run(npm, ['install', '--no-audit', '--no-fund', '--no-package-lock', ...CLUSTER_PEERS, '@types/redis-errors'], installed);
    for (const [mode, { type, options }] of Object.entries(MODES)) {
      const project = join(installed, mode);
      mkdirSync(project);
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `consumer-${mode}`, private: true, type }));
      writeFileSync(join(project, 'main.ts'), CONSUMER);
      writeFileSync(join(project, 'cluster.ts'), CLUSTER_CONSUMER);
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            ...options,
            target: 'es2022',
            strict: true,
            skipLibCheck: false,
            noEmit: true,
            types: ['node'],
            typeRoots: ['../node_modules/@types'],
          },
          files: ['main.ts', 'cluster.ts'],
        }),
      );
      const label = `@types/node ${version}, ${mode}`;
      try {
        run(process.execPath, [tsc, '-p', project], project);
        console.log(`ok    ${label}`);
      } catch (error) {
        failures.push(label);
        console.log(`FAIL  ${label}\n${error.stdout}${error.stderr}`);
      }
    }
  }
  for (const [label, command, args] of [
    ['attw', join(root, 'node_modules', '.bin', 'attw'), ['--pack', '.', '--format', 'table-flipped']],
    ['publint', join(root, 'node_modules', '.bin', 'publint'), ['--strict']],
  ]) {
    try {
      run(command, args, root);
      console.log(`ok    ${label}`);
    } catch (error) {
      failures.push(label);
      console.log(`FAIL  ${label}\n${error.stdout}${error.stderr}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (failures.length > 0) {
  console.log(`\n${failures.length} failed: ${failures.join('; ')}`);
  process.exitCode = 1;
}
