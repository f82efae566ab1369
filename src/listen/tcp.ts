/**
 * A TCP listener after RFC 7766: length-prefixed messages, many queries in flight on
 * one connection, answers in whatever order they complete, an idle timeout, and a cap
 * on connections. A length too short for a DNS header closes the connection.
 */
import { Server, Socket, createServer } from 'node:net';
import { FrameDecoder, frame } from '../dns/framing.js';
import { HEADER_LENGTH } from '../dns/constants.js';
import type { Endpoint } from '../net/address.js';
import type { TcpMetrics } from '../admin/metrics.js';
import type { Query, Responder } from '../query.js';
import type { QueryHandler } from './handler.js';

/** Queries in flight per connection before reading pauses. */
const MAX_IN_FLIGHT_PER_CONNECTION = 256;

export interface TcpListenerOptions {
  idleTimeoutMs: number;
  maxConnections: number;
}

class TcpConnection implements Responder {
  private inFlight = 0;
  private readonly decoder = new FrameDecoder();
  private ended = false;
  private draining = false;

  constructor(
    private readonly socket: Socket,
    private readonly handler: QueryHandler,
    private readonly metrics: TcpMetrics,
    idleTimeoutMs: number,
  ) {
    const address = socket.remoteAddress ?? '';
    const port = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    socket.setTimeout(idleTimeoutMs, () => {
      if (this.inFlight === 0) socket.destroy();
    });
    socket.on('data', (chunk) => {
      const ok = this.decoder.push(chunk, HEADER_LENGTH, (message) => {
        // After a discard the rest of the chunk is from a stream no longer trusted.
        if (this.draining || socket.destroyed) return;
        this.inFlight++;
        this.handler.onMessage(message, 'tcp', address, port, this);
      });
      if (!ok) {
        this.metrics.malformed.labels('tcp', 'closed').inc();
        socket.destroy();
        return;
      }
      if (this.inFlight >= MAX_IN_FLIGHT_PER_CONNECTION) socket.pause();
    });
    socket.on('end', () => {
      this.ended = true;
      this.endIfIdle();
    });
    socket.on('error', () => undefined);
  }

  deliver(_query: Query, answer: Buffer): void {
    this.inFlight--;
    if (!this.socket.destroyed) {
      this.socket.write(frame(answer));
      if (this.socket.isPaused() && this.inFlight < MAX_IN_FLIGHT_PER_CONNECTION) this.socket.resume();
    }
    this.endIfIdle();
  }

  /**
   * A message that cannot be answered means the stream cannot be trusted either. The
   * pipeline has counted the message already.
   */
  discard(): void {
    this.inFlight--;
    this.socket.destroy();
  }

  /** Takes no further queries and closes once the ones in flight are answered. */
  drain(): void {
    this.draining = true;
    this.ended = true;
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.ended && this.inFlight === 0 && !this.socket.destroyed) this.socket.end();
  }
}

export class TcpListener {
  private readonly server: Server;
  private readonly connections = new Set<TcpConnection>();

  constructor(
    readonly endpoint: Endpoint,
    private readonly handler: QueryHandler,
    private readonly metrics: TcpMetrics,
    private readonly options: TcpListenerOptions,
  ) {
    // Half-open: a client may send its last query and FIN at once, and still wants the answers.
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.options.maxConnections) {
      this.metrics.rejected.inc();
      socket.destroy();
      return;
    }
    const connection = new TcpConnection(socket, this.handler, this.metrics, this.options.idleTimeoutMs);
    this.connections.add(connection);
    this.metrics.connections.inc();
    socket.on('close', () => {
      this.connections.delete(connection);
      this.metrics.connections.dec();
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.endpoint.host, port: this.endpoint.port, ipv6Only: this.endpoint.family === 6 }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Stops accepting connections; open ones close once their queries are answered. */
  stopAccepting(): void {
    this.server.close();
    for (const connection of this.connections) connection.drain();
  }
}
