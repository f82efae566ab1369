/** What the allowed-IP map holds, and what it hands the dataplane. */

/** The pod an entry belongs to (pod scope); null in node scope. */
export interface EntryClient {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  /** The pod's IPs when the entry was last learnt; dataplane elements pair them with the entry's IP. */
  ips: readonly string[];
  /** The address the query came from, shown by the admin API. */
  queriedFrom: string;
}

export interface AllowedEntry {
  client: EntryClient | null;
  ip: string;
  family: 4 | 6;
  /** Names a rule matched whose answers taught this IP, least recently learnt first (capped). */
  domains: Set<string>;
  /** `TIER|POLICY|allow|INDEX` of every rule that allows one of `domains` for the client. */
  rules: string[];
  /** Epoch milliseconds. */
  expiresAt: number;
  /** The expiry in effect in the dataplane with the current rules; 0 when not (yet). */
  programmedUntil: number;
  /**
   * Bumped by every change that rewrites the elements (rules, client IPs), so an
   * acknowledgement of an older snapshot is recognised. An extension leaves it: the
   * older snapshot still says what the dataplane holds until then.
   */
  version: number;
  /** Position in the expiry heap; -1 when not in it. */
  heapIndex: number;
  /** Position in the heap of deferred extensions; -1 when not in it. */
  refreshIndex: number;
}

/** The map's changes since the last batch, as the dataplane takes them. */
export interface DataplaneBatch {
  /** New entries, and entries whose expiry or rules changed: each is written whole. */
  upserts: EntrySnapshot[];
  /** Entries that expired or were evicted. */
  removals: EntrySnapshot[];
}

/** An immutable view of an entry for the dataplane: it may outlive later changes to the entry. */
export interface EntrySnapshot {
  clientKey: string | undefined;
  clientIps: readonly string[];
  ip: string;
  family: 4 | 6;
  rules: readonly string[];
  expiresAt: number;
}

export function snapshotOf(entry: AllowedEntry): EntrySnapshot {
  return {
    clientKey: entry.client?.key,
    clientIps: entry.client?.ips ?? [],
    ip: entry.ip,
    family: entry.family,
    rules: [...entry.rules],
    expiresAt: entry.expiresAt,
  };
}

export function entryKey(clientKey: string | undefined, ip: string): string {
  return clientKey === undefined ? ip : `${clientKey}|${ip}`;
}
