import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { STANDARD_POLICIES, podsYaml, standardPods, writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { metricSum, scrapeMetrics } from '../helpers/wire.js';

const skip = missing('knotd', 'dig');
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
