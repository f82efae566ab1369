import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { STANDARD_POLICIES, podsYaml, standardPods, writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, startUnbound, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { HOST } from '../helpers/netns.js';
import { metricSum, scrapeMetrics } from '../helpers/wire.js';

const skip = missing('knotd', 'dig', 'unbound');
const net = new LoopbackSubnet();
const pods = standardPods(net);
const fixture = writeFixture({ 'pods.yaml': podsYaml([pods.web1, pods.other]), 'policies.yaml': STANDARD_POLICIES });
let knot: DnsServer;
let refused: RunningDnsgate;
let nxdomain: RunningDnsgate;

before(async () => {
  if (skip) return;
  knot = await startKnot(net.address(2), { '.': standardRootZone(net.address(2)) });
  const common = ['--upstream', `${knot.address}:${knot.port}`, '--pods', join(fixture, 'pods.yaml'), '--policies', join(fixture, 'policies.yaml')];
  refused = await startDnsgate(net.address(1), [...common, '--deny-response', 'refused']);
  nxdomain = await startDnsgate(net.address(3), [...common, '--deny-response', 'nxdomain']);
});

after(async () => {
  await refused?.stop();
  await nxdomain?.stop();
  await knot?.stop();
});

test('--deny-response answers names no rule allows an enforced pod, and nothing else', { skip }, async () => {
  const ask = (dnsgate: RunningDnsgate, source: string, name: string) => dig(name, { server: dnsgate.address, port: dnsgate.port, source });
  assert.equal((await ask(refused, pods.web1.ip, 'mail.example.com')).status, 'REFUSED');
  assert.equal((await ask(nxdomain, pods.web1.ip, 'mail.example.com')).status, 'NXDOMAIN');
  assert.deepEqual((await ask(refused, pods.web1.ip, 'www.example.com')).answers.map((r) => r.data), ['192.0.2.10'], 'allowed names are forwarded');
  assert.equal((await ask(refused, pods.other.ip, 'mail.example.com')).status, 'NOERROR', 'pods no policy selects are not enforced');
  assert.equal((await ask(refused, pods.unknownIp, 'mail.example.com')).status, 'NOERROR', 'unknown clients are not enforced');
  assert.equal(metricSum(await scrapeMetrics(refused.adminPort), 'dnsgate_denied_queries_total'), 1);
});

test('deny answers follow EDNS: an OPT for a query with one (DO copied), none without; NXDOMAIN carries a SOA for the name', { skip }, async () => {
  const ask = (dnsgate: RunningDnsgate, extra: string[]) => dig('mail.example.com', { server: dnsgate.address, port: dnsgate.port, source: pods.web1.ip, extra });
  const nx = await ask(nxdomain, ['+dnssec']);
  assert.equal(nx.status, 'NXDOMAIN');
  assert.match(nx.output, /OPT PSEUDOSECTION:\n; EDNS: version: 0, flags: do; udp: 1232\n/);
  assert.equal(nx.authority.length, 1);
  assert.deepEqual([nx.authority[0].name, nx.authority[0].type, nx.authority[0].ttl], ['mail.example.com.', 'SOA', 10]);
  assert.match(nx.authority[0].data, / 10$/, 'MINIMUM, the negative-caching time');
  const refusedReply = await ask(refused, []);
  assert.equal(refusedReply.status, 'REFUSED');
  assert.match(refusedReply.output, /; EDNS: version: 0, flags:; udp: 1232\n/);
  assert.deepEqual(refusedReply.authority, []);
  const plain = await ask(nxdomain, ['+noedns']);
  assert.equal(plain.status, 'NXDOMAIN');
  assert.doesNotMatch(plain.output, /OPT PSEUDOSECTION/);
});

test('a caching resolver in front of dnsgate caches the NXDOMAIN of a denied name', { skip }, async () => {
  // unbound forwards to dnsgate from the pod's address, as a cache in the pod would.
  const resolver = await startUnbound(pods.web1.ip, { address: nxdomain.address, port: nxdomain.port }, HOST, { forward: true });
  try {
    const before = metricSum(await scrapeMetrics(nxdomain.adminPort), 'dnsgate_denied_queries_total');
    const first = await dig('cached.mail.example.com', { server: pods.web1.ip, port: resolver.port });
    assert.equal(first.status, 'NXDOMAIN');
    assert.equal(first.authority[0]?.type, 'SOA', first.output);
    // The second answer comes from unbound's cache: dnsgate saw one query.
    const second = await dig('cached.mail.example.com', { server: pods.web1.ip, port: resolver.port });
    assert.equal(second.status, 'NXDOMAIN');
    assert.equal(metricSum(await scrapeMetrics(nxdomain.adminPort), 'dnsgate_denied_queries_total') - before, 1, 'the second answer came from the cache');
  } finally {
    await resolver.stop();
  }
});
