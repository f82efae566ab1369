/**
 * Protocol edges between clients, dnsgate and its upstream, against a scripted
 * upstream that sends what a real server would not: replies with a folded type,
 * answers larger than the client's buffer, another casing, connection resets.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { LoopbackSubnet, freePort } from '../helpers/net.js';
import { encodeQuery, metricSum, scrapeMetrics, tcpExchange, udpExchange } from '../helpers/wire.js';
import { RandomIds } from '../../src/util/random.js';
import { UpstreamServer } from '../../src/upstream/server.js';
import { POOL_PORTS, UdpExchange } from '../../src/upstream/udp.js';
import { ScriptedUpstream, echoQuestion, questionEnd, replyTo } from './scripted-upstream.js';

const net = new LoopbackSubnet();
let upstream: ScriptedUpstream;
const running: RunningDnsgate[] = [];

/** The default script: a plain answer with one A record. */
const answerA = (query: Buffer): Buffer => replyTo(query, [{ type: 'A', name: dnsPacket.decode(query).questions![0].name, ttl: 60, data: '192.0.2.1' }]);

before(async () => {
  upstream = await ScriptedUpstream.start(net.address(2), await freePort(net.address(2)), answerA);
});

after(async () => {
  for (const dnsgate of running) await dnsgate.stop();
  await upstream.stop();
});

async function dnsgate(host: number, extra: string[] = []): Promise<RunningDnsgate> {
  const started = await startDnsgate(net.address(host), ['--upstream', `${upstream.address}:${upstream.port}`, '--upstream-timeout', '400ms', '--query-timeout', '800ms', ...extra]);
  running.push(started);
  return started;
}

function decode(reply: Buffer | undefined): dnsPacket.DecodedPacket & { rcode: string } {
  assert.ok(reply, 'an answer');
  return dnsPacket.decode(reply) as dnsPacket.DecodedPacket & { rcode: string };
}

test('a reply whose question type differs by 0x20 (97 for 65) is dropped', async () => {
  const gate = await dnsgate(10);
  upstream.script = (query) => {
    const reply = echoQuestion(query, replyTo(query));
    reply[questionEnd(query) - 3] ^= 0x20;
    return reply;
  };
  try {
    // HTTPS (65): dns-packet has no name for it, so the type is written in place.
    const query = encodeQuery('svc.example.com', 'A', 7);
    query.writeUInt16BE(65, query.length - 4);
    const answer = decode(await udpExchange(query, gate.address, gate.port));
    assert.equal(answer.rcode, 'SERVFAIL');
    assert.ok(metricSum(await scrapeMetrics(gate.adminPort), 'dnsgate_spoofed_replies_dropped_total', { reason: 'question' }) >= 1);
  } finally {
    upstream.script = answerA;
  }
});

test('queries leave from many random ports under random IDs', async () => {
  const gate = await dnsgate(11);
  upstream.received.length = 0;
  for (let i = 0; i < 200; i++) {
    const answer = decode(await udpExchange(encodeQuery(`n${i}.example.com`, 'A', i + 1), gate.address, gate.port));
    assert.equal(answer.rcode, 'NOERROR');
  }
  const ports = new Set(upstream.received.map((r) => r.port));
  const ids = new Set(upstream.received.map((r) => r.message.readUInt16BE(0)));
  assert.ok(ports.size >= POOL_PORTS - 4, `${ports.size} source ports over 200 queries`);
  assert.ok(ids.size >= 195, `${ids.size} distinct IDs over 200 queries`);
});

test('the port pool is renewed: every socket is replaced within its lifetime', async () => {
  const ids = new RandomIds();
  const events = { onReply: () => undefined, onAttemptFailed: () => undefined, onDropped: () => undefined };
  const exchange = new UdpExchange(new UpstreamServer(0, { host: upstream.address, port: upstream.port, family: 4 }), ids, events, 50, 320);
  assert.equal(await exchange.start(), true);
  const first = new Set(exchange.localPorts);
  assert.equal(first.size, POOL_PORTS);
  await new Promise((resolve) => setTimeout(resolve, 800));
  const later = exchange.localPorts;
  exchange.close();
  assert.equal(later.length, POOL_PORTS);
  // The kernel may draw a port again by chance, but not most of them.
  assert.ok(later.filter((port) => first.has(port)).length <= 3, `old ports still in the pool: ${later.filter((port) => first.has(port))}`);
});

test('0x20: the upstream sees random case, the client its own; a reply in another case is dropped', async () => {
  const gate = await dnsgate(12, ['--upstream-case-randomization']);
  upstream.received.length = 0;
  upstream.script = (query) => echoQuestion(query, answerA(query));
  try {
    for (let i = 0; i < 16; i++) {
      const reply = await udpExchange(encodeQuery('WwW.Example.COM', 'A', 100 + i), gate.address, gate.port);
      const answer = decode(reply);
      assert.equal(answer.rcode, 'NOERROR');
      assert.equal(answer.questions![0].name, 'WwW.Example.COM');
      assert.equal(answer.answers!.length, 1);
    }
    const casings = new Set(upstream.received.map((r) => dnsPacket.decode(r.message).questions![0].name));
    assert.ok(casings.size >= 8, `${casings.size} casings over 16 queries`);
    for (const casing of casings) assert.equal(casing.toLowerCase(), 'www.example.com');

    // An upstream that answers in lowercase does not echo the random case.
    upstream.script = (query) => {
      const reply = echoQuestion(query, answerA(query));
      for (let i = 12; i < questionEnd(query) - 4; i++) if (reply[i] >= 0x41 && reply[i] <= 0x5a) reply[i] |= 0x20;
      return reply;
    };
    const answer = decode(await udpExchange(encodeQuery('WWW.EXAMPLE.COM', 'A', 200), gate.address, gate.port));
    assert.equal(answer.rcode, 'SERVFAIL');
  } finally {
    upstream.script = answerA;
  }
});

