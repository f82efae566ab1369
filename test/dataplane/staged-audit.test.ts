/**
 * Evaluating without dropping, against real nftables in namespaces of its own: a staged
 * policy changes nothing that passes and counts what it would have decided per rule
 * (shadow evaluation), and `--audit` lets everything through while counting each
 * would-be drop under the rule that decided it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, startUnbound, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { waitFor } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { ADMIN, clusterPodsYaml, clusterPolicies, startNodeDnsgate, worldRecords, type NodeDnsgate } from './cluster.js';
import { Topology, type PodNetwork } from './topology.js';

const skip = missing('nft', 'ip', 'knotd', 'unbound', 'dig');

/** `other` is selected by no enforced policy; this staged one would select it. */
const STAGED = `---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata:
  name: other-egress
  namespace: shop
spec:
  stagedAction: Set
  selector: app == 'other'
  types: [Egress]
  egress:
    - action: Allow
      protocol: TCP
      destination:
        ports: [443]
        domains: [web.allowed.world]
    - action: Deny
      protocol: TCP
      destination:
        ports: [80]
`;
const STAGED_ALLOW = 'default|shop/default.staged:other-egress|allow|0';
const STAGED_DENY = 'default|shop/default.staged:other-egress|deny|1';
const TIER_DEFAULT = 'default|default-action|deny|-1';

let topology: Topology;
let knot: DnsServer | undefined;
let unbound: DnsServer | undefined;
let fixture: string;
let webA: PodNetwork;
let other: PodNetwork;

before(async () => {
  if (skip) return;
  topology = await Topology.create(3);
  [webA, , other] = topology.pods;
  fixture = writeFixture({
    'pods.yaml': clusterPodsYaml(topology.pods.map((pod) => pod.ip)),
    'policies.yaml': clusterPolicies(),
    'staged.yaml': `${clusterPolicies()}${STAGED}`,
  });
  knot = await startKnot('127.0.0.2', { '.': standardRootZone('127.0.0.2', worldRecords()) }, { port: 5300, place: topology.node });
  unbound = await startUnbound('127.0.0.1', knot, topology.node);
});

