/**
 * Fuzzing dnsgate's listeners with mutated client packets, over UDP and TCP, against a
 * real upstream (knot). Between batches a valid query must still get the right
 * answer; a crash of dnsgate (in this process) fails the run. The CI test runs 100k
 * packets; `npm run fuzz` runs 1M and prints the figures.
 */
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { startKnot, standardRootZone } from '../helpers/dns-servers.js';
import { startDnsgate } from '../helpers/dnsgate.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { seededRandom } from '../helpers/random.js';
import { encodeQuery, metricSum, scrapeMetrics, tcpExchange, udpExchange } from '../helpers/wire.js';

export interface FuzzFigures {
  packets: number;
  udpPackets: number;
  tcpPackets: number;
  seconds: number;
  /** Valid queries checked between batches, all answered right. */
  checks: number;
  /** dnsgate's own count of what it answered FORMERR/NOTIMP or dropped. */
  malformed: number;
  answers: number;
}

const NAMES = ['www.example.com', 'multi.example.com', 'alias.example.com', 'chain.example.com', 'v6.example.com', 'text.example.com', 'nx.example.com'];
const TYPES: dnsPacket.RecordType[] = ['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'SRV', 'NS'];
const BATCH = 500;
/** A valid query is checked after this many packets. */
const CHECK_EVERY = 5_000;

function seeds(): Buffer[] {
  const out: Buffer[] = [];
  for (const name of NAMES) for (const type of TYPES) out.push(encodeQuery(name, type, 1), encodeQuery(name, type, 2, { edns: 1232 }));
  return out;
}

/** One mutation of `seed`: byte flips, cuts, garbage tails, header counts, label lengths, or random bytes. */
function mutate(seed: Buffer, random: () => number): Buffer {
  const byte = () => Math.floor(random() * 256);
  const at = (message: Buffer) => Math.floor(random() * message.length);
  let message = Buffer.from(seed);
  const rounds = 1 + Math.floor(random() * 4);
  for (let r = 0; r < rounds; r++) {
    switch (Math.floor(random() * 7)) {
      case 0:
        message[at(message)] = byte();
        break;
      case 1:
        message = message.subarray(0, at(message));
        break;
      case 2:
        message = Buffer.concat([message, Buffer.from(Array.from({ length: 1 + Math.floor(random() * 40) }, byte))]);
        break;
      case 3:
        if (message.length >= 12) message[6 + Math.floor(random() * 6)] = byte() & (random() < 0.5 ? 0x03 : 0xff);
        break;
      case 4:
        if (message.length > 12) message[12 + Math.floor(random() * Math.min(20, message.length - 12))] = random() < 0.5 ? 0xc0 | byte() : byte() & 0x3f;
        break;
      case 5:
        if (message.length > 2) message[2] ^= 1 << Math.floor(random() * 8);
        break;
      default:
        message = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, byte));
    }
  }
  return message;
}

function assertAnswered(reply: Buffer | undefined, transport: string): void {
  if (!reply) throw new Error(`a valid query over ${transport} got no answer`);
  const decoded = dnsPacket.decode(reply) as dnsPacket.DecodedPacket & { rcode: string };
  const data = (decoded.answers ?? []).map((record) => (record as { data: unknown }).data);
  if (decoded.rcode !== 'NOERROR' || decoded.id !== 0x5151 || data.join() !== '192.0.2.10') {
    throw new Error(`a valid query over ${transport} got ${decoded.rcode} ${JSON.stringify(data)}`);
  }
}

/** Opens a TCP connection that ignores what comes back and survives being closed. */
function tcpClient(host: string, port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => resolve(socket));
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
  });
}

export async function fuzz(total: number, seed = 1): Promise<FuzzFigures> {
  const net = new LoopbackSubnet();
  const knot = await startKnot(net.address(2), { '.': standardRootZone(net.address(2)) });
  const dnsgate = await startDnsgate(net.address(1), ['--upstream', `${knot.address}:${knot.port}`, '--upstream-timeout', '500ms', '--query-timeout', '1s']);
  const random = seededRandom(seed);
  const base = seeds();
  const udp = createSocket('udp4');
  udp.on('message', () => undefined);
  await new Promise<void>((resolve) => udp.bind(0, net.address(3), resolve));
  const valid = encodeQuery('www.example.com', 'A', 0x5151);
  let tcp = await tcpClient(dnsgate.address, dnsgate.port);
  const figures: FuzzFigures = { packets: 0, udpPackets: 0, tcpPackets: 0, seconds: 0, checks: 0, malformed: 0, answers: 0 };
  const start = performance.now();
  try {
    while (figures.packets < total) {
      for (let i = 0; i < BATCH && figures.packets < total; i++, figures.packets++) {
        const message = mutate(base[Math.floor(random() * base.length)], random);
        if (random() < 0.8) {
          udp.send(message, dnsgate.port, dnsgate.address);
          figures.udpPackets++;
        } else {
          if (tcp.destroyed) tcp = await tcpClient(dnsgate.address, dnsgate.port);
          // Mostly well-framed; sometimes a length that lies.
          const length = random() < 0.95 ? message.length : Math.floor(random() * 65536);
          tcp.write(Buffer.concat([Buffer.from([length >> 8, length & 0xff]), message]));
          figures.tcpPackets++;
        }
      }
      // Let dnsgate drain the burst before the next one.
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (figures.packets % CHECK_EVERY === 0 || figures.packets >= total) {
        assertAnswered(await udpExchange(valid, dnsgate.address, dnsgate.port, 3000), 'UDP');
        assertAnswered((await tcpExchange([valid], dnsgate.address, dnsgate.port, 1, 3000))[0], 'TCP');
        figures.checks += 2;
      }
    }
    figures.seconds = (performance.now() - start) / 1000;
    const metrics = await scrapeMetrics(dnsgate.adminPort);
    figures.malformed = metricSum(metrics, 'dnsgate_malformed_packets_total');
    figures.answers = metricSum(metrics, 'dnsgate_queries_total');
    return figures;
  } finally {
    udp.close();
    tcp.destroy();
    await dnsgate.stop();
    await knot.stop();
  }
}