test('a UDP answer never exceeds the client buffer: 512 without EDNS, else its EDNS size; TC set past it', async () => {
  const gate = await dnsgate(13);
  const records = (count: number) => Array.from({ length: count }, (_, i) => ({ type: 'A' as const, name: 'big.example.com', ttl: 60, data: `198.51.100.${i % 250}` }));
  upstream.script = (query) => {
    const opt = dnsPacket.decode(query).additionals!.length > 0;
    // 130 records: about 2,100 bytes, whatever the client asked for.
    const reply = dnsPacket.decode(replyTo(query, records(130)));
    return dnsPacket.encode({ ...reply, additionals: opt ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as dnsPacket.Answer] : [] });
  };
  try {
    for (const [edns, cut] of [[undefined, true], [1232, true], [4096, false]] as const) {
      const query = encodeQuery('big.example.com', 'A', 300, { edns });
      const reply = await udpExchange(query, gate.address, gate.port);
      assert.ok(reply);
      const answer = decode(reply);
      const flags = answer.flags ?? 0;
      if (cut) {
        assert.ok(reply.length <= (edns ?? 512), `EDNS ${edns}: ${reply.length} bytes`);
        assert.ok(flags & 0x200, `EDNS ${edns}: TC set`);
        assert.equal(answer.questions![0].name, 'big.example.com');
        assert.equal(answer.id, 300);
        assert.equal((answer.additionals ?? []).filter((r) => r.type === 'OPT').length, edns === undefined ? 0 : 1);
      } else {
        assert.equal(answer.answers!.length, 130, 'the whole answer fits a 4096-byte buffer');
        assert.equal(flags & 0x200, 0);
      }
    }
    // Over TCP the client gets it all.
    const [full] = await tcpExchange([encodeQuery('big.example.com', 'A', 301)], gate.address, gate.port);
    assert.equal(decode(full).answers!.length, 130);
  } finally {
    upstream.script = answerA;
  }
});

/** A valid query with something after its question. */
function queryWith(tail: Buffer, counts: { an?: number; ar?: number } = {}): Buffer {
  const message = Buffer.concat([encodeQuery('www.example.com', 'A', 0x4242), tail]);
  message.writeUInt16BE(counts.an ?? 0, 6);
  message.writeUInt16BE(counts.ar ?? 0, 10);
  return message;
}
const OPT_RECORD = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
const A_RECORD = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);

const MALFORMED: [string, Buffer][] = [
  ['trailing bytes', queryWith(Buffer.from([1, 2, 3]))],
  ['an answer record in a query', queryWith(A_RECORD, { an: 1 })],
  ['two OPT records', queryWith(Buffer.concat([OPT_RECORD, OPT_RECORD]), { ar: 2 })],
  ['an OPT record owned by a name', queryWith(Buffer.concat([Buffer.from([1, 0x61]), OPT_RECORD]), { ar: 1 })],
  ['OPT options that overrun the record', queryWith(Buffer.concat([OPT_RECORD.subarray(0, 9), Buffer.from([0, 4, 0, 10, 0, 8])]), { ar: 1 })],
  ['an additional record cut short', queryWith(OPT_RECORD.subarray(0, 8), { ar: 1 })],
];

test('queries malformed past the question get FORMERR at the edge, over UDP and TCP, and never reach the upstream', async () => {
  const gate = await dnsgate(14);
  upstream.received.length = 0;
  for (const [name, message] of MALFORMED) {
    const udp = decode(await udpExchange(message, gate.address, gate.port));
    assert.equal(udp.rcode, 'FORMERR', `${name} over UDP`);
    assert.equal(udp.id, 0x4242);
    const [tcp] = await tcpExchange([message], gate.address, gate.port);
    assert.equal(decode(tcp).rcode, 'FORMERR', `${name} over TCP`);
  }
  assert.deepEqual(upstream.received, [], 'nothing forwarded');
  // A well-formed query with EDNS still goes through.
  const good = decode(await udpExchange(queryWith(OPT_RECORD, { ar: 1 }), gate.address, gate.port));
  assert.equal(good.rcode, 'NOERROR');
});

test('queries in flight on an upstream TCP connection that dies are resent on a new one', async () => {
  const gate = await dnsgate(15);
  let firstConnectionQueries = 0;
  upstream.script = (query, received, connection) => {
    if (received.transport !== 'tcp' || connection > 1) return answerA(query);
    // The first connection takes five queries without answering, then resets.
    return ++firstConnectionQueries === 5 ? 'reset' : undefined;
  };
  try {
    const queries = Array.from({ length: 5 }, (_, i) => encodeQuery(`q${i}.example.com`, 'A', 500 + i));
    const replies = await tcpExchange(queries, gate.address, gate.port);
    assert.equal(replies.length, 5);
    for (const reply of replies) assert.equal(decode(reply).rcode, 'NOERROR');
    const metrics = await scrapeMetrics(gate.adminPort);
    assert.equal(metricSum(metrics, 'dnsgate_upstream_failures_total'), 0, 'the reset counts against no query');
  } finally {
    upstream.script = answerA;
  }
});
