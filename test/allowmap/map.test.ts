import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllowedEntry, EntryClient } from '../../src/allowmap/entry.js';
import { AllowedMap, type AllowedMapOptions, type LearntAddress } from '../../src/allowmap/map.js';

const POD_A: EntryClient = { key: 'ns/a', namespace: 'ns', name: 'a', ips: ['10.0.0.1'], queriedFrom: '10.0.0.1' };
const POD_B: EntryClient = { key: 'ns/b', namespace: 'ns', name: 'b', ips: ['10.0.0.2'], queriedFrom: '10.0.0.2' };

function setup(options: Partial<AllowedMapOptions> = {}) {
  let now = 1_000_000;
  const evicted: [string, string][] = [];
  const droppedNames: string[] = [];
  const map = new AllowedMap(
    { extraTtlMs: 0, minTtlMs: 2000, maxTtlMs: 604_800_000, maxDomainsPerEntry: 64, maxIpsPerName: 1000, maxEntries: 100_000, now: () => now, ...options },
    { onAdded: () => undefined, onEvicted: (reason, entry) => evicted.push([reason, entry.ip]), onDomainDropped: (entry) => droppedNames.push(entry.ip) },
  );
  return { map, evicted, droppedNames, advance: (ms: number) => (now += ms), now: () => now };
}

function address(ip: string, ttlSeconds = 60, domain = 'a.example.com', rules = ['default|p|allow|0']): LearntAddress {
  return { ip, family: ip.includes(':') ? 6 : 4, lifetimeMs: ttlSeconds * 1000, domain, rules };
}

const entries = (map: AllowedMap): AllowedEntry[] => [...map.all()];

test('lifetime is TTL + extra, floored at min-ttl and capped at max-ttl', () => {
  assert.equal(setup().map.lifetimeMs(1), 2000, 'the 2 s floor');
  assert.equal(setup({ extraTtlMs: 5000 }).map.lifetimeMs(1), 6000);
  assert.equal(setup({ maxTtlMs: 30_000 }).map.lifetimeMs(3600), 30_000);
  assert.equal(setup({ minTtlMs: 0 }).map.lifetimeMs(0), 0);
});

test('a later sighting only extends, by whole steps; only what is not in force is waited for', () => {
  const { map, advance, now } = setup();
  assert.equal(map.learn(POD_A, address('192.0.2.1', 60)), true, 'new: must wait');
  const pending = map.takeBatch();
  assert.ok(pending);
  assert.equal(pending.batch.upserts.length, 1);
  assert.equal(map.learn(POD_A, address('192.0.2.1', 60)), true, 'not yet acknowledged');
  map.markProgrammed(pending);
  const first = now() + 60_000;
  assert.equal(map.learn(POD_A, address('192.0.2.1', 10)), false, 'shorter TTL: nothing to do');
  advance(400);
  assert.equal(map.learn(POD_A, address('192.0.2.1', 60)), false, 'a repeat moments later');
  assert.equal(entries(map)[0].expiresAt, first, 'less than a step later: not extended');
  assert.equal(map.hasChanges, false);
  advance(5000);
  assert.equal(map.learn(POD_A, address('192.0.2.1', 60)), false, 'still in force for a minute: no wait');
  assert.equal(entries(map)[0].expiresAt, now() + 60_000, 'extended');
  assert.equal(map.hasChanges, false, 'the dataplane holds it for 54.6 s of the 60 s allowed: deferred');
  advance(25_000);
  assert.equal(map.learn(POD_A, address('192.0.2.1', 60)), false);
  assert.equal(map.takeBatch()?.batch.upserts[0].expiresAt, now() + 60_000, 'held for less than half of the 60 s allowed: the extension goes to the dataplane');
  advance(30_000);
  assert.equal(map.learn(POD_A, address('192.0.2.1', 60)), true, 'programmed expiry too close: wait');
});

test('a new rule for a known IP needs programming; a new domain with known rules does not', () => {
  const { map } = setup();
  map.learn(POD_A, address('192.0.2.1', 60, 'a.example.com', ['r1']));
  map.markProgrammed(map.takeBatch()!);
  assert.equal(map.learn(POD_A, address('192.0.2.1', 60, 'b.example.com', ['r1'])), false);
  assert.deepEqual([...entries(map)[0].domains], ['a.example.com', 'b.example.com']);
  assert.equal(map.learn(POD_A, address('192.0.2.1', 60, 'b.example.com', ['r2'])), true);
  assert.deepEqual(map.takeBatch()!.batch.upserts[0].rules, ['r1', 'r2']);
});

