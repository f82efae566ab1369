/**
 * Chooses an upstream for each query, retries on the next one when an attempt times
 * out or fails, and answers SERVFAIL (through the listener) when the query's time is
 * up. Upstreams that fail MAX_FAILS attempts in a row are skipped, and probed every
 * second (probe.ts) until they answer again.
 */
import type { Endpoint } from '../net/address.js';
import type { UpstreamMetrics } from '../admin/metrics.js';
import { QueryStage, type Query } from '../query.js';
import { probeUpstream } from './probe.js';
import { RandomIds } from '../util/random.js';
import type { TimerWheel } from '../util/timer-wheel.js';
import type { DropReason, ExchangeEvents } from './exchange.js';
import { UpstreamServer } from './server.js';
import { TcpExchange } from './tcp.js';
import { UdpExchange } from './udp.js';
import type { SourcePorts } from './source-ports.js';
import { randomizeCase, restoreCase } from './case.js';

export interface UpstreamListener {
  onUpstreamReply(query: Query, reply: Buffer, upstream: UpstreamServer): void;
  /** No upstream answered in time. */
  onUpstreamFailure(query: Query): void;
}

export interface UpstreamPoolOptions {
  /** Wait for one attempt before trying the next upstream. */
  upstreamTimeoutMs: number;
  /** Total time for a query before SERVFAIL. */
  queryTimeoutMs: number;
  /** 0x20: send question names in random case and require replies to echo it. */
  caseRandomization: boolean;
  /** Source ports of upstream traffic, when not the kernel's (see source-ports.ts). */
  sourcePorts?: SourcePorts;
}

const PROBE_INTERVAL_MS = 1000;

interface ServerLink {
  server: UpstreamServer;
  udp: UdpExchange;
  tcp: TcpExchange;
  probe: NodeJS.Timeout | undefined;
  udpDuration: { observe(value: number): void };
  tcpDuration: { observe(value: number): void };
}

export class UpstreamPool implements ExchangeEvents {
  readonly servers: readonly UpstreamServer[];
  private readonly links: ServerLink[];
  private readonly ids = new RandomIds();
  private stopped = false;
  private readonly onAttemptDeadline = (query: Query): void => this.retry(query, 'timeout');

  constructor(
    endpoints: readonly Endpoint[],
    private readonly options: UpstreamPoolOptions,
    private readonly listener: UpstreamListener,
    private readonly metrics: UpstreamMetrics,
    private readonly wheel: TimerWheel,
  ) {
    this.servers = endpoints.map((endpoint, index) => new UpstreamServer(index, endpoint));
    this.links = this.servers.map((server) => ({
      server,
      udp: new UdpExchange(server, this.ids, this, options.upstreamTimeoutMs, undefined, options.sourcePorts),
      tcp: new TcpExchange(server, this.ids, this, options.sourcePorts),
      probe: undefined,
      udpDuration: metrics.duration.bind({ upstream: server.label, transport: 'udp' }),
      tcpDuration: metrics.duration.bind({ upstream: server.label, transport: 'tcp' }),
    }));
    for (const server of this.servers) metrics.healthy.labels(server.label).set(1);
  }

  /** Opens the UDP sockets; an upstream none of them can reach (no route) starts unhealthy. */
  async start(): Promise<void> {
    await Promise.all(
      this.links.map(async (link) => {
        if (await link.udp.start()) return;
        link.server.recordUnreachable(`unreachable: ${link.udp.lastError ?? 'no socket connected'}`);
        this.markUnhealthy(link);
      }),
    );
  }

  /** Undefined while some upstream is healthy, else why none is (for /readyz). */
  unhealthyReason(): string | undefined {
    if (this.servers.some((server) => server.healthy)) return undefined;
    return `no upstream is healthy: ${this.servers.map((server) => `${server.label} (${server.lastFailure ?? 'failing'})`).join(', ')}`;
  }

