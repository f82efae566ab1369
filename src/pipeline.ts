/**
 * The path of every query, in order:
 *
 *   query → identity → upstream → policy match → allowed map → dataplane → answer → log
 *
 * Listeners hand each message to `onMessage`; the upstream pool calls back with the
 * reply; answers that taught the client new IPs wait for the dataplane (group commit)
 * before `answer` sends and logs them.
 */
import type { Metrics } from './admin/metrics.js';
import type { AllowedMap } from './allowmap/map.js';
import type { ResponseCache } from './cache/response-cache.js';
import type { ClientRules, Learner } from './allowmap/learner.js';
import { HEADER_LENGTH, Rcode } from './dns/constants.js';
import { QueryStatus, QueryView, parseQuery, rcodeOf, writeId } from './dns/message.js';
import { RecordTable, readName, walkRecords } from './dns/records.js';
import { synthesizeReply } from './dns/responses.js';
import { Committer, type CommitListener } from './dataplane/committer.js';
import type { Dataplane } from './dataplane/dataplane.js';
import type { Pod } from './identity/pod.js';
import type { IdentityStore } from './identity/store.js';
import type { QueryHandler } from './listen/handler.js';
import type { AnswerLog } from './logs/answer-log.js';
import type { Endpoint } from './net/address.js';
import { Query, QueryStage, type Responder, type Transport } from './query.js';
import { UpstreamPool, type UpstreamListener, type UpstreamPoolOptions } from './upstream/pool.js';
import type { UpstreamServer } from './upstream/server.js';
import { TimerWheel } from './util/timer-wheel.js';

export interface PipelineOptions extends UpstreamPoolOptions {
  upstreams: readonly Endpoint[];
  /** `--cache-size` above 0. */
  cache: ResponseCache | undefined;
}

/** The policy decisions for a client, from the current policy set. */
export interface PolicySource {
  forClient(pod: Pod | undefined): ClientRules;
}

export interface EnforcementOptions {
  policy: PolicySource;
  map: AllowedMap;
  learner: Learner;
  dataplane: Dataplane;
  /** DelayDNSResponse: hold answers until the dataplane has their IPs. */
  holdAnswers: boolean;
  maxHoldMs: number;
  holdTimeoutAction: 'release' | 'servfail';
  /** Rcode for names no rule allows an enforced pod, or undefined to forward them. */
  denyRcode: number | undefined;
}

export class Pipeline implements QueryHandler, UpstreamListener, CommitListener<Query> {
  readonly upstream: UpstreamPool;
  readonly wheel = new TimerWheel();
  readonly committer: Committer<Query>;
  private readonly view = new QueryView();
  private records = new RecordTable();
  /** Walk tables lent to held answers come back here. */
  private readonly spareRecords: RecordTable[] = [];
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private stopped = false;
  private readonly onHoldDeadline = (query: Query): void => this.endHold(query, 'timeout');
  private readonly cache: ResponseCache | undefined;

  constructor(
    options: PipelineOptions,
    private readonly identity: IdentityStore,
    private readonly log: AnswerLog | undefined,
    private readonly metrics: Metrics,
    private readonly enforcement: EnforcementOptions,
  ) {
    this.upstream = new UpstreamPool(options.upstreams, options, this, metrics, this.wheel);
    this.cache = options.cache;
    this.committer = new Committer(enforcement.map, enforcement.dataplane, this);
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
    if (this.enforcement.denyRcode !== undefined && query.pod !== undefined && this.denies(query)) {
      this.metrics.denied.inc();
      this.answer(query, synthesizeReply(message, view.questionEnd, this.enforcement.denyRcode), undefined, undefined);
      return;
    }
    // upstream (or the cache in front of it)
    const hit = this.cache?.lookup(query);
    if (hit !== undefined) {
      this.metrics.cacheHits.value++;
      this.onAnswer(query, hit.answer, hit.upstream, false);
      return;
    }
    if (this.cache !== undefined) this.metrics.cacheMisses.value++;
    this.upstream.forward(query);
  }

