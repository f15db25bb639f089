/**
 * Built-in CPU workloads: real computation of tunable cost, used by the tests, the benchmarks
 * and the demo. Import the types with `typeof import('threadgate/workloads')` and run them with
 * `new WorkerPool({ module: workloads })` (`workloads` is exported by `threadgate`).
 *
 * @experimental Benchmark and demo fixtures, not part of the stable API: they may change or move
 * out of the package in any release.
 * @module
 */
import { createHash } from 'node:crypto';
import { currentTask, move } from './task-context.js';

/** Does nothing: measures pure pool overhead. */
export function noop(): void {}

/** Reports progress `times` times and returns `times`: measures the cost of a progress event. */
export function report(times: number): number {
  const task = currentTask();
  for (let i = 1; i <= times; i++) task.progress(i);
  return times;
}

/** Returns its argument: measures the cost of moving data. */
export function echo<T>(value: T): T {
  return value;
}

/** The n-th Fibonacci number, computed the slow recursive way (fib(30) ≈ 10 ms). */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** How many primes are below `limit` (trial division: cost grows with limit^1.5). */
export function countPrimes(limit: number): number {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

/** SHA-256 applied `rounds` times to `seed`; returns the final hex digest. */
export function hashChain(seed: string, rounds: number): string {
  let digest: Buffer = Buffer.from(seed);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
  return digest.toString('hex');
}

/** A tile of the Mandelbrot set to render. */
export interface Tile {
  /** Pixel origin of the tile inside the full image. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** Size of the full image, in pixels. */
  imageWidth: number;
  imageHeight: number;
  maxIterations: number;
}

/** Escape-time iterations for every pixel of a tile, row by row; moved to the caller, not copied. */
export function mandelbrotTile(tile: Tile): Uint16Array {
  const out = new Uint16Array(tile.width * tile.height);
  for (let py = 0; py < tile.height; py++) {
    const ci = ((tile.y + py) / tile.imageHeight) * 2.4 - 1.2;
    for (let px = 0; px < tile.width; px++) {
      const cr = ((tile.x + px) / tile.imageWidth) * 3.5 - 2.5;
      let zr = 0;
      let zi = 0;
      let i = 0;
      while (i < tile.maxIterations && zr * zr + zi * zi <= 4) {
        const t = zr * zr - zi * zi + cr;
        zi = 2 * zr * zi + ci;
        zr = t;
        i++;
      }
      out[py * tile.width + px] = i;
    }
  }
  return move(out);
}

/** Multiplies two `n`×`n` matrices filled from a seeded generator (O(n³)); returns the trace of the product. */
export function matmulTrace(n: number, seed = 1): number {
  const a = new Float64Array(n * n);
  const b = new Float64Array(n * n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n * n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s / 2 ** 32;
    s = (s * 1664525 + 1013904223) >>> 0;
    b[i] = s / 2 ** 32;
  }
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k] as number;
      for (let j = 0; j < n; j++) c[i * n + j] = (c[i * n + j] as number) + aik * (b[k * n + j] as number);
    }
  }
  let trace = 0;
  for (let i = 0; i < n; i++) trace += c[i * n + i] as number;
  return trace;
}

/** Busy-spins for about `micros` microseconds of CPU: a workload of exact cost. */
export function spin(micros: number): number {
  const end = performance.now() + micros / 1000;
  let x = 0;
  while (performance.now() < end) x++;
  return x;
}
