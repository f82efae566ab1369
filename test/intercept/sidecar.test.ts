/**
 * Sidecar interception against real nftables: dnsgate runs inside a pod's network
 * namespace, as the same user as the app (root here, for both), with --nft-hook output.
 * The pod keeps `nameserver 10.96.0.10`; its policy allows DNS only to the kube-dns pod
 * (10.77.0.53), an address the pod's netns never sees since kube-proxy's DNAT happens on
 * the node. See node.ts for the node.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { dig } from '../helpers/dig.js';
import { spawnDnsgate, waitFor, type DnsgateProcess } from '../helpers/dnsgate.js';
import { startUnbound, type DnsServer } from '../helpers/dns-servers.js';
import { missing } from '../helpers/env.js';
import type { PodNetwork } from '../dataplane/topology.js';
import { KubeNode, SERVICE_IP, TABLE } from './node.js';

const skip = missing('nft', 'ip', 'knotd', 'unbound', 'dig', 'getent', 'musl-gcc');
const ADMIN = '127.0.0.1:9254';
/** A DNS server the pod's policy does not allow. */
const OTHER_DNS = '10.77.0.54';
let node: KubeNode;
let otherDns: DnsServer;
let dnsgate: DnsgateProcess;
let webA: PodNetwork;
let other: PodNetwork;

before(async () => {
  if (skip) return;
  node = await KubeNode.create(3);
  [webA, , other] = node.pods;
  const [file, args] = node.topology.node.command('ip', ['addr', 'add', `${OTHER_DNS}/32`, 'dev', 'lo']);
  execFileSync(file, args);
  otherDns = await startUnbound(OTHER_DNS, node.knot, node.topology.node, { port: 53, allow: ['10.0.0.0/8'] });
  dnsgate = spawnDnsgate(
    [
      'serve',
      '--listen', '127.0.0.1:5354',
      '--admin', ADMIN,
      '--upstream', SERVICE_IP,
      '--intercept', SERVICE_IP,
      '--dataplane', 'nftables',
      '--nft-hook', 'output',
      '--pods', join(node.fixture, 'pods.yaml'),
      '--policies', join(node.fixture, 'policies.yaml'),
      '--local-pod', 'shop/web-a',
      '--log-stdout', 'false',
    ],
    webA.namespace,
  );
  await waitFor(async () => (await webA.namespace.get(`http://${ADMIN}/readyz`))?.status === 200, 20_000, 'sidecar dnsgate readiness');
});

after(async () => {
  dnsgate?.child.kill('SIGKILL');
  await dnsgate?.exited;
  await otherDns?.stop();
  await node?.delete();
});

const answered = async (): Promise<number> => {
  const metrics = (await webA.namespace.get(`http://${ADMIN}/metrics`))?.body ?? '';
  return [...metrics.matchAll(/^dnsgate_queries_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
};

test('the pod\'s DNS to the Service IP is captured (glibc and musl over UDP, dig over TCP), and its first connections pass', { skip }, async () => {
  const before = await answered();
  assert.deepEqual(await node.lookup(webA, 'n1.allowed.world', 'glibc'), ['203.0.113.1']);
  assert.equal(await webA.agent.connects('203.0.113.1', 443), true);
  assert.deepEqual(await node.lookup(webA, 'n2.allowed.world', 'musl'), ['203.0.113.2']);
  assert.equal(await webA.agent.connects('203.0.113.2', 443), true);
  const tcp = await dig('web.allowed.world', { server: SERVICE_IP, port: 53, tcp: true, place: webA.namespace });
  assert.deepEqual(tcp.answers.map((record) => record.data), ['203.0.113.50']);
  assert.match(tcp.output, /SERVER: 10\.96\.0\.10#53\(10\.96\.0\.10\) \(TCP\)/);
  assert.equal(await webA.agent.connects('203.0.113.50', 443), true);
  assert.ok((await answered()) - before >= 3, 'dnsgate answered them');
  assert.equal(await webA.agent.connects('203.0.113.51', 443, 500), false, 'what was not learnt stays blocked');
});

test('a direct query from the app to another DNS server is blocked by the pod\'s policy', { skip }, async () => {
  const direct = await dig('www.example.com', { server: OTHER_DNS, port: 53, place: webA.namespace, timeout: 1 });
  assert.equal(direct.timedOut, true);
  const unenforced = await dig('www.example.com', { server: OTHER_DNS, port: 53, place: other.namespace, timeout: 2 });
  assert.deepEqual(unenforced.answers.map((record) => record.data), ['192.0.2.10'], 'the server answers pods no policy selects');
});

test('after kill -9 the pod resolves through the Service IP directly once the lease runs out, and enforcement stays', { skip }, async () => {
  dnsgate.child.kill('SIGKILL');
  await dnsgate.exited;
  const killed = Date.now();
  // The pod's policy allows DNS only to the kube-dns pod, whose address its netns never
  // sees: without dnsgate, its DNS to the Service IP must still go out.
  await waitFor(async () => (await dig('n3.allowed.world', { server: SERVICE_IP, port: 53, place: webA.namespace, timeout: 1 })).answers.length > 0, 10_000, 'DNS through the Service IP without dnsgate');
  assert.ok(Date.now() - killed <= 10_000);
  const [nft, nftArgs] = webA.namespace.command('nft', ['list', 'set', 'inet', TABLE, 'intercept_targets4']);
  assert.doesNotMatch(execFileSync(nft, nftArgs, { encoding: 'utf8' }), /10\.96\.0\.10/, 'the lease ran out: nothing is intercepted');
  const tcp = await dig('n4.allowed.world', { server: SERVICE_IP, port: 53, tcp: true, place: webA.namespace });
  assert.deepEqual(tcp.answers.map((record) => record.data), ['203.0.113.4'], 'TCP too');
  assert.deepEqual(await node.lookup(webA, 'n5.allowed.world', 'musl'), ['203.0.113.5'], 'resolvers work without dnsgate');
  assert.equal(await webA.agent.connects('203.0.113.5', 443, 500), false, 'an IP resolved without dnsgate stays blocked');
  assert.equal(await webA.agent.connects('203.0.113.1', 443), true, 'what was learnt stays allowed');
  const direct = await dig('www.example.com', { server: OTHER_DNS, port: 53, place: webA.namespace, timeout: 1 });
  assert.equal(direct.timedOut, true, 'DNS to any other server stays blocked');
});
