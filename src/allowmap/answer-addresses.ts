/**
 * What an answer teaches a client: the A/AAAA addresses (class IN, Answer and
 * Additional sections) reached from each name an allowed rule matches, following
 * CNAME chains inside the answer and, per client, across answers: a CNAME whose
 * target has no address in this answer is remembered, so the later answer for the
 * target teaches its addresses under the original name's rules, as Calico does.
 */
import { LRUCache } from 'lru-cache';
import { CLASS_IN, RRType } from '../dns/constants.js';
import { type RecordTable, Section, readName } from '../dns/records.js';
import { formatIpv4, formatIpv6 } from '../net/format.js';
import type { LearntAddress } from './map.js';

/** Longest CNAME chain followed, against loops and absurd chains. */
export const MAX_CHAIN = 16;

interface Address {
  ip: string;
  family: 4 | 6;
  ttl: number;
}

/** Why a name (or a CNAME target reached from it) is allowed. */
interface Justification {
  domain: string;
  rules: readonly string[];
}

/** CNAME targets awaiting their addresses in a later answer, per client. */
export class CnameMemory {
  private readonly pending: LRUCache<string, Justification[]>;

  constructor(maxEntries = 10_000) {
    this.pending = new LRUCache({ max: maxEntries, ttlAutopurge: false });
  }

  remember(clientKey: string, target: string, justification: Justification, ttlMs: number): void {
    const key = `${clientKey}|${target}`;
    const existing = this.pending.get(key) ?? [];
    if (!existing.some((j) => j.domain === justification.domain)) existing.push(justification);
    this.pending.set(key, existing, { ttl: Math.max(1, ttlMs) });
  }

  recall(clientKey: string, name: string): readonly Justification[] | undefined {
    // Most answers come with no CNAME pending anywhere: skip building the key.
    if (this.pending.size === 0) return undefined;
    return this.pending.get(`${clientKey}|${name}`);
  }
}

/**
 * The addresses to learn from one answer for one client, whose rules say which names
 * it may learn.
 */
export function addressesToLearn(
  message: Uint8Array,
  records: RecordTable,
  clientKey: string,
  rules: { allowingRuleRefs(name: string): readonly string[] },
  memory: CnameMemory,
  lifetimes: { lifetimeMs(ttlSeconds: number): number },
): LearntAddress[] {
  const addresses = new Map<string, Address[]>();
  const cnames = new Map<string, { target: string; ttl: number }[]>();
  const ownerNames = new OwnerNames();
  for (let i = 0; i < records.count; i++) {
    if (records.section[i] === Section.Authority || records.klass[i] !== CLASS_IN) continue;
    const type = records.type[i];
    const offset = records.dataOffset[i];
    const length = records.dataLength[i];
    let address: Address | undefined;
    if (type === RRType.A && length === 4) {
      const ip = formatIpv4(message, offset);
      if (ip !== '0.0.0.0') address = { ip, family: 4, ttl: records.ttl[i] };
    } else if (type === RRType.AAAA && length === 16) {
      const ip = formatIpv6(message, offset);
      if (ip !== '::') address = { ip, family: 6, ttl: records.ttl[i] };
    } else if (type !== RRType.CNAME) {
      continue;
    }
    const owner = ownerNames.read(message, records.nameOffset[i]);
    if (owner === undefined) continue;
    if (address !== undefined) {
      push(addresses, owner, address);
    } else {
      const target = readName(message, offset);
      if (target !== undefined) push(cnames, owner, { target, ttl: records.ttl[i] });
    }
  }
  if (addresses.size === 0 && cnames.size === 0) return [];

  const learnt: LearntAddress[] = [];
  const starts = new Set([...addresses.keys(), ...cnames.keys()]);
  for (const name of starts) {
    const justifications: Justification[] = [];
    const refs = rules.allowingRuleRefs(name);
    if (refs.length > 0) justifications.push({ domain: name, rules: refs });
    const remembered = memory.recall(clientKey, name);
    if (remembered) justifications.push(...remembered);
    for (const justification of justifications) follow(name, justification);
  }
  return learnt;

  function follow(start: string, justification: Justification): void {
    const visited = new Set<string>();
    const walk = (name: string, depth: number): void => {
      if (visited.has(name) || depth > MAX_CHAIN) return;
      visited.add(name);
      for (const address of addresses.get(name) ?? []) {
        learnt.push({ ip: address.ip, family: address.family, ttlSeconds: address.ttl, domain: justification.domain, rules: justification.rules });
      }
      for (const { target, ttl } of cnames.get(name) ?? []) {
        if (!addresses.has(target) && !cnames.has(target)) memory.remember(clientKey, target, justification, lifetimes.lifetimeMs(ttl));
        walk(target, depth + 1);
      }
    };
    walk(start, 0);
  }
}

/**
 * Owner names of one answer. Records of one RRset usually point at the same earlier
 * name, so the name behind the last pointer is kept rather than decompressed again.
 */
class OwnerNames {
  private target = -1;
  private name: string | undefined;

  read(message: Uint8Array, offset: number): string | undefined {
    if ((message[offset] & 0xc0) !== 0xc0) return readName(message, offset);
    const target = ((message[offset] & 0x3f) << 8) | message[offset + 1];
    if (target !== this.target) {
      this.target = target;
      this.name = readName(message, offset);
    }
    return this.name;
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
