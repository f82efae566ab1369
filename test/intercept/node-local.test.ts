/**
 * Node-local interception against real nftables, in namespaces of its own (node.ts):
 * pods keep `nameserver 10.96.0.10` and kube-proxy's DNAT, dnsgate runs on the node
 * with `--intercept 10.96.0.10 --intercept fd00:10:96::a` (the node is dual-stack), and
 * nothing in the pods changes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dig } from '../helpers/dig.js';
import { type DnsgateProcess, waitFor } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { freePort } from '../helpers/net.js';
import type { PodNetwork } from '../dataplane/topology.js';
import { KubeNode, SERVICE_IP, SERVICE_IP6, TABLE } from './node.js';

const skip = missing('nft', 'ip', 'knotd', 'unbound', 'dig', 'getent', 'musl-gcc');
let node: KubeNode;
let dnsgate: DnsgateProcess;
let adminPort: number;
let webA: PodNetwork;
let other: PodNetwork;
/** `--deny-response refused`: search-list expansions under cluster.local must still be forwarded. */
const EXTRA = ['--deny-response', 'refused'];

before(async () => {
  if (skip) return;
  node = await KubeNode.create(3);
  [webA, , other] = node.pods;
  adminPort = await freePort('127.0.0.1');
  dnsgate = await node.startDnsgate(adminPort, EXTRA);
});

after(async () => {
  await node?.delete();
});

/** Answers dnsgate sent, over `transport` or both. */
const queriesSeen = async (transport?: 'udp' | 'tcp'): Promise<number> => {
  const metrics = (await node.topology.node.get(`http://127.0.0.1:${adminPort}/metrics`))?.body ?? '';
  const series = [...metrics.matchAll(/^dnsgate_queries_total\{([^}]*)\} (\d+)/gm)].filter(([, labels]) => transport === undefined || labels.includes(`transport="${transport}"`));
  return series.reduce((sum, match) => sum + Number(match[2]), 0);
};

const digService = (pod: PodNetwork, name: string, tcp = false) => dig(name, { server: SERVICE_IP, port: 53, place: pod.namespace, tcp, timeout: 2 });

test('glibc and musl resolve through the Service IP, the pod learns, and the first connection after each lookup passes (30 of 30)', { skip }, async () => {
  const before = await queriesSeen();
  const failures: string[] = [];
  for (let i = 1; i <= 30; i++) {
    const resolver = i <= 15 ? 'glibc' : 'musl';
    const ips = await node.lookup(webA, `n${i}.allowed.world`, resolver);
    if (ips.join() !== `203.0.113.${i}`) failures.push(`${resolver} n${i}: ${ips.join() || 'no answer'}`);
    else if (!(await webA.agent.connects(ips[0], 443))) failures.push(`${resolver} n${i}: first connection failed`);
  }
  assert.deepEqual(failures, []);
  // Each lookup walks the search list first (ndots:5): far more than 30 queries, all through dnsgate.
  assert.ok((await queriesSeen()) - before >= 30 * 4, 'dnsgate answered the pods\' queries');
});

test('cluster names resolve with --deny-response on: Service names and search-list expansions are forwarded', { skip }, async () => {
  assert.deepEqual(await node.lookup(webA, 'api', 'glibc'), ['203.0.113.150'], 'glibc: a Service by its short name');
  assert.deepEqual(await node.lookup(webA, 'api', 'musl'), ['203.0.113.150'], 'musl: a Service by its short name');
  assert.deepEqual(await node.lookup(webA, 'api.shop.svc.cluster.local', 'musl'), ['203.0.113.150']);
  const denied = await digService(webA, 'nope.denied.world');
  assert.equal(denied.status, 'REFUSED', 'a name no rule allows is still refused');
});