test('pods are keyed apart', () => {
  const { map } = setup();
  map.learn(POD_A, address('192.0.2.1'));
  map.learn(POD_B, address('192.0.2.1'));
  map.learn(null, address('192.0.2.1'));
  assert.equal(map.size, 3);
  const upserts = map.takeBatch()!.batch.upserts;
  assert.deepEqual(upserts.map((u) => u.clientIps), [['10.0.0.1'], ['10.0.0.2'], []]);
});

test('expiry removes entries in order and reports them for the dataplane', () => {
  const { map, advance } = setup();
  map.learn(POD_A, address('192.0.2.1', 10));
  map.learn(POD_A, address('192.0.2.2', 30));
  map.learn(POD_A, address('192.0.2.3', 20));
  map.takeBatch();
  advance(20_000);
  assert.equal(map.expire(), 2);
  assert.deepEqual(entries(map).map((e) => e.ip), ['192.0.2.2']);
  assert.deepEqual(map.takeBatch()!.batch.removals.map((r) => r.ip).sort(), ['192.0.2.1', '192.0.2.3']);
});

test('the per-(pod, name) limit evicts the IP least recently learnt or extended', () => {
  const { map, evicted, advance } = setup({ maxIpsPerName: 2 });
  map.learn(POD_A, address('192.0.2.1'));
  map.learn(POD_A, address('192.0.2.2'));
  advance(5000);
  map.learn(POD_A, address('192.0.2.1')); // extended: now the newest
  map.learn(POD_A, address('192.0.2.3'));
  assert.deepEqual(entries(map).map((e) => e.ip).sort(), ['192.0.2.1', '192.0.2.3']);
  assert.deepEqual(evicted, [['per-name-limit', '192.0.2.2']]);
  map.learn(POD_B, address('192.0.2.4'));
  assert.equal(map.size, 3, 'another pod has its own limit');
});

test('an IP kept by another name survives the eviction for one name', () => {
  const { map } = setup({ maxIpsPerName: 1 });
  map.learn(POD_A, address('192.0.2.1', 60, 'a.example.com'));
  map.learn(POD_A, address('192.0.2.1', 60, 'b.example.com'));
  map.learn(POD_A, address('192.0.2.2', 60, 'a.example.com'));
  const kept = entries(map).find((e) => e.ip === '192.0.2.1');
  assert.deepEqual([...(kept?.domains ?? [])], ['b.example.com']);
});

test('names sharing one IP: an entry keeps the most recent --max-names-per-entry, each learn O(1)', () => {
  const { map, droppedNames } = setup({ maxDomainsPerEntry: 3 });
  for (let i = 0; i < 100_000; i++) map.learn(POD_A, address('192.0.2.1', 60, `n${i}.example.com`));
  assert.equal(map.size, 1);
  assert.deepEqual([...entries(map)[0].domains], ['n99997.example.com', 'n99998.example.com', 'n99999.example.com']);
  assert.equal(droppedNames.length, 99_997, 'every dropped name is counted');
  map.learn(POD_A, address('192.0.2.2', 60, 'n0.example.com'));
  assert.deepEqual(entries(map).map((e) => e.ip).sort(), ['192.0.2.1', '192.0.2.2'], 'a dropped name is learnt anew');
});

test('the entry cap evicts the entry that expires soonest', () => {
  const { map, evicted } = setup({ maxEntries: 2 });
  map.learn(POD_A, address('192.0.2.1', 100));
  map.learn(POD_A, address('192.0.2.2', 10));
  map.learn(POD_A, address('192.0.2.3', 50));
  assert.deepEqual(entries(map).map((e) => e.ip).sort(), ['192.0.2.1', '192.0.2.3']);
  assert.deepEqual(evicted, [['entry-cap', '192.0.2.2']]);
});

test('the entry cap evicts the entry that expires soonest, counting extensions the heap has not placed yet', () => {
  const { map, evicted, advance } = setup({ maxEntries: 2 });
  map.learn(POD_A, address('192.0.2.1', 10));
  map.learn(POD_A, address('192.0.2.2', 30));
  advance(2000);
  map.learn(POD_A, address('192.0.2.1', 60)); // now expires last
  map.learn(POD_A, address('192.0.2.3', 50));
  assert.deepEqual(evicted, [['entry-cap', '192.0.2.2']]);
});

