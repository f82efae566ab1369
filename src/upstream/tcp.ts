/**
 * Queries over TCP to one upstream on one persistent connection, pipelined and
 * matched by ID (RFC 7766), so out-of-order replies are fine. The connection opens on
 * first use and closes when idle.
 *
 * When an open connection dies, the queries in flight on it did nothing wrong (one
 * client's query may be what the upstream reset it for): each is sent once more on a
 * new connection before its attempt counts as failed. A connection that never opens
 * fails its queries' attempts at once, so they move on to the next upstream.
 */
import { Socket, connect } from 'node:net';
import { FrameDecoder, frame } from '../dns/framing.js';
import { HEADER_LENGTH } from '../dns/constants.js';
import { readId, writeId } from '../dns/message.js';
import type { Query } from '../query.js';
import type { RandomIds } from '../util/random.js';
import { answersQuery, type ExchangeEvents } from './exchange.js';
import type { UpstreamServer } from './server.js';
import { sourcePort, type SourcePorts } from './source-ports.js';

const IDLE_CLOSE_MS = 10_000;

export class TcpExchange {
  private socket: Socket | undefined;
  private readonly inFlight = new Map<number, Query>();
  private decoder = new FrameDecoder();
  /** Queries already sent again after a connection died. */
  private readonly resent = new WeakSet<Query>();

  constructor(
    private readonly server: UpstreamServer,
    private readonly ids: RandomIds,
    private readonly events: ExchangeEvents,
    private readonly sourcePorts?: SourcePorts,
  ) {}

  send(query: Query): void {
    const socket = this.socket ?? this.open();
    let id = this.ids.nextId();
    while (this.inFlight.has(id)) id = this.ids.nextId();
    this.inFlight.set(id, query);
    query.upstreamId = id;
    writeId(query.message, id);
    socket.write(frame(query.message));
  }

  release(query: Query): void {
    if (this.inFlight.get(query.upstreamId) === query) this.inFlight.delete(query.upstreamId);
  }

  private open(): Socket {
    // A taken source port fails this connection like any other connection failure.
    const localPort = sourcePort(this.sourcePorts);
    const socket = connect({ host: this.server.endpoint.host, port: this.server.endpoint.port, noDelay: true, ...(localPort === 0 ? {} : { localPort }) });
    this.socket = socket;
    let opened = false;
    socket.once('connect', () => (opened = true));
    this.decoder = new FrameDecoder();
    socket.setTimeout(IDLE_CLOSE_MS, () => {
      if (this.inFlight.size === 0) socket.destroy();
    });
    socket.on('data', (chunk) => {
      const ok = this.decoder.push(chunk, HEADER_LENGTH, (message) => this.onMessage(message));
      if (!ok) {
        this.events.onDropped('malformed');
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose(socket, opened));
    return socket;
  }

  private onMessage(message: Buffer): void {
    const id = readId(message);
    const query = this.inFlight.get(id);
    if (!answersQuery(message, query, this.events)) return;
    this.inFlight.delete(id);
    this.events.onReply(query, message);
  }

  private onClose(socket: Socket, opened: boolean): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    const lost = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const query of lost) {
      if (opened && !this.resent.has(query)) {
        this.resent.add(query);
        this.send(query);
      } else {
        this.events.onAttemptFailed(query, 'connection');
      }
    }
  }

  close(): void {
    this.socket?.destroy();
  }
}
