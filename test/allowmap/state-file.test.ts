import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AllowedMap } from '../../src/allowmap/map.js';
import { RetainedMappings } from '../../src/allowmap/mappings.js';
import { StateFile, restoreState, saveState } from '../../src/allowmap/state-file.js';
import { identitiesFromObjects } from '../../src/identity/podfile.js';
import { parseObjects } from '../../src/yaml/documents.js';

const dir = mkdtempSync(join(tmpdir(), 'dnsgate-state-'));
const identities = identitiesFromObjects(
  parseObjects('pods.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: ns}\nstatus: {podIP: 10.0.0.1}\n'),
);
const pod = identities.pods[0];

const newMappings = () => new RetainedMappings({ namesPerClient: 100, totalNames: 100, addressesPerName: 10, linksPerName: 4 }, () => undefined);

function newMap(now: () => number) {
  return new AllowedMap({ extraTtlMs: 0, minTtlMs: 0, maxTtlMs: 604_800_000, maxDomainsPerEntry: 64, maxIpsPerName: 1000, maxEntries: 1000, now }, { onAdded: () => undefined, onEvicted: () => undefined, onDomainDropped: () => undefined });
}

test('entries survive a save and restore; those with a second or less left do not', async () => {
  let now = 1_700_000_000_000;
  const map = newMap(() => now);
  const client = { key: pod.key, namespace: pod.namespace, name: pod.name, ips: pod.ips, queriedFrom: '10.0.0.1' };
  map.learn(client, { ip: '192.0.2.1', family: 4, lifetimeMs: 60 * 1000, domain: 'a.com', rules: ['r1'] });
  map.learn(client, { ip: '2001:db8::1', family: 6, lifetimeMs: 60 * 1000, domain: 'a.com', rules: ['r1'] });
  map.learn(client, { ip: '192.0.2.2', family: 4, lifetimeMs: 1 * 1000, domain: 'b.com', rules: ['r2'] });
  const path = join(dir, 'state.json');
  await saveState(path, map, newMappings(), 'pod', now);

  now += 100;
  const restored = newMap(() => now);
  const result = await restoreState(path, restored, newMappings(), 'pod', identities, now);
  assert.deepEqual(result, { restored: 2 });
  const entries = [...restored.all()];
  assert.deepEqual(entries.map((e) => [e.client?.key, e.ip, [...e.domains], e.rules]).sort(), [
    ['ns/a', '192.0.2.1', ['a.com'], ['r1']],
    ['ns/a', '2001:db8::1', ['a.com'], ['r1']],
  ]);
  assert.equal(entries[0].expiresAt, 1_700_000_000_000 + 60_000, 'the expiry is kept, not renewed');
  assert.equal(restored.takeBatch()?.batch.upserts.length, 2, 'restored entries go to the dataplane');
});

test('pods that are gone lose their entries; another scope or a foreign file is ignored in one line', async () => {
  const now = 1_700_000_000_000;
  const path = join(dir, 'gone.json');
  const map = newMap(() => now);
  map.learn({ key: 'ns/gone', namespace: 'ns', name: 'gone', ips: ['10.0.0.9'], queriedFrom: '10.0.0.9' }, { ip: '192.0.2.1', family: 4, lifetimeMs: 60 * 1000, domain: 'a.com', rules: ['r1'] });
  await saveState(path, map, newMappings(), 'pod', now);
  assert.deepEqual(await restoreState(path, newMap(() => now), newMappings(), 'pod', identities, now), { restored: 0 });

  const node = await restoreState(path, newMap(() => now), newMappings(), 'node', identities, now);
  assert.match(node.problem ?? '', /saved with --scope pod, now node; ignored$/);

  const corrupt = join(dir, 'corrupt.json');
  writeFileSync(corrupt, '{"format": "dnsgate-allowed-map", "epoch": 2, "entr');
  assert.equal((await restoreState(corrupt, newMap(() => now), newMappings(), 'pod', identities, now)).problem, `${corrupt}: state file is not JSON, ignored`);
  const foreign = join(dir, 'foreign.json');
  writeFileSync(foreign, JSON.stringify({ hello: 'world' }));
  assert.match((await restoreState(foreign, newMap(() => now), newMappings(), 'pod', identities, now)).problem ?? '', /not a dnsgate state file/);
  assert.deepEqual(await restoreState(join(dir, 'missing.json'), newMap(() => now), newMappings(), 'pod', identities, now), { restored: 0, missing: true });
});

