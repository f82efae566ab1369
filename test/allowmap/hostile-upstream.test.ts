// What a malicious upstream can and cannot make dnsgate learn: each case is an answer
// an attacker who controls (or sits in front of) the authoritative server would send,
// relayed unchanged as CoreDNS forwards it. The pod's policy allows api.alice.com and
// *.example.com; nothing here may reach the map unless the pod's own question leads to it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { allowed, podsYaml, standardPods, webEgressPolicy, writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { type HostileReply, startHostileUpstream, type HostileUpstream } from '../helpers/hostile-upstream.js';
import { LoopbackSubnet } from '../helpers/net.js';

const skip = missing('dig');
const net = new LoopbackSubnet();
const pods = standardPods(net);
const POLICY = webEgressPolicy(['api.alice.com', '*.example.com'], ['169.254.169.253/32']);
const fixture = writeFixture({ 'pods.yaml': podsYaml([pods.web1, pods.web2, pods.other]), 'policies.yaml': POLICY });

const A = (name: string, data: string, ttl = 60): dnsPacket.Answer => ({ type: 'A', name, ttl, data });
const AAAA = (name: string, data: string, ttl = 60): dnsPacket.Answer => ({ type: 'AAAA', name, ttl, data });
const CNAME = (name: string, data: string, ttl = 60): dnsPacket.Answer => ({ type: 'CNAME', name, ttl, data });

const BIG_RECORDS = 2000;
/** Records dnsgate reads of one answer (MAX_WALKED_RECORDS in src/dns/records.ts). */
const WALKED_RECORDS = 512;
const bigIp = (i: number) => `198.18.${i >> 8}.${i & 255}`;

/** Question name → the attacker's answer. */
const CASES: Record<string, HostileReply> = {
  // Poisoning: an unallowed question carrying records of allowed names, in Answer and Additional.
  'poison.evil.net': { answers: [A('poison.evil.net', '6.6.6.1'), A('api.alice.com', '6.6.6.6')], additionals: [A('www.example.com', '6.6.6.7')] },
  // An allowed question carrying records of another allowed name.
  'www.example.com': { answers: [A('www.example.com', '192.0.2.10'), A('api.alice.com', '6.6.6.8')], additionals: [A('mail.example.com', '6.6.6.9')] },
  // Sinkhole: the skipped 0.0.0.0 must not make the next record's owner (the root) a CNAME target.
  'zeroroot.example.com': { answers: [A('zeroroot.example.com', '0.0.0.0'), A('.', '6.6.7.1')] },
  'sink.example.com': { answers: [AAAA('sink.example.com', '::')] },
  '.': { answers: [A('.', '6.6.7.2')] },
  // A dot inside a label: one label `evil.example` under com.
  'evil\\.example.com': { answers: [A('evilXexample.com', '6.6.6.10')], dotForX: true },
  // TTLs: 2^32-1 and the top bit set.
  'forever.example.com': { answers: [A('forever.example.com', '192.0.2.50', 0xffffffff)] },
  'longest.example.com': { answers: [A('longest.example.com', '192.0.2.51', 0x7fffffff)] },
  // Special-purpose addresses, in every form; 169.254.169.253 is listed in the policy's nets.
  'meta.example.com': {
    answers: [
      A('meta.example.com', '169.254.169.254'),
      A('meta.example.com', '127.0.0.1'),
      A('meta.example.com', '224.0.0.1'),
      A('meta.example.com', '255.255.255.255'),
      A('meta.example.com', '169.254.169.253'),
      AAAA('meta.example.com', '::1'),
      AAAA('meta.example.com', 'fe80::1'),
      AAAA('meta.example.com', 'ff02::1'),
      AAAA('meta.example.com', '::ffff:169.254.169.254'),
      A('meta.example.com', '192.0.2.60'),
    ],
  },
  // Records in NXDOMAIN and SERVFAIL answers.
  'nx.example.com': { rcode: 3, answers: [A('nx.example.com', '6.6.6.11')] },
  'fail.example.com': { rcode: 2, answers: [A('fail.example.com', '6.6.6.12')] },
  // A chain: the allowed name's CNAME leads to the address; a record beside it does not.
  'cdn.example.com': {
    answers: [{ type: 'CNAME', name: 'cdn.example.com', ttl: 60, data: 'edge.cdn.net' }, A('edge.cdn.net', '192.0.2.70'), A('other.cdn.net', '6.6.6.13')],
  },
  // IPv4-mapped AAAA: learnt as the IPv4 address it stands for.
  'mapped.example.com': { answers: [AAAA('mapped.example.com', '::ffff:192.0.2.80')] },
  // A CNAME target the attacker's own name also points to, with an address of its choosing:
  // the allowed name's chain goes through b.cdn.net, but not through that answer.
  'c.evil.net': { answers: [CNAME('c.evil.net', 'b.cdn.net'), A('b.cdn.net', '6.6.6.20')] },
  'shared.example.com': { answers: [CNAME('shared.example.com', 'b.cdn.net'), A('b.cdn.net', '192.0.2.90')] },
  // The same through a CNAME left pending, completed by the answer to its target.
  'pending.example.com': { answers: [CNAME('pending.example.com', 'b2.cdn.net')] },
  'c2.evil.net': { answers: [CNAME('c2.evil.net', 'b2.cdn.net'), A('b2.cdn.net', '6.6.6.21')] },
  'b2.cdn.net': { answers: [A('b2.cdn.net', '192.0.2.91')] },
  // 2,000 records: past the client's buffer over UDP, and past the records dnsgate reads.
  'big.example.com': { answers: Array.from({ length: BIG_RECORDS }, (_, i) => A('big.example.com', bigIp(i))) },
};

