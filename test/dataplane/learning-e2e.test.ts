/**
 * Learning as the kernel sees it, with real nftables in namespaces of its own (see
 * topology.ts): an IPv4-mapped AAAA answer lets the IPv4 connection a dual-stack socket
 * makes through, and a policy loaded after the pod resolved a name applies to the
 * answer the pod already holds, with no new lookup.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, startUnbound, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { waitFor } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { parseMetrics, metricSum } from '../helpers/wire.js';
import { ADMIN, TABLE, clusterPodsYaml, clusterPolicies, nftIn, startNodeDnsgate, type NodeDnsgate } from './cluster.js';
import { Topology, type PodNetwork } from './topology.js';

const skip = missing('nft', 'ip', 'knotd', 'unbound', 'dig');
const RECORDS = ['mapped.allowed.world. 300 IN AAAA ::ffff:203.0.113.80', 'later.permitted.world. 300 IN A 203.0.113.81'].join('\n');
let topology: Topology;
let knot: DnsServer | undefined;
let unbound: DnsServer | undefined;
let dnsgate: NodeDnsgate | undefined;
let fixture: string;
let web: PodNetwork;

before(async () => {
  if (skip) return;
  topology = await Topology.create(3);
  web = topology.pods[0];
  fixture = writeFixture({ 'pods.yaml': clusterPodsYaml(topology.pods.map((pod) => pod.ip)), 'policies.yaml': clusterPolicies() });
  knot = await startKnot('127.0.0.2', { '.': standardRootZone('127.0.0.2', RECORDS) }, { port: 5300, place: topology.node });
  unbound = await startUnbound('127.0.0.1', knot, topology.node);
  dnsgate = await startNodeDnsgate(topology.node, topology.pods.map((pod) => pod.gateway), [
    '--upstream', `127.0.0.1:${unbound.port}`,
    '--pods', join(fixture, 'pods.yaml'),
    '--policies', join(fixture, 'policies.yaml'),
  ]);
});

after(async () => {
  await dnsgate?.stop(true);
  await unbound?.stop();
  await knot?.stop();
  await topology?.delete();
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

const digFrom = (pod: PodNetwork, name: string, type = 'A') => dig(name, { server: pod.gateway, port: 53, place: pod.namespace, timeout: 3, type });
const metrics = async () => parseMetrics((await topology.node.get(`http://${ADMIN}/metrics`))?.body ?? '');

test('an IPv4-mapped AAAA answer lets the IPv4 connection of a dual-stack socket through', { skip }, async () => {
  assert.equal(await web.agent.connects('::ffff:203.0.113.80', 443, 500), false, 'blocked before the lookup');
  const answer = await digFrom(web, 'mapped.allowed.world', 'AAAA');
  assert.deepEqual(answer.answers.map((record) => record.data), ['::ffff:203.0.113.80']);
  assert.equal(await web.agent.connects('::ffff:203.0.113.80', 443), true, 'the connection to ::ffff:203.0.113.80 leaves as IPv4');
  assert.equal(await web.agent.connects('203.0.113.80', 443), true);
});

test('a policy loaded after the lookup allows the answer the pod holds: the first connection passes with no new lookup', { skip }, async () => {
  const answer = await digFrom(web, 'later.permitted.world');
  assert.deepEqual(answer.answers.map((record) => record.data), ['203.0.113.81'], 'answered while no rule allows the name');
  assert.equal(await web.agent.connects('203.0.113.81', 443, 500), false, 'and blocked');
  const queries = metricSum(await metrics(), 'dnsgate_queries_total');

  const extra = `    - action: Allow
      protocol: TCP
      destination:
        ports: [443]
        domains: [later.permitted.world]
`;
  writeFileSync(join(fixture, 'policies.yaml'), clusterPolicies(extra));
  // Wait for the reload to be applied, without connecting: the first connection is the one asserted.
  await waitFor(async () => metricSum(await metrics(), 'dnsgate_reloads_total', { what: 'policies', result: 'ok' }) >= 1, 10_000, 'the policy reload');
  await waitFor(
    async () => ((await topology.node.get(`http://${ADMIN}/v1/allowed?client=${web.ip}`))?.body ?? '').includes('203.0.113.81'),
    10_000,
    'the held answer to be learnt',
  );
  await waitFor(async () => (await nftIn(topology.node, 'list', 'table', 'inet', TABLE)).includes('203.0.113.81'), 10_000, 'its element in nftables');
  assert.equal(await web.agent.connects('203.0.113.81', 443), true, 'the first connection after the policy passes');
  assert.equal(metricSum(await metrics(), 'dnsgate_queries_total'), queries, 'no new lookup');
});