  /** Closes the sockets; queries still waiting on an upstream are abandoned. */
  stop(): void {
    this.stopped = true;
    for (const link of this.links) {
      if (link.probe) clearInterval(link.probe);
      link.udp.close();
      link.tcp.close();
    }
  }

  /** Sends a query upstream over the transport it arrived on. */
  forward(query: Query): void {
    query.deadline = query.receivedAt + this.options.queryTimeoutMs;
    query.onStageDeadline = this.onAttemptDeadline;
    this.attempt(query);
  }

  private attempt(query: Query): void {
    if (this.stopped) return;
    const link = this.choose(query);
    const remaining = query.deadline - performance.now();
    if (link === undefined || remaining <= 0) {
      query.upstreamIndex = -1;
      restoreCase(query);
      this.listener.onUpstreamFailure(query);
      return;
    }
    if (this.options.caseRandomization) randomizeCase(query, this.ids);
    query.triedUpstreams |= 1 << link.server.index;
    query.upstreamIndex = link.server.index;
    query.sentAt = performance.now();
    this.wheel.schedule(query, Math.min(this.options.upstreamTimeoutMs, remaining));
    if (query.transport === 'tcp') {
      link.tcp.send(query);
    } else if (link.udp.full) {
      this.retry(query, 'busy');
    } else if (!link.udp.send(query)) {
      this.retry(query, 'unreachable');
    }
  }

  /** The first healthy upstream not yet tried; failing that, the first untried one. */
  private choose(query: Query): ServerLink | undefined {
    let fallback: ServerLink | undefined;
    for (const link of this.links) {
      if (query.triedUpstreams & (1 << link.server.index)) continue;
      if (link.server.healthy) return link;
      fallback ??= link;
    }
    return fallback;
  }

  private release(query: Query): void {
    const link = this.links[query.upstreamIndex];
    if (link === undefined) return;
    if (query.transport === 'tcp') link.tcp.release(query);
    else link.udp.release(query);
  }

  private retry(query: Query, reason: string): void {
    if (query.stage !== QueryStage.Upstream) return;
    this.wheel.cancel(query);
    this.release(query);
    const link = this.links[query.upstreamIndex];
    if (link !== undefined) {
      this.metrics.failures.labels(link.server.label, reason).inc();
      const detail = reason === 'unreachable' ? `unreachable: ${link.udp.lastError ?? 'no socket connected'}` : reason;
      if (link.server.recordFailure(detail)) this.markUnhealthy(link);
    }
    this.attempt(query);
  }

  onReply(query: Query, reply: Buffer): void {
    const link = this.links[query.upstreamIndex];
    this.wheel.cancel(query);
    if (link.server.recordSuccess()) this.markHealthy(link);
    query.repliedAt = performance.now();
    restoreCase(query, reply);
    (query.transport === 'tcp' ? link.tcpDuration : link.udpDuration).observe((query.repliedAt - query.sentAt) / 1000);
    this.listener.onUpstreamReply(query, reply, link.server);
  }

  onAttemptFailed(query: Query, reason: string): void {
    this.retry(query, reason);
  }

  onDropped(reason: DropReason): void {
    this.metrics.spoofed.labels(reason).inc();
  }

  private markUnhealthy(link: ServerLink): void {
    if (link.probe) return;
    this.metrics.healthy.labels(link.server.label).set(0);
    link.probe = setInterval(() => void this.probe(link), PROBE_INTERVAL_MS);
    link.probe.unref();
  }

  private markHealthy(link: ServerLink): void {
    this.metrics.healthy.labels(link.server.label).set(1);
    if (link.probe) clearInterval(link.probe);
    link.probe = undefined;
  }

  private async probe(link: ServerLink): Promise<void> {
    // The route may be back: sockets that could not connect try again.
    if (!link.udp.reachable) await link.udp.reconnect();
    const answered = await probeUpstream(link.server.endpoint, this.options.upstreamTimeoutMs);
    if (answered && !this.stopped && link.server.recordSuccess()) this.markHealthy(link);
  }
}
