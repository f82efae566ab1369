/**
 * Persistence of the allowed-IP map and of the retained name→IP and name→name mappings
 * across restarts, as Calico's felix DNS cache: saved periodically and at shutdown,
 * atomically (temp file, fsync, rename), and restored at start for what has more than a
 * second left. The file carries an epoch: a file of another epoch (an incompatible
 * version), a corrupt or a foreign file is reported in one line and ignored.
 *
 * During an upgrade two processes share the path. A process that a successor replaced
 * writes its final save beside it, to HANDOVER_SUFFIX, which only the successor reads
 * (merging it into what it holds) and removes: neither overwrites the other's state.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Pod } from '../identity/pod.js';
import type { IdentitySnapshot } from '../identity/snapshot.js';
import type { AllowedEntry, EntryClient } from './entry.js';
import type { AllowedMap } from './map.js';
import type { RetainedMappings, SavedName } from './mappings.js';
import type { Logger } from '../util/logger.js';
import { errorText } from '../util/errors.js';

const FORMAT = 'dnsgate-allowed-map';
/** Bumped whenever a file of the previous epoch could not be read correctly (2: retained mappings). */
const EPOCH = 2;
/** Entries with less left than this are not worth restoring. */
const MIN_REMAINING_MS = 1000;
/**
 * Restored entries between two turns of the event loop: a predecessor's final save is
 * merged while this process answers the node's DNS.
 */
const RESTORED_PER_TURN = 2000;
/** The final save of a process a successor replaced: `--state-file` plus this. */
const HANDOVER_SUFFIX = '.handover';

interface StoredEntry {
  client: EntryClient | null;
  ip: string;
  domains: string[];
  rules: string[];
  expiresAt: number;
}

interface StoredState {
  format: typeof FORMAT;
  epoch: number;
  scope: 'pod' | 'node';
  savedAt: string;
  entries: StoredEntry[];
  /** Pod key → its retained mappings. */
  mappings: Record<string, SavedName[]>;
}

