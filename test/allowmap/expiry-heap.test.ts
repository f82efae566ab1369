import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllowedEntry } from '../../src/allowmap/entry.js';
import { ExpiryHeap, type HeapOrder } from '../../src/allowmap/expiry-heap.js';

function entry(ip: string, time: number): AllowedEntry {
  return { client: null, ip, family: 4, domains: new Set(), rules: [], expiresAt: time, programmedUntil: time, version: 0, heapIndex: -1, refreshIndex: -1 };
}

/** A deterministic sequence, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

for (const order of ['expiry', 'programmed'] as HeapOrder[]) {
  test(`${order}: the soonest is the true minimum through pushes, removals, times moved earlier (placed) and later (left unplaced)`, () => {
    const heap = new ExpiryHeap(order);
    const set = (e: AllowedEntry, time: number) => (order === 'expiry' ? (e.expiresAt = time) : (e.programmedUntil = time));
    const timeOf = (e: AllowedEntry) => (order === 'expiry' ? e.expiresAt : e.programmedUntil);
    const next = random(order === 'expiry' ? 7 : 11);
    const live: AllowedEntry[] = [];
    for (let step = 0; step < 20_000; step++) {
      const roll = next();
      if (roll < 0.4 || live.length === 0) {
        const added = entry(`e${step}`, Math.floor(next() * 1e6));
        heap.push(added);
        live.push(added);
      } else if (roll < 0.6) {
        const removed = live.splice(Math.floor(next() * live.length), 1)[0];
        heap.remove(removed);
        assert.equal(heap.has(removed), false);
      } else if (roll < 0.8) {
        set(live[Math.floor(next() * live.length)], Math.floor(next() * 1e6) + 1e6);
      } else {
        const moved = live[Math.floor(next() * live.length)];
        set(moved, Math.floor(timeOf(moved) * next()));
        heap.update(moved);
      }
      const min = Math.min(...live.map(timeOf));
      const soonest = heap.soonest();
      assert.equal(soonest === undefined ? undefined : timeOf(soonest), live.length === 0 ? undefined : min, `step ${step}`);
      assert.equal(heap.size, live.length);
    }
  });
}

test('the two orders keep their positions in fields of their own: an entry can sit in both', () => {
  const byExpiry = new ExpiryHeap('expiry');
  const byProgrammed = new ExpiryHeap('programmed');
  const a = entry('a', 10);
  const b = entry('b', 20);
  a.programmedUntil = 30;
  for (const e of [a, b]) {
    byExpiry.push(e);
    byProgrammed.push(e);
  }
  assert.equal(byExpiry.soonest(), a);
  assert.equal(byProgrammed.soonest(), b);
  byProgrammed.remove(a);
  assert.equal(byExpiry.has(a), true);
  assert.equal(byProgrammed.has(a), false);
});
