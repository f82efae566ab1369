/**
 * Queries over UDP to one upstream through a pool of sockets, each bound to a port the
 * kernel draws at random from its ephemeral range (Linux randomises port 0 binds) and
 * connected to the upstream, so the kernel discards datagrams from any other address
 * or port before they reach dnsgate. Each query leaves from a socket picked at random,
 * under a random 16-bit ID; a reply is accepted only on that socket, with that ID and
 * the same question. One socket at a time is replaced by a fresh one, so every port
 * lives at most PORT_LIFETIME_MS: a forger who learnt the pool's ports (through ICMP
 * side channels, say) has little time to use them.
 *
 * A socket that cannot connect (no route to the upstream) is left out of the pool;
 * with none left, `send` reports the attempt failed, and `reconnect` tries again.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readId, writeId } from '../dns/message.js';
import { HEADER_LENGTH } from '../dns/constants.js';
import type { Query } from '../query.js';
import type { RandomIds } from '../util/random.js';
import { errorText } from '../util/errors.js';
import { answersQuery, type ExchangeEvents } from './exchange.js';
import { InFlightQueries } from './in-flight.js';
import type { UpstreamServer } from './server.js';
import { sourcePort, type SourcePorts } from './source-ports.js';

const ID_SPACE = 65536;
/** Past this share of IDs in use, finding a free one by random probing gets slow. */
const MAX_IN_FLIGHT = ID_SPACE / 2;
const SOCKET_BUFFER_BYTES = 1024 * 1024;
/** Sockets per upstream: a query's port is one of these, at random. */
export const POOL_PORTS = 16;
/** How long a port serves before a fresh one replaces it. */
export const PORT_LIFETIME_MS = 64_000;

class PooledPort {
  connected = false;
  constructor(readonly socket: Socket) {}
}

export class UdpExchange {
  private readonly inFlight = new InFlightQueries();
  private readonly ports: PooledPort[] = [];
  private nextRenewal = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Why the last socket could not connect, for health reports. */
  lastError: string | undefined;

  constructor(
    private readonly server: UpstreamServer,
    private readonly ids: RandomIds,
    private readonly events: ExchangeEvents,
    /** How long a replaced socket still takes replies for the queries sent from it. */
    private readonly drainMs: number,
    private readonly lifetimeMs = PORT_LIFETIME_MS,
    /** Where source ports come from when not the kernel's ephemeral range (see source-ports.ts). */
    private readonly sourcePorts?: SourcePorts,
  ) {}

  /** Opens the pool and starts renewing it; resolves true when at least one socket connected. */
  async start(): Promise<boolean> {
    const opened = await Promise.all(Array.from({ length: POOL_PORTS }, () => this.open()));
    for (const port of opened) this.ports.push(port);
    this.renewTimer = setInterval(() => void this.renewOne(), this.lifetimeMs / POOL_PORTS);
    this.renewTimer.unref();
    return this.reachable;
  }

  get reachable(): boolean {
    return this.ports.some((port) => port.connected);
  }

  get full(): boolean {
    return this.inFlight.size >= MAX_IN_FLIGHT;
  }

  /** The local ports of the pool, for tests and the forgery-space figure. */
  get localPorts(): number[] {
    return this.ports.filter((port) => port.connected).map((port) => port.socket.address().port);
  }

  /** Sends `query` from a random socket; false when no socket is connected. */
  send(query: Query): boolean {
    const count = this.ports.length;
    const start = this.ids.nextId() % count;
    let port: PooledPort | undefined;
    for (let i = 0; i < count && port === undefined; i++) {
      const candidate = this.ports[(start + i) % count];
      if (candidate.connected) port = candidate;
    }
    if (port === undefined) return false;
    let id = this.ids.nextId();
    while (this.inFlight.get(id) !== undefined) id = this.ids.nextId();
    this.inFlight.add(id, query);
    query.upstreamSocket = port;
    writeId(query.message, id);
    port.socket.send(query.message);
    return true;
  }

  /** Forgets the query's ID; a reply arriving later is dropped. */
  release(query: Query): void {
    const id = query.upstreamId;
    if (id >= 0 && this.inFlight.get(id) === query) this.inFlight.delete(id);
  }

  /** Replaces every socket that is not connected (the route may be back). */
  async reconnect(): Promise<void> {
    for (let i = 0; i < this.ports.length; i++) {
      if (!this.ports[i].connected) await this.replace(i);
    }
  }

  close(): void {
    this.closed = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    for (const port of this.ports) port.socket.close();
  }

  private renewOne(): Promise<void> {
    const index = this.nextRenewal;
    this.nextRenewal = (index + 1) % this.ports.length;
    return this.replace(index);
  }

  private async replace(index: number): Promise<void> {
    const fresh = await this.open();
    if (this.closed) {
      fresh.socket.close();
      return;
    }
    const old = this.ports[index];
    this.ports[index] = fresh;
    // Replies to queries sent from the old socket may still be on their way.
    setTimeout(() => old.socket.close(), old.connected ? this.drainMs : 0).unref();
  }

  /** A socket on a random port, connected to the upstream; not connected when that failed. */
  private open(): Promise<PooledPort> {
    const endpoint = this.server.endpoint;
    const socket = createSocket({
      type: endpoint.family === 6 ? 'udp6' : 'udp4',
      recvBufferSize: SOCKET_BUFFER_BYTES,
      sendBufferSize: SOCKET_BUFFER_BYTES,
    });
    const port = new PooledPort(socket);
    socket.on('message', (message) => this.onMessage(port, message));
    return new Promise((resolve) => {
      const failed = (error: Error): void => {
        this.lastError = errorText(error);
        // A send error (ICMP unreachable reported on the connected socket) carries no
        // query; the attempt times out and the upstream's health records it.
        socket.on('error', () => undefined);
        resolve(port);
      };
      socket.once('error', failed);
      // Node reports a failed connect (ENETUNREACH) to the callback, not as an event.
      const connected = ((error?: Error) => {
        socket.off('error', failed);
        if (error) {
          failed(error);
          return;
        }
        socket.on('error', () => undefined);
        port.connected = true;
        resolve(port);
      }) as () => void;
      // In a range, a port another socket holds fails this one until its renewal.
      socket.bind(sourcePort(this.sourcePorts), () => socket.connect(endpoint.port, endpoint.host, connected));
    });
  }

  private onMessage(port: PooledPort, message: Buffer): void {
    if (message.length < HEADER_LENGTH) {
      this.events.onDropped('malformed');
      return;
    }
    const id = readId(message);
    // A reply on another socket than its query left from is a guess at the ID.
    const sent = this.inFlight.get(id);
    const query = sent?.upstreamSocket === port ? sent : undefined;
    if (!answersQuery(message, query, this.events)) return;
    this.inFlight.delete(id);
    this.events.onReply(query, message);
  }
}
