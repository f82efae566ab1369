/** One client query on its way through the pipeline. */
import type { QueryView } from './dns/message.js';
import type { Pod } from './identity/pod.js';
import type { Deadline } from './util/timer-wheel.js';

export type Transport = 'udp' | 'tcp';

/** Where an answer goes back: a UDP listener socket or a client TCP connection. */
export interface Responder {
  deliver(query: Query, answer: Buffer): void;
  /** The message will get no answer (it was a response, or unreadable). */
  discard(): void;
}

export const enum QueryStage {
  Upstream = 0,
  Held = 1,
  Done = 2,
}

export class Query implements Deadline {
  timerSlot = -1;
  timerIndex = -1;
  stage = QueryStage.Upstream;
  pod: Pod | undefined = undefined;

  // Upstream state, owned by the upstream pool.
  /** Bit i set: upstream i was tried for this query. */
  triedUpstreams = 0;
  upstreamIndex = -1;
  upstreamId = -1;
  /** The UDP socket the query left from: a reply is accepted only there. */
  upstreamSocket: object | undefined = undefined;
  /** The next query in its bucket of the upstream's in-flight table (in-flight.ts). */
  nextInFlight: Query | undefined = undefined;
  /** performance.now() after which the query is answered SERVFAIL. */
  deadline = 0;
  sentAt = 0;
  /** performance.now() when the upstream pool took the reply; 0 until one came. The DNS log's latency is repliedAt - sentAt. */
  repliedAt = 0;
  /** The question name as the client cased it, while 0x20 randomisation sends another casing. */
  clientName: Buffer | undefined = undefined;
  /** Set by whoever owns the current stage's deadline. */
  onStageDeadline: ((query: Query) => void) | undefined = undefined;

  readonly clientId: number;
  /** Canonical client IP for identity (IPv4-mapped addresses unwrapped). */
  readonly clientIp: string;
  readonly questionEnd: number;
  readonly qtype: number;
  readonly qclass: number;
  readonly questionHash: number;

  constructor(
    readonly transport: Transport,
    /** The client's message; its ID is rewritten while it is upstream. */
    readonly message: Buffer,
    /** What parseQuery read from `message`; copied, as the view is reused for the next message. */
    view: QueryView,
    /** The peer address as the socket reported it (replies go there). */
    readonly clientAddress: string,
    readonly clientPort: number,
    readonly responder: Responder,
    readonly receivedAt: number,
  ) {
    this.clientId = view.id;
    this.clientIp = clientIp(clientAddress);
    this.questionEnd = view.questionEnd;
    this.qtype = view.qtype;
    this.qclass = view.qclass;
    this.questionHash = view.questionHash;
  }

  onDeadline(): void {
    this.onStageDeadline?.(this);
  }
}

/** Dual-stack sockets report IPv4 peers as `::ffff:a.b.c.d`; identity wants `a.b.c.d`. */
function clientIp(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
