// A pod that resolves never-seen names under an allowed wildcard, all answered with one
// IP (as a CDN or a wildcard record would), must not grow dnsgate without bound: the
// entry's names, the pod's retained names and all pods' retained names stay at their
// caps, and each drop is counted. Counts, not memory or time, are asserted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { allowed, podsYaml, standardPods, webEgressPolicy, writeFixture } from '../helpers/cluster.js';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { startHostileUpstream, type HostileUpstream } from '../helpers/hostile-upstream.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { metricSum, scrapeMetrics, udpAskMany } from '../helpers/wire.js';

const skip = missing();
const net = new LoopbackSubnet();
const pods = standardPods(net);
const POLICY = webEgressPolicy(['*.churn.example.com']);
const fixture = writeFixture({ 'pods.yaml': podsYaml([pods.web1, pods.web2]), 'policies.yaml': POLICY });
const NAMES = 3000;
const PER_POD = 200;
const PER_ENTRY = 16;
const TOTAL = 300;

let upstream: HostileUpstream;
let dnsgate: RunningDnsgate;

before(async () => {
  if (skip) return;
  upstream = await startHostileUpstream(net.address(2), (_query, name) => ({ answers: [{ type: 'A', name, ttl: 300, data: '192.0.2.99' }] }));
  dnsgate = await startDnsgate(net.address(1), [
    '--upstream', `${upstream.address}:${upstream.port}`,
    '--pods', join(fixture, 'pods.yaml'),
    '--policies', join(fixture, 'policies.yaml'),
    '--max-names-per-pod', String(PER_POD),
    '--max-names-per-entry', String(PER_ENTRY),
    '--max-entries', String(TOTAL),
  ]);
});

after(async () => {
  await dnsgate?.stop();
  await upstream?.stop();
});

const names = (pod: string, count: number) => Array.from({ length: count }, (_, i) => `n${i}.${pod}.churn.example.com`);

test('never-seen names sharing one IP: every per-name structure stays at its cap, and drops are counted', { skip }, async () => {
  const replies = await udpAskMany(names('a', NAMES), dnsgate.address, dnsgate.port, pods.web1.ip, 32);
  assert.equal(replies.size, NAMES, 'every name answered');
  const entries = (await allowed(dnsgate.adminPort, pods.web1.ip)).entries;
  assert.equal(entries.length, 1, 'one IP, one entry');
  assert.equal(entries[0].domains.length, PER_ENTRY, 'the entry lists the most recent names only');
  // Answers to the 32 names in flight may arrive in any order: the names kept are among the last ones asked.
  const indexes = entries[0].domains.map((domain) => Number(/^n(\d+)\./.exec(domain)?.[1]));
  assert.ok(indexes.every((i) => i >= NAMES - PER_ENTRY - 32), `the most recent names: ${indexes.join(', ')}`);
  let metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_retained_names'), PER_POD, 'the pod keeps --max-names-per-pod names');
  assert.equal(metricSum(metrics, 'dnsgate_learning_dropped_total', { what: 'client-names' }), NAMES - PER_POD);
  assert.equal(metricSum(metrics, 'dnsgate_learning_dropped_total', { what: 'entry-names' }), NAMES - PER_ENTRY);

  // A second pod: all pods together keep --max-entries names.
  await udpAskMany(names('b', PER_POD), dnsgate.address, dnsgate.port, pods.web2.ip, 32);
  metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_retained_names'), TOTAL);
  assert.equal(metricSum(metrics, 'dnsgate_learning_dropped_total', { what: 'total-names' }), 2 * PER_POD - TOTAL);
  const kept = [pods.web1, pods.web2].map((pod) => dnsgate.app.mappings.namesOf(`shop/${pod.name}`).length);
  assert.deepEqual(kept, [TOTAL / 2, TOTAL / 2], 'past the total, the pod holding the most names gives up its least recent');
});
