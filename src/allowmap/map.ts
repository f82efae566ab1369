/**
 * The allowed-IP map: (client pod, IP) → the domains and rules that justify it, until
 * an expiry. Expiry is a heap (O(log n) per new entry, nothing per extension, one sweep
 * timer for all entries).
 * Changes accumulate until the dataplane takes them as a batch.
 */
import { type AllowedEntry, type DataplaneBatch, type EntryClient, type EntrySnapshot, entryKey, snapshotOf } from './entry.js';
import { ExpiryHeap } from './expiry-heap.js';
import { ExtensionQueue } from './extension-queue.js';
import { NameAddresses } from './name-addresses.js';

/**
 * A sighting extends an entry only when it moves the expiry by at least this much.
 * Repeated answers from a resolver's cache carry TTLs counted down in whole seconds,
 * so without it every repeat would move the expiry by a few milliseconds and cost a
 * dataplane update.
 */
const EXTENSION_STEP_MS = 1000;

/**
 * An answer need not wait for an extension while the IP stays programmed at least this
 * long: the client's connection cannot outrun an element that is still in force.
 */
const HOLD_MARGIN_MS = 1000;

/**
 * An extension is deferred while the dataplane holds the entry for more than this and
 * for at least half of what the latest answer allows; the sweep queues it this long
 * before the dataplane would drop the entry. A name asked every second under a 300 s TTL
 * then costs one dataplane update every two and a half minutes, not one a second, and
 * while dnsgate is down the kernel still holds half of what the pods were told.
 */
const REFRESH_LEAD_MS = 10_000;

/**
 * Extensions no answer waits for go to the dataplane at most this many a batch, after
 * every change an answer does wait for. Under load nearly every repeated name extends
 * its entry; in one batch they made a transaction of thousands of elements (20 ms of
 * nft), and a held answer behind it waited that long. In slices they drain as fast
 * (one batch follows another) while a held answer waits for one slice at most.
 */
const EXTENSIONS_PER_BATCH = 64;

export interface LearntAddress {
  ip: string;
  family: 4 | 6;
  /** From now, as lifetimeMs gave it when the record was answered. */
  lifetimeMs: number;
  /** The name a rule matched (the start of the CNAME chain that led to `ip`). */
  domain: string;
  rules: readonly string[];
}

export interface AllowedMapOptions {
  extraTtlMs: number;
  minTtlMs: number;
  maxTtlMs: number;
  maxIpsPerName: number;
  maxEntries: number;
  /** Names kept per entry (least recently learnt first out); its rules stay. */
  maxDomainsPerEntry: number;
  now?: () => number;
}

export interface MapEvents {
  onAdded(entry: AllowedEntry): void;
  /** An entry left because a limit was hit. */
  onEvicted(reason: 'per-name-limit' | 'entry-cap', entry: AllowedEntry): void;
  /** An entry's oldest name was dropped, as it had maxDomainsPerEntry. */
  onDomainDropped(entry: AllowedEntry): void;
}

/** A batch handed to the dataplane, with the entries behind its upserts. */
export interface PendingBatch {
  batch: DataplaneBatch;
  entries: AllowedEntry[];
  versions: number[];
}

export class AllowedMap {
  private readonly entries = new Map<string, AllowedEntry>();
  private readonly heap = new ExpiryHeap();
  /** Entries whose extension is deferred, by when the dataplane would drop them. */
  private readonly refreshes = new ExpiryHeap('programmed');
  /**
   * `clientKey|domain` → the entry of its one address, or its entries in order of last
   * learnt or extended (name-addresses.ts). Most names have one address, and a map each
   * was a third of the map's memory.
   */
  private readonly byName = new Map<string, AllowedEntry | NameAddresses>();
  /** Changes an answer may wait for: new entries, new rules or client IPs, extensions of an IP about to lapse. */
  private readonly dirty = new Set<AllowedEntry>();
  /** Extensions queued for the next batches, due ones first (see scheduleExtension): they go behind what answers wait for. */
  private readonly extensions = new ExtensionQueue();
  private removals: EntrySnapshot[] = [];
  private readonly now: () => number;

  constructor(
    private readonly options: AllowedMapOptions,
    private readonly events: MapEvents,
  ) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The entries learnt from answers for `domain` (lowercase, without the trailing dot) of
   * the client `clientKey` (undefined in node scope). A scan: for the admin API, not for queries.
   */
  learntFor(clientKey: string | undefined, domain: string): AllowedEntry[] {
    const found: AllowedEntry[] = [];
    for (const entry of this.entries.values()) if (entry.client?.key === clientKey && entry.domains.has(domain)) found.push(entry);
    return found;
  }

