/**
 * Turns one window of aggregates into JSON lines. Aggregates are finer than the
 * schema's key (names differing only in case, records in another order), so they are
 * merged by their rendered key, as Felix merges every response of a key into one
 * record (`DNSSpec.Merge`): count summed, Felix's count-weighted mean, max of max,
 * labels intersected, servers unioned. A record of more than one response keeps only
 * the labels all of them share, without `projectcalico.org/*`; so does a server that
 * gave more than one (`IntersectAndFilterLabels`). A window can hold many thousand
 * aggregates, so rendering yields to the event loop every quarter of a millisecond: DNS
 * goes on.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { HEADER_LENGTH, rcodeName } from '../dns/constants.js';
import type { IdentitySnapshot } from '../identity/snapshot.js';
import type { UpstreamServer } from '../upstream/server.js';
import { mergedMean, type Aggregate, type Window } from './aggregator.js';
import { AggregationKind, clientFields, intersectLabels, serverFields, sortedLabels, withoutCalicoLabels, type ClientFields } from './identity-fields.js';
import { canonicalName, unicodeName, wireName } from './names.js';
import { qclassText, qtypeText } from './rdata.js';
import type { DnsLogRecord, Labels, LogRrset, LogServer, UnloggedRecord } from './record.js';
import { LineChunker, type Lines } from './line-queue.js';
import { renderRrsets } from './rrsets.js';

/**
 * Longest stretch of rendering between two turns of the event loop: held answers and
 * queries wait behind it, so it bounds what a flush adds to their latency. With a flush
 * in a burst of new names, the hold p99 was 2–5 ms with 1 ms slices, 1.0–1.8 ms with
 * 0.5 ms and 0.5–0.75 ms with 0.25 ms; a turn of the event loop costs microseconds.
 */
const SLICE_MS = 0.25;

/** When a slice's time is used up; checked without a promise, since most checks find it is not. */
class Slicer {
  private sliceStart = performance.now();

  get due(): boolean {
    return performance.now() - this.sliceStart >= SLICE_MS;
  }

  async nextSlice(): Promise<void> {
    await nextTurn();
    this.sliceStart = performance.now();
  }
}

export interface RenderContext {
  kind: AggregationKind;
  includeLabels: boolean;
  host: string;
  /** Identities as of the flush: they name the upstream servers that are pods. */
  identities: IdentitySnapshot;
  startTime: string;
  endTime: string;
}

/** The answer's part of the record, rendered once per distinct answer in a window. */
interface RenderedAnswer {
  /** The first aggregate with this answer, to recognise the others by. */
  aggregate: Aggregate;
  qname: string;
  qclass: string;
  qtype: string;
  rcode: string;
  rrsets: LogRrset[] | null;
  /**
   * The answer's part of Felix's key (`DNSMeta`): names as sent, before their punycode
   * is decoded, and rrsets in a fixed order, since Felix's are a set.
   */
  key: string;
}

/** The responses one server gave within a record. */
interface ServerShare {
  server: LogServer;
  count: number;
}

/** Every aggregate of one client with one rendered key. */
interface Merged {
  answer: RenderedAnswer;
  count: number;
  latencyMeanNs: number;
  latencyMaxNs: number;
  /** The labels every response's client had; null when labels are off. */
  labels: Labels | null;
  /** In the order they first answered; a record has few. */
  servers: ServerShare[];
}

/**
 * One line (with its newline) per record: the `log` records, then the `unlogged` one if
 * any. A window can hold tens of thousands of aggregates; rendering one client's at a
 * time, and each distinct answer once, keeps what it allocates small, since what
 * outlives a young-generation collection is collected again, later and at more cost,
 * in front of held answers.
 */
export async function renderWindow(window: Window, context: RenderContext): Promise<Lines> {
  const answers = new RenderedAnswers();
  const servers = new Map<UpstreamServer, LogServer>();
  const serverOf = (upstream: UpstreamServer): LogServer => {
    let server = servers.get(upstream);
    if (server === undefined) {
      const ip = upstream.endpoint.host;
      server = serverFields(ip, context.identities.podByIp(ip), context.includeLabels);
      servers.set(upstream, server);
    }
    return server;
  };
  const shareOf = (into: Merged, upstream: UpstreamServer, count: number): void => {
    const share = into.servers.find((candidate) => candidate.server.ip === upstream.endpoint.host);
    if (share === undefined) into.servers.push({ server: serverOf(upstream), count });
    else share.count += count;
  };
  const labels = new LabelsAsWritten();

  const lines = new LineChunker();
  const slicer = new Slicer();
  for (const client of window.clients.values()) {
    // Aggregates of one client whose rendered answers are equal are one record.
    const merged = new Map<RenderedAnswer, Merged>();
    for (const [answerKey, first] of client.byKey) {
      for (let aggregate: Aggregate | undefined = first; aggregate !== undefined; aggregate = aggregate.next) {
        if (slicer.due) await slicer.nextSlice();
        const answer = answers.of(answerKey, aggregate);
        const aggregateLabels = context.includeLabels ? labelsOf(aggregate) : null;
        let into = merged.get(answer);
        if (into === undefined) {
          into = { answer, count: aggregate.count, latencyMeanNs: aggregate.latencyMeanNs, latencyMaxNs: aggregate.latencyMaxNs, labels: aggregateLabels, servers: [] };
          merged.set(answer, into);
        } else {
          if (into.labels !== null && aggregateLabels !== null) into.labels = intersectLabels(into.labels, aggregateLabels);
          into.latencyMeanNs = mergedMean(into.latencyMeanNs, into.count, aggregate.latencyMeanNs, aggregate.count);
          into.count += aggregate.count;
          into.latencyMaxNs = Math.max(into.latencyMaxNs, aggregate.latencyMaxNs);
        }
        if (aggregate.upstream !== undefined) shareOf(into, aggregate.upstream, aggregate.upstreamCount);
        if (aggregate.otherUpstreams !== undefined) for (const [upstream, count] of aggregate.otherUpstreams) shareOf(into, upstream, count);
      }
    }
    const fields = clientFields(context.kind, client.ip, client.pod);
    for (const entry of merged.values()) {
      if (slicer.due) await slicer.nextSlice();
      lines.add(JSON.stringify(logRecord(fields, entry, labels, context)));
    }
  }
  if (window.unlogged > 0) {
    const unlogged: UnloggedRecord = { start_time: context.startTime, end_time: context.endTime, type: 'unlogged', count: window.unlogged };
    lines.add(JSON.stringify(unlogged));
  }
  return lines.finish();
}