let upstream: HostileUpstream;
let dnsgate: RunningDnsgate;

before(async () => {
  if (skip) return;
  upstream = await startHostileUpstream(net.address(2), (_query, name) => CASES[name]);
  dnsgate = await startDnsgate(net.address(1), [
    '--upstream', `${upstream.address}:${upstream.port}`,
    '--pods', join(fixture, 'pods.yaml'),
    '--policies', join(fixture, 'policies.yaml'),
    '--upstream-timeout', '1s',
  ]);
});

after(async () => {
  await dnsgate?.stop();
  await upstream?.stop();
});

const ask = (name: string, type = 'A', source = pods.web1.ip, extra: string[] = []) => dig(name, { server: dnsgate.address, port: dnsgate.port, source, type, extra });
const learntIps = async (source = pods.web1.ip) => (await allowed(dnsgate.adminPort, source)).entries.map((e) => e.ip).sort();
const entryOf = async (ip: string) => (await allowed(dnsgate.adminPort, pods.web1.ip)).entries.find((e) => e.ip === ip);

test('poisoning: records of names other than the question teach nothing, in Answer or Additional', { skip }, async () => {
  await ask('poison.evil.net');
  await ask('www.example.com');
  const ips = await learntIps();
  assert.ok(!ips.some((ip) => ip.startsWith('6.6.6.')), `no poisoned address: ${ips.join(', ')}`);
  assert.ok(ips.includes('192.0.2.10'), 'the answer to the question itself is learnt');
  assert.deepEqual((await entryOf('192.0.2.10'))?.domains, ['www.example.com']);
});

test('sinkholes: 0.0.0.0 and :: are not names, in one answer or across answers', { skip }, async () => {
  await ask('zeroroot.example.com');
  await ask('sink.example.com', 'AAAA');
  await ask('.');
  const ips = await learntIps();
  assert.ok(!ips.includes('6.6.7.1') && !ips.includes('6.6.7.2'), `the root's addresses are not learnt: ${ips.join(', ')}`);
  assert.ok(!ips.includes('0.0.0.0') && !ips.includes('::'));
});

test('a dotted label is one label: evil\\.example.com is not under *.example.com', { skip }, async () => {
  const answer = await ask('evil\\.example.com');
  assert.deepEqual(answer.answers.map((r) => r.data), ['6.6.6.10'], 'the answer itself still reaches the pod');
  assert.ok(!(await learntIps()).includes('6.6.6.10'));
});

test('huge TTLs: 2^32-1 is read as 0 (the 2 s floor), 2^31-1 is capped at 7 days', { skip }, async () => {
  await ask('forever.example.com');
  await ask('longest.example.com');
  const forever = await entryOf('192.0.2.50');
  const longest = await entryOf('192.0.2.51');
  assert.ok(forever && Date.parse(forever.expiresAt) <= Date.now() + 2000, `top bit set: ${forever?.expiresAt}`);
  assert.ok(longest, 'learnt');
  const week = 604_800_000;
  const left = Date.parse(longest.expiresAt) - Date.now();
  assert.ok(left <= week && left > week - 60_000, `capped at 7 days: ${left} ms left`);
});

