/**
 * The hot path of the DNS log: folds every answer into the aggregate of its key in
 * the current window without decoding the answer. The key is the client (as a string
 * cached per client IP), then a number mixed from the question hash, the rcode (with
 * the extended rcode of OPT, as gopacket reads it) and the TTL-masked hash of the
 * answer's records, the OPT record included; a hit is confirmed against the kept
 * answer, so that hash collisions never merge different questions or answers.
 * Rendering (names, rdata) waits for the flush, once per aggregate.
 */
import { HEADER_LENGTH } from '../dns/constants.js';
import { replyMatchesQuery } from '../dns/message.js';
import { RecordTable, walkRecords } from '../dns/records.js';
import type { Pod } from '../identity/pod.js';
import type { Query } from '../query.js';
import type { UpstreamServer } from '../upstream/server.js';
import { AggregationKind, clientKey } from './identity-fields.js';
import { extendedRcode } from './rdata.js';

/** Client IPs whose key is cached; the cache is cleared when full and at every window. */
const MAX_CACHED_CLIENTS = 65_536;

/** Every response of one key in one window. */
export class Aggregate {
  count = 1;
  /** Felix's running mean: each response merged in with integer division (`DNSSpec.Merge`). */
  latencyMeanNs: number;
  latencyMaxNs: number;
  /** Pods other than `pod` that got this answer: their labels are intersected. */
  otherPods: Set<Pod> | undefined = undefined;
  /** Responses from `upstream`. */
  upstreamCount = 1;
  /** Responses from each upstream other than `upstream`. */
  otherUpstreams: Map<UpstreamServer, number> | undefined = undefined;

  constructor(
    /** The first answer of the key; every later one has the same question, rcode and records. */
    readonly answer: Buffer,
    readonly questionEnd: number,
    readonly rcode: number,
    readonly recordsHash: number,
    /** Whether the answer's records could all be walked. */
    readonly walked: boolean,
    readonly pod: Pod | undefined,
    readonly upstream: UpstreamServer | undefined,
    latencyNs: number,
    /** The next aggregate whose key number collided with this one. */
    readonly next: Aggregate | undefined,
  ) {
    this.latencyMeanNs = latencyNs;
    this.latencyMaxNs = latencyNs;
  }

  matches(answer: Buffer, questionEnd: number, rcode: number, recordsHash: number, walked: boolean): boolean {
    return (
      this.rcode === rcode &&
      this.recordsHash === recordsHash &&
      this.walked === walked &&
      this.questionEnd === questionEnd &&
      (questionEnd === HEADER_LENGTH || replyMatchesQuery(answer, this.answer, questionEnd))
    );
  }

  add(latencyNs: number, pod: Pod | undefined, upstream: UpstreamServer | undefined): void {
    this.latencyMeanNs = mergedMean(this.latencyMeanNs, this.count, latencyNs, 1);
    this.count++;
    if (latencyNs > this.latencyMaxNs) this.latencyMaxNs = latencyNs;
    if (pod !== this.pod && pod !== undefined) (this.otherPods ??= new Set()).add(pod);
    if (upstream === this.upstream) {
      this.upstreamCount++;
    } else if (upstream !== undefined) {
      const others = (this.otherUpstreams ??= new Map());
      others.set(upstream, (others.get(upstream) ?? 0) + 1);
    }
  }
}

/** The aggregates of one client key. `ip` and `pod` are the first seen, which the key fields follow. */
export class ClientAggregates {
  readonly byKey = new Map<number, Aggregate>();

  constructor(
    readonly ip: string,
    readonly pod: Pod | undefined,
  ) {}
}

export interface Window {
  readonly clients: Map<string, ClientAggregates>;
  /** Distinct aggregation keys (client, question, rcode, records): the records the window will log, for the per-node limit. */
  distinctKeys: number;
  /** Responses past the per-node limit. */
  unlogged: number;
}

interface CachedClient {
  pod: Pod | undefined;
  key: string;
}

