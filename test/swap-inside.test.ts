// The one walk that swaps shared objects for handles and back (src/wire/swap-inside.ts), on random
// graphs of arrays, Maps, Sets and plain objects with shared references and cycles: what the
// arguments, results and revivals of every task go through.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { swapInside } from '../src/wire/swap-inside.js';

/** A leaf the walk swaps. */
class Marked {
  constructor(readonly id: number) {}
}
const isMarked = (value: object | symbol): boolean => value instanceof Marked;
const swap = (value: object | symbol): unknown => ({ swapped: (value as Marked).id });

type Kind = 'array' | 'map' | 'set' | 'object';
/** A graph: nodes of a kind, each with edges to other nodes (any, itself included) or to leaves. */
interface Plan {
  kinds: Kind[];
  edges: { from: number; to: number; leaf: 'node' | 'marked' | 'number' }[];
}

const plans = fc.integer({ min: 1, max: 6 }).chain((n) =>
  fc.record({
    kinds: fc.array(fc.constantFrom<Kind>('array', 'map', 'set', 'object'), { minLength: n, maxLength: n }),
    edges: fc.array(
      fc.record({
        from: fc.integer({ min: 0, max: n - 1 }),
        to: fc.integer({ min: 0, max: n - 1 }),
        leaf: fc.constantFrom<'node' | 'marked' | 'number'>('node', 'node', 'marked', 'number'),
      }),
      { maxLength: 14 },
    ),
  }),
);

/** Builds the graph; node 0 is the root. Leaves `marked` are shared between edges of the same `to`. */
function build(plan: Plan): object {
  const marked = plan.kinds.map((_, i) => new Marked(i));
  const nodes = plan.kinds.map((kind): object => {
    if (kind === 'array') return [];
    if (kind === 'map') return new Map();
    if (kind === 'set') return new Set();
    return {};
  });
  plan.edges.forEach(({ from, to, leaf }, i) => {
    const value = leaf === 'node' ? nodes[to] : leaf === 'marked' ? marked[to] : i;
    const node = nodes[from] as object;
    if (Array.isArray(node)) node.push(value);
    else if (node instanceof Map) node.set(`k${i}`, value);
    else if (node instanceof Set) node.add(value);
    else (node as Record<string, unknown>)[`k${i}`] = value;
  });
  return nodes[0] as object;
}

function children(node: unknown): unknown[] {
  if (Array.isArray(node)) return node;
  if (node instanceof Map) return [...node.values()];
  if (node instanceof Set) return [...node];
  return Object.values(node as object);
}

const isContainer = (value: unknown): value is object =>
  Array.isArray(value) || value instanceof Map || value instanceof Set || (typeof value === 'object' && value?.constructor === Object);

/**
 * Walks the original and the result side by side: the same shape, every Marked swapped, every
 * other leaf the same, and the pairing of nodes one to one (a cycle or a shared reference in one
 * is the same cycle or reference in the other).
 */
function checkPaired(original: unknown, result: unknown, pairs: Map<unknown, unknown>): void {
  if (original instanceof Marked) {
    expect(result).toEqual({ swapped: original.id });
    return;
  }
  if (!isContainer(original)) {
    expect(result).toBe(original);
    return;
  }
  if (pairs.has(original)) {
    expect(result).toBe(pairs.get(original));
    return;
  }
  pairs.set(original, result);
  expect(Object.getPrototypeOf(result)).toBe(Object.getPrototypeOf(original));
  const a = children(original);
  const b = children(result);
  expect(b.length).toBe(a.length);
  for (const [i, child] of a.entries()) checkPaired(child, b[i], pairs);
}

/** Every container reachable from `root`, with what it held, to see that nothing was changed. */
function snapshot(root: unknown, seen = new Map<object, unknown[]>()): Map<object, unknown[]> {
  if (!isContainer(root) || seen.has(root)) return seen;
  seen.set(root, [...children(root)]);
  for (const child of children(root)) snapshot(child, seen);
  return seen;
}

function holdsMarked(root: unknown): boolean {
  return [...snapshot(root).values()].some((held) => held.some((child) => child instanceof Marked));
}

describe('swapInside', () => {
  it('swaps every marked leaf through cycles and shared references, keeps the rest, and changes nothing it was given', () => {
    fc.assert(
      fc.property(plans, (plan) => {
        const root = build(plan);
        const before = snapshot(root);
        const result = swapInside(root, isMarked, swap);
        checkPaired(root, result, new Map());
        for (const [node, held] of before) expect(children(node)).toEqual(held); // the caller's objects unchanged
        if (!holdsMarked(root)) expect(result).toBe(root); // nothing to swap: nothing copied
      }),
      { numRuns: 500, seed: 24 },
    );
  });

  it('swaps an object once however often it appears, and leaves containers without a swap inside as they are', () => {
    const leaf = new Marked(1);
    const untouched = { deep: [1, 2, { three: 3 }] };
    const root = { a: leaf, b: [leaf, leaf], untouched, set: new Set([leaf]) };
    let swaps = 0;
    const result = swapInside(root, isMarked, () => ({ swapped: ++swaps })) as typeof root;
    expect(swaps).toBe(1);
    expect(result.a).toBe(result.b[0]);
    expect(result.untouched).toBe(untouched);
    expect([...result.set][0]).toBe(result.a);
  });

  it("keeps an own '__proto__' key a key, and a null prototype null", () => {
    const parsed = JSON.parse('{"__proto__": 1, "x": 2}') as Record<string, unknown>;
    Object.defineProperty(parsed, '__proto__', { value: new Marked(1), enumerable: true });
    parsed.x = new Marked(2);
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { leaf: new Marked(3) });
    const result = swapInside([parsed, bare], isMarked, swap) as [Record<string, unknown>, Record<string, unknown>];
    expect(Object.getPrototypeOf(result[0])).toBe(Object.prototype);
    expect(Object.keys(result[0])).toEqual(['__proto__', 'x']);
    expect(Object.getOwnPropertyDescriptor(result[0], '__proto__')?.value).toEqual({ swapped: 1 });
    expect(result[0].x).toEqual({ swapped: 2 });
    expect(Object.getPrototypeOf(result[1])).toBe(null);
    expect(result[1].leaf).toEqual({ swapped: 3 });
  });
});
