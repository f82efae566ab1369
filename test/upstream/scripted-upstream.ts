/**
 * A small upstream for the protocol-edge tests, answering over UDP and TCP what each
 * test scripts: replies a real server would never send (folded types, oversized
 * answers, echoes in another case), or a reset. It records what reached it.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';

export interface Received {
  message: Buffer;
  transport: 'udp' | 'tcp';
  port: number;
}

/** The reply to send; 'reset' closes the TCP connection at once; undefined stays silent. */
export type Script = (query: Buffer, received: Received, connection: number) => Buffer | 'reset' | undefined;

export class ScriptedUpstream {
  readonly received: Received[] = [];
  private readonly udp: UdpSocket;
  private readonly tcp: Server;
  private connections = 0;

  constructor(
    readonly address: string,
    readonly port: number,
    public script: Script,
  ) {
    this.udp = createSocket('udp4');
    this.udp.on('message', (message, remote) => {
      const received: Received = { message, transport: 'udp', port: remote.port };
      this.received.push(received);
      const reply = this.script(message, received, 0);
      if (Buffer.isBuffer(reply)) this.udp.send(reply, remote.port, remote.address);
    });
    this.tcp = createServer((socket) => this.serveTcp(socket, ++this.connections));
  }

  static async start(address: string, port: number, script: Script): Promise<ScriptedUpstream> {
    const upstream = new ScriptedUpstream(address, port, script);
    await new Promise<void>((resolve) => upstream.udp.bind(port, address, resolve));
    await new Promise<void>((resolve) => upstream.tcp.listen(port, address, resolve));
    return upstream;
  }

  private serveTcp(socket: Socket, connection: number): void {
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const message = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + message.length);
        const received: Received = { message, transport: 'tcp', port: socket.remotePort ?? 0 };
        this.received.push(received);
        const reply = this.script(message, received, connection);
        if (reply === 'reset') {
          socket.resetAndDestroy();
          return;
        }
        if (reply) socket.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]));
      }
    });
  }

  async stop(): Promise<void> {
    this.udp.close();
    await new Promise((resolve) => this.tcp.close(resolve));
  }
}

/** The question of `query` in the reply, with `answers`; `edit` may then change the bytes. */
export function replyTo(query: Buffer, answers: dnsPacket.Answer[] = []): Buffer {
  const decoded = dnsPacket.decode(query);
  return dnsPacket.encode({
    type: 'response',
    id: decoded.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: decoded.questions,
    answers,
  });
}

/** Echoes the query's question bytes exactly (dns-packet would lowercase nothing but re-encode names). */
export function echoQuestion(query: Buffer, reply: Buffer): Buffer {
  const out = Buffer.from(reply);
  query.copy(out, 12, 12, questionEnd(query));
  return out;
}

export function questionEnd(message: Buffer): number {
  let offset = 12;
  while (message[offset] !== 0) offset += message[offset] + 1;
  return offset + 5;
}
