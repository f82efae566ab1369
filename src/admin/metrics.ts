/**
 * Every Prometheus metric dnsgate exports, in one registry, in groups: each stage is
 * given the group it updates (the pipeline QueryMetrics, the upstream pool
 * UpstreamMetrics, …), not the whole set. Per-query metrics are hot metrics (typed slots
 * bound once, read at scrape time); the rest are prom-client's own.
 */
import { Counter, Gauge, Histogram, Registry } from './prom.js';
import { KNOWN_RCODES, rcodeName } from '../dns/constants.js';
import type { Transport } from '../query.js';
import { type CounterSeries, HotCounter, HotHistogram } from './hot-metrics.js';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The pipeline's: answers, queries in flight, malformed messages, deny, cache, holds and batches. */
export class QueryMetrics {
  readonly queries: HotCounter;
  readonly malformed: Counter<'transport' | 'action'>;
  readonly denied: Counter;
  readonly cacheHits: CounterSeries;
  readonly cacheMisses: CounterSeries;
  readonly releasedWithoutWait: CounterSeries;
  readonly holdDuration: { observe(value: number): void };
  readonly holdTimeouts: Counter<'action'>;
  readonly holdFailures: Counter<'action'>;
  readonly batchSize: Histogram;
  readonly batchDuration: Histogram;
  /** Read at scrape time, so the hot path pays nothing for the gauge. */
  inFlightSource: () => number = () => 0;
  private readonly answersByTransport: Record<Transport, CounterSeries[]>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.queries = new HotCounter(registry, 'dnsgate_queries_total', 'Answers sent to clients, by client transport and rcode');
    const inFlight: Gauge = new Gauge({
      name: 'dnsgate_inflight_queries',
      help: 'Queries received and not yet answered',
      registers,
      collect: (): void => inFlight.set(this.inFlightSource()),
    });
    this.malformed = new Counter({
      name: 'dnsgate_malformed_packets_total',
      help: 'Malformed client messages, by transport and what was done (formerr, notimp, dropped, closed)',
      labelNames: ['transport', 'action'] as const,
      registers,
    });
    this.denied = new Counter({
      name: 'dnsgate_denied_queries_total',
      help: 'Queries of enforced pods for names no policy allows, answered by --deny-response',
      registers,
    });
    const cacheLookups = new HotCounter(registry, 'dnsgate_cache_lookups_total', 'Response cache lookups (--cache-size), by result (hit, miss)');
    this.cacheHits = cacheLookups.bind({ result: 'hit' });
    this.cacheMisses = cacheLookups.bind({ result: 'miss' });
    this.releasedWithoutWait = new HotCounter(
      registry,
      'dnsgate_answers_released_without_wait_total',
      'Answers to enforced pods that taught nothing new and went out with no hold',
    ).bind({});
    this.holdDuration = new HotHistogram(
      registry,
      'dnsgate_hold_duration_seconds',
      'Time answers were held for the dataplane (DelayDNSResponse)',
      [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 3],
    ).bind({});
    this.holdTimeouts = new Counter({
      name: 'dnsgate_hold_timeouts_total',
      help: 'Held answers whose dataplane update did not complete in --max-hold, by what was done (release, servfail)',
      labelNames: ['action'] as const,
      registers,
    });
    this.holdFailures = new Counter({
      name: 'dnsgate_hold_failures_total',
      help: 'Held answers whose dataplane batch failed, by what was done (release, servfail)',
      labelNames: ['action'] as const,
      registers,
    });
    this.batchSize = new Histogram({
      name: 'dnsgate_dataplane_batch_size',
      help: 'Changes per dataplane batch',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      registers,
    });
    this.batchDuration = new Histogram({
      name: 'dnsgate_dataplane_batch_duration_seconds',
      help: 'Time from handing a batch to the dataplane to its acknowledgement',
      buckets: LATENCY_BUCKETS,
      registers,
    });
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

/** The TCP listeners': connections, and messages that closed one. */
export class TcpMetrics {
  readonly connections: Gauge;
  readonly rejected: Counter;

