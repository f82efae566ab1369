import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolicySet } from '../../src/policy/policy-set.js';
import { policiesFrom } from './files.js';

function tierYaml(name: string, order?: number, defaultAction?: string): string {
  const spec = [order === undefined ? '' : `order: ${order}`, defaultAction ? `defaultAction: ${defaultAction}` : ''].filter(Boolean).join(', ');
  return `apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: ${name}}\nspec: {${spec}}\n---\n`;
}

function policyYaml(kind: string, name: string, spec: string, namespace?: string): string {
  const metadata = namespace === undefined ? `{name: ${name}}` : `{name: ${name}, namespace: ${namespace}}`;
  return `apiVersion: projectcalico.org/v3\nkind: ${kind}\nmetadata: ${metadata}\nspec: ${spec}\n---\n`;
}

test('tiers sort by order, unset last, ties by name; the default tier sits at 1000000', async () => {
  const set = await policiesFrom(tierYaml('b', 10) + tierYaml('a', 10) + tierYaml('c') + tierYaml('d', 5) + tierYaml('e', 2_000_000));
  assert.deepEqual(
    set.tiers.map(({ tier }) => [tier.name, tier.order]),
    [['d', 5], ['a', 10], ['b', 10], ['default', 1_000_000], ['e', 2_000_000], ['c', undefined]],
  );
});

test('policies in a tier sort by order, unset last, ties by the policy key (NAMESPACE/NAME or NAME)', async () => {
  const set = await policiesFrom(
    policyYaml('GlobalNetworkPolicy', 'p1', '{order: 2}') +
      policyYaml('GlobalNetworkPolicy', 'p0', '{order: 2}') +
      policyYaml('GlobalNetworkPolicy', 'z', '{}') +
      policyYaml('GlobalNetworkPolicy', 'y', '{}') +
      policyYaml('GlobalNetworkPolicy', 'x', '{order: 1.5}') +
      policyYaml('NetworkPolicy', 'a', '{order: 2}', 'n') +
      policyYaml('NetworkPolicy', 'q', '{order: 2}', 'zz'),
  );
  assert.deepEqual(set.tiers.map(({ tier, policies }) => [tier.name, policies.map((policy) => policy.refName)]), [
    ['default', ['default.x', 'n/default.a', 'default.p0', 'default.p1', 'zz/default.q', 'default.y', 'default.z']],
  ]);
  assert.deepEqual(set.policies.map((policy) => policy.name), ['x', 'a', 'p0', 'p1', 'q', 'y', 'z']);
});

test('rule references: TIER|POLICY|ACTION|INDEX with the tier prefix added unless present, NAMESPACE/ for NetworkPolicy', async () => {
  const set = await policiesFrom(
    tierYaml('security', 1) +
      policyYaml('GlobalNetworkPolicy', 'security.bar', '{tier: security, egress: [{action: Deny}, {action: Allow}]}') +
      policyYaml('GlobalNetworkPolicy', 'securityx', '{tier: security, order: 9, egress: [{action: Pass}]}') +
      policyYaml('NetworkPolicy', 'customer-dns-policy', '{egress: [{action: Log}, {action: Allow}]}', 'yaobank') +
      policyYaml('GlobalNetworkPolicy', 'foo', '{types: [Ingress], egress: [{action: Allow}]}'),
  );
  assert.deepEqual(
    set.egressRules.map((rule) => [rule.sequence, rule.ref]),
    [
      [0, 'security|security.securityx|pass|0'],
      [1, 'security|security.bar|deny|0'],
      [2, 'security|security.bar|allow|1'],
      [3, 'default|yaobank/default.customer-dns-policy|log|0'],
      [4, 'default|yaobank/default.customer-dns-policy|allow|1'],
    ],
  );
});

test('types default as Calico: Ingress, plus Egress when egress rules exist, Egress alone with only egress rules', async () => {
  const set = await policiesFrom(
    policyYaml('GlobalNetworkPolicy', 'none', '{}') +
      policyYaml('GlobalNetworkPolicy', 'ingress', '{ingress: [{action: Allow}]}') +
      policyYaml('GlobalNetworkPolicy', 'egress', '{egress: [{action: Allow}]}') +
      policyYaml('GlobalNetworkPolicy', 'both', '{ingress: [{action: Allow}], egress: [{action: Allow}]}') +
      policyYaml('GlobalNetworkPolicy', 'empty-lists', '{ingress: [], egress: []}') +
      policyYaml('GlobalNetworkPolicy', 'explicit', '{types: [Egress]}'),
  );
  const types = Object.fromEntries(set.policies.map((policy) => [policy.name, policy.types]));
  assert.deepEqual(types, {
    none: ['Ingress'],
    ingress: ['Ingress'],
    egress: ['Egress'],
    both: ['Ingress', 'Egress'],
    'empty-lists': ['Ingress'],
    explicit: ['Egress'],
  });
});

