/**
 * `--cache-size N`: answers kept for their TTL and served again with TTLs counted down.
 * A cached answer goes through the rest of the pipeline like a fresh one, so it still
 * teaches the asking pod its IPs and is still logged (with the upstream that gave it).
 *
 * Only positive and NXDOMAIN answers without TC are kept. The key is the question
 * (case-folded), whether the query had EDNS (an answer carries OPT only when its query
 * did), and the DO, CD and RD bits (each changes what the upstream answers); a hit is served over UDP only when it fits the
 * client's payload size, and always carries the client's own question bytes, so 0x20
 * case randomisation checks pass.
 */
import { LRUCache } from 'lru-cache';
import { CLASS_IN, HEADER_LENGTH, RRType, Rcode } from '../dns/constants.js';
import { readEdns, type EdnsInfo } from '../dns/edns.js';
import { isTruncated, rcodeOf, replyMatchesQuery } from '../dns/message.js';
import type { RecordTable } from '../dns/records.js';
import type { Query } from '../query.js';
import type { UpstreamServer } from '../upstream/server.js';

/** Negative answers are kept no longer than this (RFC 2308 lets resolvers cap them). */
const MAX_NEGATIVE_TTL_S = 300;
const FLAG_CD = 0x10; // in byte 3
const FLAG_RD = 0x01; // in byte 2

interface CachedAnswer {
  answer: Buffer;
  questionEnd: number;
  /** Offsets of the TTL fields to count down, and their values when stored. */
  ttlOffsets: Int32Array;
  ttls: Uint32Array;
  storedAt: number;
  upstream: UpstreamServer;
}

export interface CacheHit {
  answer: Buffer;
  upstream: UpstreamServer;
}

export class ResponseCache {
  private readonly entries: LRUCache<string, CachedAnswer>;

  constructor(
    maxEntries: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.entries = new LRUCache({ max: maxEntries });
  }

  private keyOf(query: Query, edns: EdnsInfo): string {
    const flags = (edns.present ? 8 : 0) | (edns.dnssecOk ? 4 : 0) | (query.message[3] & FLAG_CD ? 2 : 0) | (query.message[2] & FLAG_RD ? 1 : 0);
    return `${query.questionHash}|${flags}`;
  }

  /** The cached answer to `query`, TTLs counted down, with the client's ID and question. */
  lookup(query: Query): CacheHit | undefined {
    const edns = readEdns(query.message, query.questionEnd);
    if (edns === undefined) return undefined;
    const cached = this.entries.get(this.keyOf(query, edns));
    if (cached === undefined || cached.questionEnd !== query.questionEnd || !replyMatchesQuery(cached.answer, query.message, query.questionEnd)) return undefined;
    if (query.transport === 'udp' && cached.answer.length > edns.udpPayload) return undefined;
    const elapsed = Math.floor((this.now() - cached.storedAt) / 1000);
    const answer = Buffer.from(cached.answer);
    answer.set(query.message.subarray(HEADER_LENGTH, query.questionEnd), HEADER_LENGTH);
    for (let i = 0; i < cached.ttlOffsets.length; i++) answer.writeUInt32BE(Math.max(0, cached.ttls[i] - elapsed), cached.ttlOffsets[i]);
    return { answer, upstream: cached.upstream };
  }

  /** Keeps `answer` (walked into `records`) when it may be served again. */
  store(query: Query, answer: Buffer, records: RecordTable, upstream: UpstreamServer): void {
    const rcode = rcodeOf(answer);
    if ((rcode !== Rcode.NoError && rcode !== Rcode.NXDomain) || isTruncated(answer)) return;
    const edns = readEdns(query.message, query.questionEnd);
    if (edns === undefined) return;
    const ttlOffsets: number[] = [];
    const ttls: number[] = [];
    let lifetime = Infinity;
    for (let i = 0; i < records.count; i++) {
      if (records.type[i] === RRType.OPT) continue;
      const ttl = records.ttl[i];
      ttlOffsets.push(records.dataOffset[i] - 6);
      ttls.push(ttl);
      const negative = rcode === Rcode.NXDomain || (records.type[i] === RRType.SOA && records.klass[i] === CLASS_IN);
      lifetime = Math.min(lifetime, negative ? Math.min(ttl, MAX_NEGATIVE_TTL_S) : ttl);
    }
    // An answer with no records (NODATA without SOA) says nothing about how long it holds.
    if (!Number.isFinite(lifetime) || lifetime <= 0) return;
    this.entries.set(
      this.keyOf(query, edns),
      { answer: Buffer.from(answer), questionEnd: query.questionEnd, ttlOffsets: Int32Array.from(ttlOffsets), ttls: Uint32Array.from(ttls), storedAt: this.now(), upstream },
      { ttl: lifetime * 1000 },
    );
  }
}
