/**
 * The name→IP and name→name mappings each client was answered, whatever the policy
 * said at the time, as Felix keeps them: a policy applied later allows at once what a
 * pod already holds in its own cache, and a chain completes in either order (the
 * address first and the CNAME later, or the reverse).
 *
 * Only what an answer linked to the client's own question is kept (see answer-addresses.ts),
 * each address and link with that question, its origin, so that answers are never mixed
 * into a chain none of them gave. Walking from a name, a link or an address is followed
 * when it came from the same answers as the step before it (the same origin), or from an
 * answer to a question for the name it is kept under: the cross-answer chain goes on only
 * where the pod asked for the pending name itself. Without origins, `c.evil.net CNAME
 * b.cdn.net, b.cdn.net A 6.6.6.6` would add 6.6.6.6 to every allowed name whose chain
 * ever went through b.cdn.net.
 *
 * Every structure is bounded: names per client and in all (least recently answered first
 * out), addresses and links per name (soonest to expire first out); a mapping also ends
 * with its lifetime.
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
  ip: string;
  family: 4 | 6;
  special: boolean;
  /** Epoch milliseconds: the record's lifetime, as the allowed map counts it. */
  expiresAt: number;
  /** The question of the answer that carried it: the name it is kept under, or one whose chain led there. */
  origin: string;
}

/** One end of a CNAME link, as the other end keeps it. */
export interface StoredLink {
  /** The target (in `targets`) or the source (in `sources`). */
  name: string;
  /** The question of the answer that carried the link. */
  origin: string;
  expiresAt: number;
}

/**
 * One name as a client was answered it; the link maps are made with the first link (most
 * names have none). Keys are the IP or the other name, followed by the origin when that
 * is not the owner of the record (see recordKey).
 */
export interface NameMappings {
  addresses: Map<string, StoredAddress>;
  /** CNAME targets of this name. */
  targets: Map<string, StoredLink> | undefined;
  /** Names with a CNAME to this one. */
  sources: Map<string, StoredLink> | undefined;
}

/** How the state file stores one name of one client. */
export interface SavedName {
  name: string;
  addresses: [ip: string, family: 4 | 6, special: boolean, expiresAt: number, origin: string][];
  targets: [name: string, expiresAt: number, origin: string][];
}

const NO_LINKS: ReadonlyMap<string, StoredLink> = new Map();

/**
 * A step of a walk over the links: a name, and the origin of the answers the walk is in
 * there (undefined where the walk starts: whatever answer the name was on the chain of).
 */