test('special-purpose addresses are not learnt unless a rule lists them in nets', { skip }, async () => {
  await ask('meta.example.com');
  await ask('meta.example.com', 'AAAA');
  const ips = (await allowed(dnsgate.adminPort, pods.web1.ip)).entries.filter((e) => e.domains.includes('meta.example.com')).map((e) => e.ip).sort();
  assert.deepEqual(ips, ['169.254.169.253', '192.0.2.60']);
});

test('records in NXDOMAIN and SERVFAIL answers teach nothing', { skip }, async () => {
  const nx = await ask('nx.example.com');
  assert.equal(nx.status, 'NXDOMAIN', 'the answer itself is forwarded');
  await ask('fail.example.com');
  const ips = await learntIps();
  assert.ok(!ips.includes('6.6.6.11') && !ips.includes('6.6.6.12'), ips.join(', '));
});

test('a CNAME chain from the question teaches its end, not the records beside it; IPv4-mapped AAAA is IPv4', { skip }, async () => {
  await ask('cdn.example.com');
  await ask('mapped.example.com', 'AAAA');
  assert.deepEqual((await entryOf('192.0.2.70'))?.domains, ['cdn.example.com']);
  assert.equal(await entryOf('6.6.6.13'), undefined);
  assert.deepEqual((await entryOf('192.0.2.80'))?.domains, ['mapped.example.com']);
  assert.deepEqual(await learntIps(pods.web2.ip), [], 'the other replica did not ask');
});

const ipsOf = async (domain: string, source = pods.web1.ip) =>
  (await allowed(dnsgate.adminPort, source)).entries.filter((e) => e.domains.includes(domain)).map((e) => e.ip).sort();

test('an attacker\'s answer through a shared CNAME target teaches an allowed name nothing, in either order', { skip }, async () => {
  await ask('c.evil.net');
  await ask('shared.example.com');
  assert.deepEqual(await ipsOf('shared.example.com'), ['192.0.2.90'], 'the attacker\'s answer first');

  await ask('shared.example.com', 'A', pods.web2.ip);
  await ask('c.evil.net', 'A', pods.web2.ip);
  await dnsgate.app.reload();
  assert.deepEqual(await ipsOf('shared.example.com', pods.web2.ip), ['192.0.2.90'], 'the attacker\'s answer last, then policies applied again');

  await ask('pending.example.com');
  await ask('c2.evil.net');
  await dnsgate.app.reload();
  assert.deepEqual(await ipsOf('pending.example.com'), [], 'a pending CNAME is not completed by another question\'s answer');
  await ask('b2.cdn.net');
  assert.deepEqual(await ipsOf('pending.example.com'), ['192.0.2.91'], 'only by the answer to its target');
});

test('2,000 records: TC to a client with a small buffer, the whole answer over TCP, nothing learnt past the records read', { skip }, async () => {
  const udp = await ask('big.example.com', 'A', pods.web1.ip, ['+bufsize=1232', '+ignore']);
  assert.ok(udp.flags.includes('tc'), `TC set: ${udp.flags.join(' ')}`);
  const size = Number(/MSG SIZE\s+rcvd: (\d+)/.exec(udp.output)?.[1]);
  assert.ok(size > 0 && size <= 1232, `within the client's 1,232 bytes: ${size}`);
  const tcp = await ask('big.example.com', 'A', pods.web1.ip, ['+tcp']);
  assert.equal(tcp.answers.length, BIG_RECORDS, 'over TCP the whole answer');
  assert.deepEqual(tcp.answers.map((r) => r.data), Array.from({ length: BIG_RECORDS }, (_, i) => bigIp(i)));
  const learnt = new Set(await ipsOf('big.example.com'));
  const expected = Array.from({ length: WALKED_RECORDS }, (_, i) => bigIp(i));
  assert.deepEqual(expected.filter((ip) => !learnt.has(ip)), [], 'the records read are learnt');
  assert.equal(learnt.size, WALKED_RECORDS, 'and none past them');
});