test('an entry extended after it was placed in the expiry heap outlives its first expiry, and the entries behind it still expire', () => {
  const { map, advance } = setup();
  map.learn(POD_A, address('192.0.2.1', 10));
  map.learn(POD_A, address('192.0.2.2', 20));
  advance(5000);
  map.learn(POD_A, address('192.0.2.1', 60));
  advance(15_000);
  assert.equal(map.expire(), 1);
  assert.deepEqual(entries(map).map((e) => e.ip), ['192.0.2.1']);
  advance(44_000);
  assert.equal(map.expire(), 0);
  advance(1000);
  assert.equal(map.expire(), 1);
  assert.equal(map.size, 0);
});

test("the entry cap holds for restored entries too: a predecessor's merged save cannot grow the map past it", () => {
  const { map, evicted, now } = setup({ maxEntries: 2 });
  map.learn(POD_A, address('192.0.2.1', 100));
  map.learn(POD_A, address('192.0.2.2', 10));
  const restored = (ip: string, lifetimeMs: number) => ({ client: POD_A, ip, family: 4 as const, domains: new Set(['a.example.com']), rules: ['default|p|allow|0'], expiresAt: now() + lifetimeMs });
  map.restore(restored('192.0.2.3', 50_000));
  map.restore(restored('192.0.2.1', 200_000));
  assert.deepEqual(entries(map).map((e) => e.ip).sort(), ['192.0.2.1', '192.0.2.3']);
  assert.deepEqual(evicted, [['entry-cap', '192.0.2.2']], 'a known entry is merged, not counted again');
});

test('retainRules drops vanished rules and entries left with none', () => {
  const { map } = setup();
  map.learn(POD_A, address('192.0.2.1', 60, 'a.example.com', ['r1', 'r2']));
  map.learn(POD_A, address('192.0.2.2', 60, 'a.example.com', ['r2']));
  map.takeBatch();
  map.retainRules((rule) => rule === 'r1');
  assert.deepEqual(entries(map).map((e) => [e.ip, e.rules]), [['192.0.2.1', ['r1']]]);
});

test('100k entries: insert, extend and expire stay fast (heap, not scans)', () => {
  const { map, advance } = setup();
  const started = performance.now();
  for (let i = 0; i < 100_000; i++) map.learn(POD_A, address(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 10 + (i % 50), `n${i % 1000}.example.com`));
  for (let i = 0; i < 100_000; i += 2) map.learn(POD_A, address(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 100, `n${i % 1000}.example.com`));
  advance(60_000);
  const expired = map.expire();
  assert.equal(expired, 50_000);
  assert.equal(map.size, 50_000);
  // Generous: the point is that nothing here is quadratic.
  assert.ok(performance.now() - started < 20_000);
});

test('entries follow their pods: a new IP is rewritten (the old elements removed), a gone pod loses them', () => {
  const { map } = setup();
  map.learn(POD_A, address('192.0.2.1'));
  map.learn(POD_B, address('192.0.2.2'));
  map.takeBatch();
  map.followPods((key) => (key === 'ns/a' ? ['10.0.0.9'] : undefined));
  assert.deepEqual(entries(map).map((e) => [e.client?.key, e.client?.ips, e.client?.queriedFrom]), [['ns/a', ['10.0.0.9'], '10.0.0.9']]);
  const batch = map.takeBatch()!.batch;
  assert.deepEqual(batch.removals.map((r) => [r.clientIps, r.ip]).sort(), [[['10.0.0.1'], '192.0.2.1'], [['10.0.0.2'], '192.0.2.2']]);
  assert.deepEqual(batch.upserts.map((u) => [u.clientIps, u.ip]), [[['10.0.0.9'], '192.0.2.1']]);
});

test('a pod asking from new IPs has the elements of its old IPs removed', () => {
  const { map } = setup();
  map.learn(POD_A, address('192.0.2.1'));
  map.takeBatch();
  map.learn({ ...POD_A, ips: ['10.0.0.5'], queriedFrom: '10.0.0.5' }, address('192.0.2.1'));
  const batch = map.takeBatch()!.batch;
  assert.deepEqual(batch.removals.map((r) => r.clientIps), [['10.0.0.1']]);
  assert.deepEqual(batch.upserts.map((u) => u.clientIps), [['10.0.0.5']]);
});