  private denies(query: Query): boolean {
    const rules = this.enforcement.policy.forClient(query.pod);
    if (!rules.enforced) return false;
    const name = readName(query.message, HEADER_LENGTH);
    return name !== undefined && rules.allowingRuleRefs(name).length === 0;
  }

  onUpstreamReply(query: Query, reply: Buffer, upstream: UpstreamServer): void {
    this.onAnswer(query, reply, upstream, true);
  }

  /** An answer from the upstream (`fresh`) or from the cache, on its way to the client. */
  private onAnswer(query: Query, reply: Buffer, upstream: UpstreamServer, fresh: boolean): void {
    const enforcement = this.enforcement;
    // The walk serves the log, the cache and learning (which only pods can do).
    const needsWalk = this.log !== undefined || this.cache !== undefined || query.pod !== undefined;
    const walked = needsWalk && walkRecords(reply, query.questionEnd, this.records);
    const records = walked ? this.records : undefined;
    if (fresh && records !== undefined) this.cache?.store(query, reply, records, upstream);
    const pod = query.pod;
    if (records !== undefined && pod !== undefined) {
      // policy match
      const rules = enforcement.policy.forClient(pod);
      if (rules.enforced) {
        // allowed map
        const mustWait = enforcement.learner.learn(query, pod, reply, records, rules);
        // dataplane
        if (mustWait && enforcement.holdAnswers) {
          this.hold(query, reply, records, upstream, enforcement.maxHoldMs);
          return;
        }
        if (!mustWait) this.metrics.releasedWithoutWait.value++;
        if (enforcement.map.hasChanges) this.committer.kick();
      }
    }
    this.answer(query, reply, records, upstream);
  }

  onUpstreamFailure(query: Query): void {
    this.answer(query, synthesizeReply(query.message, query.questionEnd, Rcode.ServFail), undefined, undefined);
  }

  private hold(query: Query, answer: Buffer, records: RecordTable, upstream: UpstreamServer, maxHoldMs: number): void {
    query.stage = QueryStage.Held;
    query.heldAnswer = answer;
    query.heldRecords = records;
    query.heldUpstream = upstream;
    query.heldAt = performance.now();
    // The walk stays with the held answer for its log record; the pipeline takes a spare.
    this.records = this.spareRecords.pop() ?? new RecordTable();
    query.onStageDeadline = this.onHoldDeadline;
    this.wheel.schedule(query, maxHoldMs);
    this.committer.wait(query);
  }

  onCommitted(waiters: readonly Query[]): void {
    for (const query of waiters) if (query.stage === QueryStage.Held) this.endHold(query, 'committed');
  }

  onFailed(waiters: readonly Query[]): void {
    for (const query of waiters) if (query.stage === QueryStage.Held) this.endHold(query, 'failed');
  }

  onBatch(size: number, seconds: number): void {
    this.metrics.batchSize.observe(size);
    this.metrics.batchDuration.observe(seconds);
  }

  private endHold(query: Query, outcome: 'committed' | 'failed' | 'timeout'): void {
    const records = query.heldRecords as RecordTable;
    const action = this.enforcement.holdTimeoutAction;
    this.metrics.holdDuration.observe((performance.now() - query.heldAt) / 1000);
    if (outcome === 'timeout') this.metrics.holdTimeouts.labels(action).inc();
    if (outcome === 'failed') this.metrics.holdFailures.labels(action).inc();
    if (outcome !== 'committed' && action === 'servfail') {
      this.answer(query, synthesizeReply(query.message, query.questionEnd, Rcode.ServFail), undefined, undefined);
    } else {
      this.answer(query, query.heldAnswer as Buffer, records, query.heldUpstream);
    }
    query.heldAnswer = query.heldRecords = query.heldUpstream = undefined;
    this.spareRecords.push(records);
  }

  // answer → log
  private answer(query: Query, answer: Buffer, records: RecordTable | undefined, upstream: UpstreamServer | undefined): void {
    query.stage = QueryStage.Done;
    this.wheel.cancel(query);
    if (this.stopped) return;
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

  /**
   * After a drain: queries still in flight are abandoned (their listeners and the log
   * are about to close) and no deadline fires any more.
   */
  stop(): void {
    this.stopped = true;
    this.wheel.clear();
    this.upstream.stop();
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
