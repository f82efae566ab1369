/** Raw DNS messages over UDP and TCP, for tests that need the bytes. */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';

export function encodeQuery(name: string, type: dnsPacket.RecordType = 'A', id = 1, options: { edns?: number } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: options.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: options.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as dnsPacket.Answer] : [],
  });
}

/** Sends one datagram and resolves with the first reply, or undefined after `timeoutMs`. */
export function udpExchange(message: Buffer, host: string, port: number, timeoutMs = 2000, source?: string): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, timeoutMs);
    socket.on('message', (reply) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    });
    socket.on('error', reject);
    socket.bind(0, source, () => socket.send(message, port, host));
  });
}

/**
 * Asks for A of every name from one socket bound to `source`, `window` queries in flight
 * (query i has ID i, so at most 65,536 names); resolves with the replies by index once
 * all came or none came for 3 s.
 */
export function udpAskMany(names: readonly string[], host: string, port: number, source: string, window: number): Promise<Map<number, Buffer>> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const replies = new Map<number, Buffer>();
    let sent = 0;
    let idle: NodeJS.Timeout | undefined;
    const finish = (): void => {
      socket.close();
      resolve(replies);
    };
    const sendNext = (): void => {
      if (sent >= names.length) return;
      const i = sent++;
      socket.send(encodeQuery(names[i], 'A', i), port, host);
    };
    socket.on('message', (reply) => {
      replies.set(reply.readUInt16BE(0), reply);
      clearTimeout(idle);
      if (replies.size === names.length) return finish();
      idle = setTimeout(finish, 3000);
      sendNext();
    });
    socket.on('error', reject);
    socket.bind(0, source, () => {
      for (let n = 0; n < window; n++) sendNext();
      idle = setTimeout(finish, 3000);
    });
  });
}

/** Writes `messages` framed on one TCP connection and collects `expected` framed replies. */
export function tcpExchange(messages: Buffer[], host: string, port: number, expected = messages.length, timeoutMs = 5000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const replies: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const socket = connect({ host, port }, () => {
      socket.write(Buffer.concat(messages.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]))));
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(replies);
    }, timeoutMs);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        replies.push(pending.subarray(2, 2 + length));
        pending = pending.subarray(2 + length);
      }
      if (replies.length >= expected) {
        clearTimeout(timer);
        socket.destroy();
        resolve(replies);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (replies.length > 0) resolve(replies);
      else reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(replies);
    });
  });
}

export async function metricsText(adminPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
}

/** dnsgate's metrics, as `name{labels}` → value. */
export async function scrapeMetrics(adminPort: number): Promise<Map<string, number>> {
  return parseMetrics(await metricsText(adminPort));
}

/** Prometheus text as `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** Sum of every series of `name` whose labels include all of `labels`. */
export function metricSum(values: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [series, value] of values) {
    if (series !== name && !series.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([key, v]) => series.includes(`${key}="${v}"`))) sum += value;
  }
  return sum;
}
