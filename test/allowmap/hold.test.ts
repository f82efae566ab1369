// The dataplane here is the in-process DelayedDataplane: these tests must decide how
// long the dataplane takes (or that it fails), which a real firewall does not allow.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { STANDARD_POLICIES, podsYaml, standardPods, writeFixture } from '../helpers/cluster.js';
import { DelayedDataplane } from '../helpers/delayed-dataplane.js';
import { dig } from '../helpers/dig.js';
import { startUpstreams } from '../helpers/dns-servers.js';
import { startDnsgate, waitFor, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { metricSum, scrapeMetrics } from '../helpers/wire.js';

const skip = missing('knotd', 'unbound', 'dig');
const net = new LoopbackSubnet();
const pods = standardPods(net);
const fixture = writeFixture({ 'pods.yaml': podsYaml([pods.web1, pods.web2, pods.other]), 'policies.yaml': STANDARD_POLICIES });
let upstreams: Awaited<ReturnType<typeof startUpstreams>>;
const running: RunningDnsgate[] = [];
let nextHost = 20;

before(async () => {
  if (skip) return;
  upstreams = await startUpstreams(net.address(2), net.address(3));
});

after(async () => {
  for (const dnsgate of running) await dnsgate.stop();
  await upstreams?.stop();
});

async function dnsgateWith(dataplane: DelayedDataplane, args: string[]): Promise<RunningDnsgate> {
  const dnsgate = await startDnsgate(
    net.address(nextHost++),
    ['--upstream', `${upstreams.unbound.address}:${upstreams.unbound.port}`, '--pods', join(fixture, 'pods.yaml'), '--policies', join(fixture, 'policies.yaml'), '--log-stdout', 'false', ...args],
    { dataplane },
  );
  running.push(dnsgate);
  return dnsgate;
}

const ask = (dnsgate: RunningDnsgate, source: string, name: string) => dig(name, { server: dnsgate.address, port: dnsgate.port, source, timeout: 5 });

test('DelayDNSResponse: the answer waits for the dataplane; a repeat with nothing new does not', { skip }, async () => {
  const dataplane = new DelayedDataplane(1000);
  const dnsgate = await dnsgateWith(dataplane, []);
  const first = await ask(dnsgate, pods.web1.ip, 'www.example.com');
  assert.equal(first.status, 'NOERROR');
  assert.ok(first.elapsedMs >= 1000, `held for the dataplane: ${first.elapsedMs} ms`);
  assert.ok(dataplane.programmed.has(`shop/${pods.web1.name}|192.0.2.10`), 'programmed before the answer');

  const repeat = await ask(dnsgate, pods.web1.ip, 'www.example.com');
  assert.ok(repeat.elapsedMs < 900, `no hold when nothing is new: ${repeat.elapsedMs} ms`);
  const unselected = await ask(dnsgate, pods.other.ip, 'www.example.com');
  assert.ok(unselected.elapsedMs < 900, 'no hold for pods that learn nothing');
  const metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_answers_released_without_wait_total'), 1);
  assert.equal(metricSum(metrics, 'dnsgate_hold_duration_seconds_count'), 1);
});

test('concurrent answers share one dataplane batch', { skip }, async () => {
  const dataplane = new DelayedDataplane(300);
  const dnsgate = await dnsgateWith(dataplane, []);
  await ask(dnsgate, pods.web2.ip, 'www.example.com'); // one batch in flight at a time: start clean
  const batchesBefore = dataplane.batches.length;
  const names = ['v6.example.com', 'chain.example.com', 'dual.example.com', 'multi.example.com', 'hop.example.net'];
  const results = await Promise.all(names.map((name) => ask(dnsgate, pods.web1.ip, name)));
  for (const result of results) assert.equal(result.status, 'NOERROR');
  assert.ok(dataplane.batches.length - batchesBefore <= 2, `five answers in at most two batches, got ${dataplane.batches.length - batchesBefore}`);
});

test('--max-hold with release: the answer goes out at the timeout, counted', { skip }, async () => {
  const dataplane = new DelayedDataplane(3000);
  const dnsgate = await dnsgateWith(dataplane, ['--max-hold', '300ms', '--hold-timeout-action', 'release']);
  const result = await ask(dnsgate, pods.web1.ip, 'www.example.com');
  assert.equal(result.status, 'NOERROR');
  assert.deepEqual(result.answers.map((r) => r.data), ['192.0.2.10']);
  assert.ok(result.elapsedMs >= 280 && result.elapsedMs < 2000, `released at the hold timeout: ${result.elapsedMs} ms`);
  const metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_hold_timeouts_total', { action: 'release' }), 1);
});

test('--max-hold with servfail: SERVFAIL at the timeout, counted', { skip }, async () => {
  const dataplane = new DelayedDataplane(3000);
  const dnsgate = await dnsgateWith(dataplane, ['--max-hold', '300ms', '--hold-timeout-action', 'servfail']);
  const result = await ask(dnsgate, pods.web1.ip, 'www.example.com');
  assert.equal(result.status, 'SERVFAIL');
  assert.ok(result.elapsedMs >= 280 && result.elapsedMs < 2000, `${result.elapsedMs} ms`);
  const metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_hold_timeouts_total', { action: 'servfail' }), 1);
});

test('a failed dataplane batch fails only the answers it carried, per the timeout action', { skip }, async () => {
  const dataplane = new DelayedDataplane(50);
  const dnsgate = await dnsgateWith(dataplane, ['--hold-timeout-action', 'servfail']);
  dataplane.failNext = 1;
  const failed = await ask(dnsgate, pods.web1.ip, 'www.example.com');
  assert.equal(failed.status, 'SERVFAIL');
  const next = await ask(dnsgate, pods.web1.ip, 'dual.example.com');
  assert.equal(next.status, 'NOERROR', 'the following batch (a resync) succeeds');
  assert.ok(dataplane.programmed.has(`shop/${pods.web1.name}|192.0.2.10`), 'the resync programmed the earlier entry too');
  const metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_hold_failures_total', { action: 'servfail' }), 1);
});

test('NoDelay: the answer goes out at once and the dataplane catches up', { skip }, async () => {
  const dataplane = new DelayedDataplane(1500);
  const dnsgate = await dnsgateWith(dataplane, ['--policy-mode', 'NoDelay']);
  const result = await ask(dnsgate, pods.web1.ip, 'www.example.com');
  assert.equal(result.status, 'NOERROR');
  assert.ok(result.elapsedMs < 1200, `not held: ${result.elapsedMs} ms`);
  assert.ok(!dataplane.programmed.has(`shop/${pods.web1.name}|192.0.2.10`), 'not yet programmed when the answer arrived');
  await waitFor(() => dataplane.programmed.has(`shop/${pods.web1.name}|192.0.2.10`), 5000, 'the dataplane to catch up');
});