test('every egress-relevant field is parsed into typed values', async () => {
  const set = await policiesFrom(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: full, namespace: shop}
spec:
  order: 7
  selector: app == 'web'
  serviceAccountSelector: role == 'api'
  types: [Egress]
  egress:
    - action: Allow
      protocol: udp
      notProtocol: 47
      ipVersion: 4
      source:
        nets: [10.1.2.3/8]
        notSelector: quarantined == 'true'
        ports: [dns]
      destination:
        notNets: [192.168.1.7]
        namespaceSelector: team == 'db'
        serviceAccounts: {names: [pg], selector: tier == 'data'}
        ports: [53, '5353', '1000:2000', dns]
        notPorts: [9]
    - action: Allow
      protocol: ICMP
      icmp: {type: 8, code: 0}
      notICMP: {type: 3}
    - action: Allow
      destination: {domains: [API.Example.com, '*.CDN.example.com']}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: platform}
spec: {order: 50, defaultAction: Pass}
`);
  const policy = set.policies[0];
  assert.equal(policy.kind, 'NetworkPolicy');
  assert.equal(policy.namespace, 'shop');
  assert.equal(policy.order, 7);
  assert.equal(policy.selector.text, "app == 'web'");
  assert.equal(policy.serviceAccountSelector?.text, "role == 'api'");
  assert.equal(policy.namespaceSelector, undefined);
  const [first, icmp, domains] = policy.egress;
  assert.deepEqual([first.action, first.protocol, first.notProtocol, first.ipVersion], ['Allow', { name: 'UDP', number: 17 }, { name: '47', number: 47 }, 4]);
  assert.deepEqual(first.source.nets.map((cidr) => cidr.text), ['10.0.0.0/8']);
  assert.equal(first.source.notSelector?.text, "quarantined == 'true'");
  assert.deepEqual(first.source.ports, [{ name: 'dns' }]);
  assert.deepEqual(first.destination.notNets.map((cidr) => cidr.text), ['192.168.1.7/32']);
  assert.equal(first.destination.namespaceSelector?.text, "team == 'db'");
  assert.deepEqual(first.destination.serviceAccounts?.names, ['pg']);
  assert.equal(first.destination.serviceAccounts?.selector?.text, "tier == 'data'");
  assert.deepEqual(first.destination.ports, [{ first: 53, last: 53 }, { first: 5353, last: 5353 }, { first: 1000, last: 2000 }, { name: 'dns' }]);
  assert.deepEqual(first.destination.notPorts, [{ first: 9, last: 9 }]);
  assert.deepEqual([icmp.protocol, icmp.icmp, icmp.notICMP], [{ name: 'ICMP', number: 1 }, { type: 8, code: 0 }, { type: 3, code: undefined }]);
  assert.deepEqual(domains.destination.domains, ['api.example.com', '*.cdn.example.com']);
  assert.deepEqual([domains.index, domains.at.line, domains.at.col], [2, 28, 7]);
  assert.deepEqual(set.tiers.map(({ tier }) => [tier.name, tier.order, tier.defaultAction]), [['platform', 50, 'Pass'], ['default', 1_000_000, 'Deny']]);
});

test('network sets: nets, lowercased domains, and a NetworkSet carries its namespace as a label', async () => {
  const set = await policiesFrom(`apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: ns-set, namespace: staging, labels: {role: db}}
spec: {nets: [198.51.100.0/28, '2001:db8::/32'], allowedEgressDomains: [DB.com, '*.db.com']}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: g-set, labels: {role: db}}
spec: {allowedEgressDomains: [x.io]}
`);
  assert.deepEqual(
    set.networkSets.map((s) => ({ kind: s.kind, name: s.name, namespace: s.namespace, labels: s.labels, nets: s.nets.map((cidr) => cidr.text), domains: s.allowedEgressDomains })),
    [
      { kind: 'NetworkSet', name: 'ns-set', namespace: 'staging', labels: { role: 'db', 'projectcalico.org/namespace': 'staging' }, nets: ['198.51.100.0/28', '2001:db8::/32'], domains: ['db.com', '*.db.com'] },
      { kind: 'GlobalNetworkSet', name: 'g-set', namespace: undefined, labels: { role: 'db' }, nets: [], domains: ['x.io'] },
    ],
  );
});

test('an empty set has only the default tier and no rules', () => {
  const set = PolicySet.empty();
  assert.deepEqual(set.tiers.map(({ tier }) => tier.name), ['default']);
  assert.deepEqual([set.policies.length, set.egressRules.length, set.networkSets.length], [0, 0, 0]);
});