export class Aggregator {
  private window: Window = emptyWindow();
  private readonly clientKeys = new Map<string, CachedClient>();
  /** The walk of answers dnsgate wrote itself, which come without one. */
  private readonly ownRecords = new RecordTable();

  constructor(
    private readonly kind: AggregationKind,
    /** Distinct keys per window; 0 for no limit. */
    private readonly perNodeLimit: number,
  ) {}

  add(query: Query, answer: Buffer, records: RecordTable | undefined, upstream: UpstreamServer | undefined, answeredAt: number): void {
    const pod = query.pod;
    const client = this.clientKey(query.clientIp, pod);
    const questionEnd = query.questionEnd;
    // Without a question the query's hash is not of this message.
    const questionHash = questionEnd > HEADER_LENGTH ? query.questionHash : 0;
    let walked = records !== undefined;
    if (records === undefined) {
      // Answers dnsgate writes are small and few: walking them here keeps any OPT or SOA in the key.
      records = this.ownRecords;
      walked = walkRecords(answer, questionEnd, records);
    }
    const rcode = extendedRcode(answer, records);
    const recordsHash = walked ? records.hash : 0;
    const key = answerKey(questionHash, rcode, recordsHash);
    const latencyNs = Math.round(latencyMs(query, answeredAt) * 1e6);

    const window = this.window;
    let aggregates = window.clients.get(client);
    const first = aggregates?.byKey.get(key);
    for (let aggregate = first; aggregate !== undefined; aggregate = aggregate.next) {
      if (aggregate.matches(answer, questionEnd, rcode, recordsHash, walked)) {
        aggregate.add(latencyNs, pod, upstream);
        return;
      }
    }
    if (this.perNodeLimit > 0 && window.distinctKeys >= this.perNodeLimit) {
      window.unlogged++;
      return;
    }
    if (aggregates === undefined) {
      aggregates = new ClientAggregates(query.clientIp, pod);
      window.clients.set(client, aggregates);
    }
    aggregates.byKey.set(key, new Aggregate(answer, questionEnd, rcode, recordsHash, walked, pod, upstream, latencyNs, first));
    window.distinctKeys++;
  }

  /** Hands over the window so far and starts the next one. */
  take(): Window {
    const window = this.window;
    this.window = emptyWindow();
    this.clientKeys.clear();
    return window;
  }

  private clientKey(ip: string, pod: Pod | undefined): string {
    const cached = this.clientKeys.get(ip);
    if (cached !== undefined && cached.pod === pod) return cached.key;
    if (this.clientKeys.size >= MAX_CACHED_CLIENTS) this.clientKeys.clear();
    const key = clientKey(this.kind, ip, pod);
    this.clientKeys.set(ip, { pod, key });
    return key;
  }
}

/**
 * Felix measures from the request packet to the response packet; dnsgate's
 * counterpart is the upstream round trip, without the time an answer was held for
 * the dataplane. An answer that did not come from an upstream just now (from the
 * cache, or written by dnsgate) counts from the query's arrival.
 */
function latencyMs(query: Query, answeredAt: number): number {
  return query.repliedAt > 0 ? query.repliedAt - query.sentAt : answeredAt - query.receivedAt;
}

/** Felix's merge of two latency means: count-weighted, truncated to whole nanoseconds. */
export function mergedMean(meanA: number, countA: number, meanB: number, countB: number): number {
  // meanA + floor(…) is floor((meanA·countA + meanB·countB) / (countA + countB)) without the large products.
  return meanA + Math.floor(((meanB - meanA) * countB) / (countA + countB));
}

function emptyWindow(): Window {
  return { clients: new Map(), distinctKeys: 0, unlogged: 0 };
}

/**
 * One safe integer from the 32-bit question hash, the rcode and the 53-bit records
 * hash: the records hash's high 21 bits stay, its low 32 bits are mixed with the rest.
 */
function answerKey(questionHash: number, rcode: number, recordsHash: number): number {
  const low = recordsHash % 0x1_0000_0000;
  return recordsHash - low + ((low ^ questionHash ^ (rcode << 24)) >>> 0);
}
