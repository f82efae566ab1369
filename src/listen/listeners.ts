/**
 * The DNS listeners of `serve`: a UDP and a TCP listener on one port for each --listen
 * address. With --intercept, a port still held (by the predecessor during an upgrade)
 * is no error: the listeners take a free port of the same address, and interception
 * sends the DNS there once this process is ready.
 */
import type { TcpMetrics } from '../admin/metrics.js';
import type { Config } from '../config/options.js';
import type { Endpoint } from '../net/address.js';
import { bindError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { QueryHandler } from './handler.js';
import { TcpListener } from './tcp.js';
import { UdpListener } from './udp.js';

export type ListenConfig = Pick<Config, 'listen' | 'tcpIdleTimeout' | 'tcpMaxConnections' | 'intercept'>;

/** A listener and the port it took, which differs from its endpoint's when that was taken (a predecessor holds it during a handover). */
export interface BoundListener {
  endpoint: Endpoint;
  port: number;
}

export class Listeners {
  private readonly udp: UdpListener[] = [];
  private readonly tcp: TcpListener[] = [];

  constructor(
    private readonly config: ListenConfig,
    private readonly handler: QueryHandler,
    private readonly metrics: TcpMetrics,
    private readonly logger: Logger,
  ) {}

  /** Binds every --listen address; one that cannot be bound throws ConfigError. */
  async bind(): Promise<void> {
    for (const endpoint of this.config.listen) await this.bindEndpoint(endpoint);
  }

  private async bindEndpoint(endpoint: Endpoint): Promise<void> {
    const yieldsTakenPort = this.config.intercept.length > 0;
    const options = { idleTimeoutMs: this.config.tcpIdleTimeout, maxConnections: this.config.tcpMaxConnections };
    for (let port = endpoint.port; ; port = 0) {
      const udp = new UdpListener({ ...endpoint, port }, this.handler);
      try {
        await udp.listen();
      } catch (error) {
        udp.close();
        if (yieldsTakenPort && port !== 0 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw bindError('--listen', endpoint, error);
      }
      const tcp = new TcpListener({ ...endpoint, port: udp.port }, this.handler, this.metrics, options);
      try {
        await tcp.listen();
      } catch (error) {
        udp.close();
        // The free UDP port may be taken for TCP: try another.
        if (yieldsTakenPort && (error as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw bindError('--listen', endpoint, error);
      }
      if (port !== endpoint.port) this.logger.info(`--listen ${endpoint.host}:${endpoint.port} is taken (a predecessor still running?): listening on port ${udp.port}, where interception sends DNS`);
      this.udp.push(udp);
      this.tcp.push(tcp);
      return;
    }
  }

  /** Where the UDP and the TCP listeners took their ports, for interception. */
  get bound(): { udp: BoundListener[]; tcp: BoundListener[] } {
    const ports = (listeners: readonly (UdpListener | TcpListener)[]) => listeners.map((listener) => ({ endpoint: listener.endpoint, port: listener.port }));
    return { udp: ports(this.udp), tcp: ports(this.tcp) };
  }

  /** `host:port` of each address, for the start-up line. */
  describe(): string {
    return this.udp.map((listener) => `${listener.endpoint.host}:${listener.port}`).join(', ');
  }

  /** No new query or connection; open TCP connections close once their queries are answered. */
  stopAccepting(): void {
    for (const listener of this.udp) listener.stopAccepting();
    for (const listener of this.tcp) listener.stopAccepting();
  }

  /** Closes the UDP sockets, once the answers in flight went out. */
  close(): void {
    for (const listener of this.udp) listener.close();
  }
}
