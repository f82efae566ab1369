/**
 * The name→IP and name→name mappings each client was answered, whatever the policy
 * said at the time, as Felix keeps them: a policy applied later allows at once what a
 * pod already holds in its own cache, and a chain completes in either order (the
 * address first and the CNAME later, or the reverse).
 *
 * Only what an answer linked to the client's own question is kept (see answer-addresses.ts), so
 * these mappings never teach more than the answers did. Every structure is bounded:
 * names per client and in all (least recently answered first out), addresses and
 * links per name (soonest to expire first out); a mapping also ends with its lifetime.
 *
 * Repeated answers are the common case, so they update what is kept in place: deleting
 * and re-inserting a key makes a Map rebuild its table, garbage that outlives the young
 * generation at a few thousand answers a second.
 */
import { LRUCache } from 'lru-cache';
import type { AnswerChain } from './answer-addresses.js';
import { MAX_CHAIN } from './answer-addresses.js';

export interface MappingLimits {
  /** Names kept per client. */
  namesPerClient: number;
  /** Names kept in all clients together. */
  totalNames: number;
  /** Addresses kept per name. */
  addressesPerName: number;
  /** CNAME links kept per name, each way. */
  linksPerName: number;
}

/** What a limit dropped, for the metrics. */
export type MappingDrop = 'client-names' | 'total-names' | 'name-addresses' | 'name-links';

export interface StoredAddress {
  family: 4 | 6;
  special: boolean;
  /** Epoch milliseconds: the record's lifetime, as the allowed map counts it. */
  expiresAt: number;
}

/** One name as a client was answered it; the link maps are made with the first link (most names have none). */
export interface NameMappings {
  addresses: Map<string, StoredAddress>;
  /** CNAME targets → expiry. */
  targets: Map<string, number> | undefined;
  /** Names with a CNAME to this one → expiry. */
  sources: Map<string, number> | undefined;
}

/** How the state file stores one name of one client. */
export interface SavedName {
  name: string;
  addresses: [ip: string, family: 4 | 6, special: boolean, expiresAt: number][];
  targets: [name: string, expiresAt: number][];
}

const NO_LINKS: ReadonlyMap<string, number> = new Map();

export class RetainedMappings {
  private readonly clients = new Map<string, LRUCache<string, NameMappings>>();
  private total = 0;

  constructor(
    private readonly limits: MappingLimits,
    private readonly onDropped: (what: MappingDrop, count: number) => void,
  ) {}

  /** Names kept in all. */
  get size(): number {
    return this.total;
  }

  /** Keeps the links and addresses of `chain`; `lifetimeMs` turns a TTL into a lifetime. */
  record(clientKey: string, chain: AnswerChain, now: number, lifetimeMs: (ttlSeconds: number) => number): void {
    for (const link of chain.links) {
      const mappings = this.mappingsOf(clientKey, link.name);
      for (const address of link.addresses) keepAddress(mappings.addresses, address.ip, address.family, address.special, now + lifetimeMs(address.ttlSeconds));
      if (mappings.addresses.size > this.limits.addressesPerName) this.onDropped('name-addresses', dropSoonest(mappings.addresses, this.limits.addressesPerName, addressExpiry));
      for (const target of link.targets) {
        const expiresAt = now + lifetimeMs(target.ttlSeconds);
        (mappings.targets ??= new Map()).set(target.name, expiresAt);
        const targetMappings = this.mappingsOf(clientKey, target.name);
        const sources = (targetMappings.sources ??= new Map());
        sources.set(link.name, expiresAt);
        if (sources.size > this.limits.linksPerName) this.onDropped('name-links', dropSoonest(sources, this.limits.linksPerName, linkExpiry));
      }
      if (mappings.targets !== undefined && mappings.targets.size > this.limits.linksPerName) {
        this.onDropped('name-links', dropSoonest(mappings.targets, this.limits.linksPerName, linkExpiry));
      }
    }
  }

  /**
   * Names whose chain leads to `name` for the client, `name` first: itself, the names
   * with a live CNAME to it, theirs, and so on up to MAX_CHAIN links.
   */
  namesLeadingTo(clientKey: string, name: string, now: number): string[] {
    const names = this.clients.get(clientKey);
    const found = [name];
    if (names === undefined) return found;
    const seen = new Set(found);
    for (let start = 0, depth = 0; start < found.length && depth < MAX_CHAIN; depth++) {
      const end = found.length;
      for (let i = start; i < end; i++) {
        for (const [source, expiresAt] of names.peek(found[i])?.sources ?? NO_LINKS) {
          if (expiresAt > now && !seen.has(source)) {
            seen.add(source);
            found.push(source);
          }
        }
      }
      start = end;
    }
    return found;
  }

  /** Calls `visit` for each live address `name` leads to through live CNAME links. */
  forEachAddress(clientKey: string, name: string, now: number, visit: (ip: string, address: StoredAddress) => void): void {
    const names = this.clients.get(clientKey);
    if (names === undefined) return;
    const seen = new Set([name]);
    let level = [name];
    for (let depth = 0; level.length > 0 && depth <= MAX_CHAIN; depth++) {
      const next: string[] = [];
      for (const current of level) {
        const mappings = names.peek(current);
        if (mappings === undefined) continue;
        for (const [ip, address] of mappings.addresses) if (address.expiresAt > now) visit(ip, address);
        for (const [target, expiresAt] of mappings.targets ?? NO_LINKS) {
          if (expiresAt > now && !seen.has(target)) {
            seen.add(target);
            next.push(target);
          }
        }
      }
      level = next;
    }
  }

