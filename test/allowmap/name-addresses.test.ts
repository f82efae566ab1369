import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllowedEntry } from '../../src/allowmap/entry.js';
import { NameAddresses } from '../../src/allowmap/name-addresses.js';

function entry(ip: string): AllowedEntry {
  return { client: null, ip, family: 4, domains: new Set(), rules: [], expiresAt: 0, programmedUntil: 0, version: 0, heapIndex: -1, refreshIndex: -1 };
}

/** Empties `addresses`, least recent first. */
function drain(addresses: NameAddresses): string[] {
  const order: string[] = [];
  for (let oldest = addresses.takeOldest(); oldest !== undefined; oldest = addresses.takeOldest()) order.push(oldest.ip);
  return order;
}

test('entries come out least recently sighted first; a sighting moves an entry to the back', () => {
  const addresses = new NameAddresses();
  const [a, b, c] = ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map(entry);
  for (const e of [a, b, c, a, b]) addresses.sight(e);
  assert.equal(addresses.size, 3);
  assert.deepEqual(drain(addresses), ['192.0.2.3', '192.0.2.1', '192.0.2.2']);
  assert.equal(addresses.size, 0);
});

test('removal from the front, middle and back keeps the order of the rest; another entry of the same IP is not removed', () => {
  for (const [removed, rest] of [
    ['192.0.2.1', ['192.0.2.2', '192.0.2.3']],
    ['192.0.2.2', ['192.0.2.1', '192.0.2.3']],
    ['192.0.2.3', ['192.0.2.1', '192.0.2.2']],
  ] as const) {
    const addresses = new NameAddresses();
    const entries = ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map(entry);
    for (const e of entries) addresses.sight(e);
    assert.equal(addresses.remove(entry(removed)), false, 'a different entry with that IP');
    assert.equal(addresses.remove(entries.find((e) => e.ip === removed)!), true);
    addresses.sight(entries.find((e) => e.ip === rest[0])!);
    assert.deepEqual(drain(addresses), [rest[1], rest[0]]);
  }
});

test('against an array kept in order, through random sightings, removals and evictions', () => {
  const addresses = new NameAddresses();
  const pool = Array.from({ length: 40 }, (_, i) => entry(`192.0.2.${i}`));
  const order: AllowedEntry[] = [];
  let state = 99;
  const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31);
  for (let step = 0; step < 20_000; step++) {
    const roll = next() % 10;
    const picked = pool[next() % pool.length];
    if (roll < 6) {
      addresses.sight(picked);
      if (order.includes(picked)) order.splice(order.indexOf(picked), 1);
      order.push(picked);
    } else if (roll < 8) {
      assert.equal(addresses.remove(picked), order.includes(picked));
      if (order.includes(picked)) order.splice(order.indexOf(picked), 1);
    } else {
      assert.equal(addresses.takeOldest(), order.shift());
    }
    assert.equal(addresses.size, order.length);
  }
  assert.deepEqual(drain(addresses), order.map((e) => e.ip));
});
