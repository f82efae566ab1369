import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { STANDARD_POLICIES, allowed, podsYaml, standardPods, writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { metricSum, scrapeMetrics } from '../helpers/wire.js';

const skip = missing('knotd', 'dig');
const net = new LoopbackSubnet();
const pods = standardPods(net);
const fixture = writeFixture({ 'pods.yaml': podsYaml([pods.web1, pods.web2]), 'policies.yaml': STANDARD_POLICIES });
let knot: DnsServer;
let dnsgate: RunningDnsgate;

before(async () => {
  if (skip) return;
  // knot answers with the zone's TTLs every time, so a lower TTL can only come from the cache.
  knot = await startKnot(net.address(2), { '.': standardRootZone(net.address(2)) });
  dnsgate = await startDnsgate(net.address(1), [
    '--upstream', `${knot.address}:${knot.port}`,
    '--cache-size', '100',
    '--pods', join(fixture, 'pods.yaml'),
    '--policies', join(fixture, 'policies.yaml'),
  ]);
});

after(async () => {
  await dnsgate?.stop();
  await knot?.stop();
});

const ask = (name: string, extra: { source?: string; extra?: string[]; type?: string } = {}) => dig(name, { server: dnsgate.address, port: dnsgate.port, ...extra });

test('a cached answer comes back with TTLs counted down and the client question case', { skip }, async () => {
  const first = await ask('www.example.com');
  assert.equal(first.answers[0].ttl, 300);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const second = await ask('WWW.Example.COM');
  assert.deepEqual(second.answers.map((r) => r.data), ['192.0.2.10']);
  assert.ok(second.answers[0].ttl < 300, `counted down: ${second.answers[0].ttl}`);
  assert.match(second.output, /;WWW\.Example\.COM\.\s+IN\s+A/, 'the question as the client wrote it');
  const metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_cache_lookups_total', { result: 'hit' }), 1);
  assert.equal(metricSum(metrics, 'dnsgate_cache_lookups_total', { result: 'miss' }), 1);
});

test('NXDOMAIN is cached with its SOA', { skip }, async () => {
  await ask('gone.example.com');
  const cached = await ask('gone.example.com');
  assert.equal(cached.status, 'NXDOMAIN');
  assert.equal(cached.authority[0]?.type, 'SOA');
  assert.equal(metricSum(await scrapeMetrics(dnsgate.adminPort), 'dnsgate_cache_lookups_total', { result: 'hit' }), 2);
});

test('an answer too big for a client without EDNS is not served from the cache over UDP', { skip }, async () => {
  const edns = await ask('big.example.com', { extra: ['+bufsize=4096'] });
  assert.equal(edns.answers.length, 60);
  const classic = await ask('big.example.com', { extra: ['+noedns', '+ignore'] });
  assert.ok(classic.flags.includes('tc'), 'the upstream was asked and truncated the answer');
});

test('a cached answer still teaches the pod that asked', { skip }, async () => {
  await ask('dual.example.com', { source: pods.web1.ip });
  assert.deepEqual((await allowed(dnsgate.adminPort, pods.web2.ip)).entries, []);
  const hitsBefore = metricSum(await scrapeMetrics(dnsgate.adminPort), 'dnsgate_cache_lookups_total', { result: 'hit' });
  await ask('dual.example.com', { source: pods.web2.ip });
  assert.equal(metricSum(await scrapeMetrics(dnsgate.adminPort), 'dnsgate_cache_lookups_total', { result: 'hit' }), hitsBefore + 1);
  assert.deepEqual((await allowed(dnsgate.adminPort, pods.web2.ip)).entries.map((e) => e.ip), ['192.0.2.13']);
});

test('queries with and without EDNS, or with and without RD, do not share a cached answer', { skip }, async () => {
  const withEdns = await ask('mail.example.com');
  assert.match(withEdns.output, /OPT PSEUDOSECTION/);
  // Served from the EDNS answer, this one would carry an OPT record it never asked for (RFC 6891 §7).
  const classic = await ask('mail.example.com', { extra: ['+noedns'] });
  assert.doesNotMatch(classic.output, /OPT PSEUDOSECTION/);
  const norecurse = await ask('mail.example.com', { extra: ['+norecurse'] });
  assert.ok(!norecurse.flags.includes('rd'), `the RD bit is the client's: ${norecurse.flags}`);
});
