import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import DNS from 'dns2';
import { dig } from '../helpers/dig.js';
import { startUpstreams } from '../helpers/dns-servers.js';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { encodeQuery, tcpExchange, udpExchange } from '../helpers/wire.js';

const skip = missing('knotd', 'unbound', 'dig', 'dnsperf');
const net = new LoopbackSubnet();
let upstreams: Awaited<ReturnType<typeof startUpstreams>>;
let viaUnbound: RunningDnsgate;
let viaKnot: RunningDnsgate;
let viaIpv6: RunningDnsgate | undefined;

// A private-use type dnsgate has no name for: it must still pass byte for byte.
const UNKNOWN_TYPE_RECORD = 'opaque.example.com. IN TYPE65400 \\# 4 deadbeef';

before(async () => {
  if (skip) return;
  upstreams = await startUpstreams(net.address(2), net.address(3), {}, UNKNOWN_TYPE_RECORD);
  viaUnbound = await startDnsgate(net.address(1), ['--upstream', `${net.address(3)}:${upstreams.unbound.port}`]);
  viaKnot = await startDnsgate(net.address(4), ['--upstream', `${net.address(2)}:${upstreams.knot.port}`]);
  viaIpv6 = await startDnsgate('::1', ['--upstream', `${net.address(3)}:${upstreams.unbound.port}`]).catch(() => undefined);
});

after(async () => {
  await viaUnbound?.stop();
  await viaKnot?.stop();
  await viaIpv6?.stop();
  await upstreams?.stop();
});

const through = (name: string, type = 'A', extra: string[] = [], tcp = false) =>
  dig(name, { server: viaUnbound.address, port: viaUnbound.port, type, extra, tcp });

test('A, AAAA, a CNAME chain and NXDOMAIN with its SOA come through', { skip }, async () => {
  const a = await through('www.example.com');
  assert.equal(a.status, 'NOERROR');
  assert.deepEqual(a.answers.map((r) => r.data), ['192.0.2.10']);

  const aaaa = await through('v6.example.com', 'AAAA');
  assert.deepEqual(aaaa.answers.map((r) => [r.type, r.data]), [['AAAA', '2001:db8::10']]);

  const chain = await through('chain.example.com');
  assert.deepEqual(chain.answers.map((r) => [r.name, r.type, r.data]), [
    ['chain.example.com.', 'CNAME', 'hop.example.net.'],
    ['hop.example.net.', 'CNAME', 'end.example.org.'],
    ['end.example.org.', 'A', '192.0.2.20'],
  ]);

  const nx = await through('missing.example.com');
  assert.equal(nx.status, 'NXDOMAIN');
  assert.equal(nx.authority[0]?.type, 'SOA');
});

test('the upstream reply passes byte for byte except the ID, unknown types included', { skip }, async () => {
  for (const [name, type] of [['opaque.example.com', 'TYPE65400'], ['text.example.com', 'TXT'], ['_sip._udp.example.com', 'SRV']] as const) {
    const query = encodeQuery(name, type as dnsPacket.RecordType, 0x5151, { edns: 1232 });
    const direct = await udpExchange(query, upstreams.knot.address, upstreams.knot.port);
    const proxied = await udpExchange(query, viaKnot.address, viaKnot.port);
    assert.ok(direct && proxied, `${name}: both answered`);
    assert.equal(proxied.readUInt16BE(0), 0x5151, 'the client ID is restored');
    assert.deepEqual(proxied, direct, `${name}: same bytes`);
  }
});

test('a 60-record answer: TC without EDNS then the TCP retry, whole with EDNS 4096', { skip }, async () => {
  const truncated = await through('big.example.com', 'A', ['+noedns', '+ignore']);
  assert.ok(truncated.flags.includes('tc'), 'TC is passed to the client');
  const retried = await through('big.example.com', 'A', ['+noedns']);
  assert.match(retried.output, /Truncated, retrying in TCP mode/);
  assert.equal(retried.answers.length, 60);
  const edns = await through('big.example.com', 'A', ['+bufsize=4096']);
  assert.ok(!edns.flags.includes('tc'));
  assert.equal(edns.answers.length, 60);
  assert.match(edns.output, /\(UDP\)/);
});

test('TCP: 20 pipelined queries on one connection all get their own answer', { skip }, async () => {
  const names = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'www.example.com' : i % 3 === 0 ? 'missing.example.com' : 'chain.example.com'));
  const queries = names.map((name, i) => encodeQuery(name, 'A', 1000 + i));
  const replies = await tcpExchange(queries, viaUnbound.address, viaUnbound.port);
  assert.equal(replies.length, 20);
  const byId = new Map(replies.map((reply) => [reply.readUInt16BE(0), dnsPacket.decode(reply)]));
  names.forEach((name, i) => {
    const reply = byId.get(1000 + i);
    assert.ok(reply, `answer for ID ${1000 + i}`);
    assert.equal(reply.questions?.[0].name, name);
  });
});

test('queries over TCP are answered over TCP by dig too', { skip }, async () => {
  const result = await through('www.example.com', 'A', [], true);
  assert.equal(result.status, 'NOERROR');
  assert.match(result.output, /\(TCP\)/);
});

test('dns2, an independent client, over UDP and TCP', { skip }, async () => {
  const udp = new DNS({ nameServers: [viaUnbound.address], port: viaUnbound.port });
  const a = await udp.resolveA('multi.example.com');
  assert.deepEqual(a.answers.map((r) => r.address).sort(), ['192.0.2.11', '192.0.2.12']);
  const resolveTcp = DNS.TCPClient({ dns: viaUnbound.address, port: viaUnbound.port });
  const tcp = await resolveTcp('v6.example.com', 'AAAA');
  assert.deepEqual(tcp.answers.map((r) => r.address), ['2001:db8::10']);
});

test('IPv6 listener answers over UDP and TCP', { skip }, async (t) => {
  if (viaIpv6 === undefined) {
    t.skip('this machine has no IPv6 loopback');
    return;
  }
  const udp = await dig('www.example.com', { server: '::1', port: viaIpv6.port });
  assert.deepEqual(udp.answers.map((r) => r.data), ['192.0.2.10']);
  const tcp = await dig('www.example.com', { server: '::1', port: viaIpv6.port, tcp: true });
  assert.deepEqual(tcp.answers.map((r) => r.data), ['192.0.2.10']);
});

test('dnsperf: every query of a mixed load is answered', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-perf-'));
  const data = join(dir, 'queries');
  writeFileSync(data, ['www.example.com A', 'v6.example.com AAAA', 'chain.example.com A', 'missing.example.com A', 'multi.example.com A'].join('\n') + '\n');
  const { stdout } = await promisify(execFile)('dnsperf', ['-s', viaUnbound.address, '-p', String(viaUnbound.port), '-d', data, '-n', '200', '-c', '4', '-Q', '2000', '-t', '3']);
  const sent = Number(/Queries sent:\s+(\d+)/.exec(stdout)?.[1]);
  const completed = Number(/Queries completed:\s+(\d+)/.exec(stdout)?.[1]);
  assert.equal(sent, 1000, stdout);
  assert.equal(completed, sent, stdout);
});
