/**
 * Turns one window of aggregates into JSON lines. Aggregates are finer than the
 * schema's key (names differing only in case, records in another order), so they are
 * merged by their rendered key, as Felix merges every response of a key into one
 * record (`DNSSpec.Merge`): count summed, Felix's count-weighted mean, max of max,
 * labels intersected, servers unioned. A record of more than one response keeps only
 * the labels all of them share, without `projectcalico.org/*`; so does a server that
 * gave more than one (`IntersectAndFilterLabels`). A window can hold many thousand
 * aggregates, so rendering yields to the event loop every millisecond: DNS goes on.
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
import type { Lines } from './line-queue.js';
import { renderRrsets } from './rrsets.js';

/**
 * Longest stretch of rendering between two turns of the event loop: held answers and
 * queries wait behind it, so it bounds what a flush adds to their latency.
 */
const SLICE_MS = 1;

/** Yields to the event loop once a slice's time is used up. */
class Slicer {
  private sliceStart = performance.now();

  async maybeYield(): Promise<void> {
    if (performance.now() - this.sliceStart < SLICE_MS) return;
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

/** Every aggregate of one rendered key. */
interface Merged {
  client: ClientFields;
  answer: RenderedAnswer;
  count: number;
  latencyMeanNs: number;
  latencyMaxNs: number;
  /** The labels every response's client had; null when labels are off. */
  labels: Labels | null;
  /** By server IP. */
  servers: Map<string, ServerShare>;
}

/** One line (with its newline) per record: the `log` records, then the `unlogged` one if any. */
export async function renderWindow(window: Window, context: RenderContext): Promise<Lines> {
  const merged = new Map<string, Merged>();
  // Clients of a window mostly ask the same names: each answer is rendered once.
  const answers = new Map<number, RenderedAnswer[]>();
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

  const slicer = new Slicer();
  for (const [clientKey, client] of window.clients) {
    for (const [answerKey, first] of client.byKey) {
      for (let aggregate: Aggregate | undefined = first; aggregate !== undefined; aggregate = aggregate.next) {
        await slicer.maybeYield();
        const answer = renderedAnswer(answers, answerKey, aggregate);
        // The client key string is equal exactly when the client fields are.
        const key = `${clientKey}\n${answer.key}`;
        const labels = context.includeLabels ? aggregateLabels(aggregate) : null;
        let into = merged.get(key);
        if (into === undefined) {
          into = { client: clientFields(context.kind, client.ip, client.pod), answer, count: aggregate.count, latencyMeanNs: aggregate.latencyMeanNs, latencyMaxNs: aggregate.latencyMaxNs, labels, servers: new Map() };
          merged.set(key, into);
        } else {
          if (into.labels !== null && labels !== null) into.labels = intersectLabels(into.labels, labels);
          into.latencyMeanNs = mergedMean(into.latencyMeanNs, into.count, aggregate.latencyMeanNs, aggregate.count);
          into.count += aggregate.count;
          into.latencyMaxNs = Math.max(into.latencyMaxNs, aggregate.latencyMaxNs);
        }
        for (const [upstream, count] of upstreamsOf(aggregate)) {
          const share = into.servers.get(upstream.endpoint.host);
          if (share === undefined) into.servers.set(upstream.endpoint.host, { server: serverOf(upstream), count });
          else share.count += count;
        }
      }
    }
  }

  const lines: Lines = { text: [], bytes: [] };
  const add = (line: string): void => {
    lines.text.push(line);
    lines.bytes.push(Buffer.byteLength(line));
  };
  for (const entry of merged.values()) {
    await slicer.maybeYield();
    add(JSON.stringify(logRecord(entry, context)) + '\n');
  }
  if (window.unlogged > 0) {
    const unlogged: UnloggedRecord = { start_time: context.startTime, end_time: context.endTime, type: 'unlogged', count: window.unlogged };
    add(JSON.stringify(unlogged) + '\n');
  }
  return lines;
}

/** The rendering of `aggregate`'s answer: one already made for an equal answer, or a new one. */
function renderedAnswer(answers: Map<number, RenderedAnswer[]>, answerKey: number, aggregate: Aggregate): RenderedAnswer {
  let candidates = answers.get(answerKey);
  for (const candidate of candidates ?? []) {
    if (candidate.aggregate.matches(aggregate.answer, aggregate.questionEnd, aggregate.rcode, aggregate.recordsHash, aggregate.walked)) return candidate;
  }
  const { answer, questionEnd } = aggregate;
  const hasQuestion = questionEnd > HEADER_LENGTH;
  const qname = hasQuestion ? canonicalName(wireName(answer, HEADER_LENGTH, answer.length)?.text ?? '') : '';
  const qclass = qclassText(hasQuestion ? answer.readUInt16BE(questionEnd - 2) : 0);
  const qtype = qtypeText(hasQuestion ? answer.readUInt16BE(questionEnd - 4) : 0);
  const rcode = rcodeName(aggregate.rcode);
  const asSent = renderRrsets(answer, questionEnd, false);
  const key = JSON.stringify([qname, qclass, qtype, rcode, asSent?.map((rrset) => JSON.stringify(rrset)).sort() ?? null]);
  // Only a name with a punycode label reads differently in Unicode.
  const rrsets = key.includes('xn--') ? renderRrsets(answer, questionEnd, true) : asSent;
  const rendered: RenderedAnswer = { aggregate, qname: unicodeName(qname), qclass, qtype, rcode, rrsets, key };
  if (candidates === undefined) answers.set(answerKey, (candidates = []));
  candidates.push(rendered);
  return rendered;
}

/** The record, built as a literal so that its keys are in the schema's order. */
function logRecord(entry: Merged, context: RenderContext): DnsLogRecord {
  const { client, answer, count } = entry;
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
    client_labels: entry.labels === null ? null : sortedLabels(count > 1 ? withoutCalicoLabels(entry.labels) : entry.labels),
    servers: [...entry.servers.values()].map(({ server, count: answered }) => (answered > 1 && server.labels !== undefined ? mergedServer(server) : server)),
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
function aggregateLabels(aggregate: Aggregate): Labels {
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

/** Each upstream that gave the aggregate's answer, with how many times. */
function upstreamsOf(aggregate: Aggregate): [UpstreamServer, number][] {
  const upstreams: [UpstreamServer, number][] = aggregate.upstream === undefined ? [] : [[aggregate.upstream, aggregate.upstreamCount]];
  if (aggregate.otherUpstreams !== undefined) upstreams.push(...aggregate.otherUpstreams);
  return upstreams;
}