after(async () => {
  await unbound?.stop();
  await knot?.stop();
  await topology?.delete();
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

function args(policies: string, ...extra: string[]): string[] {
  return ['--upstream', `127.0.0.1:${unbound!.port}`, '--pods', join(fixture, 'pods.yaml'), '--policies', join(fixture, policies), ...extra];
}

async function adminJson<T>(path: string): Promise<T> {
  const response = await topology.node.get(`http://${ADMIN}${path}`);
  assert.equal(response?.status, 200, `${path}: ${response?.body}`);
  return JSON.parse(response.body) as T;
}

async function metricsText(): Promise<string> {
  return (await topology.node.get(`http://${ADMIN}/metrics`))?.body ?? '';
}

interface StagedJson {
  policies: { kind: string; name: string; stagedAction: string; target: string }[];
  rules: { rule: string; packets: number | null }[];
}

async function stagedPackets(): Promise<Record<string, number | null>> {
  const staged = await adminJson<StagedJson>('/v1/staged');
  return Object.fromEntries(staged.rules.map((rule) => [rule.rule, rule.packets]));
}

describe('a staged policy', { skip }, () => {
  let dnsgate: NodeDnsgate | undefined;
  before(async () => {
    dnsgate = await startNodeDnsgate(topology.node, topology.pods.map((pod) => pod.gateway), args('staged.yaml'));
  });
  after(async () => dnsgate?.stop(true));

  test('enforces nothing: the pod it would select reaches what the staged rules would deny', async () => {
    assert.equal(await other.agent.connects('203.0.113.51', 80), true, 'the staged Deny drops nothing');
    assert.equal(await other.agent.connects('203.0.113.7', 443), true, 'the staged default-deny drops nothing');
    const explained = await adminJson<{ enforced: boolean; allowed: boolean; staged: unknown }>(`/v1/explain?client=${other.ip}&name=nope.denied.world`);
    assert.equal(explained.enforced, false);
    assert.equal(explained.allowed, true);
    assert.deepEqual(explained.staged, { allowed: false, enforced: true, rules: [], decidedBy: null, reason: 'tier-default' }, 'the staged view would deny it');
    assert.equal(await webA.agent.connects('203.0.113.7', 443, 500), false, 'enforced policies still enforce');
  });

  test('the shadow counters move for the rule that would have decided', async () => {
    const before = await stagedPackets();
    assert.deepEqual(Object.keys(before).slice(0, 2), [STAGED_ALLOW, STAGED_DENY], 'the staged rules are listed in order');
    const resolved = await other.agent.resolveConnect('web.allowed.world', other.gateway, 443);
    assert.deepEqual(resolved.ok, [true]);
    assert.equal(await other.agent.connects('203.0.113.51', 80), true);
    assert.equal(await other.agent.connects('203.0.113.8', 443), true);
    const after = await stagedPackets();
    const grew = (ref: string): number => (after[ref] ?? 0) - (before[ref] ?? 0);
    // A TCP connection's first packet is what the chain sees (replies and the rest are established); SYN retries may add more.
    assert.ok(grew(STAGED_ALLOW) >= 1, `allow: ${JSON.stringify(after)}`);
    assert.ok(grew(STAGED_DENY) >= 1, `deny: ${JSON.stringify(after)}`);
    assert.ok(grew(TIER_DEFAULT) >= 1, `tier default: ${JSON.stringify(after)}`);
    assert.match(await metricsText(), new RegExp(`dnsgate_staged_packets_total\\{rule="${STAGED_DENY.replaceAll('|', '\\|')}",verdict="deny"\\} [1-9]`));
    const staged = await adminJson<StagedJson>('/v1/staged');
    assert.deepEqual(staged.policies, [{ kind: 'StagedNetworkPolicy', name: 'shop/default.staged:other-egress', stagedAction: 'Set', target: 'shop/default.other-egress' }]);
  });

  test('what a replaced shadow chain counted before a policy change stays counted', async () => {
    const before = await stagedPackets();
    assert.equal(await other.agent.connects('203.0.113.51', 80), true);
    // A third staged rule changes the shadow chain's content: the chain is replaced.
    const extra = '    - action: Allow\n      protocol: UDP\n      destination:\n        ports: [123]\n';
    writeFileSync(join(fixture, 'staged.yaml'), `${clusterPolicies()}${STAGED}${extra}`);
    await waitFor(async () => Object.keys(await stagedPackets()).includes('default|shop/default.staged:other-egress|allow|2'), 10_000, 'the changed staged policy');
    const after = await stagedPackets();
    assert.ok((after[STAGED_DENY] ?? 0) - (before[STAGED_DENY] ?? 0) >= 1, `${JSON.stringify(before)} → ${JSON.stringify(after)}`);
  });
});

describe('--audit', { skip }, () => {
  let dnsgate: NodeDnsgate | undefined;
  before(async () => {
    dnsgate = await startNodeDnsgate(topology.node, topology.pods.map((pod) => pod.gateway), args('policies.yaml', '--audit', '--deny-response', 'refused'));
  });
  after(async () => dnsgate?.stop(true));

  test('nothing is dropped and each would-be drop is counted under the rule that decided it', async () => {
    assert.equal(await webA.agent.connects('203.0.113.9', 443), true, 'no lookup: the tier default would drop it');
    assert.equal(await webA.agent.connects('203.0.113.60', 443), true, 'deny-first would drop it');
    assert.equal(await webA.agent.connects('203.0.113.45', 443), true, 'the platform tier would drop it');
    assert.equal(await webA.agent.connects('203.0.113.201', 5432), true, 'web-egress rule 2 would drop it');
    const metrics = await metricsText();
    for (const rule of [TIER_DEFAULT, 'default|shop/default.deny-first|deny|0', 'platform|platform.guard|deny|0', 'default|shop/default.web-egress|deny|2']) {
      assert.match(metrics, new RegExp(`dnsgate_audit_denied_packets_total\\{rule="${rule.replaceAll('|', '\\|').replaceAll('.', '\\.')}"\\} [1-9]`), rule);
    }
    assert.doesNotMatch(metrics, /dnsgate_audit_denied_packets_total\{rule="[^"]*allow/, 'allowed packets are not counted');
  });

  test('answers are never refused, even with --deny-response', async () => {
    const answer = await dig('nope.denied.world', { server: webA.gateway, port: 53, place: webA.namespace, timeout: 3 });
    assert.equal(answer.status, 'NOERROR');
    assert.deepEqual(answer.answers.map((record) => record.data), ['203.0.113.51']);
  });
});