  constructor(
    registry: Registry,
    /** The pipeline's counter: a TCP listener counts the messages it closes a connection for. */
    readonly malformed: Counter<'transport' | 'action'>,
  ) {
    this.connections = new Gauge({ name: 'dnsgate_tcp_connections', help: 'Open client TCP connections', registers: [registry] });
    this.rejected = new Counter({
      name: 'dnsgate_tcp_connections_rejected_total',
      help: 'Client TCP connections closed at once because the listener was at --tcp-max-connections',
      registers: [registry],
    });
  }
}

/** The upstream pool's. */
export class UpstreamMetrics {
  /** Series labelled `upstream` and `transport`. */
  readonly duration: HotHistogram;
  readonly failures: Counter<'upstream' | 'reason'>;
  readonly healthy: Gauge<'upstream'>;
  readonly spoofed: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.duration = new HotHistogram(registry, 'dnsgate_upstream_request_duration_seconds', 'Time from sending a query upstream to its accepted reply', LATENCY_BUCKETS);
    this.failures = new Counter({
      name: 'dnsgate_upstream_failures_total',
      help: 'Upstream attempts that failed, by upstream and reason (timeout, connection, busy)',
      labelNames: ['upstream', 'reason'] as const,
      registers,
    });
    this.healthy = new Gauge({
      name: 'dnsgate_upstream_healthy',
      help: '1 while the upstream is considered healthy, 0 while it is skipped',
      labelNames: ['upstream'] as const,
      registers,
    });
    this.spoofed = new Counter({
      name: 'dnsgate_spoofed_replies_dropped_total',
      help: 'Replies from an upstream dropped because their ID or question matched no query in flight (other sources never reach the connected sockets)',
      labelNames: ['reason'] as const,
      registers,
    });
  }
}

/** The DNS log sinks'. */
export class LogMetrics {
  readonly recordsWritten: Counter<'sink'>;
  readonly recordsDropped: Counter<'sink' | 'reason'>;

  constructor(registry: Registry) {
    this.recordsWritten = new Counter({
      name: 'dnsgate_log_records_written_total',
      help: 'DNS log records written, by sink (file, stdout)',
      labelNames: ['sink'] as const,
      registers: [registry],
    });
    this.recordsDropped = new Counter({
      name: 'dnsgate_log_records_dropped_total',
      help: 'DNS log records not written, by sink and reason (queue_full: the sink fell behind, write_error: e.g. disk full or read-only, shutdown: still queued when the sink closed)',
      labelNames: ['sink', 'reason'] as const,
      registers: [registry],
    });
  }
}

/** The allowed-IP map's. */
export class AllowedMapMetrics {
  readonly learnt: Counter;
  readonly expired: Counter;
  readonly evicted: Counter<'reason'>;
  readonly learningDropped: Counter<'what'>;
  /** Read at scrape time from the allowed map. */
  entriesSource: () => number = () => 0;
  /** Read at scrape time from the retained mappings. */
  retainedNamesSource: () => number = () => 0;

  constructor(registry: Registry) {
    const registers = [registry];
    const entries: Gauge = new Gauge({
      name: 'dnsgate_allowed_entries',
      help: 'Entries in the allowed-IP map',
      registers,
      collect: (): void => entries.set(this.entriesSource()),
    });
    this.learnt = new Counter({ name: 'dnsgate_allowed_learnt_total', help: 'Entries added to the allowed-IP map', registers });
    this.expired = new Counter({ name: 'dnsgate_allowed_expired_total', help: 'Entries that left the allowed-IP map at their expiry', registers });
    this.evicted = new Counter({
      name: 'dnsgate_allowed_evicted_total',
      help: 'Entries evicted by a limit (per-name-limit: --max-ips-per-name, entry-cap: --max-entries)',
      labelNames: ['reason'] as const,
      registers,
    });
    const retainedNames: Gauge = new Gauge({
      name: 'dnsgate_retained_names',
      help: 'Answered names kept per pod for policies applied later (--max-names-per-pod, --max-entries)',
      registers,
      collect: (): void => retainedNames.set(this.retainedNamesSource()),
    });
    this.learningDropped = new Counter({
      name: 'dnsgate_learning_dropped_total',
      help: 'What a learning limit dropped: client-names (--max-names-per-pod), total-names (--max-entries), name-addresses (--max-ips-per-name), name-links (CNAME links per name), entry-names (--max-names-per-entry)',
      labelNames: ['what'] as const,
      registers,
    });
  }
}

