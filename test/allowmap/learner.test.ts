/** Learning end to end (learner.ts with answer-addresses.ts): real upstreams and dig, entries per pod and per node. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SET_DOMAIN_RULE, STANDARD_POLICIES, WEB_DOMAIN_RULE, allowed, podsYaml, standardPods, writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startUpstreams } from '../helpers/dns-servers.js';
import { startDnsgate, waitFor, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';

const skip = missing('knotd', 'unbound', 'dig');
const net = new LoopbackSubnet();
const pods = standardPods(net);
const fixture = writeFixture({ 'pods.yaml': podsYaml([pods.web1, pods.web2, pods.other]), 'policies.yaml': STANDARD_POLICIES });
// The suffix trick: a name that ends with an allowed name's labels plus more.
const EXTRA = 'www.example.com.evil.org. IN A 192.0.2.66\nxa.example.com. IN CNAME xb.other.test.';
let upstreams: Awaited<ReturnType<typeof startUpstreams>>;
let podScope: RunningDnsgate;
let nodeScope: RunningDnsgate;
let viaKnot: RunningDnsgate;

before(async () => {
  if (skip) return;
  upstreams = await startUpstreams(net.address(2), net.address(3), { 'other.test.': `$ORIGIN other.test.\n$TTL 300\n@ IN SOA ns.root.test. h.root.test. 1 3600 600 86400 60\n@ IN NS ns.root.test.\nxb IN A 192.0.2.40\n` }, EXTRA);
  const common = ['--pods', join(fixture, 'pods.yaml'), '--policies', join(fixture, 'policies.yaml'), '--log-stdout', 'false'];
  podScope = await startDnsgate(net.address(1), ['--upstream', `${upstreams.unbound.address}:${upstreams.unbound.port}`, ...common]);
  nodeScope = await startDnsgate(net.address(4), ['--upstream', `${upstreams.unbound.address}:${upstreams.unbound.port}`, '--scope', 'node', ...common]);
  // knot as the upstream answers a CNAME into another zone without its target's address.
  viaKnot = await startDnsgate(net.address(5), ['--upstream', `${upstreams.knot.address}:${upstreams.knot.port}`, ...common]);
});

after(async () => {
  await podScope?.stop();
  await nodeScope?.stop();
  await viaKnot?.stop();
  await upstreams?.stop();
});

const ask = (dnsgate: RunningDnsgate, source: string, name: string, type = 'A') => dig(name, { server: dnsgate.address, port: dnsgate.port, source, type });
const ipsOf = (json: Awaited<ReturnType<typeof allowed>>, domain?: string) =>
  json.entries.filter((e) => domain === undefined || e.domains.includes(domain)).map((e) => e.ip).sort();

test('a selected pod learns A, AAAA and chained addresses of allowed names, with the rule that allows them', { skip }, async () => {
  const a = await ask(podScope, pods.web1.ip, 'www.example.com');
  assert.deepEqual(a.answers.map((r) => r.data), ['192.0.2.10']);
  await ask(podScope, pods.web1.ip, 'v6.example.com', 'AAAA');
  await ask(podScope, pods.web1.ip, 'chain.example.com');
  await ask(podScope, pods.web1.ip, 'hop.example.net');

  const json = await allowed(podScope.adminPort, pods.web1.ip);
  const www = json.entries.find((e) => e.ip === '192.0.2.10');
  assert.ok(www, 'www.example.com learnt');
  assert.deepEqual(www.client, { ip: pods.web1.ip, namespace: 'shop', name: pods.web1.name });
  assert.deepEqual(www.domains, ['www.example.com']);
  assert.deepEqual(www.rules, [WEB_DOMAIN_RULE]);
  assert.ok(Date.parse(www.expiresAt) > Date.now() + 250_000, 'the record TTL of 300 s');
  assert.deepEqual(ipsOf(json, 'v6.example.com'), ['2001:db8::10']);
  assert.deepEqual(ipsOf(json, 'chain.example.com'), ['192.0.2.20'], 'the chain in one answer');
  assert.deepEqual(ipsOf(json, 'hop.example.net'), ['192.0.2.20'], 'the wildcard *.example.net');
});

test('a chain across answers: the CNAME from one, the address from the next', { skip }, async () => {
  const cname = await ask(viaKnot, pods.web1.ip, 'xa.example.com');
  assert.deepEqual(cname.answers.map((r) => r.type), ['CNAME'], 'knot answers the CNAME alone');
  assert.deepEqual(ipsOf(await allowed(viaKnot.adminPort, pods.web1.ip)), []);
  await ask(viaKnot, pods.web1.ip, 'xb.other.test');
  const json = await allowed(viaKnot.adminPort, pods.web1.ip);
  assert.deepEqual(ipsOf(json, 'xa.example.com'), ['192.0.2.40']);
});

test('the other replica, unselected pods, unknown clients and look-alike names learn nothing', { skip }, async () => {
  await ask(podScope, pods.web1.ip, 'dual.example.com');
  assert.deepEqual(ipsOf(await allowed(podScope.adminPort, pods.web1.ip), 'dual.example.com'), ['192.0.2.13', ]);
  assert.deepEqual(ipsOf(await allowed(podScope.adminPort, pods.web2.ip), 'dual.example.com'), [], 'the other replica did not ask');

  const other = await ask(podScope, pods.other.ip, 'www.example.com');
  assert.deepEqual(other.answers.map((r) => r.data), ['192.0.2.10'], 'still answered');
  const unknown = await ask(podScope, pods.unknownIp, 'www.example.com');
  assert.deepEqual(unknown.answers.map((r) => r.data), ['192.0.2.10'], 'still answered');
  assert.deepEqual((await allowed(podScope.adminPort, pods.other.ip)).entries, []);
  assert.deepEqual((await allowed(podScope.adminPort, pods.unknownIp)).entries, []);

  const evil = await ask(podScope, pods.web1.ip, 'www.example.com.evil.org');
  assert.deepEqual(evil.answers.map((r) => r.data), ['192.0.2.66']);
  assert.ok(!ipsOf(await allowed(podScope.adminPort)).includes('192.0.2.66'), 'www.example.com.evil.org is not www.example.com');
});

test('GlobalNetworkSet allowedEgressDomains allow through the policy that selects the set', { skip }, async () => {
  await ask(podScope, pods.web1.ip, 'multi.example.com');
  const json = await allowed(podScope.adminPort, pods.web1.ip);
  const entries = json.entries.filter((e) => e.domains.includes('multi.example.com'));
  assert.deepEqual(entries.map((e) => e.ip).sort(), ['192.0.2.11', '192.0.2.12']);
  assert.deepEqual(entries[0].rules, [SET_DOMAIN_RULE]);
});

test('a TTL-1 record lives the 2 s floor, then expires out of the map', { skip }, async () => {
  const asked = Date.now();
  await ask(podScope, pods.web2.ip, 'ttl1.example.com');
  const answered = Date.now();
  const entry = (await allowed(podScope.adminPort, pods.web2.ip)).entries.find((e) => e.ip === '192.0.2.30');
  assert.ok(entry, 'learnt');
  const expiresAt = Date.parse(entry.expiresAt);
  // Learnt between asking and the answer: 2 s from then, where a 1 s TTL alone gives 1 s.
  assert.ok(expiresAt >= asked + 2000 - 1 && expiresAt <= answered + 2000, `2 s after the answer: ${expiresAt - asked} ms after asking`);
  await waitFor(async () => !ipsOf(await allowed(podScope.adminPort, pods.web2.ip)).includes('192.0.2.30'), 5000, 'the entry to expire');
});

test('node scope: one entry per IP with no client, usable by every pod the rule selects', { skip }, async () => {
  await ask(nodeScope, pods.web1.ip, 'www.example.com');
  const all = await allowed(nodeScope.adminPort);
  const entry = all.entries.find((e) => e.ip === '192.0.2.10');
  assert.ok(entry);
  assert.equal(entry.client, null);
  assert.deepEqual(ipsOf(await allowed(nodeScope.adminPort, pods.web2.ip)), ['192.0.2.10'], 'the other replica may use it');
  assert.deepEqual(ipsOf(await allowed(nodeScope.adminPort, pods.other.ip)), [], 'a pod the rule does not select may not');
});

test('entries follow the pods file: a pod with a new IP keeps them under it, a pod gone loses them', { skip }, async () => {
  const own = writeFixture({ 'pods.yaml': podsYaml([pods.web1, pods.web2]), 'policies.yaml': STANDARD_POLICIES });
  const dnsgate = await startDnsgate(net.address(6), [
    '--upstream', `${upstreams.unbound.address}:${upstreams.unbound.port}`,
    '--pods', join(own, 'pods.yaml'), '--policies', join(own, 'policies.yaml'), '--log-stdout', 'false',
  ]);
  try {
    await ask(dnsgate, pods.web1.ip, 'www.example.com');
    await ask(dnsgate, pods.web2.ip, 'dual.example.com');
    assert.equal((await allowed(dnsgate.adminPort)).entries.length, 2);
    const moved = { ...pods.web1, ip: net.address(15) };
    writeFileSync(join(own, 'pods.yaml'), podsYaml([moved]));
    await dnsgate.app.reload();
    const entries = (await allowed(dnsgate.adminPort)).entries.map((e) => [e.client?.name, e.client?.ip, e.ip]);
    assert.deepEqual(entries, [[moved.name, moved.ip, '192.0.2.10']]);
    assert.deepEqual((await allowed(dnsgate.adminPort, pods.web1.ip)).entries, [], 'nothing left under the old IP');
  } finally {
    await dnsgate.stop();
  }
});