  /** Clients with mappings. */
  clientKeys(): string[] {
    return [...this.clients.keys()];
  }

  /** Every name kept for the client, most recently answered first. */
  namesOf(clientKey: string): string[] {
    const names = this.clients.get(clientKey);
    return names === undefined ? [] : [...names.keys()];
  }

  /** Drops a client's mappings (the pod is gone). */
  forget(clientKey: string): void {
    const names = this.clients.get(clientKey);
    if (names === undefined) return;
    this.clients.delete(clientKey);
    names.clear();
  }

  /** Live mappings of a client, for the state file. */
  save(clientKey: string, now: number): SavedName[] {
    const saved: SavedName[] = [];
    for (const [name, mappings] of this.clients.get(clientKey)?.entries() ?? []) {
      const addresses: SavedName['addresses'] = [];
      for (const [ip, a] of mappings.addresses) if (a.expiresAt > now) addresses.push([ip, a.family, a.special, a.expiresAt]);
      const targets: SavedName['targets'] = [];
      for (const [target, expiresAt] of mappings.targets ?? NO_LINKS) if (expiresAt > now) targets.push([target, expiresAt]);
      if (addresses.length > 0 || targets.length > 0) saved.push({ name, addresses, targets });
    }
    return saved;
  }

  /** Puts back what `save` returned (most recent first, so it is restored last). */
  restore(clientKey: string, saved: readonly SavedName[], now: number): void {
    for (let i = saved.length - 1; i >= 0; i--) {
      const { name, addresses, targets } = saved[i];
      const mappings = this.mappingsOf(clientKey, name);
      for (const [ip, family, special, expiresAt] of addresses) if (expiresAt > now) keepAddress(mappings.addresses, ip, family, special, expiresAt);
      dropSoonest(mappings.addresses, this.limits.addressesPerName, addressExpiry);
      for (const [target, expiresAt] of targets) {
        if (expiresAt <= now) continue;
        (mappings.targets ??= new Map()).set(target, expiresAt);
        const targetMappings = this.mappingsOf(clientKey, target);
        dropSoonest((targetMappings.sources ??= new Map()).set(name, expiresAt), this.limits.linksPerName, linkExpiry);
      }
      if (mappings.targets !== undefined) dropSoonest(mappings.targets, this.limits.linksPerName, linkExpiry);
    }
  }

  /**
   * Past the total, the client holding the most names gives up its least recent one, so
   * that one busy pod cannot starve the others. A scan, but over clients (the pods of a
   * node, about a hundred), and only when the total is reached.
   */
  private dropFromLargest(): void {
    let largest: LRUCache<string, NameMappings> | undefined;
    for (const names of this.clients.values()) if (largest === undefined || names.size > largest.size) largest = names;
    const oldest = largest?.rkeys().next().value;
    if (oldest === undefined) return;
    largest!.delete(oldest);
    this.onDropped('total-names', 1);
  }

  /** The client's record of `name`, made the most recent; created (within the limits) when new. */
  private mappingsOf(clientKey: string, name: string): NameMappings {
    let names = this.clients.get(clientKey);
    if (names === undefined) {
      names = new LRUCache<string, NameMappings>({
        max: this.limits.namesPerClient,
        dispose: (_value, _key, reason) => {
          this.total--;
          if (reason === 'evict') this.onDropped('client-names', 1);
        },
      });
      this.clients.set(clientKey, names);
    }
    let mappings = names.get(name);
    if (mappings === undefined) {
      mappings = { addresses: new Map(), targets: undefined, sources: undefined };
      names.set(name, mappings);
      this.total++;
      if (this.total > this.limits.totalNames) this.dropFromLargest();
    }
    return mappings;
  }
}

const addressExpiry = (address: StoredAddress): number => address.expiresAt;
const linkExpiry = (expiresAt: number): number => expiresAt;

/** Keeps `ip` until `expiresAt`, updating what is kept in place when the name had it already. */
function keepAddress(addresses: Map<string, StoredAddress>, ip: string, family: 4 | 6, special: boolean, expiresAt: number): void {
  const kept = addresses.get(ip);
  if (kept === undefined) addresses.set(ip, { family, special, expiresAt });
  else kept.expiresAt = expiresAt;
}

/**
 * Drops the keys of `map` that expire soonest until at most `max` remain; returns how
 * many. A scan per drop, but only past a cap, which one answer passes by a few keys.
 */
function dropSoonest<V>(map: Map<string, V>, max: number, expiryOf: (value: V) => number): number {
  let dropped = 0;
  while (map.size > max) {
    let soonestKey: string | undefined;
    let soonest = Infinity;
    for (const [key, value] of map) {
      const expiresAt = expiryOf(value);
      if (expiresAt < soonest) {
        soonest = expiresAt;
        soonestKey = key;
      }
    }
    map.delete(soonestKey as string);
    dropped++;
  }
  return dropped;
}
