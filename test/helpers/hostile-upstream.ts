/**
 * A malicious upstream for the tests: a DNS server on a loopback address that
 * answers each question as a test tells it to, with whatever records, rcode and TTLs
 * an attacker would send. It plays a compromised authoritative server relayed as is
 * by a forwarder (CoreDNS's `forward` passes answers through unchanged); a recursive
 * resolver such as unbound would scrub much of it first, which would hide what dnsgate
 * itself lets through.
 *
 * Replies echo the query's question bytes, so dnsgate takes them for the answer. It
 * answers over UDP, whatever the size (as a forwarder relaying a large answer would try),
 * and over TCP on the same port.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Socket as TcpSocket } from 'node:net';
import dnsPacket from 'dns-packet';
import { freePort } from './net.js';

export interface HostileReply {
  rcode?: number;
  answers?: dnsPacket.Answer[];
  authorities?: dnsPacket.Answer[];
  additionals?: dnsPacket.Answer[];
  /** Every `X` in owner names and targets becomes a dot inside the label on the wire (dns-packet cannot write one). */
  dotForX?: boolean;
}

/** Returns the reply to send for a query (its bytes and its decoded question name), or undefined to stay silent. */
export type HostileScript = (query: Buffer, name: string) => Buffer | HostileReply | undefined;

export interface HostileUpstream {
  address: string;
  port: number;
  /** Queries received, by lowercase question name. */
  readonly asked: string[];
  stop(): Promise<void>;
}

/** Where the question of a query ends (after QTYPE and QCLASS). */
export function questionEnd(message: Buffer): number {
  let offset = 12;
  while (message[offset] !== 0) offset += 1 + message[offset];
  return offset + 5;
}

/** The question's name, lowercase, a dot inside a label written `\\.`; the root is `.`. */
export function questionName(query: Buffer): string {
  const labels: string[] = [];
  for (let offset = 12; query[offset] !== 0; offset += 1 + query[offset]) {
    labels.push(query.toString('latin1', offset + 1, offset + 1 + query[offset]).toLowerCase().replace(/\./g, '\\.'));
  }
  return labels.length === 0 ? '.' : labels.join('.');
}

/** The reply `spec` to `query`, with the query's ID and question bytes. */
export function hostileReply(query: Buffer, spec: HostileReply): Buffer {
  const end = questionEnd(query);
  const body = dnsPacket.encode({
    type: 'response',
    id: query.readUInt16BE(0),
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (spec.rcode ?? 0),
    questions: [{ type: 'A', name: 'q', class: 'IN' }],
    answers: spec.answers ?? [],
    authorities: spec.authorities ?? [],
    additionals: spec.additionals ?? [],
  });
  // The placeholder question `q` A IN is 7 bytes after the header.
  const reply = Buffer.concat([body.subarray(0, 12), query.subarray(12, end), body.subarray(19)]);
  if (spec.dotForX) {
    // Only in names: the records' data written here never holds an X byte but in names.
    for (let at = reply.indexOf('X', end); at >= 0; at = reply.indexOf('X', at + 1)) reply[at] = 0x2e;
  }
  return reply;
}

export async function startHostileUpstream(address: string, script: HostileScript): Promise<HostileUpstream> {
  const port = await freePort(address);
  const socket: Socket = createSocket('udp4');
  const asked: string[] = [];
  const answer = (query: Buffer): Buffer | undefined => {
    if (query.length < 17 || query.readUInt16BE(4) !== 1) return undefined;
    const name = questionName(query);
    asked.push(name);
    const result = script(query, name);
    return result === undefined || Buffer.isBuffer(result) ? result : hostileReply(query, result);
  };
  socket.on('message', (query, from) => {
    const reply = answer(query);
    if (reply !== undefined) socket.send(reply, from.port, from.address);
  });
  const connections = new Set<TcpSocket>();
  const tcp = createServer((connection) => {
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    connection.on('error', () => connection.destroy());
    let pending = Buffer.alloc(0);
    connection.on('data', (data) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const reply = answer(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
        if (reply === undefined) continue;
        const length = Buffer.alloc(2);
        length.writeUInt16BE(reply.length);
        connection.write(Buffer.concat([length, reply]));
      }
    });
  });
  await new Promise<void>((resolve) => socket.bind(port, address, () => resolve()));
  await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(port, address, () => resolve()));
  const stop = async () => {
    for (const connection of connections) connection.destroy();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  };
  return { address, port, asked, stop };
}
