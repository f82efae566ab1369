/**
 * Every Prometheus metric dnsgate exports, in one registry. Per-query metrics are hot
 * metrics (typed slots bound once, read at scrape time); the rest are prom-client's own.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { KNOWN_RCODES, rcodeName } from '../dns/constants.js';
import type { Transport } from '../query.js';
import { type CounterSeries, HotCounter, HotHistogram } from './hot-metrics.js';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class Metrics {
  readonly registry = new Registry();

  readonly queries = new HotCounter(this.registry, 'dnsgate_queries_total', 'Answers sent to clients, by client transport and rcode');
  /** Series labelled `upstream` and `transport`. */
  readonly upstreamDuration = new HotHistogram(
    this.registry,
    'dnsgate_upstream_request_duration_seconds',
    'Time from sending a query upstream to its accepted reply',
    LATENCY_BUCKETS,
  );
  private readonly cacheLookups = new HotCounter(this.registry, 'dnsgate_cache_lookups_total', 'Response cache lookups (--cache-size), by result (hit, miss)');
  readonly cacheHits = this.cacheLookups.bind({ result: 'hit' });
  readonly cacheMisses = this.cacheLookups.bind({ result: 'miss' });
  readonly upstreamFailures = new Counter({
    name: 'dnsgate_upstream_failures_total',
    help: 'Upstream attempts that failed, by upstream and reason (timeout, connection, busy)',
    labelNames: ['upstream', 'reason'] as const,
    registers: [this.registry],
  });
  readonly upstreamHealthy = new Gauge({
    name: 'dnsgate_upstream_healthy',
    help: '1 while the upstream is considered healthy, 0 while it is skipped',
    labelNames: ['upstream'] as const,
    registers: [this.registry],
  });
  readonly malformed = new Counter({
    name: 'dnsgate_malformed_packets_total',
    help: 'Malformed client messages, by transport and what was done (formerr, notimp, dropped, closed)',
    labelNames: ['transport', 'action'] as const,
    registers: [this.registry],
  });
  readonly spoofed = new Counter({
    name: 'dnsgate_spoofed_replies_dropped_total',
    help: 'Replies from an upstream dropped because their ID or question matched no query in flight (other sources never reach the connected sockets)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  /** Read at scrape time, so the hot path pays nothing for the gauge. */
  inFlightSource: () => number = () => 0;
  readonly inFlight: Gauge = new Gauge({
    name: 'dnsgate_inflight_queries',
    help: 'Queries received and not yet answered',
    registers: [this.registry],
    collect: (): void => this.inFlight.set(this.inFlightSource()),
  });
  readonly tcpConnections = new Gauge({
    name: 'dnsgate_tcp_connections',
    help: 'Open client TCP connections',
    registers: [this.registry],
  });
  readonly tcpRejected = new Counter({
    name: 'dnsgate_tcp_connections_rejected_total',
    help: 'Client TCP connections closed at once because the listener was at --tcp-max-connections',
    registers: [this.registry],
  });
  readonly reloads = new Counter({
    name: 'dnsgate_reloads_total',
    help: 'Reloads of pods or policies, by what and result (ok, error)',
    labelNames: ['what', 'result'] as const,
    registers: [this.registry],
  });
  readonly logRecordsWritten = new Counter({
    name: 'dnsgate_log_records_written_total',
    help: 'DNS log records written, by sink (file, stdout)',
    labelNames: ['sink'] as const,
    registers: [this.registry],
  });
  readonly logRecordsDropped = new Counter({
    name: 'dnsgate_log_records_dropped_total',
    help: 'DNS log records not written, by sink and reason (queue_full: the sink fell behind, write_error: e.g. disk full or read-only, shutdown: still queued when the sink closed)',
    labelNames: ['sink', 'reason'] as const,
    registers: [this.registry],
  });

  /** Read at scrape time from the allowed map. */
  allowedEntriesSource: () => number = () => 0;
  readonly allowedEntries: Gauge = new Gauge({
    name: 'dnsgate_allowed_entries',
    help: 'Entries in the allowed-IP map',
    registers: [this.registry],
    collect: (): void => this.allowedEntries.set(this.allowedEntriesSource()),
  });
  readonly allowedLearnt = new Counter({
    name: 'dnsgate_allowed_learnt_total',
    help: 'Entries added to the allowed-IP map',
    registers: [this.registry],
  });
  readonly allowedExpired = new Counter({
    name: 'dnsgate_allowed_expired_total',
    help: 'Entries that left the allowed-IP map at their expiry',
    registers: [this.registry],
  });
  readonly allowedEvicted = new Counter({
    name: 'dnsgate_allowed_evicted_total',
    help: 'Entries evicted by a limit (per-name-limit: --max-ips-per-name, entry-cap: --max-entries)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly holdDuration = new HotHistogram(
    this.registry,
    'dnsgate_hold_duration_seconds',
    'Time answers were held for the dataplane (DelayDNSResponse)',
    [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 3],
  ).bind({});
  readonly holdTimeouts = new Counter({
    name: 'dnsgate_hold_timeouts_total',
    help: 'Held answers whose dataplane update did not complete in --max-hold, by what was done (release, servfail)',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly holdFailures = new Counter({
    name: 'dnsgate_hold_failures_total',
    help: 'Held answers whose dataplane batch failed, by what was done (release, servfail)',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly releasedWithoutWait = new HotCounter(
    this.registry,
    'dnsgate_answers_released_without_wait_total',
    'Answers to enforced pods that taught nothing new and went out with no hold',
  ).bind({});
  readonly batchSize = new Histogram({
    name: 'dnsgate_dataplane_batch_size',
    help: 'Changes per dataplane batch',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
    registers: [this.registry],
  });
  readonly batchDuration = new Histogram({
    name: 'dnsgate_dataplane_batch_duration_seconds',
    help: 'Time from handing a batch to the dataplane to its acknowledgement',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly nftablesErrors = new Counter({
    name: 'dnsgate_nftables_errors_total',
    help: 'nft transactions that failed, by what they carried (start: the table at start-up, batch: map changes, resync: the whole table, policy: a policy or pod change)',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly nftablesRestarts = new Counter({
    name: 'dnsgate_nftables_restarts_total',
    help: 'Times the nft process exited and was started again (each followed by a resync)',
    registers: [this.registry],
  });
  readonly nftablesSwapDuration = new Histogram({
    name: 'dnsgate_nftables_swap_duration_seconds',
    help: 'Time to compile and atomically replace the whole nftables table, by why (start, policy, resync: with every learnt element)',
    labelNames: ['reason'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  readonly nftablesElements = new Counter({
    name: 'dnsgate_nftables_elements_programmed_total',
    help: 'Learnt-set elements written or removed by acknowledged nft transactions',
    registers: [this.registry],
  });
  readonly denied = new Counter({
    name: 'dnsgate_denied_queries_total',
    help: 'Queries of enforced pods for names no policy allows, answered by --deny-response',
    registers: [this.registry],
  });

  private readonly answersByTransport: Record<Transport, CounterSeries[]>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dnsgate_process_' });
    const bind = (transport: Transport): CounterSeries[] => {
      const bound: CounterSeries[] = [];
      for (const rcode of KNOWN_RCODES) bound[rcode] = this.queries.bind({ transport, rcode: rcodeName(rcode) });
      return bound;
    };
    this.answersByTransport = { udp: bind('udp'), tcp: bind('tcp') };
  }

  countAnswer(transport: Transport, rcode: number): void {
    (this.answersByTransport[transport][rcode] ??= this.queries.bind({ transport, rcode: rcodeName(rcode) })).value++;
  }
}
