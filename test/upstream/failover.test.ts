import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { startDnsgate, waitFor, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet, freePort } from '../helpers/net.js';
import { metricSum, scrapeMetrics } from '../helpers/wire.js';

const skip = missing('knotd', 'dig');
const net = new LoopbackSubnet();
let live: DnsServer;
const started: RunningDnsgate[] = [];

before(async () => {
  if (skip) return;
  live = await startKnot(net.address(2), { '.': standardRootZone(net.address(2)) });
});

after(async () => {
  for (const dnsgate of started) await dnsgate.stop();
  await live?.stop();
});

async function dnsgateWith(host: number, upstreams: string[]): Promise<RunningDnsgate> {
  const dnsgate = await startDnsgate(net.address(host), upstreams.flatMap((u) => ['--upstream', u]));
  started.push(dnsgate);
  return dnsgate;
}

test('a dead upstream gives SERVFAIL in under 3 s', { skip }, async () => {
  // Nothing listens on this address and port: queries vanish, as with a dead server.
  const dead = `${net.address(9)}:${await freePort(net.address(9))}`;
  const dnsgate = await dnsgateWith(10, [dead]);
  const result = await dig('www.example.com', { server: dnsgate.address, port: dnsgate.port, timeout: 5 });
  assert.equal(result.status, 'SERVFAIL');
  assert.ok(result.elapsedMs < 3000, `answered after ${result.elapsedMs} ms`);
  assert.ok(result.elapsedMs >= 1900, 'after the 2 s upstream timeout, not before');
});

test('failover: a dead first upstream is retried on the next, then skipped until it answers', { skip }, async () => {
  const deadAddress = net.address(11);
  const deadPort = await freePort(deadAddress);
  const dnsgate = await dnsgateWith(12, [`${deadAddress}:${deadPort}`, `${live.address}:${live.port}`]);
  const ask = () => dig('www.example.com', { server: dnsgate.address, port: dnsgate.port, timeout: 5 });

  const first = await ask();
  assert.equal(first.status, 'NOERROR');
  assert.deepEqual(first.answers.map((r) => r.data), ['192.0.2.10']);
  assert.ok(first.elapsedMs >= 1900 && first.elapsedMs < 3000, `first answer after the timeout, got ${first.elapsedMs} ms`);

  await ask(); // the second failure marks it unhealthy
  const metrics = await scrapeMetrics(dnsgate.adminPort);
  assert.equal(metricSum(metrics, 'dnsgate_upstream_healthy', { upstream: `${deadAddress}:${deadPort}` }), 0);
  assert.ok(metricSum(metrics, 'dnsgate_upstream_failures_total', { reason: 'timeout' }) >= 2);

  const skipped = await ask();
  assert.equal(skipped.status, 'NOERROR');
  assert.ok(skipped.elapsedMs < 1000, `the dead upstream is skipped, got ${skipped.elapsedMs} ms`);

  // The upstream comes back: the health probe notices and it is used again.
  const revived = await startKnot(deadAddress, { '.': standardRootZone(deadAddress) }, { port: deadPort });
  try {
    await waitFor(async () => metricSum(await scrapeMetrics(dnsgate.adminPort), 'dnsgate_upstream_healthy', { upstream: `${deadAddress}:${deadPort}` }) === 1, 5000, 'the probe to mark the upstream healthy');
  } finally {
    await revived.stop();
  }
});