/** The nftables dataplane's; `operation` is what a transaction carried. */
export class NftablesMetrics {
  readonly errors: Counter<'operation'>;
  readonly restarts: Counter;
  readonly swapDuration: Histogram<'operation'>;
  readonly elements: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.errors = new Counter({
      name: 'dnsgate_nftables_errors_total',
      help: 'nft transactions that failed, by what they carried (start: the table at start-up, batch: map changes, resync: the whole table, policy: a policy or pod change)',
      labelNames: ['operation'] as const,
      registers,
    });
    this.restarts = new Counter({
      name: 'dnsgate_nftables_restarts_total',
      help: 'Times the nft process exited and was started again (each followed by a resync)',
      registers,
    });
    this.swapDuration = new Histogram({
      name: 'dnsgate_nftables_swap_duration_seconds',
      help: 'Time to compile and atomically replace the whole nftables table, by operation (start, policy, resync: with every learnt element)',
      labelNames: ['operation'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.elements = new Counter({
      name: 'dnsgate_nftables_elements_programmed_total',
      help: 'Learnt-set elements written or removed by acknowledged nft transactions',
      registers,
    });
  }
}

/** Interception's: who owns it, refreshes refused, take-overs from a running predecessor. */
export class InterceptMetrics {
  readonly handovers: Counter;
  readonly handoverDuration: Histogram;
  readonly leaseFailures: Counter;
  readonly owner: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.handovers = new Counter({ name: 'dnsgate_handovers_total', help: 'Take-overs of interception from a predecessor that was still running', registers });
    this.handoverDuration = new Histogram({
      name: 'dnsgate_handover_duration_seconds',
      help: 'From the start of a successor to its take-over of interception from a running predecessor',
      buckets: [0.5, 1, 2, 5, 10, 20, 60, 120],
      registers,
    });
    this.leaseFailures = new Counter({ name: 'dnsgate_intercept_lease_failures_total', help: 'Refreshes of the interception lease that nft refused', registers });
    this.owner = new Gauge({ name: 'dnsgate_intercepting', help: '1 while this process owns interception', registers });
  }
}

/**
 * The process's own CPU and memory, read at scrape time. prom-client's default metrics
 * are not used: their GC observer and event-loop-delay monitor run on every collection
 * and every 10 ms whether anyone scrapes or not, and load the OpenTelemetry API, about
 * 1 MB of an idle node agent's RSS.
 */
function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  const cpu: Counter<'mode'> = new Counter({
    name: 'dnsgate_process_cpu_seconds_total',
    help: 'CPU time of the process, by mode (user, system)',
    labelNames: ['mode'] as const,
    registers,
    collect(): void {
      const usage = process.cpuUsage();
      cpu.reset();
      cpu.inc({ mode: 'user' }, usage.user / 1e6);
      cpu.inc({ mode: 'system' }, usage.system / 1e6);
    },
  });
  const memory: Gauge<'kind'> = new Gauge({
    name: 'dnsgate_process_memory_bytes',
    help: 'Memory of the process, by kind (resident, heap_total, heap_used, external)',
    labelNames: ['kind'] as const,
    registers,
    collect(): void {
      const usage = process.memoryUsage();
      memory.set({ kind: 'resident' }, usage.rss);
      memory.set({ kind: 'heap_total' }, usage.heapTotal);
      memory.set({ kind: 'heap_used' }, usage.heapUsed);
      memory.set({ kind: 'external' }, usage.external);
    },
  });
  new Gauge({
    name: 'dnsgate_process_start_time_seconds',
    help: 'When the process started, in seconds since the Unix epoch',
    registers,
  }).set(Math.round(performance.timeOrigin / 1000));
}

/** Every group, in one registry (the admin server's `/metrics`). */
export class Metrics {
  readonly registry = new Registry();
  readonly query = new QueryMetrics(this.registry);
  readonly tcp = new TcpMetrics(this.registry, this.query.malformed);
  readonly upstream = new UpstreamMetrics(this.registry);
  readonly log = new LogMetrics(this.registry);
  readonly allowed = new AllowedMapMetrics(this.registry);
  readonly nftables = new NftablesMetrics(this.registry);
  readonly intercept = new InterceptMetrics(this.registry);
  readonly reloads = new Counter({
    name: 'dnsgate_reloads_total',
    help: 'Reloads of pods or policies, by what and result (ok, error)',
    labelNames: ['what', 'result'] as const,
    registers: [this.registry],
  });

  constructor() {
    registerProcessMetrics(this.registry);
  }
}
