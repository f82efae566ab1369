/**
 * The path of every query, in order:
 *
 *   query → identity → deny? → cache or upstream → policy match → allowed map → dataplane (hold) → answer → log
 *
 * Listeners hand each message to `onMessage`. A query of an enforced pod for a name no
 * rule allows is answered at once with `--deny-response` (deny). Otherwise the response
 * cache answers it, or the upstream calls back with the reply. Answers that taught the
 * client new IPs wait for the dataplane (group commit) before `answer` sends and logs
 * them; a hold ends when the batch is committed, fails or runs out of time.
 *
 * The pipeline is given its upstream, committer and clock as small interfaces, so that
 * each branch can be driven in-process (test/pipeline/pipeline.test.ts).
 */
import type { QueryMetrics } from './admin/metrics.js';
import type { ResponseCache } from './cache/response-cache.js';
import type { ClientRules, Learner } from './allowmap/learner.js';
import { HEADER_LENGTH, Rcode } from './dns/constants.js';
import { QueryStatus, QueryView, parseQuery, rcodeOf, writeId } from './dns/message.js';
import { RecordTable, readName, walkRecords } from './dns/records.js';
import { denyReply, synthesizeReply } from './dns/responses.js';
import type { CommitListener } from './dataplane/committer.js';
import type { Pod } from './identity/pod.js';
import type { QueryHandler } from './listen/handler.js';
import type { AnswerLog } from './logs/answer-log.js';
import type { LearningRules } from './policy/engine.js';
import { isUnderDomain, normalizeQueryName } from './policy/domain-pattern.js';
import { Query, QueryStage, type Responder, type Transport } from './query.js';
import type { UpstreamListener } from './upstream/pool.js';
import type { UpstreamServer } from './upstream/server.js';
import type { Deadline } from './util/timer-wheel.js';

/** The policy decisions for a client, from the current policy set. */
export interface PolicySource {
  forClient(pod: Pod | undefined): ClientRules;
  /** What answers teach the pod: its enforced rules, plus the staged view's when policies are staged. */
  learningFor(pod: Pod): LearningRules;
}

/** Who asked: the pod with a client IP, from the current identities. */
export interface IdentitySource {
  readonly current: { podByIp(ip: string): Pod | undefined };
}

/** Sends queries upstream; replies and failures come back through UpstreamListener. */
export interface Upstream {
  forward(query: Query): void;
}

/** Commits the allowed map's changes to the dataplane; held answers wait on the next commit. */
export interface HoldCommitter {
  wait(held: HeldAnswer): void;
  /** Commit pending changes soon. */
  kick(): void;
}

/** The time and the deadlines of held answers (a TimerWheel). */
export interface Clock {
  /** Milliseconds, as performance.now(). */
  now(): number;
  schedule(item: Deadline, delayMs: number): void;
  cancel(item: Deadline): void;
  /** Forgets every deadline. */
  clear(): void;
}

export interface EnforcementOptions {
  policy: PolicySource;
  /** Whether the allowed map has changes the dataplane does not hold yet. */
  map: { readonly hasChanges: boolean };
  learner: Learner;
  /** DelayDNSResponse: hold answers until the dataplane has their IPs. */
  holdAnswers: boolean;
  maxHoldMs: number;
  holdTimeoutAction: 'release' | 'servfail';
  /** Rcode for names no rule allows an enforced pod, or undefined to forward them. */
  denyRcode: Rcode.Refused | Rcode.NXDomain | undefined;
  /**
   * Names under these are never denied: search-list expansions and Service names of the
   * cluster pass through dnsgate once it intercepts, and only CoreDNS may answer them.
   */
  clusterDomains: readonly string[];
}

export interface PipelineParts {
  identity: IdentitySource;
  /** `--cache-size` above 0. */
  cache: ResponseCache | undefined;
  log: AnswerLog | undefined;
  metrics: QueryMetrics;
  clock: Clock;
  /** Builds the upstream side, with the pipeline as the listener of its replies. */
  upstream(listener: UpstreamListener): Upstream;
  /** Builds the committer, with the pipeline as the listener of its batches. */
  committer(listener: CommitListener<HeldAnswer>): HoldCommitter;
}

/** An answer waiting for the dataplane, with its walk and origin; its own hold deadline. */
export class HeldAnswer implements Deadline {
  timerSlot = -1;
  timerIndex = -1;

  constructor(
    readonly query: Query,
    readonly answer: Buffer,
    readonly records: RecordTable,
    readonly upstream: UpstreamServer,
    readonly since: number,
    private readonly onTimeout: (held: HeldAnswer) => void,
  ) {}

  onDeadline(): void {
    this.onTimeout(this);
  }
}

export class Pipeline implements QueryHandler, UpstreamListener, CommitListener<HeldAnswer> {
  private readonly upstream: Upstream;
  private readonly committer: HoldCommitter;
  private readonly identity: IdentitySource;
  private readonly cache: ResponseCache | undefined;
  private readonly log: AnswerLog | undefined;
  private readonly metrics: QueryMetrics;
  private readonly clock: Clock;
  private readonly view = new QueryView();
  private records = new RecordTable();
  /** Walk tables lent to held answers come back here. */
  private readonly spareRecords: RecordTable[] = [];
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private stopped = false;
  private readonly onHoldDeadline = (held: HeldAnswer): void => this.endHold(held, 'timeout');