test('extensions no answer waits for go 64 a batch, behind every change an answer waits for', () => {
  const { map, advance } = setup();
  const ips = Array.from({ length: 200 }, (_, i) => `198.51.100.${i}`);
  for (const ip of ips) map.learn(POD_A, address(ip, 300));
  map.markProgrammed(map.takeBatch()!);
  advance(155_000);
  for (const ip of ips) assert.equal(map.learn(POD_A, address(ip, 300)), false, 'an extension of an IP in force for minutes');
  assert.equal(map.learn(POD_A, address('203.0.113.9', 300)), true, 'a new IP: its answer waits');
  const first = map.takeBatch()!;
  assert.equal(first.batch.upserts[0].ip, '203.0.113.9', 'what an answer waits for comes first');
  assert.deepEqual(first.batch.upserts.slice(1).map((upsert) => upsert.ip), ips.slice(0, 64), 'then the oldest extensions');
  // An extension that becomes urgent leaves the queue and goes whole with the next batch.
  advance(144_500);
  assert.equal(map.learn(POD_A, address(ips[199], 300)), true, 'programmed until less than a second from now: wait');
  const second = map.takeBatch()!;
  assert.equal(second.batch.upserts[0].ip, ips[199]);
  assert.deepEqual(second.batch.upserts.slice(1).map((upsert) => upsert.ip), ips.slice(64, 128));
  assert.equal(map.takeBatch()!.batch.upserts.length, 64);
  assert.equal(map.takeBatch()!.batch.upserts.length, 199 - 128 - 64);
  assert.equal(map.hasChanges, false);
  assert.equal(map.takeBatch(), undefined);
});

test('an extension waits while the dataplane holds the IP for over half of its new lifetime; the sweep queues it 10 s before the dataplane would drop it', () => {
  const { map, advance, now } = setup();
  map.learn(POD_A, address('192.0.2.1', 300));
  map.markProgrammed(map.takeBatch()!);
  const programmed = now() + 300_000;
  advance(5000);
  assert.equal(map.learn(POD_A, address('192.0.2.1', 300)), false);
  const extended = now() + 300_000;
  assert.equal(entries(map)[0].expiresAt, extended, 'the map has the later expiry');
  assert.equal(map.hasChanges, false, 'the dataplane does not need it yet');
  advance(programmed - 10_001 - now());
  assert.equal(map.queueDueExtensions(), 0);
  advance(1);
  assert.equal(map.queueDueExtensions(), 1, '10 s before the programmed expiry');
  const pending = map.takeBatch()!;
  assert.deepEqual(pending.batch.upserts.map((upsert) => upsert.expiresAt), [extended]);
  map.markProgrammed(pending);
  assert.equal(map.hasChanges, false);
});

test('an extension queued while the batch before it was in flight is deferred again once that batch is in effect', () => {
  const { map, advance, now } = setup();
  map.learn(POD_A, address('192.0.2.1', 300));
  map.markProgrammed(map.takeBatch()!);
  advance(155_000);
  map.learn(POD_A, address('192.0.2.1', 300));
  const pending = map.takeBatch()!;
  assert.equal(pending.batch.upserts.length, 1, 'held for 145 s of the 300 s allowed: queued');
  const written = pending.batch.upserts[0].expiresAt;
  advance(1000);
  map.learn(POD_A, address('192.0.2.1', 300));
  const again = now() + 300_000;
  assert.equal(map.hasChanges, true, 'judged by what the dataplane held before the batch: queued again');
  map.markProgrammed(pending);
  assert.equal(map.hasChanges, false, 'the batch wrote 299 s more: deferred');
  advance(written - 10_001 - now());
  assert.equal(map.queueDueExtensions(), 0);
  advance(1);
  assert.equal(map.queueDueExtensions(), 1, '10 s before what the batch wrote');
  assert.deepEqual(map.takeBatch()!.batch.upserts.map((upsert) => upsert.expiresAt), [again]);
});

test('a name asked every second under a 300 s TTL costs a dataplane update every two and a half minutes, and stays held', () => {
  const { map, advance, now } = setup();
  let upserts = 0;
  for (let second = 0; second < 900; second++) {
    map.learn(POD_A, address('192.0.2.1', 300));
    for (let sweep = 0; sweep < 4; sweep++) {
      map.queueDueExtensions();
      const pending = map.takeBatch();
      if (pending) {
        upserts += pending.batch.upserts.length;
        map.markProgrammed(pending);
      }
      const [entry] = entries(map);
      assert.ok(entry.programmedUntil - now() >= (entry.expiresAt - now()) / 2, `at ${second} s the dataplane holds at least half of what the last answer allows`);
      advance(250);
    }
  }
  assert.ok(upserts >= 6 && upserts <= 7, `${upserts} updates in 900 s: the first, then one each time the held time falls to half`);
});

