/**
 * The lock-free fast paths of `SharedSemaphore` ("Fast paths" in shared-semaphore.ts), in
 * WebAssembly on the semaphore's own shared memory.
 *
 * Why WebAssembly: V8 does not inline `Atomics` calls. Each is a builtin call that validates its
 * arguments, ~15 ns on this class of machine even for a load, so a take and a give cost ~33 ns
 * in compare-exchanges alone. A Wasm `i32.atomic.rmw.cmpxchg` is one instruction, and a call from
 * optimized JavaScript into Wasm costs a few ns: a take plus a give measures ~21 ns in all.
 *
 * Why a thread never dies between the exchange and the store to OWN: V8 stops a thread (a pool's
 * kill, `worker.terminate()`) only where it checks for interrupts, at function entries and loop
 * back edges, and these functions call nothing and have no loop. In JavaScript the same steps
 * could not promise it: entering an `Atomics` builtin is an interrupt check. The stress test
 * "workers killed at random points of a lock-free take/give loop" kills workers mid-loop on every
 * run and counts the units.
 *
 * Plain loads are only guesses that the exchange checks; `DEBT`, `OWED` and the owner word are read
 * plainly too, as in JavaScript: a stale read can only send the caller to the locked path, except
 * an OWED booked by another thread just after the give read it, which the semaphore treats as
 * the same units given back twice (shared-semaphore.ts, I2).
 *
 * The module, in WebAssembly text (addresses are byte offsets into the semaphore's memory):
 *
 *   (module
 *     (import "semaphore" "memory" (memory 1 65536 shared))
 *     ;; take: nobody in line, `weight` free, no DEBT, `own` is this thread's entry ⇒ CAS, OWN += weight
 *     (func (export "take") (param $weight i32) (param $own i32) (param $me i32) (result i32) (local $s i32)
 *       (if (i32.lt_s (local.tee $s (i32.load (i32.const STATE))) (local.get $weight)) (then (return (i32.const 0))))
 *       (if (i32.load (i32.const DEBT)) (then (return (i32.const 0))))
 *       (if (i32.ne (i32.load (i32.sub (local.get $own) (i32.const 4))) (local.get $me)) (then (return (i32.const 0))))
 *       (if (i32.ne (i32.atomic.rmw.cmpxchg (i32.const STATE) (local.get $s) (i32.sub (local.get $s) (local.get $weight)))
 *                   (local.get $s)) (then (return (i32.const 0))))
 *       (i32.store (local.get $own) (i32.add (i32.load (local.get $own)) (local.get $weight)))
 *       (i32.const 1))
 *     ;; give: nobody in line, room under the capacity, nothing given back on this thread's behalf
 *     ;; (OWED, the word after OWN, is 0), this thread holds `weight` ⇒ CAS, OWN -= weight
 *     (func (export "give") (param $weight i32) (param $own i32) (param $me i32) (param $capacity i32) (result i32)
 *       (local $s i32) (local $held i32)
 *       (if (i32.lt_s (local.tee $s (i32.load (i32.const STATE))) (i32.const 0)) (then (return (i32.const 0))))
 *       (if (i32.gt_s (local.get $weight) (i32.sub (local.get $capacity) (local.get $s))) (then (return (i32.const 0))))
 *       (if (i32.ne (i32.load (i32.sub (local.get $own) (i32.const 4))) (local.get $me)) (then (return (i32.const 0))))
 *       (if (i32.load (i32.add (local.get $own) (i32.const 4))) (then (return (i32.const 0))))
 *       (if (i32.lt_s (local.tee $held (i32.load (local.get $own))) (local.get $weight)) (then (return (i32.const 0))))
 *       (if (i32.ne (i32.atomic.rmw.cmpxchg (i32.const STATE) (local.get $s) (i32.add (local.get $s) (local.get $weight)))
 *                   (local.get $s)) (then (return (i32.const 0))))
 *       (i32.store (local.get $own) (i32.sub (local.get $held) (local.get $weight)))
 *       (i32.const 1)))
 *
 * The bytes below are that text, assembled by the few lines after it: no toolchain, no binary blob.
 */

/** The semaphore's fast paths on one memory. `own` is the byte address of this thread's OWN word. */
export interface FastPaths {
  take(weight: number, own: number, me: number): number;
  give(weight: number, own: number, me: number, capacity: number): number;
}

/**
 * A shared `WebAssembly.Memory`, typed by what threadgate uses of it (Node 20's type definitions
 * have no WebAssembly namespace, and the public types must not need one).
 */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}

/** The parts of the `WebAssembly` global used here. */
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

/** Absent under `--jitless`: semaphores are then bare SharedArrayBuffers and take the locked path. */
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** A shared Wasm memory of `pages` × 64 KiB, or undefined where this process has no WebAssembly. */
export function sharedMemory(pages: number): WasmMemory | undefined {
  return wasm && new wasm.Memory({ initial: pages, maximum: pages, shared: true });
}

/** Whether `value` is a WebAssembly.Memory (never, without WebAssembly). */
export function isWasmMemory(value: unknown): value is WasmMemory {
  return wasm !== undefined && value instanceof wasm.Memory;
}

/** Compiled modules of this thread, by the offsets assembled into them. */
const compiled = new Map<string, object>();

