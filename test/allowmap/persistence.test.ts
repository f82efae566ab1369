import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STANDARD_POLICIES, allowed, podsYaml, standardPods, writeFixture } from '../helpers/cluster.js';
import { DelayedDataplane } from '../helpers/delayed-dataplane.js';
import { dig } from '../helpers/dig.js';
import { startUpstreams } from '../helpers/dns-servers.js';
import { spawnReadyDnsgate, startDnsgate, waitFor } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet, freePort } from '../helpers/net.js';
import { metricSum, scrapeMetrics } from '../helpers/wire.js';

const skip = missing('knotd', 'unbound', 'dig');
const net = new LoopbackSubnet();
const pods = standardPods(net);
const fixture = writeFixture({ 'pods.yaml': podsYaml([pods.web1, pods.web2, pods.other]), 'policies.yaml': STANDARD_POLICIES });
let upstreams: Awaited<ReturnType<typeof startUpstreams>>;

before(async () => {
  if (skip) return;
  upstreams = await startUpstreams(net.address(2), net.address(3));
});

after(async () => {
  await upstreams?.stop();
});

function args(stateFile: string): string[] {
  return [
    '--upstream', `${upstreams.unbound.address}:${upstreams.unbound.port}`,
    '--pods', join(fixture, 'pods.yaml'),
    '--policies', join(fixture, 'policies.yaml'),
    '--log-stdout', 'false',
    '--state-file', stateFile,
    '--state-save-interval', '200ms',
  ];
}

test('learnt entries survive SIGTERM: saved at shutdown, restored at start', { skip }, async () => {
  const stateFile = join(fixture, 'sigterm.json');
  const first = await spawnReadyDnsgate(net.address(1), args(stateFile));
  await dig('www.example.com', { server: net.address(1), port: first.port, source: pods.web1.ip });
  first.child.kill('SIGTERM');
  assert.equal(await first.exited, 0);
  const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { entries: { ip: string }[] };
  assert.deepEqual(saved.entries.map((e) => e.ip), ['192.0.2.10']);

  const second = await spawnReadyDnsgate(net.address(1), args(stateFile));
  try {
    const json = await allowed(second.adminPort, pods.web1.ip);
    assert.deepEqual(json.entries.map((e) => [e.ip, e.domains, e.client?.name]), [['192.0.2.10', ['www.example.com'], pods.web1.name]]);
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
});

test('after kill -9 the last periodic save comes back', { skip }, async () => {
  const stateFile = join(fixture, 'kill9.json');
  const first = await spawnReadyDnsgate(net.address(1), args(stateFile));
  await dig('dual.example.com', { server: net.address(1), port: first.port, source: pods.web2.ip });
  await waitFor(() => {
    try {
      return readFileSync(stateFile, 'utf8').includes('192.0.2.13');
    } catch {
      return false;
    }
  }, 5000, 'a periodic save');
  first.child.kill('SIGKILL');
  await first.exited;

  const second = await spawnReadyDnsgate(net.address(1), args(stateFile));
  try {
    const json = await allowed(second.adminPort, pods.web2.ip);
    assert.deepEqual(json.entries.map((e) => e.ip), ['192.0.2.13']);
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
});

test('restored entries are in the dataplane before the listeners take a query', { skip }, async () => {
  const stateFile = join(fixture, 'order.json');
  const learner = await startDnsgate(net.address(5), args(stateFile));
  await dig('www.example.com', { server: net.address(5), port: learner.port, source: pods.web1.ip });
  await learner.stop();

  // A dataplane that, while it resyncs, checks the DNS port is not yet taken.
  const port = await freePort(net.address(6));
  const dataplane = new DelayedDataplane(100);
  let portFreeDuringResync: boolean | undefined;
  dataplane.onResync = () =>
    new Promise((resolve) => {
      const probe = createSocket('udp4');
      probe.once('error', () => {
        portFreeDuringResync = false;
        resolve();
      });
      probe.bind(port, net.address(6), () => {
        portFreeDuringResync = true;
        probe.close(() => resolve());
      });
    });
  const restored = await startDnsgate(net.address(6), args(stateFile), { dataplane, port });
  try {
    assert.equal(portFreeDuringResync, true, 'the DNS port was not bound while the map was being restored');
    assert.deepEqual(dataplane.resyncs[0].map((e) => e.ip), ['192.0.2.10']);
    await dig('www.example.com', { server: net.address(6), port, source: pods.web1.ip });
    const metrics = await scrapeMetrics(restored.adminPort);
    assert.equal(metricSum(metrics, 'dnsgate_answers_released_without_wait_total'), 1, 'the restored entry needs no hold');
    assert.equal(metricSum(metrics, 'dnsgate_hold_duration_seconds_count'), 0);
  } finally {
    await restored.stop();
  }
});

test('a corrupt state file is reported in one line and start-up goes on', { skip }, async () => {
  const stateFile = join(fixture, 'corrupt.json');
  writeFileSync(stateFile, '\u0000garbage');
  const dnsgate = await startDnsgate(net.address(7), args(stateFile));
  try {
    assert.ok(dnsgate.logger.lines.includes(`${stateFile}: state file is not JSON, ignored`), dnsgate.logger.lines.join('\n'));
    const result = await dig('www.example.com', { server: net.address(7), port: dnsgate.port });
    assert.equal(result.status, 'NOERROR');
  } finally {
    await dnsgate.stop();
  }
});

test('saves never overlap: with an interval shorter than a save, every one succeeds and the file stays whole', { skip }, async () => {
  const stateFile = join(fixture, 'busy.json');
  const running = await startDnsgate(net.address(4), [...args(stateFile), '--state-save-interval', '1ms']);
  try {
    await dig('www.example.com', { server: running.address, port: running.port, source: pods.web1.ip });
    // Each save syncs the file, which takes longer than a millisecond.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(running.logger.lines.filter((line) => line.includes('cannot save state')), []);
  } finally {
    await running.stop();
  }
  const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { entries: { ip: string }[] };
  assert.deepEqual(saved.entries.map((e) => e.ip), ['192.0.2.10']);
});
