import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnswerChain, ChainAddress } from '../../src/allowmap/answer-addresses.js';
import { RetainedMappings, type MappingDrop } from '../../src/allowmap/mappings.js';

const POD = 'default/web';
const NOW = 1_000_000;
const seconds = (ttl: number): number => ttl * 1000;

function answer(name: string, addresses: [ip: string, ttlSeconds: number][], targets: [name: string, ttlSeconds: number][] = []): AnswerChain {
  const chainAddresses: ChainAddress[] = addresses.map(([ip, ttlSeconds]) => ({ ip, family: 4, special: false, ttlSeconds }));
  return { question: name, links: [{ name, addresses: chainAddresses, targets: targets.map(([target, ttlSeconds]) => ({ name: target, ttlSeconds })) }] };
}

function addressesOf(mappings: RetainedMappings, name: string): string[] {
  const found: string[] = [];
  mappings.forEachAddress(POD, name, NOW, (ip) => found.push(ip));
  return found.sort();
}

test('past the per-name cap, the address that expires soonest goes, not the one learnt first', () => {
  const drops: MappingDrop[] = [];
  const mappings = new RetainedMappings({ namesPerClient: 10, totalNames: 10, addressesPerName: 2, linksPerName: 2 }, (what) => drops.push(what));
  mappings.record(POD, answer('api.example.com', [['192.0.2.1', 300]]), NOW, seconds);
  mappings.record(POD, answer('api.example.com', [['192.0.2.2', 30]]), NOW, seconds);
  mappings.record(POD, answer('api.example.com', [['192.0.2.3', 600]]), NOW, seconds);
  assert.deepEqual(addressesOf(mappings, 'api.example.com'), ['192.0.2.1', '192.0.2.3']);
  assert.deepEqual(drops, ['name-addresses']);
});

test('an address answered again is kept with its new lifetime, in place', () => {
  const mappings = new RetainedMappings({ namesPerClient: 10, totalNames: 10, addressesPerName: 2, linksPerName: 2 }, () => undefined);
  mappings.record(POD, answer('api.example.com', [['192.0.2.1', 10]]), NOW, seconds);
  mappings.record(POD, answer('api.example.com', [['192.0.2.2', 60]]), NOW, seconds);
  mappings.record(POD, answer('api.example.com', [['192.0.2.1', 120]]), NOW, seconds);
  mappings.record(POD, answer('api.example.com', [['192.0.2.3', 90]]), NOW, seconds);
  // 192.0.2.1 was learnt first, but its second answer makes it outlive 192.0.2.2.
  assert.deepEqual(addressesOf(mappings, 'api.example.com'), ['192.0.2.1', '192.0.2.3']);
  const [saved] = mappings.save(POD, NOW);
  assert.deepEqual(saved.addresses.find(([ip]) => ip === '192.0.2.1'), ['192.0.2.1', 4, false, NOW + 120_000, 'api.example.com']);
});

test('CNAME links past the cap: the soonest to expire goes; a name without links leads only to its own addresses', () => {
  const drops: MappingDrop[] = [];
  const mappings = new RetainedMappings({ namesPerClient: 10, totalNames: 10, addressesPerName: 4, linksPerName: 1 }, (what) => drops.push(what));
  mappings.record(POD, answer('www.example.com', [], [['a.cdn.example', 600]]), NOW, seconds);
  mappings.record(POD, answer('www.example.com', [], [['b.cdn.example', 60]]), NOW, seconds);
  mappings.record(POD, answer('a.cdn.example', [['198.51.100.1', 60]]), NOW, seconds);
  mappings.record(POD, answer('b.cdn.example', [['198.51.100.2', 60]]), NOW, seconds);
  assert.deepEqual(addressesOf(mappings, 'www.example.com'), ['198.51.100.1']);
  assert.deepEqual(addressesOf(mappings, 'b.cdn.example'), ['198.51.100.2']);
  assert.deepEqual(drops, ['name-links']);
  assert.deepEqual(mappings.namesLeadingTo(POD, 'b.cdn.example', NOW), ['b.cdn.example', 'www.example.com'], 'the source link of b stays: it is capped on its own side');
});