test('deferred extensions come due in the order the dataplane would drop their entries, rescheduled when a batch rewrites one', () => {
  const { map, advance } = setup();
  const ttls = { '192.0.2.1': 300, '192.0.2.2': 100, '192.0.2.3': 200, '192.0.2.4': 150 };
  for (const [ip, ttl] of Object.entries(ttls)) map.learn(POD_A, address(ip, ttl));
  map.markProgrammed(map.takeBatch()!);
  advance(5000);
  for (const [ip, ttl] of Object.entries(ttls)) map.learn(POD_A, address(ip, ttl));
  assert.equal(map.hasChanges, false, 'all four deferred');
  // 192.0.2.2 gets a new rule: rewritten whole, so its deferral ends with that batch.
  map.learn(POD_A, address('192.0.2.2', 100, 'a.example.com', ['default|p|allow|1']));
  map.markProgrammed(map.takeBatch()!);
  const due: string[] = [];
  for (let second = 0; second < 300; second++) {
    advance(1000);
    if (map.queueDueExtensions() > 0) due.push(...map.takeBatch()!.batch.upserts.map((upsert) => upsert.ip));
  }
  assert.deepEqual(due, ['192.0.2.4', '192.0.2.3', '192.0.2.1'], 'by programmed expiry; the rewritten one not at all');
});

test('an extension the sweep found due goes before a backlog of extensions queued early', () => {
  const { map, advance } = setup();
  const early = Array.from({ length: 100 }, (_, i) => `198.51.100.${i}`);
  map.learn(POD_A, address('203.0.113.1', 300));
  for (const ip of early) map.learn(POD_A, address(ip, 400));
  map.markProgrammed(map.takeBatch()!);
  advance(5000);
  map.learn(POD_A, address('203.0.113.1', 300));
  assert.equal(map.hasChanges, false, 'deferred');
  advance(286_000);
  for (const ip of early) map.learn(POD_A, address(ip, 400));
  assert.equal(map.queueDueExtensions(), 1, 'the dataplane drops 203.0.113.1 in 9 s');
  const first = map.takeBatch()!.batch.upserts.map((upsert) => upsert.ip);
  assert.deepEqual(first, ['203.0.113.1', ...early.slice(0, 63)], 'held for 109 s of the 400 s allowed, the hundred queued before it wait');
});

test('an answer that must wait for a deferred extension takes it into the next batch', () => {
  const { map, advance } = setup();
  map.learn(POD_A, address('192.0.2.1', 300));
  map.markProgrammed(map.takeBatch()!);
  advance(5000);
  map.learn(POD_A, address('192.0.2.1', 300));
  advance(294_500);
  assert.equal(map.learn(POD_A, address('192.0.2.1', 5)), true, 'the sweep has not run, the element lapses in 0.5 s: wait');
  assert.deepEqual(map.takeBatch()?.batch.upserts.map((upsert) => upsert.ip), ['192.0.2.1'], 'and the next batch carries it');
});

test('an extension queued early becomes due when the sweep finds it within 10 s of lapsing', () => {
  const { map, advance } = setup();
  const early = Array.from({ length: 100 }, (_, i) => `198.51.100.${i}`);
  for (const ip of early) map.learn(POD_A, address(ip, 400));
  map.learn(POD_A, address('203.0.113.1', 400));
  map.markProgrammed(map.takeBatch()!);
  advance(291_000);
  for (const ip of early) map.learn(POD_A, address(ip, 400));
  map.learn(POD_A, address('203.0.113.1', 400));
  assert.equal(map.queueDueExtensions(), 0, 'held for 109 s of the 400 s allowed: early, not due');
  assert.equal(map.takeBatch()!.batch.upserts.length, 64);
  advance(100_000);
  assert.equal(map.queueDueExtensions(), 37, 'the 37 still queued, 9 s before their elements lapse');
  const due = map.takeBatch()!.batch.upserts.map((upsert) => upsert.ip);
  assert.equal(due.length, 37);
  assert.ok(due.includes('203.0.113.1'));
  assert.equal(map.hasChanges, false);
});
