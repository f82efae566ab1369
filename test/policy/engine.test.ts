import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from '../../src/identity/pod.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { explain } from '../../src/policy/explain.js';
import { fixturePods, policiesFrom } from './files.js';

const identities = await fixturePods();

function pod(key: string): Pod {
  const found = identities.pods.find((candidate) => candidate.key === key);
  assert.ok(found, key);
  return found;
}

const LABELLED = 'rollout-test/labelled';
const UNLABELLED = 'rollout-test/unlabelled';
const ELSEWHERE = 'default/labelled-elsewhere';
const STAGING = 'staging/db-client';

async function engineFor(yaml: string): Promise<PolicyEngine> {
  return new PolicyEngine(await policiesFrom(yaml), identities);
}

function refs(engine: PolicyEngine, key: string, name: string): string[] {
  return engine.forClient(pod(key)).allowingRules(name).map((rule) => rule.ref);
}

/** Sets and policies shared by the scoping tests: the same label on sets in two namespaces and a global one. */
const SETS = `apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: own, namespace: rollout-test, labels: {color: red}}
spec: {allowedEgressDomains: [own.example]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: staged, namespace: staging, labels: {color: red}}
spec: {allowedEgressDomains: [staging.example]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: everywhere, labels: {color: red}}
spec: {allowedEgressDomains: [global.example]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: blue, labels: {color: blue}}
spec: {allowedEgressDomains: [blue.example]}
---
`;

function networkPolicy(destination: string, namespace = 'rollout-test'): string {
  return `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: np, namespace: ${namespace}}
spec:
  egress:
    - action: Allow
      destination: ${destination}
`;
}

function globalPolicy(destination: string): string {
  return `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: gnp}
spec:
  egress:
    - action: Allow
      destination: ${destination}
`;
}

/** The names (own/staged/everywhere/blue) of the sets the first egress rule picks, sorted. */
async function pickedSets(yaml: string): Promise<string[] | undefined> {
  const engine = await engineFor(SETS + yaml);
  return engine.destinationSets(engine.policies.egressRules[0])?.map((set) => set.name).sort();
}

test('an unknown client is not enforced and no rule allows anything for it', async () => {
  const engine = await engineFor(globalPolicy('{domains: [a.com]}'));
  const client = engine.forClient(undefined);
  assert.deepEqual([client.enforced, client.egressRules, client.allowingRules('a.com')], [false, [], []]);
});

test('enforced: at least one policy with type Egress selects the pod, even one without rules', async () => {
  const engine = await engineFor(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-all}
spec: {selector: my-pod-label == 'my-value', types: [Egress]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ingress-only}
spec: {selector: app == 'other', ingress: [{action: Allow}]}
`);
  assert.equal(engine.forClient(pod(LABELLED)).enforced, true);
  assert.deepEqual(engine.forClient(pod(LABELLED)).allowingRules('a.com'), []);
  assert.equal(engine.forClient(pod(UNLABELLED)).enforced, false);
  assert.equal(explain(engine, { client: '10.244.1.10', name: 'a.com' }).allowed, false);
  assert.equal(explain(engine, { client: '10.244.1.11', name: 'a.com' }).allowed, true);
});

test('egress rules of a policy whose types leave out Egress are ignored', async () => {
  const engine = await engineFor(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec: {types: [Ingress], egress: [{action: Allow, destination: {domains: [a.com]}}]}
`);
  assert.deepEqual([engine.forClient(pod(LABELLED)).enforced, refs(engine, LABELLED, 'a.com')], [false, []]);
});

test('a NetworkPolicy selects only pods of its own namespace', async () => {
  const engine = await engineFor(networkPolicy('{domains: [a.com]}'));
  assert.deepEqual(refs(engine, LABELLED, 'a.com'), ['default|rollout-test/default.np|allow|0']);
  assert.deepEqual(refs(engine, UNLABELLED, 'a.com'), ['default|rollout-test/default.np|allow|0']);
  assert.equal(engine.forClient(pod(ELSEWHERE)).enforced, false);
  assert.deepEqual(engine.podsSelectedBy(engine.policies.policies[0]).map((p) => p.key), [LABELLED, UNLABELLED]);
});