  constructor(
    parts: PipelineParts,
    private readonly enforcement: EnforcementOptions,
  ) {
    this.identity = parts.identity;
    this.cache = parts.cache;
    this.log = parts.log;
    this.metrics = parts.metrics;
    this.clock = parts.clock;
    this.upstream = parts.upstream(this);
    this.committer = parts.committer(this);
    parts.metrics.inFlightSource = () => this.inFlight;
  }

  // query
  onMessage(message: Buffer, transport: Transport, address: string, port: number, responder: Responder): void {
    const view = this.view;
    const status = parseQuery(message, view);
    if (status !== QueryStatus.Ok) {
      this.onMalformed(status, message, transport, address, port, responder);
      return;
    }
    const query = this.accept(message, transport, address, port, responder);
    // deny
    if (this.enforcement.denyRcode !== undefined && query.pod !== undefined && this.denies(query)) {
      this.metrics.denied.inc();
      this.answer(query, denyReply(message, view.questionEnd, this.enforcement.denyRcode), undefined, undefined);
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

  /** A query from what parseQuery read into the view, with its pod (identity); counted in flight. */
  private accept(message: Buffer, transport: Transport, address: string, port: number, responder: Responder): Query {
    const query = new Query(transport, message, this.view, address, port, responder, this.clock.now());
    query.pod = this.identity.current.podByIp(query.clientIp);
    this.inFlight++;
    return query;
  }

  private denies(query: Query): boolean {
    const rules = this.enforcement.policy.forClient(query.pod);
    if (!rules.enforced) return false;
    const name = readName(query.message, HEADER_LENGTH);
    // Compared by labels: `evil\.cluster.local` is the label `evil.cluster` under `local`.
    return name !== undefined && !isUnderDomain(normalizeQueryName(name), this.enforcement.clusterDomains) && rules.allowingRuleRefs(name).length === 0;
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
      const rules = enforcement.policy.learningFor(pod);
      if (rules.learns) {
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
    const held = new HeldAnswer(query, answer, records, upstream, this.clock.now(), this.onHoldDeadline);
    // The walk stays with the held answer for its log record; the pipeline takes a spare.
    this.records = this.spareRecords.pop() ?? new RecordTable();
    this.clock.schedule(held, maxHoldMs);
    this.committer.wait(held);
  }

  onCommitted(waiters: readonly HeldAnswer[]): void {
    for (const held of waiters) if (held.query.stage === QueryStage.Held) this.endHold(held, 'committed');
  }

  onFailed(waiters: readonly HeldAnswer[]): void {
    for (const held of waiters) if (held.query.stage === QueryStage.Held) this.endHold(held, 'failed');
  }

  onBatch(size: number, seconds: number): void {
    this.metrics.batchSize.observe(size);
    this.metrics.batchDuration.observe(seconds);
  }

  private endHold(held: HeldAnswer, outcome: 'committed' | 'failed' | 'timeout'): void {
    const { query, records } = held;
    const action = this.enforcement.holdTimeoutAction;
    this.clock.cancel(held);
    this.metrics.holdDuration.observe((this.clock.now() - held.since) / 1000);
    if (outcome === 'timeout') this.metrics.holdTimeouts.labels(action).inc();
    if (outcome === 'failed') this.metrics.holdFailures.labels(action).inc();
    if (outcome !== 'committed' && action === 'servfail') {
      this.answer(query, synthesizeReply(query.message, query.questionEnd, Rcode.ServFail), undefined, undefined);
    } else {
      this.answer(query, held.answer, records, held.upstream);
    }
    this.spareRecords.push(records);
  }

  // answer → log
  private answer(query: Query, answer: Buffer, records: RecordTable | undefined, upstream: UpstreamServer | undefined): void {
    query.stage = QueryStage.Done;
    this.clock.cancel(query);
    if (this.stopped) return;
    writeId(answer, query.clientId);
    query.responder.deliver(query, answer);
    this.metrics.countAnswer(query.transport, rcodeOf(answer));
    this.log?.record(query, answer, records, upstream, this.clock.now());
    if (--this.inFlight === 0 && this.drained) this.drained();
  }

  // malformed
  private onMalformed(status: QueryStatus, message: Buffer, transport: Transport, address: string, port: number, responder: Responder): void {
    if (status === QueryStatus.TooShort || status === QueryStatus.IsResponse) {
      this.metrics.malformed.labels(transport, 'dropped').inc();
      responder.discard();
      return;
    }
    const rcode = status === QueryStatus.NotQuery ? Rcode.NotImp : Rcode.FormErr;
    this.metrics.malformed.labels(transport, rcode === Rcode.NotImp ? 'notimp' : 'formerr').inc();
    const query = this.accept(message, transport, address, port, responder);
    this.answer(query, synthesizeReply(message, query.questionEnd, rcode), undefined, undefined);
  }

  /**
   * After a drain: queries still in flight are abandoned (their listeners and the log
   * are about to close) and no deadline fires any more.
   */
  stop(): void {
    this.stopped = true;
    this.clock.clear();
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
