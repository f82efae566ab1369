/**
 * A UDP listener: every datagram is a query; answers leave from the same socket, cut
 * to the client's buffer (its EDNS size, or 512 bytes) with TC set when longer.
 */
import { createSocket, type Socket } from 'node:dgram';
import { CLASSIC_UDP_PAYLOAD, readEdns } from '../dns/edns.js';
import { truncateAnswer } from '../dns/truncate.js';
import type { Endpoint } from '../net/address.js';
import type { Query, Responder } from '../query.js';
import type { QueryHandler } from './handler.js';

const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export class UdpListener implements Responder {
  private readonly socket: Socket;
  private accepting = true;
  private closed = false;

  constructor(
    readonly endpoint: Endpoint,
    private readonly handler: QueryHandler,
  ) {
    this.socket = createSocket({
      type: endpoint.family === 6 ? 'udp6' : 'udp4',
      ipv6Only: endpoint.family === 6,
      // Answers go to the address the query came from, always a literal: skip dns.lookup.
      lookup: (address, _options, callback) => callback(null, address, endpoint.family),
      recvBufferSize: SOCKET_BUFFER_BYTES,
      sendBufferSize: SOCKET_BUFFER_BYTES,
    });
    this.socket.on('message', (message, remote) => {
      if (this.accepting) this.handler.onMessage(message, 'udp', remote.address, remote.port, this);
    });
    // A failed send (client gone, buffer full) loses one answer, as UDP may.
    this.socket.on('error', () => undefined);
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(this.endpoint.port, this.endpoint.host, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  deliver(query: Query, answer: Buffer): void {
    // Sending on a closed socket throws; an answer that comes after close is lost.
    if (this.closed) return;
    // Most answers fit any client; only a longer one needs the client's EDNS size.
    const fits = answer.length <= CLASSIC_UDP_PAYLOAD || answer.length <= (readEdns(query.message, query.questionEnd)?.udpPayload ?? CLASSIC_UDP_PAYLOAD);
    this.socket.send(fits ? answer : truncateAnswer(answer, query.questionEnd), query.clientPort, query.clientAddress);
  }

  discard(): void {}

  /** Stops taking queries; answers to those in flight still go out. */
  stopAccepting(): void {
    this.accepting = false;
  }

  close(): void {
    this.closed = true;
    this.socket.close();
  }
}