test('the save replaces the file whole', async () => {
  const path = join(dir, 'atomic.json');
  writeFileSync(path, 'old');
  await saveState(path, newMap(() => Date.now()), newMappings(), 'node');
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).format, 'dnsgate-allowed-map');
});

test('retained name→IP and name→name mappings survive a save and restore; another epoch is discarded in one line', async () => {
  const now = 1_700_000_000_000;
  const path = join(dir, 'mappings.json');
  const mappings = newMappings();
  mappings.record(pod.key, { question: 'a.com', links: [{ name: 'a.com', addresses: [], targets: [{ name: 'b.net', ttlSeconds: 60 }] }] }, now, (ttl) => ttl * 1000);
  mappings.record(pod.key, { question: 'b.net', links: [{ name: 'b.net', addresses: [{ ip: '192.0.2.9', family: 4, ttlSeconds: 30, special: false }], targets: [] }] }, now, (ttl) => ttl * 1000);
  mappings.record('ns/gone', { question: 'c.com', links: [{ name: 'c.com', addresses: [{ ip: '192.0.2.10', family: 4, ttlSeconds: 30, special: false }], targets: [] }] }, now, (ttl) => ttl * 1000);
  await saveState(path, newMap(() => now), mappings, 'pod', now);

  const restored = newMappings();
  await restoreState(path, newMap(() => now), restored, 'pod', identities, now + 1000);
  assert.deepEqual(restored.clientKeys(), [pod.key], 'only pods that still exist');
  const reached: string[] = [];
  restored.forEachAddress(pod.key, 'a.com', now + 1000, (ip, address) => reached.push(`${ip}@${address.expiresAt - now}`));
  assert.deepEqual(reached, ['192.0.2.9@30000'], 'the chain a.com → b.net → 192.0.2.9 is back, with its expiry');
  assert.deepEqual(restored.namesLeadingTo(pod.key, 'b.net', now + 1000), ['b.net', 'a.com']);

  const old = join(dir, 'epoch1.json');
  writeFileSync(old, JSON.stringify({ format: 'dnsgate-allowed-map', version: 1, scope: 'pod', entries: [] }));
  const result = await restoreState(old, newMap(() => now), newMappings(), 'pod', identities, now);
  assert.deepEqual(result, { restored: 0, problem: `${old}: state file of another epoch (1, this version reads 2), discarded` });
});

test('mappings saved without the question they came from are dropped; the entries beside them are restored', async () => {
  const now = 1_700_000_000_000;
  const path = join(dir, 'no-origins.json');
  const client = { key: pod.key, namespace: pod.namespace, name: pod.name, ips: pod.ips, queriedFrom: '10.0.0.1' };
  writeFileSync(path, JSON.stringify({
    format: 'dnsgate-allowed-map', epoch: 2, scope: 'pod', savedAt: new Date(now).toISOString(),
    entries: [{ client, ip: '192.0.2.1', domains: ['a.com'], rules: ['r1'], expiresAt: now + 60_000 }],
    mappings: { [pod.key]: [{ name: 'a.com', addresses: [], targets: [['b.net', now + 60_000]] }, { name: 'b.net', addresses: [['6.6.6.6', 4, false, now + 60_000]], targets: [] }] },
  }));
  const mappings = newMappings();
  assert.deepEqual(await restoreState(path, newMap(() => now), mappings, 'pod', identities, now), { restored: 1 });
  assert.equal(mappings.size, 0, 'which answer taught them is unknown');
});