export async function saveState(path: string, map: AllowedMap, mappings: RetainedMappings, scope: 'pod' | 'node', now = Date.now()): Promise<void> {
  const entries: StoredEntry[] = [];
  for (const entry of map.all()) {
    entries.push({ client: entry.client, ip: entry.ip, domains: [...entry.domains], rules: entry.rules, expiresAt: entry.expiresAt });
  }
  const saved: Record<string, SavedName[]> = {};
  for (const key of mappings.clientKeys()) saved[key] = mappings.save(key, now);
  const state: StoredState = { format: FORMAT, epoch: EPOCH, scope, savedAt: new Date(now).toISOString(), entries, mappings: saved };
  // Not the PID alone: during an upgrade two processes save beside each other, and in
  // their containers both are PID 1.
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const file = await open(temp, 'w', 0o600);
  try {
    await file.writeFile(JSON.stringify(state));
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

export interface RestoreResult {
  /** Allowed-map entries restored. */
  restored: number;
  /** Set when there was no file. */
  missing?: true;
  /** Set when the file is there but could not be read now: it is left for another try. */
  unreadable?: true;
  /** Set when the file was unusable: the one line saying why. */
  problem?: string;
}

/**
 * Restores entries from `path` into `map`. Pod-scoped entries come back only for pods
 * that still exist, with their current IPs. A missing file is not a problem.
 */
export async function restoreState(
  path: string,
  map: AllowedMap,
  mappings: RetainedMappings,
  scope: 'pod' | 'node',
  identities: IdentitySnapshot,
  now = Date.now(),
): Promise<RestoreResult> {
  const read = await readState(path);
  if (!('state' in read)) return read;
  const state = read.state;
  if (state.scope !== scope) {
    return { restored: 0, problem: `${path}: saved with --scope ${state.scope}, now ${scope}; ignored` };
  }
  const podsByKey = new Map(identities.pods.map((pod) => [pod.key, pod]));
  // One client object per pod and address asked from, shared by its entries: a large restore holds one per pod, not one per entry.
  const clients = new Map<string, EntryClient>();
  const clientOf = (pod: Pod, queriedFrom: string): EntryClient => {
    const from = pod.ips.includes(queriedFrom) ? queriedFrom : pod.ips[0];
    const key = `${pod.key} ${from}`;
    let client = clients.get(key);
    if (client === undefined) clients.set(key, (client = { key: pod.key, namespace: pod.namespace, name: pod.name, ips: pod.ips, queriedFrom: from }));
    return client;
  };
  let restored = 0;
  // What is restored is let go at once: the parsed file takes as much memory as the map it fills.
  const entries: (StoredEntry | null)[] = state.entries;
  for (let i = 0; i < entries.length; i++) {
    if (i % RESTORED_PER_TURN === RESTORED_PER_TURN - 1) await nextTurn();
    const stored = entries[i];
    entries[i] = null;
    if (!isStoredEntry(stored) || stored.expiresAt - now <= MIN_REMAINING_MS) continue;
    let client: EntryClient | null = null;
    if (scope === 'pod') {
      const pod = stored.client && podsByKey.get(stored.client.key);
      if (!pod) continue;
      client = clientOf(pod, stored.client!.queriedFrom);
    }
    const family = isIP(stored.ip);
    const entry: Omit<AllowedEntry, 'programmedUntil' | 'version' | 'heapIndex' | 'refreshIndex'> = {
      client,
      ip: stored.ip,
      family: family === 6 ? 6 : 4,
      domains: new Set(stored.domains),
      rules: stored.rules,
      expiresAt: stored.expiresAt,
    };
    map.restore(entry);
    restored++;
  }
  for (const [key, names] of Object.entries(state.mappings)) {
    await nextTurn();
    if (!podsByKey.has(key) || !Array.isArray(names)) continue;
    mappings.restore(key, laterThanKept(names.filter(isSavedName), mappings.save(key, now)), now);
    names.length = 0;
  }
  return { restored };
}

/** The parsed file, or why there is none to restore; the file's text is let go on return. */
async function readState(path: string): Promise<{ state: StoredState } | RestoreResult> {
  let state: StoredState;
  try {
    state = JSON.parse(await readFile(path, 'utf8')) as StoredState;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { restored: 0, missing: true };
    if (code !== undefined) return { restored: 0, unreadable: true, problem: `${path}: cannot read state file (${code})` };
    return { restored: 0, problem: `${path}: state file is not JSON, ignored` };
  }
  if (state?.format !== FORMAT) return { restored: 0, problem: `${path}: not a dnsgate state file, ignored` };
  if (state.epoch !== EPOCH || !Array.isArray(state.entries) || typeof state.mappings !== 'object' || state.mappings === null) {
    return { restored: 0, problem: `${path}: state file of another epoch (${String(state.epoch ?? 1)}, this version reads ${EPOCH}), discarded` };
  }
  return { state };
}

/**
 * What of `saved` lasts longer than what `kept` (the mappings held already) has for the
 * same record: a merge extends what is held, never shortens it. A record is the name
 * and everything it saves but its expiry (the address or CNAME target, and so on).
 */
function laterThanKept(saved: SavedName[], kept: readonly SavedName[]): SavedName[] {
  if (kept.length === 0) return saved;
  const expiries = new Map<string, number>();
  for (const { name, addresses, targets } of kept) {
    for (const address of addresses) expiries.set(recordKey(name, address, ADDRESS_EXPIRY), address[ADDRESS_EXPIRY]);
    for (const target of targets) expiries.set(recordKey(name, target, TARGET_EXPIRY), target[TARGET_EXPIRY]);
  }
  const later = (key: string, expiresAt: number): boolean => expiresAt > (expiries.get(key) ?? 0);
  const result: SavedName[] = [];
  for (const { name, addresses, targets } of saved) {
    const merged = {
      name,
      addresses: addresses.filter((address) => later(recordKey(name, address, ADDRESS_EXPIRY), address[ADDRESS_EXPIRY])),
      targets: targets.filter((target) => later(recordKey(name, target, TARGET_EXPIRY), target[TARGET_EXPIRY])),
    };
    if (merged.addresses.length > 0 || merged.targets.length > 0) result.push(merged);
  }
  return result;
}

/** Where a saved address and a saved CNAME target keep their expiry. */
const ADDRESS_EXPIRY = 3;
const TARGET_EXPIRY = 1;

function recordKey(name: string, record: readonly unknown[], expiryIndex: number): string {
  return JSON.stringify([name, ...record.filter((_, i) => i !== expiryIndex)]);
}

/** A name saved without the question each record came from (by an older dnsgate) is not: it cannot be walked safely. */
function isSavedName(value: unknown): value is SavedName {
  const saved = value as SavedName;
  return (
    typeof saved === 'object' &&
    saved !== null &&
    typeof saved.name === 'string' &&
    Array.isArray(saved.addresses) &&
    saved.addresses.every((a) => Array.isArray(a) && (a[1] === 4 || a[1] === 6) && isIP(String(a[0])) === a[1] && typeof a[2] === 'boolean' && typeof a[3] === 'number' && typeof a[4] === 'string') &&
    Array.isArray(saved.targets) &&
    saved.targets.every((t) => Array.isArray(t) && typeof t[0] === 'string' && typeof t[1] === 'number' && typeof t[2] === 'string')
  );
}

function isStoredEntry(value: unknown): value is StoredEntry {
  const entry = value as StoredEntry;
  return (
    typeof entry === 'object' &&
    entry !== null &&
    typeof entry.ip === 'string' &&
    isIP(entry.ip) !== 0 &&
    typeof entry.expiresAt === 'number' &&
    Array.isArray(entry.domains) &&
    entry.domains.every((d) => typeof d === 'string') &&
    Array.isArray(entry.rules) &&
    entry.rules.every((r) => typeof r === 'string') &&
    (entry.client === null || (typeof entry.client === 'object' && typeof entry.client.key === 'string'))
  );
}

/**
 * The state file of one map: saves run one after another, as two at once would write
 * the same temporary file, and one waiting to start serves every caller until it starts.
 */
export class StateFile {
  private lastSave = Promise.resolve();
  private queuedSave: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly map: AllowedMap,
    private readonly mappings: RetainedMappings,
    private readonly scope: 'pod' | 'node',
    private readonly logger: Logger,
  ) {}

  /** Where a process a successor replaced writes its final save. */
  get handoverPath(): string {
    return `${this.path}${HANDOVER_SUFFIX}`;
  }

  /**
   * Restores what the file holds, and a predecessor's final save that no successor
   * merged (it stopped first); a problem with either is logged and the map starts without it.
   */
  async restore(identities: IdentitySnapshot): Promise<void> {
    const restoring = (async () => {
      const result = await restoreState(this.path, this.map, this.mappings, this.scope, identities);
      if (result.problem) this.logger.error(result.unreadable ? `${result.problem}, starting empty` : result.problem);
      else if (result.restored > 0) this.logger.info(`restored ${result.restored} allowed entries from ${this.path}`);
    })();
    // A periodic save while a large file is restored would write part of the map over it.
    this.lastSave = restoring.catch(() => undefined);
    await restoring;
    await this.mergeHandover(identities);
  }

  /**
   * Merges the final save a replaced predecessor left, when there is one: its entries
   * join the map (those held already keep the later expiry), the union is saved and
   * the predecessor's file removed. Whether there was one.
   */
  async mergeHandover(identities: IdentitySnapshot): Promise<boolean> {
    const result = await restoreState(this.handoverPath, this.map, this.mappings, this.scope, identities);
    if (result.missing) return false;
    if (result.unreadable) {
      // Perhaps for a moment (a full disk, a permission being fixed): the file is kept for the next try.
      this.logger.error(`${result.problem}; kept for another try`);
      return false;
    }
    if (result.problem) this.logger.error(result.problem);
    else this.logger.info(`merged ${result.restored} allowed entries of the predecessor's final save`);
    await this.save();
    await rm(this.handoverPath, { force: true }).catch((error: unknown) => this.logger.error(`${this.handoverPath}: merged but not removed (${errorText(error)}); it is merged again at the next start`));
    return true;
  }

  /**
   * Saves the map after any save under way; a failure is logged, never thrown. With
   * `forSuccessor`, to the handover file, leaving the successor's own file alone.
   */
  save(forSuccessor = false): Promise<void> {
    if (forSuccessor) return this.enqueue(this.handoverPath);
    this.queuedSave ??= this.enqueue(this.path, () => (this.queuedSave = undefined));
    return this.queuedSave;
  }

  private enqueue(path: string, starting?: () => void): Promise<void> {
    this.lastSave = this.lastSave.then(async () => {
      starting?.();
      try {
        await saveState(path, this.map, this.mappings, this.scope);
      } catch (error) {
        this.logger.error(`cannot save state to ${path}: ${errorText(error)}`);
      }
    });
    return this.lastSave;
  }
}