/**
 * Each distinct answer of a window rendered once, however many clients got it; answers
 * whose renderings have equal keys (names differing only in case, records in another
 * order) share one rendering, so that their aggregates merge.
 */
class RenderedAnswers {
  /** By the aggregator's answer key, the renderings of answers with that key. */
  private readonly byAnswerKey = new Map<number, RenderedAnswer[]>();
  private readonly byRenderedKey = new Map<string, RenderedAnswer>();

  of(answerKey: number, aggregate: Aggregate): RenderedAnswer {
    let candidates = this.byAnswerKey.get(answerKey);
    if (candidates !== undefined) {
      for (const candidate of candidates) {
        if (candidate.aggregate.matches(aggregate.answer, aggregate.questionEnd, aggregate.rcode, aggregate.recordsHash, aggregate.walked)) return candidate;
      }
    } else {
      this.byAnswerKey.set(answerKey, (candidates = []));
    }
    let rendered = renderAnswer(aggregate);
    const equal = this.byRenderedKey.get(rendered.key);
    if (equal === undefined) this.byRenderedKey.set(rendered.key, rendered);
    else rendered = equal;
    candidates.push(rendered);
    return rendered;
  }
}

function renderAnswer(aggregate: Aggregate): RenderedAnswer {
  const { answer, questionEnd } = aggregate;
  const hasQuestion = questionEnd > HEADER_LENGTH;
  const qname = hasQuestion ? canonicalName(wireName(answer, HEADER_LENGTH, answer.length)?.text ?? '') : '';
  const qclass = qclassText(hasQuestion ? answer.readUInt16BE(questionEnd - 2) : 0);
  const qtype = qtypeText(hasQuestion ? answer.readUInt16BE(questionEnd - 4) : 0);
  const rcode = rcodeName(aggregate.rcode);
  const asSent = renderRrsets(answer, questionEnd, false);
  const rrsetKeys = asSent?.map((rrset) => JSON.stringify(rrset)) ?? null;
  if (rrsetKeys !== null && rrsetKeys.length > 1) rrsetKeys.sort();
  const key = JSON.stringify([qname, qclass, qtype, rcode, rrsetKeys]);
  // Only a name with a punycode label reads differently in Unicode.
  const rrsets = key.includes('xn--') ? renderRrsets(answer, questionEnd, true) : asSent;
  return { aggregate, qname: unicodeName(qname), qclass, qtype, rcode, rrsets, key };
}

/**
 * `client_labels` as written: sorted, and without Calico's own for a record of more
 * than one response. Labels are mostly a pod's own object, shared by its records, so
 * each is made once per window.
 */
class LabelsAsWritten {
  private readonly single = new Map<Labels, Labels>();
  private readonly merged = new Map<Labels, Labels>();

  of(labels: Labels, count: number): Labels {
    const cache = count > 1 ? this.merged : this.single;
    let written = cache.get(labels);
    if (written === undefined) {
      written = sortedLabels(count > 1 ? withoutCalicoLabels(labels) : labels);
      cache.set(labels, written);
    }
    return written;
  }
}

/** The record, built as a literal so that its keys are in the schema's order. */
function logRecord(client: ClientFields, entry: Merged, labels: LabelsAsWritten, context: RenderContext): DnsLogRecord {
  const { answer, count } = entry;
  const mean = entry.latencyMeanNs;
  const max = entry.latencyMaxNs;
  return {
    start_time: context.startTime,
    end_time: context.endTime,
    type: 'log',
    count,
    client_name: client.name,
    client_name_aggr: client.nameAggr,
    client_namespace: client.namespace,
    client_ip: client.ip,
    client_labels: entry.labels === null ? null : labels.of(entry.labels, count),
    servers: entry.servers.map(({ server, count: answered }) => (answered > 1 && server.labels !== undefined ? mergedServer(server) : server)),
    qname: answer.qname,
    qclass: answer.qclass,
    qtype: answer.qtype,
    rcode: answer.rcode,
    rrsets: answer.rrsets,
    latency: { count, mean, max },
    latency_count: count,
    latency_mean: mean,
    latency_max: max,
    host: context.host,
  };
}

/** The labels common to every pod that got the answer; `{}` for a client that is no pod. */
function labelsOf(aggregate: Aggregate): Labels {
  if (aggregate.pod === undefined) return {};
  let labels: Labels = aggregate.pod.labels;
  if (aggregate.otherPods !== undefined) for (const pod of aggregate.otherPods) labels = intersectLabels(labels, pod.labels);
  return labels;
}

/** A server that gave more than one response of a record: its labels as Felix merges them, omitted when none are left. */
function mergedServer(server: LogServer): LogServer {
  const { labels, ...fields } = server;
  const kept = withoutCalicoLabels(labels ?? {});
  return Object.keys(kept).length > 0 ? { ...fields, labels: kept } : fields;
}
