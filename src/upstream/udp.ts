/**
 * Queries over UDP to one upstream through one socket. The socket is connected to the
 * upstream, so the kernel discards datagrams from any other address or port before
 * they reach dnsgate (and sends skip a per-packet address lookup). Each query in
 * flight holds a random 16-bit ID in a 65536-slot table; a reply is accepted only with
 * an ID in the table and the same question.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readId, writeId } from '../dns/message.js';
import { HEADER_LENGTH } from '../dns/constants.js';
import type { Query } from '../query.js';
import type { RandomIds } from '../util/random.js';
import { answersQuery, type ExchangeEvents } from './exchange.js';
import type { UpstreamServer } from './server.js';

const ID_SPACE = 65536;
/** Past this share of IDs in use, finding a free one by random probing gets slow. */
const MAX_IN_FLIGHT = ID_SPACE / 2;
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export class UdpExchange {
  private readonly slots: (Query | undefined)[] = new Array<Query | undefined>(ID_SPACE).fill(undefined);
  private inFlight = 0;
  private readonly socket: Socket;

  constructor(
    private readonly server: UpstreamServer,
    private readonly ids: RandomIds,
    private readonly events: ExchangeEvents,
  ) {
    this.socket = createSocket({
      type: server.endpoint.family === 6 ? 'udp6' : 'udp4',
      recvBufferSize: SOCKET_BUFFER_BYTES,
      sendBufferSize: SOCKET_BUFFER_BYTES,
    });
    this.socket.on('message', (message) => this.onMessage(message));
    // A send error (ICMP unreachable reported on the connected socket) carries no
    // query; the attempt times out and the upstream's health records it.
    this.socket.on('error', () => undefined);
  }

  bind(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(0, () => {
        this.socket.connect(this.server.endpoint.port, this.server.endpoint.host, () => {
          this.socket.off('error', reject);
          resolve();
        });
      });
    });
  }

  get full(): boolean {
    return this.inFlight >= MAX_IN_FLIGHT;
  }

  send(query: Query): void {
    let id = this.ids.nextId();
    while (this.slots[id] !== undefined) id = this.ids.nextId();
    this.slots[id] = query;
    this.inFlight++;
    query.upstreamId = id;
    writeId(query.message, id);
    this.socket.send(query.message);
  }

  /** Forgets the query's ID; a reply arriving later is dropped. */
  release(query: Query): void {
    if (this.slots[query.upstreamId] === query) {
      this.slots[query.upstreamId] = undefined;
      this.inFlight--;
    }
  }

  private onMessage(message: Buffer): void {
    if (message.length < HEADER_LENGTH) {
      this.events.onDropped('malformed');
      return;
    }
    const id = readId(message);
    const query = this.slots[id];
    if (!answersQuery(message, query, this.events)) return;
    this.slots[id] = undefined;
    this.inFlight--;
    this.events.onReply(query, message);
  }

  close(): void {
    this.socket.close();
  }
}
