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

const ask = (name: string, type = 'A', source = pods.web1.ip) => dig(name, { server: dnsgate.address, port: dnsgate.port, source, type });
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
