/**
 * What one answer says about the name its client asked: the chain of names reached
 * from the question through CNAME records, and the addresses at the end of it.
 *
 * Only the question's chain counts. Records for any other name, whatever section they
 * sit in, teach nothing: an answer to `poison.evil.net` that carries
 * `api.alice.com A 6.6.6.6` says nothing the client asked about `api.alice.com`.
 * Records are read from the Answer section (class IN), and from the Additional section
 * only where they continue the chain. Only NOERROR answers give addresses. An NXDOMAIN
 * answer gives its CNAME links only: its rcode is that of the chain's last name (RFC
 * 6604), so the links before it hold, while an address in it contradicts the rcode.
 */
import { CLASS_IN, HEADER_LENGTH, RCODE_MASK, Rcode, RRType } from '../dns/constants.js';
import { type RecordTable, Section, readName } from '../dns/records.js';
import { formatIpv4, formatIpv6 } from '../net/format.js';
import { isSpecialPurpose } from './special-addresses.js';

/** Longest CNAME chain followed, against loops and absurd chains. */
export const MAX_CHAIN = 16;

/** TTLs with the top bit set are read as 0 (RFC 2181 §8). */
const MAX_TTL_SECONDS = 0x7fffffff;

export interface ChainAddress {
  /** IPv4-mapped IPv6 addresses are their IPv4 address: that is where a socket connecting to them sends. */
  ip: string;
  family: 4 | 6;
  ttlSeconds: number;
  /** Unspecified, loopback, link-local, multicast or broadcast (see special-addresses.ts). */
  special: boolean;
}

export interface ChainLink {
  /** Name of the chain, lowercase presentation form. */
  name: string;
  addresses: ChainAddress[];
  /** CNAME targets of `name`. */
  targets: { name: string; ttlSeconds: number }[];
}

/** The question's name and what the answer links to it, in chain order (the question first). */
export interface AnswerChain {
  question: string;
  links: ChainLink[];
}

/**
 * The chain of `message` (a reply whose question matched the client's, walked into
 * `records`), or undefined when it teaches nothing: neither NOERROR nor NXDOMAIN, no
 * question, or no record on the chain.
 */
export function readChain(message: Uint8Array, records: RecordTable): AnswerChain | undefined {
  const rcode = message[3] & RCODE_MASK;
  if ((rcode !== Rcode.NoError && rcode !== Rcode.NXDomain) || message[5] !== 1 || message[4] !== 0) return undefined;
  // An extended rcode (RFC 6891: the OPT record's TTL high byte) makes it not NOERROR either.
  for (let i = records.count - 1; i >= 0 && records.section[i] === Section.Additional; i--) {
    if (records.type[i] === RRType.OPT && records.ttl[i] >>> 24 !== 0) return undefined;
  }
  const question = readName(message, HEADER_LENGTH);
  if (question === undefined) return undefined;
  if (onlyQuestionAddresses(message, records)) return questionOnlyChain(message, records, question, rcode);
  const owners = new OwnerNames();
  // Owner names are read only for records that can be on a chain; most answers hold a few.
  const byOwner = new Map<string, number[]>();
  for (let i = 0; i < records.count; i++) {
    if (!onChainCandidate(records, i)) continue;
    const owner = owners.read(message, records.nameOffset[i]);
    if (owner === undefined) continue;
    const list = byOwner.get(owner);
    if (list) list.push(i);
    else byOwner.set(owner, [i]);
  }
  const links: ChainLink[] = [];
  const reached = new Set<string>([question]);
  for (let queue = [question], depth = 0; queue.length > 0 && depth <= MAX_CHAIN; depth++) {
    const next: string[] = [];
    for (const name of queue) {
      const indexes = byOwner.get(name);
      if (indexes === undefined) continue;
      const link: ChainLink = { name, addresses: [], targets: [] };
      for (const i of indexes) {
        const target = readRecord(message, records, i, link);
        if (target !== undefined && !reached.has(target)) {
          reached.add(target);
          next.push(target);
        }
      }
      if (rcode !== Rcode.NoError) link.addresses.length = 0;
      if (link.addresses.length > 0 || link.targets.length > 0) links.push(link);
    }
    queue = next;
  }
  return links.length === 0 ? undefined : { question, links };
}

/** Whether record `i` can be on a chain: an A, AAAA or CNAME of class IN, outside the Authority section. */
function onChainCandidate(records: RecordTable, i: number): boolean {
  const type = records.type[i];
  return records.section[i] !== Section.Authority && records.klass[i] === CLASS_IN && (type === RRType.A || type === RRType.AAAA || type === RRType.CNAME);
}

/**
 * Whether every record that can be on a chain is an address whose owner is a pointer to
 * the question's name: the common answer, whose chain is the question alone, read
 * without grouping records by owner name.
 */
function onlyQuestionAddresses(message: Uint8Array, records: RecordTable): boolean {
  for (let i = 0; i < records.count; i++) {
    if (!onChainCandidate(records, i)) continue;
    const owner = records.nameOffset[i];
    if (records.type[i] === RRType.CNAME || message[owner] !== 0xc0 || message[owner + 1] !== HEADER_LENGTH) return false;
  }
  return true;
}

/** The chain of an answer `onlyQuestionAddresses` accepted: the question's addresses, if NOERROR. */
function questionOnlyChain(message: Uint8Array, records: RecordTable, question: string, rcode: number): AnswerChain | undefined {
  if (rcode !== Rcode.NoError) return undefined;
  const link: ChainLink = { name: question, addresses: [], targets: [] };
  for (let i = 0; i < records.count; i++) if (onChainCandidate(records, i)) readRecord(message, records, i, link);
  return link.addresses.length === 0 ? undefined : { question, links: [link] };
}

/** Adds record `i` to `link`; returns the CNAME target, if it is one. */
function readRecord(message: Uint8Array, records: RecordTable, i: number, link: ChainLink): string | undefined {
  const type = records.type[i];
  const offset = records.dataOffset[i];
  const length = records.dataLength[i];
  const ttlSeconds = ttlOf(records.ttl[i]);
  if (type === RRType.CNAME) {
    const target = readName(message, offset);
    // The root is no host: a CNAME to it leads nowhere.
    if (target === undefined || target === '') return undefined;
    link.targets.push({ name: target, ttlSeconds });
    return target;
  }
  // An address record is only ever an address: never read as a name, whatever its value.
  if (type === RRType.A) {
    if (length !== 4) return undefined;
    link.addresses.push({ ip: formatIpv4(message, offset), family: 4, ttlSeconds, special: isSpecialPurpose(message, offset, 4) });
    return undefined;
  }
  if (length !== 16) return undefined;
  if (isIpv4Mapped(message, offset)) {
    link.addresses.push({ ip: formatIpv4(message, offset + 12), family: 4, ttlSeconds, special: isSpecialPurpose(message, offset + 12, 4) });
  } else {
    link.addresses.push({ ip: formatIpv6(message, offset), family: 6, ttlSeconds, special: isSpecialPurpose(message, offset, 16) });
  }
  return undefined;
}

export function ttlOf(wire: number): number {
  return wire > MAX_TTL_SECONDS ? 0 : wire;
}

/** `::ffff:a.b.c.d`. */
function isIpv4Mapped(bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 10; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
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
