import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { encodeQuery, metricSum, scrapeMetrics, tcpExchange, udpExchange } from '../helpers/wire.js';

const skip = missing('knotd', 'dig');
const net = new LoopbackSubnet();
let knot: DnsServer;
let dnsgate: RunningDnsgate;

before(async () => {
  if (skip) return;
  knot = await startKnot(net.address(2), { '.': standardRootZone(net.address(2)) });
  dnsgate = await startDnsgate(net.address(1), ['--upstream', `${knot.address}:${knot.port}`]);
});

after(async () => {
  await dnsgate?.stop();
  await knot?.stop();
});

const good = encodeQuery('www.example.com', 'A', 0x0101);
function withByte(message: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(message);
  copy[offset] = value;
  return copy;
}

/** Each case: the bytes, and whether dnsgate answers (with which rcode) or stays silent. */
const CASES: [string, Buffer, string | undefined][] = [
  ['empty', Buffer.alloc(0), undefined],
  ['shorter than a header', good.subarray(0, 7), undefined],
  ['QR set', withByte(good, 2, good[2] | 0x80), undefined],
  ['no question', Buffer.concat([withByte(good.subarray(0, 12), 5, 0)]), 'FORMERR'],
  ['question cut short', good.subarray(0, good.length - 3), 'FORMERR'],
  ['pointer loop in the question', Buffer.concat([withByte(good.subarray(0, 12), 5, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), 'FORMERR'],
  ['pointer out of range', Buffer.concat([withByte(good.subarray(0, 12), 5, 1), Buffer.from([0xc0, 0xff, 0, 1, 0, 1])]), 'FORMERR'],
  ['label past the end', withByte(good, 12, 63), 'FORMERR'],
  ['opcode UPDATE', withByte(good, 2, (5 << 3) | 1), 'NOTIMP'],
];

test('malformed UDP packets: FORMERR/NOTIMP where a header can be read, silence otherwise', { skip }, async () => {
  for (const [name, message, expected] of CASES) {
    const reply = await udpExchange(message, dnsgate.address, dnsgate.port, expected ? 2000 : 300);
    if (expected === undefined) {
      assert.equal(reply, undefined, `${name}: no answer`);
    } else {
      assert.ok(reply, `${name}: answered`);
      const decoded = dnsPacket.decode(reply) as dnsPacket.DecodedPacket & { rcode: string };
      assert.equal(decoded.rcode, expected, name);
      assert.equal(decoded.id, message.readUInt16BE(0), `${name}: the client's ID`);
    }
  }
  const metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_malformed_packets_total', { transport: 'udp', action: 'dropped' }), 3);
  assert.equal(metricSum(metrics, 'dnsgate_malformed_packets_total', { transport: 'udp', action: 'formerr' }), 5);
  assert.equal(metricSum(metrics, 'dnsgate_malformed_packets_total', { transport: 'udp', action: 'notimp' }), 1);
});

test('a blast of random and mutated UDP packets never stops the answers', { skip }, async () => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, net.address(7), () => resolve()));
  for (let i = 0; i < 3000; i++) {
    const message = i % 2 === 0 ? randomBytes(i % 300) : Buffer.from(good);
    if (i % 2 === 1) for (let j = 0; j < 3; j++) message[12 + ((i * 7 + j * 13) % (message.length - 12))] = (i * 31 + j) & 0xff;
    socket.send(message, dnsgate.port, dnsgate.address);
    if (i % 200 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  socket.close();
  const result = await dig('www.example.com', { server: dnsgate.address, port: dnsgate.port });
  assert.equal(result.status, 'NOERROR');
  assert.deepEqual(result.answers.map((r) => r.data), ['192.0.2.10']);
});

test('TCP: a bogus length closes the stream; garbage streams never stop the answers', { skip }, async () => {
  // A length of 3 cannot hold a DNS header.
  const closed = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: dnsgate.address, port: dnsgate.port }, () => socket.write(Buffer.from([0, 3, 1, 2, 3])));
    socket.resume();
    socket.on('close', () => resolve(true));
    socket.on('error', () => undefined);
    setTimeout(() => resolve(false), 3000);
  });
  assert.ok(closed, 'dnsgate closed the connection');

  // A bad question on a good stream: FORMERR, and the stream goes on.
  const badQuestion = Buffer.concat([withByte(good.subarray(0, 12), 5, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
  const replies = await tcpExchange([badQuestion, good], dnsgate.address, dnsgate.port);
  assert.equal(replies.length, 2);
  const rcodes = replies.map((reply) => (dnsPacket.decode(reply) as dnsPacket.DecodedPacket & { rcode: string }).rcode).sort();
  assert.deepEqual(rcodes, ['FORMERR', 'NOERROR']);

  for (let i = 0; i < 50; i++) {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: dnsgate.address, port: dnsgate.port }, () => {
        socket.end(randomBytes(1 + (i * 37) % 500));
      });
      // Whatever dnsgate answers is read, or the stream would never see its end.
      socket.resume();
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 5000);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.on('error', () => undefined);
    });
    assert.ok(closed, `dnsgate closed garbage stream ${i}`);
  }
  const result = await dig('www.example.com', { server: dnsgate.address, port: dnsgate.port, tcp: true });
  assert.equal(result.status, 'NOERROR');
  const metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.ok(metricSum(metrics, 'dnsgate_malformed_packets_total', { transport: 'tcp', action: 'closed' }) >= 1);
});

test('TCP: a message with QR set closes the stream, counted once, and what follows it is not answered', { skip }, async () => {
  const before = await scrapeMetrics(dnsgate.adminPort);
  const count = (metrics: typeof before, action: string) => metricSum(metrics, 'dnsgate_malformed_packets_total', { transport: 'tcp', action });
  const response = withByte(good, 2, good[2] | 0x80);
  const replies = await tcpExchange([response, good], dnsgate.address, dnsgate.port, 1, 3000);
  assert.deepEqual(replies, [], 'nothing after the response on that stream');
  const after = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(count(after, 'dropped') - count(before, 'dropped'), 1);
  assert.equal(count(after, 'closed') - count(before, 'closed'), 0);
});