/** The fast paths on `memory`, instantiated for this thread (each layout compiled once per thread). */
export function fastPathsOn(memory: WasmMemory, stateAt: number, debtAt: number): FastPaths {
  const api = wasm as WasmApi; // a WasmMemory exists only where WebAssembly does
  const key = `${stateAt},${debtAt}`;
  let module = compiled.get(key);
  if (module === undefined) compiled.set(key, (module = new api.Module(assemble(stateAt, debtAt))));
  return new api.Instance(module, { semaphore: { memory } }).exports as FastPaths;
}

// ─── the assembler: just what the two functions need ─────────────────────────────────────────

const I32 = 0x7f;
const op = {
  if: 0x04,
  end: 0x0b,
  return: 0x0f,
  localGet: 0x20,
  localTee: 0x22,
  i32Load: 0x28,
  i32Store: 0x36,
  i32Const: 0x41,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32GtS: 0x4a,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  atomicPrefix: 0xfe,
  i32AtomicRmwCmpxchg: 0x48,
} as const;
const VOID_BLOCK = 0x40;
/** memarg of a 4-byte access: alignment 2^2, offset 0. */
const WORD = [2, 0];

const unsigned = (n: number): number[] => {
  const out: number[] = [];
  for (let rest = n >>> 0; ; ) {
    const byte = rest & 0x7f;
    rest >>>= 7;
    if (rest === 0) return [...out, byte];
    out.push(byte | 0x80);
  }
};
const signed = (n: number): number[] => {
  const out: number[] = [];
  for (let rest = n | 0; ; ) {
    const byte = rest & 0x7f;
    rest >>= 7;
    if ((rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
};
const vector = (items: number[][]): number[] => [...unsigned(items.length), ...items.flat()];
const name = (text: string): number[] => [...unsigned(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];
const section = (id: number, body: number[]): number[] => [id, ...unsigned(body.length), ...body];
const constant = (n: number): number[] => [op.i32Const, ...signed(n)];
const get = (local: number): number[] => [op.localGet, local];
const load = (address: number[]): number[] => [...address, op.i32Load, ...WORD];
/** `(if (condition) (then (return (i32.const 0))))` */
const failIf = (condition: number[]): number[] => [...condition, op.if, VOID_BLOCK, ...constant(0), op.return, op.end];
const casFails = (state: number[], s: number, replacement: number[]): number[] =>
  failIf([...state, ...get(s), ...replacement, op.atomicPrefix, op.i32AtomicRmwCmpxchg, ...WORD, ...get(s), op.i32Ne]);
const notMine = (own: number, me: number): number[] => failIf([...load([...get(own), ...constant(4), op.i32Sub]), ...get(me), op.i32Ne]);
/** `(i32.store (local.get $own) (value)) (i32.const 1)`: OWN's new value, then success; the body ends. */
const storeOwnAndSucceed = (own: number, value: number[]): number[] => [
  ...get(own),
  ...value,
  op.i32Store,
  ...WORD,
  ...constant(1),
  op.end,
];

function assemble(stateAt: number, debtAt: number): Uint8Array {
  const state = constant(stateAt);
  // take(weight 0, own 1, me 2; s 3)
  const take = [
    ...vector([[1, I32]]),
    ...failIf([...load(state), op.localTee, 3, ...get(0), op.i32LtS]),
    ...failIf(load(constant(debtAt))),
    ...notMine(1, 2),
    ...casFails(state, 3, [...get(3), ...get(0), op.i32Sub]),
    ...storeOwnAndSucceed(1, [...load(get(1)), ...get(0), op.i32Add]),
  ];
  // give(weight 0, own 1, me 2, capacity 3; s 4, held 5)
  const give = [
    ...vector([[2, I32]]),
    ...failIf([...load(state), op.localTee, 4, ...constant(0), op.i32LtS]),
    ...failIf([...get(0), ...get(3), ...get(4), op.i32Sub, op.i32GtS]),
    ...notMine(1, 2),
    ...failIf(load([...get(1), ...constant(4), op.i32Add])),
    ...failIf([...load(get(1)), op.localTee, 5, ...get(0), op.i32LtS]),
    ...casFails(state, 4, [...get(4), ...get(0), op.i32Add]),
    ...storeOwnAndSucceed(1, [...get(5), ...get(0), op.i32Sub]),
  ];
  const FUNC = 0x60;
  const types = vector([
    [FUNC, ...vector([[I32], [I32], [I32]]), ...vector([[I32]])],
    [FUNC, ...vector([[I32], [I32], [I32], [I32]]), ...vector([[I32]])],
  ]);
  const SHARED_WITH_MAX = 0x03;
  const MEMORY = 0x02;
  const FUNCTION = 0x00;
  const imports = vector([[...name('semaphore'), ...name('memory'), MEMORY, SHARED_WITH_MAX, ...unsigned(1), ...unsigned(65536)]]);
  const exports = vector([
    [...name('take'), FUNCTION, 0],
    [...name('give'), FUNCTION, 1],
  ]);
  const code = vector([
    [...unsigned(take.length), ...take],
    [...unsigned(give.length), ...give],
  ]);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, types),
    ...section(2, imports),
    ...section(3, vector([[0], [1]])),
    ...section(7, exports),
    ...section(10, code),
  ]);
}