test("a predecessor's final save merges: new entries join, known ones keep the later expiry, the union is saved and the handover file goes", async () => {
  const now = Date.now();
  const path = join(dir, 'handover.json');
  const lines: string[] = [];
  const logger = { info: (line: string) => lines.push(line), error: (line: string) => lines.push(line) };
  const client = { key: pod.key, namespace: pod.namespace, name: pod.name, ips: pod.ips, queriedFrom: '10.0.0.1' };
  const answer = (name: string, ip: string, ttlSeconds: number) => ({ question: name, links: [{ name, addresses: [{ ip, family: 4 as const, ttlSeconds, special: false }], targets: [] }] });
  const lifetime = (ttl: number) => ttl * 1000;

  const predecessorMap = newMap(() => now);
  const predecessorMappings = newMappings();
  predecessorMap.learn(client, { ip: '192.0.2.1', family: 4, lifetimeMs: 120_000, domain: 'a.com', rules: ['r1'] });
  predecessorMap.learn(client, { ip: '192.0.2.2', family: 4, lifetimeMs: 30_000, domain: 'b.com', rules: ['r1'] });
  predecessorMap.learn(client, { ip: '192.0.2.3', family: 4, lifetimeMs: 60_000, domain: 'c.com', rules: ['r2'] });
  predecessorMappings.record(pod.key, answer('a.com', '192.0.2.1', 120), now, lifetime);
  predecessorMappings.record(pod.key, answer('b.com', '192.0.2.2', 30), now, lifetime);
  await new StateFile(path, predecessorMap, predecessorMappings, 'pod', logger).save(true);
  assert.ok(existsSync(`${path}.handover`));
  assert.ok(!existsSync(path), "the successor's own file is left alone");

  const map = newMap(() => now);
  const mappings = newMappings();
  map.learn(client, { ip: '192.0.2.1', family: 4, lifetimeMs: 60_000, domain: 'a.com', rules: ['r1'] });
  map.learn(client, { ip: '192.0.2.2', family: 4, lifetimeMs: 90_000, domain: 'b2.com', rules: ['r1'] });
  mappings.record(pod.key, answer('b.com', '192.0.2.2', 90), now, lifetime);
  map.takeBatch();
  const stateFile = new StateFile(path, map, mappings, 'pod', logger);
  assert.equal(await stateFile.mergeHandover(identities), true);

  const held = new Map([...map.all()].map((entry) => [entry.ip, { left: entry.expiresAt - now, domains: [...entry.domains].sort(), rules: entry.rules }]));
  assert.deepEqual(Object.fromEntries(held), {
    '192.0.2.1': { left: 120_000, domains: ['a.com'], rules: ['r1'] },
    '192.0.2.2': { left: 90_000, domains: ['b.com', 'b2.com'], rules: ['r1'] },
    '192.0.2.3': { left: 60_000, domains: ['c.com'], rules: ['r2'] },
  });
  assert.deepEqual(map.takeBatch()?.batch.upserts.map((entry) => entry.ip).sort(), ['192.0.2.1', '192.0.2.3'], 'the extended and the new entry go to the dataplane');
  const expiries = (name: string): number[] => {
    const found: number[] = [];
    mappings.forEachAddress(pod.key, name, now, (_ip, address) => found.push(address.expiresAt - now));
    return found;
  };
  assert.deepEqual([expiries('a.com'), expiries('b.com')], [[120_000], [90_000]], 'a retained mapping is added or extended, never shortened');

  const saved = JSON.parse(readFileSync(path, 'utf8')) as { entries: { ip: string }[] };
  assert.deepEqual(saved.entries.map((entry) => entry.ip).sort(), ['192.0.2.1', '192.0.2.2', '192.0.2.3'], 'the union is saved');
  assert.ok(!existsSync(`${path}.handover`));
  assert.equal(await stateFile.mergeHandover(identities), false, 'merged once');
  assert.deepEqual(lines, ["merged 3 allowed entries of the predecessor's final save"]);
});

test("a predecessor's final save that cannot be read now is kept for the next try, and the merge does not throw", async () => {
  const path = join(dir, 'unreadable.json');
  // A directory where the file should be: reading it fails with EISDIR, as a passing I/O error would.
  mkdirSync(`${path}.handover`);
  const lines: string[] = [];
  const logger = { info: (line: string) => lines.push(line), error: (line: string) => lines.push(line) };
  const stateFile = new StateFile(path, newMap(() => Date.now()), newMappings(), 'pod', logger);
  assert.equal(await stateFile.mergeHandover(identities), false, 'not merged');
  assert.ok(existsSync(`${path}.handover`), 'left for another try');
  assert.ok(!existsSync(path), 'and nothing saved in its name');
  assert.match(lines.join('\n'), /cannot read state file \(EISDIR\); kept for another try/);
});

test('two saves side by side, as a predecessor and its successor make during an upgrade, each land whole', async () => {
  const path = join(dir, 'side-by-side.json');
  const now = Date.now();
  const client = { key: pod.key, namespace: pod.namespace, name: pod.name, ips: pod.ips, queriedFrom: '10.0.0.1' };
  const maps = [1, 2].map((n) => {
    const map = newMap(() => now);
    for (let i = 0; i < 2000; i++) map.learn(client, { ip: `192.0.${n}.${i % 250}`, family: 4, lifetimeMs: 60_000 + i, domain: `n${n}-${i}.example.com`, rules: ['r1'] });
    return map;
  });
  await Promise.all(maps.map((map) => saveState(path, map, newMappings(), 'pod', now)));
  const saved = JSON.parse(readFileSync(path, 'utf8')) as { entries: unknown[] };
  assert.ok(saved.entries.length > 0, 'one of the two, whole');
});
