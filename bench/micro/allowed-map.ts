/**
 * The allowed-IP map at 100k entries (100 pods × 1000 IPs, 10 IPs per name): the cost
 * of learning a new entry and of expiring one, and the memory the entries take. The
 * memory figures need `node --expose-gc` (as `npm run bench` runs it) so that only
 * live objects are counted.
 */
import type { EntryClient } from '../../src/allowmap/entry.js';
import { AllowedMap, type LearntAddress } from '../../src/allowmap/map.js';
import type { Figure } from './measure.js';

const ENTRIES = 100_000;
const PODS = 100;
const IPS_PER_NAME = 10;
const TTL_SECONDS = 300;
const RULES = ['default|bench/bench-egress|allow|1'];
/** Best of this many timed fills or sweeps. */
const ROUNDS = 3;

export const ALLOWED_MAP_RSS = 'allowed map: RSS growth, 100k entries';

const CLIENTS: EntryClient[] = Array.from({ length: PODS }, (_, p) => {
  const ip = `10.244.${p >> 8}.${p & 255}`;
  return { key: `bench/pod-${p}`, namespace: 'bench', name: `pod-${p}`, ips: [ip], queriedFrom: ip };
});

/** Entry `i`: pod i mod 100, and that pod's (i / 100)th IP. */
function learnt(i: number): LearntAddress {
  const n = Math.floor(i / PODS);
  return { ip: `198.18.${n >> 8}.${n & 255}`, family: 4, lifetimeMs: TTL_SECONDS * 1000, domain: `n${Math.floor(n / IPS_PER_NAME)}.example.com`, rules: RULES };
}

class Clock {
  now = 1_000_000;
}

function emptyMap(clock: Clock): AllowedMap {
  return new AllowedMap(
    { extraTtlMs: 0, minTtlMs: 2000, maxTtlMs: 604_800_000, maxDomainsPerEntry: 64, maxIpsPerName: 1000, maxEntries: 500_000, now: () => clock.now },
    { onAdded: () => undefined, onEvicted: () => undefined, onDomainDropped: () => undefined },
  );
}

function fill(map: AllowedMap, addresses: readonly LearntAddress[]): void {
  for (let i = 0; i < addresses.length; i++) map.learn(CLIENTS[i % PODS], addresses[i]);
}

function bestNsPerEntry(round: () => number): number {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) best = Math.min(best, round() / ENTRIES);
  return best;
}

function elapsedNs(work: () => void): number {
  const start = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - start);
}

/** Memory growth of a map filled with fresh strings, as answers would bring them, once the dataplane took its batch. */
function memoryGrowth(collect: () => void): { rss: number; heap: number } {
  collect();
  const before = process.memoryUsage();
  const map = emptyMap(new Clock());
  for (let i = 0; i < ENTRIES; i++) map.learn(CLIENTS[i % PODS], learnt(i));
  map.markProgrammed(map.takeBatch()!);
  collect();
  const after = process.memoryUsage();
  if (map.size !== ENTRIES) throw new Error(`expected ${ENTRIES} entries, got ${map.size}`);
  return { rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed };
}

export function benchAllowedMap(): Figure[] {
  const collect = globalThis.gc;
  if (collect === undefined) throw new Error('the allowed-map memory figures need node --expose-gc (npm run bench passes it)');
  const growth = memoryGrowth(collect);
  const addresses = Array.from({ length: ENTRIES }, (_, i) => learnt(i));
  const insertNs = bestNsPerEntry(() => {
    const map = emptyMap(new Clock());
    return elapsedNs(() => fill(map, addresses));
  });
  const expireNs = bestNsPerEntry(() => {
    const clock = new Clock();
    const map = emptyMap(clock);
    fill(map, addresses);
    clock.now += TTL_SECONDS * 1000 + 1;
    return elapsedNs(() => map.expire());
  });
  const mb = (bytes: number): number => Math.round(bytes / 2 ** 20 * 10) / 10;
  return [
    { name: 'allowed map: insert, up to 100k entries', value: Math.round(1e9 / insertNs), unit: 'entries/s' },
    { name: 'allowed map: expire, 100k entries', value: Math.round(1e9 / expireNs), unit: 'entries/s' },
    { name: ALLOWED_MAP_RSS, value: mb(growth.rss), unit: 'MB' },
    { name: 'allowed map: heap growth, 100k entries', value: mb(growth.heap), unit: 'MB' },
  ];
}
