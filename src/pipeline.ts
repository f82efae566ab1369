/**
 * The path of every query, in order:
 *
 *   query → identity → upstream → policy match → allowed map → dataplane → answer → log
 *
 * Listeners hand each message to `onMessage`; the upstream pool calls back with the
 * reply; `answer` sends it and logs it.
 */
import { Rcode } from './dns/constants.js';
import { QueryStatus, QueryView, parseQuery, rcodeOf, writeId } from './dns/message.js';
import { RecordTable, walkRecords } from './dns/records.js';
import { synthesizeReply } from './dns/responses.js';
import type { IdentityStore } from './identity/store.js';
import type { AnswerLog } from './logs/answer-log.js';
import type { Metrics } from './admin/metrics.js';
import type { QueryHandler } from './listen/handler.js';
import { Query, QueryStage, type Responder, type Transport } from './query.js';
import type { Endpoint } from './net/address.js';
import { UpstreamPool, type UpstreamListener, type UpstreamPoolOptions } from './upstream/pool.js';
import type { UpstreamServer } from './upstream/server.js';
import { TimerWheel } from './util/timer-wheel.js';

export interface PipelineOptions extends UpstreamPoolOptions {
  upstreams: readonly Endpoint[];
}

export class Pipeline implements QueryHandler, UpstreamListener {
  readonly upstream: UpstreamPool;
  readonly wheel = new TimerWheel();
  private readonly view = new QueryView();
  private readonly records = new RecordTable();
  private inFlight = 0;
  private drained: (() => void) | undefined;

  constructor(
    options: PipelineOptions,
    private readonly identity: IdentityStore,
    private readonly log: AnswerLog | undefined,
    private readonly metrics: Metrics,
  ) {
    this.upstream = new UpstreamPool(options.upstreams, options, this, metrics, this.wheel);
    metrics.inFlightSource = () => this.inFlight;
  }

  // query
  onMessage(message: Buffer, transport: Transport, address: string, port: number, responder: Responder): void {
    const view = this.view;
    const status = parseQuery(message, view);
    if (status !== QueryStatus.Ok) {
      this.onMalformed(status, message, transport, address, port, responder);
      return;
    }
    const query = new Query(transport, message, view.id, address, port, clientIp(address), responder, view.questionEnd, view.qtype, view.qclass, view.questionHash, performance.now());
    this.inFlight++;
    // identity
    query.pod = this.identity.current.podByIp(query.clientIp);
    // upstream
    this.upstream.forward(query);
  }

  onUpstreamReply(query: Query, reply: Buffer, upstream: UpstreamServer): void {
    const records = this.log === undefined || !walkRecords(reply, query.questionEnd, this.records) ? undefined : this.records;
    this.answer(query, reply, records, upstream);
  }

  onUpstreamFailure(query: Query): void {
    this.answer(query, synthesizeReply(query.message, query.questionEnd, Rcode.ServFail), undefined, undefined);
  }

  // answer → log
  private answer(query: Query, answer: Buffer, records: RecordTable | undefined, upstream: UpstreamServer | undefined): void {
    query.stage = QueryStage.Done;
    this.wheel.cancel(query);
    writeId(answer, query.clientId);
    query.responder.deliver(query, answer);
    this.metrics.countAnswer(query.transport, rcodeOf(answer));
    this.log?.record(query, answer, records, upstream, performance.now());
    if (--this.inFlight === 0 && this.drained) this.drained();
  }

  private onMalformed(status: QueryStatus, message: Buffer, transport: Transport, address: string, port: number, responder: Responder): void {
    if (status === QueryStatus.TooShort || status === QueryStatus.IsResponse) {
      this.metrics.malformed.labels(transport, 'dropped').inc();
      responder.discard();
      return;
    }
    const rcode = status === QueryStatus.NotQuery ? Rcode.NotImp : Rcode.FormErr;
    this.metrics.malformed.labels(transport, rcode === Rcode.NotImp ? 'notimp' : 'formerr').inc();
    const view = this.view;
    const query = new Query(transport, message, view.id, address, port, clientIp(address), responder, view.questionEnd, view.qtype, view.qclass, view.questionHash, performance.now());
    query.pod = this.identity.current.podByIp(query.clientIp);
    this.inFlight++;
    this.answer(query, synthesizeReply(message, view.questionEnd, rcode), undefined, undefined);
  }

  /** Resolves once every query in flight is answered, or after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Dual-stack sockets report IPv4 peers as `::ffff:a.b.c.d`; identity wants `a.b.c.d`. */
function clientIp(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
