// The upstream here is a test-controlled UDP socket, not knot: these tests must see the
// proxy's query (its ID and source port) to forge replies the way an attacker would,
// and decide when the genuine answer comes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { spawnReadyDnsgate, startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet, freePort } from '../helpers/net.js';
import { encodeQuery, metricSum, scrapeMetrics, udpExchange } from '../helpers/wire.js';

const skip = missing();
const net = new LoopbackSubnet();
let upstream: Socket;
let attacker: Socket;
let dnsgate: RunningDnsgate;
const seen: { query: Buffer; from: RemoteInfo }[] = [];

function bind(socket: Socket, address: string, port = 0): Promise<void> {
  return new Promise((resolve) => socket.bind(port, address, () => resolve()));
}

before(async () => {
  if (skip) return;
  upstream = createSocket('udp4');
  upstream.on('message', (query, from) => seen.push({ query, from }));
  const upstreamPort = await freePort(net.address(2));
  await bind(upstream, net.address(2), upstreamPort);
  attacker = createSocket('udp4');
  await bind(attacker, net.address(2));
  dnsgate = await startDnsgate(net.address(1), ['--upstream', `${net.address(2)}:${upstreamPort}`, '--upstream-timeout', '3s', '--query-timeout', '3s']);
});

after(async () => {
  await dnsgate?.stop();
  upstream?.close();
  attacker?.close();
});

function answer(query: Buffer, name: string, ip: string): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: query.readUInt16BE(0),
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: [{ type: 'A', name, class: 'IN' }],
    answers: [{ type: 'A', name, ttl: 60, data: ip }],
  });
}

test('replies from another port, with another ID or another question are dropped; the real one is delivered', { skip }, async () => {
  const pending = udpExchange(encodeQuery('bank.example.com', 'A', 0x7777), dnsgate.address, dnsgate.port, 5000);
  while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const { query, from } = seen[0];
  assert.notEqual(query.readUInt16BE(0), 0x7777, 'the upstream sees a fresh ID');

  const send = (socket: Socket, message: Buffer) => new Promise((resolve) => socket.send(message, from.port, from.address, resolve));
  // Right ID and question, wrong source port: the kernel drops it (connected socket).
  await send(attacker, answer(query, 'bank.example.com', '203.0.113.66'));
  // Right source, wrong ID.
  const wrongId = answer(query, 'bank.example.com', '203.0.113.67');
  wrongId.writeUInt16BE((query.readUInt16BE(0) + 1) & 0xffff, 0);
  await send(upstream, wrongId);
  // Right source and ID, another question.
  await send(upstream, answer(query, 'evil.example.com', '203.0.113.68'));
  await new Promise((resolve) => setTimeout(resolve, 100));
  // The genuine reply.
  await send(upstream, answer(query, 'BANK.example.com', '192.0.2.80'));

  const reply = await pending;
  assert.ok(reply, 'the client got an answer');
  const decoded = dnsPacket.decode(reply);
  assert.equal(decoded.id, 0x7777);
  assert.deepEqual(decoded.answers?.map((a) => (a as { data: unknown }).data), ['192.0.2.80']);

  const metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_spoofed_replies_dropped_total', { reason: 'unknown-id' }), 1);
  assert.equal(metricSum(metrics, 'dnsgate_spoofed_replies_dropped_total', { reason: 'question' }), 1);
});

test('SIGTERM answers the queries in flight before exiting 0', { skip }, async () => {
  // The CLI this time, with the same upstream, which answers late.
  const upstreamPort = upstream.address().port;
  const proc = await spawnReadyDnsgate(net.address(5), ['--upstream', `${net.address(2)}:${upstreamPort}`, '--log-stdout', 'false']);
  const seenBefore = seen.length;
  const pending = udpExchange(encodeQuery('slow.example.com', 'A', 0x1111), net.address(5), proc.port, 5000);
  while (seen.length === seenBefore) await new Promise((resolve) => setTimeout(resolve, 5));
  const { query, from } = seen[seen.length - 1];
  proc.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(proc.child.exitCode, null, 'still running while a query is in flight');
  await new Promise((resolve) => upstream.send(answer(query, 'slow.example.com', '192.0.2.81'), from.port, from.address, resolve));
  const reply = await pending;
  assert.ok(reply, 'the query in flight was answered');
  assert.deepEqual(dnsPacket.decode(reply).answers?.map((a) => (a as { data: unknown }).data), ['192.0.2.81']);
  assert.equal(await proc.exited, 0);
});

test('a query still unanswered when the drain times out is abandoned: nothing fires on closed sockets later', { skip }, async () => {
  const upstreamPort = upstream.address().port;
  // The attempt's deadline (6 s) comes after the drain gives up (5 s) and the sockets close.
  const late = await startDnsgate(net.address(6), ['--upstream', `${net.address(2)}:${upstreamPort}`, '--upstream-timeout', '6s', '--query-timeout', '12s']);
  const seenBefore = seen.length;
  const pending = udpExchange(encodeQuery('never.example.com', 'A', 0x2222), late.address, late.port, 9000);
  while (seen.length === seenBefore) await new Promise((resolve) => setTimeout(resolve, 5));
  await late.stop();
  // Past the attempt's deadline: without the abandon, SERVFAIL would be sent on the closed socket and throw.
  assert.equal(await pending, undefined, 'no answer after stop');
});