test('dig +tcp to the Service IP is intercepted and teaches', { skip }, async () => {
  const answer = await digService(webA, 'web.allowed.world', true);
  assert.deepEqual(answer.answers.map((record) => record.data), ['203.0.113.50']);
  assert.match(answer.output, /SERVER: 10\.96\.0\.10#53\(10\.96\.0\.10\) \(TCP\)/, 'the answer comes from the address asked');
  assert.equal(await webA.agent.connects('203.0.113.50', 443), true);
});

test('IPv6: a glibc lookup over UDP and dig +tcp to the IPv6 Service are intercepted, answered from the Service address, and teach', { skip }, async () => {
  const resolvConf = `/etc/netns/${webA.namespace.name}/resolv.conf`;
  const kubelet = readFileSync(resolvConf, 'utf8');
  const [udpBefore, tcpBefore] = [await queriesSeen('udp'), await queriesSeen('tcp')];
  try {
    writeFileSync(resolvConf, kubelet.replace(`nameserver ${SERVICE_IP}`, `nameserver ${SERVICE_IP6}`));
    assert.deepEqual(await node.lookup(webA, 'n35.allowed.world', 'glibc'), ['203.0.113.35']);
  } finally {
    writeFileSync(resolvConf, kubelet);
  }
  assert.ok((await queriesSeen('udp')) > udpBefore, 'dnsgate answered the lookup over UDP');
  assert.equal(await webA.agent.connects('203.0.113.35', 443), true, 'the pod, known by its IPv6 address, learnt');

  const tcp = await dig('n36.allowed.world', { server: SERVICE_IP6, port: 53, place: webA.namespace, tcp: true });
  assert.deepEqual(tcp.answers.map((record) => record.data), ['203.0.113.36']);
  assert.match(tcp.output, /SERVER: fd00:10:96::a#53\(fd00:10:96::a\) \(TCP\)/, 'the answer comes from the address asked');
  assert.equal(await queriesSeen('tcp'), tcpBefore + 1, 'dnsgate answered it over TCP');
  assert.equal(await webA.agent.connects('203.0.113.36', 443), true);
  // CoreDNS's IPv6 address would answer with the name's address; dnsgate refuses it.
  const denied = await dig('nope.denied.world', { server: SERVICE_IP6, port: 53, place: webA.namespace });
  assert.equal(denied.status, 'REFUSED');
  assert.match(denied.output, /SERVER: fd00:10:96::a#53\(fd00:10:96::a\) \(UDP\)/);
});

test('an unselected pod is untouched: its DNS works and nothing blocks it', { skip }, async () => {
  assert.deepEqual(await node.lookup(other, 'nope.denied.world', 'glibc'), ['203.0.113.51']);
  assert.equal(await other.agent.connects('203.0.113.51', 80), true);
  assert.ok(!(await node.nftList('list', 'map', 'inet', TABLE, 'enforced_v4')).includes(other.ip), 'no enforcement for it');
});

test('after kill -9 the pods\' DNS answers again within 10 s, unlearnt IPs stay blocked; a restart intercepts again', { skip }, async () => {
  dnsgate.child.kill('SIGKILL');
  await dnsgate.exited;
  const killed = Date.now();
  await waitFor(async () => (await digService(webA, 'n41.allowed.world')).answers.length > 0, 10_000, 'DNS through the Service IP without dnsgate');
  assert.ok(Date.now() - killed <= 10_000);
  assert.deepEqual(await node.lookup(webA, 'n42.allowed.world', 'musl'), ['203.0.113.42'], 'resolvers work without dnsgate');
  assert.equal(await webA.agent.connects('203.0.113.42', 443, 500), false, 'an IP resolved without dnsgate stays blocked');
  assert.equal(await webA.agent.connects('203.0.113.1', 443), true, 'what was learnt stays allowed');

  dnsgate = await node.startDnsgate(adminPort, EXTRA);
  const before = await queriesSeen();
  assert.deepEqual(await node.lookup(webA, 'n43.allowed.world', 'glibc'), ['203.0.113.43']);
  assert.ok((await queriesSeen()) > before, 'intercepted again');
  assert.equal(await webA.agent.connects('203.0.113.43', 443), true);
});

test('a clean stop leaves the same state: DNS reaches the Service at once, enforcement stays', { skip }, async () => {
  dnsgate.child.kill('SIGTERM');
  assert.equal(await dnsgate.exited, 0);
  const answer = await digService(webA, 'n44.allowed.world');
  assert.deepEqual(answer.answers.map((record) => record.data), ['203.0.113.44']);
  assert.equal(await webA.agent.connects('203.0.113.44', 443, 500), false);
  // Uninstalling: the documented command removes everything dnsgate made.
  await node.nftList('delete', 'table', 'inet', TABLE);
  assert.doesNotMatch(await node.nftList('list', 'tables'), /dnsgate/);
  assert.equal(await webA.agent.connects('203.0.113.44', 443), true);
});