interface WalkStep {
  name: string;
  origin: string | undefined;
}

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

  /** Keeps the links and addresses of `chain`, from its question; `lifetimeMs` turns a TTL into a lifetime. */
  record(clientKey: string, chain: AnswerChain, now: number, lifetimeMs: (ttlSeconds: number) => number): void {
    const origin = chain.question;
    for (const link of chain.links) {
      const mappings = this.mappingsOf(clientKey, link.name);
      for (const address of link.addresses) {
        keepAddress(mappings.addresses, link.name, address.ip, address.family, address.special, origin, now + lifetimeMs(address.ttlSeconds));
      }
      if (mappings.addresses.size > this.limits.addressesPerName) this.onDropped('name-addresses', dropSoonest(mappings.addresses, this.limits.addressesPerName));
      for (const target of link.targets) this.keepLink(clientKey, mappings, link.name, target.name, origin, now + lifetimeMs(target.ttlSeconds));
      if (mappings.targets !== undefined && mappings.targets.size > this.limits.linksPerName) {
        this.onDropped('name-links', dropSoonest(mappings.targets, this.limits.linksPerName));
      }
    }
  }

  /**
   * Names whose chain leads to `name` for the client, `name` first: itself, the names
   * with a live CNAME to it, theirs, and so on up to MAX_CHAIN links, each link from the
   * same answers as the one after it or from an answer to a question for the name
   * between them. An answer to a question for `name` continues each of them.
   */
  namesLeadingTo(clientKey: string, name: string, now: number): string[] {
    const names = this.clients.get(clientKey);
    const found = [name];
    // Most names are no CNAME's target: nothing to walk.
    if (names === undefined || (names.peek(name)?.sources?.size ?? 0) === 0) return found;
    let seen: Set<string> | undefined;
    let level: WalkStep[] = [{ name, origin: undefined }];
    for (let depth = 0; level.length > 0 && depth < MAX_CHAIN; depth++) {
      const next: WalkStep[] = [];
      for (const step of level) {
        // Past a link answered to a question for this name, any link into it may come before.
        const origin = step.origin === step.name ? undefined : step.origin;
        for (const link of (names.peek(step.name)?.sources ?? NO_LINKS).values()) {
          if (link.expiresAt <= now || (origin !== undefined && link.origin !== origin)) continue;
          const key = `${link.name} ${link.origin}`;
          if (seen?.has(key)) continue;
          (seen ??= new Set()).add(key);
          if (!found.includes(link.name)) found.push(link.name);
          next.push({ name: link.name, origin: link.origin });
        }
      }
      level = next;
    }
    return found;
  }

  /**
   * Calls `visit` for each live address `name` leads to through live CNAME links: those
   * `name` was answered (for any question whose chain reached it), and past a link, those
   * from the link's answers or answered to a question for the name they are kept under.
   */
  forEachAddress(clientKey: string, name: string, now: number, visit: (ip: string, address: StoredAddress) => void): void {
    const names = this.clients.get(clientKey);
    if (names === undefined) return;
    let seen: Set<string> | undefined;
    let level: WalkStep[] = [{ name, origin: undefined }];
    for (let depth = 0; level.length > 0 && depth <= MAX_CHAIN; depth++) {
      const next: WalkStep[] = [];
      for (const step of level) {
        const mappings = names.peek(step.name);
        if (mappings === undefined) continue;
        for (const address of mappings.addresses.values()) {
          if (address.expiresAt > now && continues(step, address.origin)) visit(address.ip, address);
        }
        for (const link of (mappings.targets ?? NO_LINKS).values()) {
          if (link.expiresAt <= now || !continues(step, link.origin)) continue;
          const key = `${link.name} ${link.origin}`;
          if (seen?.has(key)) continue;
          (seen ??= new Set()).add(key);
          next.push({ name: link.name, origin: link.origin });
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
      for (const a of mappings.addresses.values()) if (a.expiresAt > now) addresses.push([a.ip, a.family, a.special, a.expiresAt, a.origin]);
      const targets: SavedName['targets'] = [];
      for (const link of (mappings.targets ?? NO_LINKS).values()) if (link.expiresAt > now) targets.push([link.name, link.expiresAt, link.origin]);
      if (addresses.length > 0 || targets.length > 0) saved.push({ name, addresses, targets });
    }
    return saved;
  }

  /** Puts back what `save` returned (most recent first, so it is restored last). */
  restore(clientKey: string, saved: readonly SavedName[], now: number): void {
    for (let i = saved.length - 1; i >= 0; i--) {
      const { name, addresses, targets } = saved[i];
      const mappings = this.mappingsOf(clientKey, name);
      for (const [ip, family, special, expiresAt, origin] of addresses) if (expiresAt > now) keepAddress(mappings.addresses, name, ip, family, special, origin, expiresAt);
      dropSoonest(mappings.addresses, this.limits.addressesPerName);
      for (const [target, expiresAt, origin] of targets) if (expiresAt > now) this.keepLink(clientKey, mappings, name, target, origin, expiresAt);
      if (mappings.targets !== undefined) dropSoonest(mappings.targets, this.limits.linksPerName);
    }
  }

  /** Keeps the link `source` → `target` on both ends, the target's within the cap. */
  private keepLink(clientKey: string, sourceMappings: NameMappings, source: string, target: string, origin: string, expiresAt: number): void {
    keepLinkEnd((sourceMappings.targets ??= new Map()), source, target, origin, expiresAt);
    const sources = (this.mappingsOf(clientKey, target).sources ??= new Map());
    keepLinkEnd(sources, source, source, origin, expiresAt);
    if (sources.size > this.limits.linksPerName) this.onDropped('name-links', dropSoonest(sources, this.limits.linksPerName));
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

/**
 * Whether a record answered to `origin` continues a walk at `step`: anything where the
 * walk starts, else the same answers as the step, or an answer to a question for the
 * step's name.
 */
function continues(step: WalkStep, origin: string): boolean {
  return step.origin === undefined || origin === step.origin || origin === step.name;
}

/**
 * The key of a record of `owner` holding `value` (an IP or the other name of a link):
 * the value alone when it was answered to a question for the owner (the common case, no
 * string built), else with its origin. Names are in presentation form, where a space is
 * escaped, and IPs hold none, so the two never collide.
 */
function recordKey(value: string, owner: string, origin: string): string {
  return origin === owner ? value : `${value} ${origin}`;
}

/** Keeps `ip` from `origin` until `expiresAt`, updating what is kept in place when the name had it already. */
function keepAddress(addresses: Map<string, StoredAddress>, owner: string, ip: string, family: 4 | 6, special: boolean, origin: string, expiresAt: number): void {
  const key = recordKey(ip, owner, origin);
  const kept = addresses.get(key);
  if (kept === undefined) addresses.set(key, { ip, family, special, expiresAt, origin });
  else kept.expiresAt = expiresAt;
}

/** Keeps one end of the link `source` → …, `name` its other end, in place when it is there already. */
function keepLinkEnd(links: Map<string, StoredLink>, source: string, name: string, origin: string, expiresAt: number): void {
  const key = recordKey(name, source, origin);
  const kept = links.get(key);
  if (kept === undefined) links.set(key, { name, origin, expiresAt });
  else kept.expiresAt = expiresAt;
}

/**
 * Drops the keys of `map` that expire soonest until at most `max` remain; returns how
 * many. A scan per drop, but only past a cap, which one answer passes by a few keys.
 */
function dropSoonest(map: Map<string, { expiresAt: number }>, max: number): number {
  let dropped = 0;
  while (map.size > max) {
    let soonestKey: string | undefined;
    let soonest = Infinity;
    for (const [key, value] of map) {
      if (value.expiresAt < soonest) {
        soonest = value.expiresAt;
        soonestKey = key;
      }
    }
    map.delete(soonestKey as string);
    dropped++;
  }
  return dropped;
}