  /** Lifetime of a record: TTL + extra, clamped to [min, max] (--max-ttl defaults to 7 days, RFC 8767). */
  lifetimeMs(ttlSeconds: number): number {
    const ms = ttlSeconds * 1000 + this.options.extraTtlMs;
    const floored = Math.max(ms, this.options.minTtlMs);
    return Math.min(floored, this.options.maxTtlMs);
  }

  /**
   * Records that `client` (null in node scope) may reach `address`. Returns true when
   * the dataplane does not yet hold what this sighting needs (the IP with these rules,
   * for at least HOLD_MARGIN_MS or until the new expiry), so an answer must wait.
   * Extensions an answer need not wait for are committed at once or later (see extend).
   */
  learn(client: EntryClient | null, address: LearntAddress): boolean {
    const now = this.now();
    const expiresAt = now + address.lifetimeMs;
    const key = entryKey(client?.key, address.ip);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      if (this.entries.size >= this.options.maxEntries) this.evictSoonest();
      entry = {
        client,
        ip: address.ip,
        family: address.family,
        domains: new Set([address.domain]),
        rules: [...address.rules],
        expiresAt,
        programmedUntil: 0,
        version: 0,
        heapIndex: -1,
        refreshIndex: -1,
      };
      this.entries.set(key, entry);
      this.heap.push(entry);
      this.markDirty(entry);
      this.events.onAdded(entry);
      this.trackSighting(client?.key ?? '', address.domain, entry);
    } else {
      let changed = false;
      if (client !== null && entry.client !== null) {
        if (!sameIps(entry.client.ips, client.ips)) {
          // Elements are keyed by the pod's IPs: those of its old IPs must go.
          this.removals.push(snapshotOf(entry));
          changed = true;
        }
        if (entry.client !== client) entry.client = client;
      }
      const newDomain = !entry.domains.has(address.domain);
      if (newDomain) this.addDomain(entry, address.domain);
      if (addRules(entry, address.rules)) changed = true;
      let extended = false;
      if (expiresAt >= entry.expiresAt + EXTENSION_STEP_MS) {
        // The expiry heap places the entry anew when its old expiry comes up (see ExpiryHeap).
        entry.expiresAt = expiresAt;
        extended = true;
      }
      if (changed) {
        // The elements must be written anew: what the dataplane holds is not this entry.
        entry.programmedUntil = 0;
        entry.version++;
        this.markDirty(entry);
      } else if (extended) {
        this.extend(entry, now);
      }
      // The per-name and per-entry orders are by last learnt or extended: a repeat that
      // changes nothing leaves them, and costs no more than the lookups above.
      if ((changed || extended) && !newDomain && entry.domains.size > 1) {
        entry.domains.delete(address.domain);
        entry.domains.add(address.domain);
      }
      if (changed || extended || newDomain) this.trackSighting(client?.key ?? '', address.domain, entry);
    }
    const mustWait = entry.programmedUntil < Math.min(expiresAt, now + HOLD_MARGIN_MS);
    // The answer waits for the next batch: what it waits for goes in it, not in a later slice.
    if (mustWait && (this.extensions.has(entry) || this.refreshes.has(entry))) this.markDirty(entry);
    return mustWait;
  }

  /** Queues a change an answer may wait for; an extension queued or deferred before goes with it. */
  private markDirty(entry: AllowedEntry): void {
    this.extensions.delete(entry);
    this.refreshes.remove(entry);
    this.dirty.add(entry);
  }

  /**
   * The entry's expiry moved later, and nothing else changed. A batch already queued
   * takes the new expiry with it; an entry the dataplane drops within HOLD_MARGIN_MS is
   * waited for; any other is scheduled.
   */
  private extend(entry: AllowedEntry, now: number): void {
    if (this.dirty.has(entry)) return;
    if (entry.programmedUntil - now < HOLD_MARGIN_MS) this.markDirty(entry);
    else if (!this.extensions.has(entry)) this.scheduleExtension(entry, now);
  }

  /**
   * Queues the extension behind what answers wait for: as due when the dataplane drops
   * the entry within REFRESH_LEAD_MS, early when it holds the entry for less than half
   * of its lifetime. An early or deferred one stays in `refreshes` as well, so that the
   * sweep makes it due in time whatever waits in front of it.
   */
  private scheduleExtension(entry: AllowedEntry, now: number): void {
    const held = entry.programmedUntil - now;
    if (held <= REFRESH_LEAD_MS) {
      this.refreshes.remove(entry);
      this.extensions.addDue(entry);
      return;
    }
    if (held <= (entry.expiresAt - now) / 2) this.extensions.addEarly(entry);
    else this.extensions.delete(entry);
    if (this.refreshes.has(entry)) this.refreshes.update(entry);
    else this.refreshes.push(entry);
  }

  /** Adds a name to an entry, dropping its oldest past the cap: many names may share one IP. */
  private addDomain(entry: AllowedEntry, domain: string): void {
    entry.domains.add(domain);
    if (entry.domains.size <= this.options.maxDomainsPerEntry) return;
    const oldest = entry.domains.values().next().value as string;
    entry.domains.delete(oldest);
    this.untrackSighting(entry, oldest);
    this.events.onDomainDropped(entry);
  }

  private untrackSighting(entry: AllowedEntry, domain: string): void {
    const nameKey = `${entry.client?.key ?? ''}|${domain}`;
    const sighted = this.byName.get(nameKey);
    if (sighted === entry) {
      this.byName.delete(nameKey);
    } else if (sighted instanceof NameAddresses && sighted.remove(entry) && sighted.size === 0) {
      this.byName.delete(nameKey);
    }
  }

  private trackSighting(clientKey: string, domain: string, entry: AllowedEntry): void {
    const nameKey = `${clientKey}|${domain}`;
    const sighted = this.byName.get(nameKey);
    // Most names have one address: it is the newest already.
    if (sighted === entry) return;
    if (sighted === undefined) {
      this.byName.set(nameKey, entry);
      return;
    }
    let addresses: NameAddresses;
    if (sighted instanceof NameAddresses) {
      addresses = sighted;
    } else {
      addresses = new NameAddresses();
      addresses.sight(sighted);
      this.byName.set(nameKey, addresses);
    }
    addresses.sight(entry);
    if (addresses.size <= this.options.maxIpsPerName) return;
    const oldest = addresses.takeOldest() as AllowedEntry;
    oldest.domains.delete(domain);
    if (oldest.domains.size === 0) {
      this.remove(oldest);
      this.events.onEvicted('per-name-limit', oldest);
    }
  }

  private evictSoonest(): void {
    const soonest = this.heap.soonest();
    if (soonest === undefined) return;
    this.remove(soonest);
    this.events.onEvicted('entry-cap', soonest);
  }

  /** Queues as due the extensions, deferred or early, of entries the dataplane drops within REFRESH_LEAD_MS; returns how many. */
  queueDueExtensions(): number {
    const due = this.now() + REFRESH_LEAD_MS;
    let count = 0;
    for (let entry = this.refreshes.soonest(); entry !== undefined && entry.programmedUntil <= due; entry = this.refreshes.soonest()) {
      this.refreshes.remove(entry);
      this.extensions.addDue(entry);
      count++;
    }
    return count;
  }

  /** Removes every entry whose expiry has passed; returns how many. */
  expire(): number {
    const now = this.now();
    let count = 0;
    for (let entry = this.heap.soonest(); entry !== undefined && entry.expiresAt <= now; entry = this.heap.soonest()) {
      this.remove(entry);
      count++;
    }
    return count;
  }

  remove(entry: AllowedEntry): void {
    const key = entryKey(entry.client?.key, entry.ip);
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.heap.remove(entry);
    this.refreshes.remove(entry);
    this.dirty.delete(entry);
    this.extensions.delete(entry);
    for (const domain of entry.domains) this.untrackSighting(entry, domain);
    this.removals.push(snapshotOf(entry));
  }

  /**
   * Follows pods as identities change: entries of pods that are gone leave, and
   * entries of pods whose IPs changed are rewritten for the new IPs (the elements of
   * the old ones removed), so no other pod that gets an old IP inherits them.
   */
  followPods(currentIps: (podKey: string) => readonly string[] | undefined): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.client === null) continue;
      const ips = currentIps(entry.client.key);
      if (ips === undefined) {
        this.remove(entry);
      } else if (!sameIps(ips, entry.client.ips)) {
        this.removals.push(snapshotOf(entry));
        entry.client = { ...entry.client, ips, queriedFrom: ips.includes(entry.client.queriedFrom) ? entry.client.queriedFrom : ips[0] };
        entry.version++;
        entry.programmedUntil = 0;
        this.markDirty(entry);
      }
    }
  }

  /** Drops rule references for which `keep` is false; entries left with none go. */
  retainRules(keep: (rule: string) => boolean): void {
    for (const entry of [...this.entries.values()]) {
      const rules = entry.rules.filter(keep);
      if (rules.length === entry.rules.length) continue;
      if (rules.length === 0) {
        this.remove(entry);
        continue;
      }
      entry.rules = rules;
      entry.version++;
      entry.programmedUntil = 0;
      this.markDirty(entry);
    }
  }

  get hasChanges(): boolean {
    return this.dirty.size > 0 || this.extensions.size > 0 || this.removals.length > 0;
  }

  /**
   * Takes the changes since the last call, or undefined when there is none: all of them
   * but extensions past EXTENSIONS_PER_BATCH, which stay for the next batches.
   */
  takeBatch(): PendingBatch | undefined {
    if (!this.hasChanges) return undefined;
    const extensions = this.extensions.take(EXTENSIONS_PER_BATCH);
    for (const entry of extensions) this.refreshes.remove(entry);
    return this.pendingOf([...this.dirty, ...extensions], this.removals);
  }

  /** Takes every entry as an upsert, for a resync that replaces what the dataplane holds. */
  takeAll(): PendingBatch {
    this.extensions.clear();
    return this.pendingOf([...this.entries.values()], []);
  }

  private pendingOf(entries: AllowedEntry[], removals: EntrySnapshot[]): PendingBatch {
    this.dirty.clear();
    this.removals = [];
    const batch: DataplaneBatch = { upserts: entries.map(snapshotOf), removals };
    return { batch, entries, versions: entries.map((entry) => entry.version) };
  }

  /** The dataplane acknowledged `pending`: its entries are in effect as snapshotted. */
  markProgrammed(pending: PendingBatch): void {
    const now = this.now();
    pending.entries.forEach((entry, i) => {
      if (entry.version !== pending.versions[i] || entry.heapIndex < 0) return;
      entry.programmedUntil = pending.batch.upserts[i].expiresAt;
      if (entry.expiresAt <= entry.programmedUntil) {
        this.refreshes.remove(entry);
        this.extensions.delete(entry);
      } else if (this.refreshes.has(entry) || this.extensions.has(entry)) {
        // Extended while the batch was in flight: scheduled again from what it wrote.
        this.scheduleExtension(entry, now);
      }
    });
  }

  /** Every entry in force, for the admin API, the state file and resyncs. */
  *all(): IterableIterator<AllowedEntry> {
    yield* this.entries.values();
  }

  /**
   * Puts back an entry from a state file. One the map holds already (a predecessor's
   * final save merged after a handover) keeps its client and the later expiry, and
   * gains the file's names and rules; it goes to the dataplane only when that changed it.
   * The entry's set of names becomes the map's.
   */
  restore(entry: Omit<AllowedEntry, 'programmedUntil' | 'version' | 'heapIndex' | 'refreshIndex'>): void {
    if (entry.expiresAt <= this.now()) return;
    const key = entryKey(entry.client?.key, entry.ip);
    const clientKey = entry.client?.key ?? '';
    const max = this.options.maxDomainsPerEntry;
    const domains = entry.domains.size > max ? new Set([...entry.domains].slice(-max)) : entry.domains;
    const existing = this.entries.get(key);
    if (existing === undefined) {
      // A merged final save adds to what the map holds: the cap holds for the sum.
      if (this.entries.size >= this.options.maxEntries) this.evictSoonest();
      const restored: AllowedEntry = { ...entry, domains, programmedUntil: 0, version: 0, heapIndex: -1, refreshIndex: -1 };
      this.entries.set(key, restored);
      this.heap.push(restored);
      for (const domain of restored.domains) this.trackSighting(clientKey, domain, restored);
      this.markDirty(restored);
      return;
    }
    let changed = addRules(existing, entry.rules);
    if (entry.expiresAt > existing.expiresAt) {
      // A later expiry: the heap places the entry anew when its old one comes up, as in learn.
      existing.expiresAt = entry.expiresAt;
      changed = true;
    }
    for (const domain of domains) {
      if (existing.domains.has(domain)) continue;
      this.addDomain(existing, domain);
      this.trackSighting(clientKey, domain, existing);
    }
    if (!changed) return;
    existing.version++;
    existing.programmedUntil = 0;
    this.markDirty(existing);
  }
}

/** Adds the rules `entry` lacks; whether there were any. */
function addRules(entry: AllowedEntry, rules: readonly string[]): boolean {
  let added = false;
  for (const rule of rules) {
    if (!entry.rules.includes(rule)) {
      entry.rules.push(rule);
      added = true;
    }
  }
  return added;
}

function sameIps(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((ip, i) => ip === b[i]));
}
