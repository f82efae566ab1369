/**
 * The composition root of `dnsgate serve`: builds every stage from the configuration,
 * starts them in dependency order, reloads on SIGHUP and stops cleanly on SIGTERM.
 */
import { AdminServer } from './admin/server.js';
import { Metrics } from './admin/metrics.js';
import { Readiness } from './admin/readiness.js';
import { ConfigError, type Config } from './config/load.js';
import { IdentityStore } from './identity/store.js';
import { TcpListener } from './listen/tcp.js';
import { UdpListener } from './listen/udp.js';
import type { AnswerLog } from './logs/answer-log.js';
import { createDnsLog } from './logs/dns-log.js';
import type { Endpoint } from './net/address.js';
import { Pipeline } from './pipeline.js';
import { formatUpstreamSpec } from './upstream/spec.js';
import { SourceError } from './yaml/documents.js';

/** How long SIGTERM waits for queries in flight. */
const DRAIN_TIMEOUT_MS = 5000;

export interface AppLogger {
  info(message: string): void;
  error(message: string): void;
}

export const stderrLogger: AppLogger = {
  info: (message) => process.stderr.write(`dnsgate: ${message}\n`),
  error: (message) => process.stderr.write(`dnsgate: ${message}\n`),
};

export class App {
  readonly metrics = new Metrics();
  readonly readiness = new Readiness();
  readonly identity: IdentityStore;
  pipeline!: Pipeline;
  admin: AdminServer | undefined;
  readonly udpListeners: UdpListener[] = [];
  readonly tcpListeners: TcpListener[] = [];
  private log: AnswerLog | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly config: Config,
    private readonly logger: AppLogger = stderrLogger,
  ) {
    this.identity = new IdentityStore(config.pods);
    this.readiness.require('listeners', 'listeners are not bound yet');
    this.readiness.require('identities', 'pods are not loaded yet');
  }

  /** Starts serving. Throws ConfigError for problems the user must fix (exit 2). */
  async start(): Promise<void> {
    const config = this.config;
    try {
      await this.identity.load();
    } catch (error) {
      if (error instanceof SourceError) throw new ConfigError(error.message);
      throw error;
    }
    this.readiness.satisfy('identities');

    this.log = createDnsLog(config, this.identity, this.metrics, this.logger);
    this.pipeline = new Pipeline(
      { upstreams: resolveUpstreams(config), upstreamTimeoutMs: config.upstreamTimeout, queryTimeoutMs: config.queryTimeout },
      this.identity,
      this.log,
      this.metrics,
    );
    await this.pipeline.upstream.start();

    if (config.admin) {
      this.admin = new AdminServer(config.admin, this.metrics, this.readiness);
      await bindOrExplain('--admin', config.admin, () => this.admin!.listen());
    }
    for (const endpoint of config.listen) {
      const udp = new UdpListener(endpoint, this.pipeline);
      const tcp = new TcpListener(endpoint, this.pipeline, this.metrics, {
        idleTimeoutMs: config.tcpIdleTimeout,
        maxConnections: config.tcpMaxConnections,
      });
      await bindOrExplain('--listen', endpoint, () => udp.listen());
      await bindOrExplain('--listen', endpoint, () => tcp.listen());
      this.udpListeners.push(udp);
      this.tcpListeners.push(tcp);
    }
    this.readiness.satisfy('listeners');
    const listening = this.udpListeners.map((l) => `${l.endpoint.host}:${l.port}`).join(', ');
    this.logger.info(`serving DNS on ${listening} (udp+tcp), upstream ${config.upstream.map(formatUpstreamSpec).join(', ')}`);
  }

  /** SIGHUP: reloads pods; on error the previous set stays and the reason is logged. */
  async reload(): Promise<void> {
    try {
      await this.identity.load();
      this.metrics.identityReloads.labels('pods', 'ok').inc();
    } catch (error) {
      this.metrics.identityReloads.labels('pods', 'error').inc();
      this.logger.error(`reload of pods kept the previous set: ${(error as Error).message}`);
    }
  }

  /** Stops taking queries, answers those in flight, flushes logs and closes everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const listener of this.udpListeners) listener.stopAccepting();
      for (const listener of this.tcpListeners) listener.stopAccepting();
      await this.pipeline?.drain(DRAIN_TIMEOUT_MS);
      await this.log?.close();
      for (const listener of this.udpListeners) listener.close();
      this.pipeline?.upstream.stop();
      await this.admin?.close();
    })();
    return this.stopping;
  }
}

function resolveUpstreams(config: Config): Endpoint[] {
  return config.upstream.map((spec) => {
    if (spec.kind === 'address') return spec.endpoint;
    throw new ConfigError(`--upstream ${formatUpstreamSpec(spec)}: k8s-service upstreams need --kubernetes`);
  });
}

async function bindOrExplain(flag: string, endpoint: Endpoint, bind: () => Promise<void>): Promise<void> {
  try {
    await bind();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(`${flag} ${endpoint.host}:${endpoint.port}: cannot bind (${code})`);
  }
}