test('policy selection: pod labels with the implicit ones, namespace labels, service account labels', async () => {
  const engine = await engineFor(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: by-namespace-label}
spec: {namespaceSelector: team == 'rollout', egress: [{action: Allow, destination: {domains: [ns.example]}}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: by-implicit-label}
spec:
  selector: projectcalico.org/namespace == 'default' && projectcalico.org/orchestrator == 'k8s'
  egress: [{action: Allow, destination: {domains: [implicit.example]}}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: by-service-account}
spec: {serviceAccountSelector: role == 'deployer', egress: [{action: Allow, destination: {domains: [sa.example]}}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: by-service-account-name}
spec:
  selector: projectcalico.org/serviceaccount == 'default'
  serviceAccountSelector: projectcalico.org/name == 'default'
  egress: [{action: Allow, destination: {domains: [sa-name.example]}}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: by-namespace-name}
spec: {namespaceSelector: kubernetes.io/metadata.name == 'staging' && projectcalico.org/name == 'staging', egress: [{action: Allow, destination: {domains: [staging.example]}}]}
`);
  const selected = (name: string): string[] => engine.podsSelectedBy(engine.policies.policies.find((p) => p.name === name) as never).map((p) => p.key);
  assert.deepEqual(selected('by-namespace-label'), [LABELLED, UNLABELLED]);
  assert.deepEqual(selected('by-implicit-label'), [ELSEWHERE]);
  assert.deepEqual(selected('by-service-account'), [LABELLED]);
  assert.deepEqual(selected('by-service-account-name'), identities.pods.filter((p) => p.serviceAccount === 'default').map((p) => p.key));
  assert.deepEqual(selected('by-namespace-name'), [STAGING]);
  assert.deepEqual(refs(engine, LABELLED, 'sa.example'), ['default|default.by-service-account|allow|0']);
  assert.deepEqual(refs(engine, UNLABELLED, 'sa.example'), []);
});

test('a NetworkPolicy rule selector picks NetworkSets of its own namespace only', async () => {
  assert.deepEqual(await pickedSets(networkPolicy("{selector: color == 'red'}")), ['own']);
});

test('namespaceSelector: global() turns a NetworkPolicy rule to GlobalNetworkSets only', async () => {
  assert.deepEqual(await pickedSets(networkPolicy("{selector: color == 'red', namespaceSelector: global()}")), ['everywhere']);
});

test('a rule namespaceSelector picks NetworkSets of the namespaces it selects, by their labels', async () => {
  assert.deepEqual(await pickedSets(networkPolicy("{selector: color == 'red', namespaceSelector: env == 'staging'}")), ['staged']);
  assert.deepEqual(await pickedSets(networkPolicy("{selector: color == 'red', namespaceSelector: all()}")), ['own', 'staged']);
  // Calico evaluates a namespaceSelector on the namespace labels a resource inherits; a
  // global set inherits none, and a missing label makes != true.
  assert.deepEqual(await pickedSets(networkPolicy("{selector: color == 'red', namespaceSelector: env != 'prod'}")), ['everywhere', 'own', 'staged']);
  assert.deepEqual(await pickedSets(globalPolicy("{selector: color == 'red', namespaceSelector: global()}")), ['everywhere']);
});

test('a GlobalNetworkPolicy rule selector sees every namespaced and global set', async () => {
  assert.deepEqual(await pickedSets(globalPolicy("{selector: color == 'red'}")), ['everywhere', 'own', 'staged']);
  assert.deepEqual(await pickedSets(globalPolicy("{selector: has(color)}")), ['blue', 'everywhere', 'own', 'staged']);
});

test('notSelector excludes sets; a namespaced rule with only notSelector or namespaceSelector still picks in scope', async () => {
  assert.deepEqual(await pickedSets(globalPolicy("{selector: has(color), notSelector: color == 'blue'}")), ['everywhere', 'own', 'staged']);
  assert.deepEqual(await pickedSets(networkPolicy("{notSelector: color == 'blue'}")), ['own']);
  assert.deepEqual(await pickedSets(networkPolicy("{namespaceSelector: env == 'staging'}")), ['staged']);
});

test('a rule without any selector picks nothing: it matches every destination', async () => {
  assert.equal(await pickedSets(globalPolicy('{notNets: [10.0.0.0/8]}')), undefined);
  assert.equal(await pickedSets(globalPolicy("{notSelector: color == 'blue'}")), undefined);
  assert.equal(await pickedSets(networkPolicy('{domains: [a.com]}')), undefined);
});

test('service account matches in a rule pick pods, never sets', async () => {
  const engine = await engineFor(SETS + globalPolicy('{serviceAccounts: {names: [coredns]}}'));
  const rule = engine.policies.egressRules[0];
  assert.deepEqual(engine.destinationSets(rule), []);
  assert.deepEqual(engine.destinationPods(rule)?.map((p) => p.key), ['kube-system/coredns-5d78c9869d-abcde']);
});

test('destination pods follow the same scoping as sets', async () => {
  const kubeDns = "{selector: k8s-app == 'kube-dns'}";
  const global = await engineFor(globalPolicy(kubeDns));
  assert.deepEqual(global.destinationPods(global.policies.egressRules[0])?.map((p) => p.key), ['kube-system/coredns-5d78c9869d-abcde']);
  const namespaced = await engineFor(networkPolicy(kubeDns));
  assert.deepEqual(namespaced.destinationPods(namespaced.policies.egressRules[0]), []);
  const reaching = await engineFor(networkPolicy("{selector: k8s-app == 'kube-dns', namespaceSelector: kubernetes.io/metadata.name == 'kube-system'}"));
  assert.deepEqual(reaching.destinationPods(reaching.policies.egressRules[0])?.map((p) => p.key), ['kube-system/coredns-5d78c9869d-abcde']);
  assert.equal(global.destinationPods((await engineFor(globalPolicy('{domains: [a.com]}'))).policies.egressRules[0]), undefined);
});

test('allowed names: the rule domains plus the allowedEgressDomains of the sets it picks, per scope', async () => {
  const engine = await engineFor(SETS + networkPolicy("{selector: color == 'red'}"));
  assert.deepEqual(refs(engine, LABELLED, 'own.example'), ['default|rollout-test/default.np|allow|0']);
  assert.deepEqual(refs(engine, LABELLED, 'staging.example'), []);
  assert.deepEqual(refs(engine, LABELLED, 'global.example'), []);
  assert.deepEqual(engine.allowedPatterns(engine.policies.egressRules[0]), ['own.example']);
});

test('only Allow rules allow names: sets picked by a Deny rule add nothing', async () => {
  const engine = await engineFor(`${SETS}apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  egress:
    - {action: Deny, destination: {selector: color == 'blue'}}
    - {action: Allow, destination: {selector: color == 'red'}}
`);
  assert.deepEqual(refs(engine, LABELLED, 'blue.example'), []);
  assert.deepEqual(refs(engine, LABELLED, 'global.example'), ['default|default.g|allow|1']);
  assert.deepEqual(engine.allowedPatterns(engine.policies.egressRules[0]), []);
});

test('allowing rules come in tier and policy order, each with the patterns that matched, once', async () => {
  const engine = await engineFor(`apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: first}
spec: {order: 10}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: s1, labels: {k: v}}
spec: {allowedEgressDomains: ['*.example.com', api.example.com]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: s2, labels: {k: v}}
spec: {allowedEgressDomains: [api.example.com]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: late}
spec: {order: 5, egress: [{action: Allow, destination: {selector: k == 'v'}}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: early}
spec: {order: 1, egress: [{action: Allow, destination: {domains: [other.com]}}, {action: Allow, destination: {domains: [API.example.com]}}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: first.tiered}
spec: {tier: first, egress: [{action: Allow, destination: {domains: ['*.com']}}]}
`);
  const rules = engine.forClient(pod(LABELLED)).allowingRules('API.Example.COM.');
  assert.deepEqual(
    rules.map((rule) => [rule.ref, rule.patterns]),
    [
      ['first|first.tiered|allow|0', ['*.com']],
      ['default|default.early|allow|1', ['api.example.com']],
      ['default|default.late|allow|0', ['*.example.com', 'api.example.com']],
    ],
  );
  assert.equal(rules[2].policy.name, 'late');
  assert.equal(rules[2].rule.destination.selector?.text, "k == 'v'");
});

test('a rule whose source does not cover the pod does not apply to it', async () => {
  const engine = await engineFor(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  egress:
    - {action: Allow, source: {selector: app == 'other'}, destination: {domains: [by-selector.example]}}
    - {action: Allow, source: {nets: [10.244.1.10/32]}, destination: {domains: [by-net.example]}}
    - {action: Allow, source: {notNets: [10.244.1.0/24]}, destination: {domains: [by-not-net.example]}}
    - {action: Allow, source: {serviceAccounts: {names: [rollout]}}, destination: {domains: [by-account.example]}}
`);
  const table = (key: string): string[] => ['by-selector', 'by-net', 'by-not-net', 'by-account'].filter((name) => refs(engine, key, `${name}.example`).length > 0);
  // Its IPv6 address is outside notNets, so the rule still applies to its IPv6 traffic.
  assert.deepEqual(table(LABELLED), ['by-net', 'by-not-net', 'by-account']);
  assert.deepEqual(table(UNLABELLED), ['by-selector']);
  assert.deepEqual(table(ELSEWHERE), ['by-not-net']);
  assert.deepEqual(engine.forClient(pod(UNLABELLED)).egressRules.map((rule) => rule.rule.index), [0]);
  assert.deepEqual(engine.forClient(pod(LABELLED)).egressRules.map((rule) => rule.rule.index), [1, 2, 3]);
});

test('decisions are computed once per pod object and engine', async () => {
  const policies = await policiesFrom(globalPolicy('{domains: [a.com]}'));
  const engine = new PolicyEngine(policies, identities);
  const first = engine.forClient(pod(LABELLED));
  assert.equal(engine.forClient(pod(LABELLED)), first);
  assert.notEqual(new PolicyEngine(policies, identities).forClient(pod(LABELLED)), first);
  // A reloaded pod is a new object with its own decisions.
  const reloaded = (await fixturePods()).pods.find((p) => p.key === LABELLED) as Pod;
  assert.notEqual(engine.forClient(reloaded), first);
});

test('explain: the JSON object, with the client and canonical IP', async () => {
  const engine = await engineFor(globalPolicy('{domains: [a.com]}'));
  const allowed = explain(engine, { client: '10.244.1.10', name: 'A.com.' });
  assert.deepEqual(
    { ...allowed, connections: allowed.connections.length },
    {
      allowed: true,
      enforced: true,
      client: { ip: '10.244.1.10', namespace: 'rollout-test', name: 'labelled' },
      rules: ['default|default.gnp|allow|0'],
      decidedBy: 'default|default.gnp|allow|0',
      reason: 'rule',
      connections: 4,
    },
  );
  const denied = explain(engine, { client: 'fd00:10:244:1:0:0:0:10', name: 'b.com' });
  assert.deepEqual(
    { ...denied, connections: denied.connections.length },
    {
      allowed: false,
      enforced: true,
      client: { ip: 'fd00:10:244:1::10', namespace: 'rollout-test', name: 'labelled' },
      rules: [],
      decidedBy: null,
      reason: 'tier-default',
      connections: 4,
    },
  );
  assert.deepEqual(explain(engine, { client: '192.0.2.1', name: 'b.com' }), {
    allowed: true,
    enforced: false,
    client: null,
    rules: [],
    decidedBy: null,
    reason: 'not-enforced',
    connections: [],
  });
  assert.throws(() => explain(engine, { client: 'nope', name: 'a.com' }), /not an IP address/);
});
