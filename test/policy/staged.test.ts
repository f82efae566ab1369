/**
 * Calico's staged kinds: StagedNetworkPolicy, StagedGlobalNetworkPolicy and
 * StagedKubernetesNetworkPolicy validate, are never enforced, and form the staged view
 * (a Set in place of the policy it names, a Delete without it).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PolicyEngine } from '../../src/policy/engine.js';
import { explain, explainText } from '../../src/policy/explain.js';
import type { PolicySet } from '../../src/policy/policy-set.js';
import { fixturePods, policiesFrom, problemLines } from './files.js';

const identities = await fixturePods();
const LABELLED_IP = '10.244.1.10';
const UNLABELLED_IP = '10.244.1.11';

const ENFORCED = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: egress, namespace: rollout-test}
spec:
  selector: my-pod-label == 'my-value'
  types: [Egress]
  egress:
    - action: Allow
      destination: {domains: [old.example.com]}
`;

const STAGED_SET = `apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: egress, namespace: rollout-test}
spec:
  stagedAction: Set
  selector: my-pod-label == 'my-value'
  types: [Egress]
  egress:
    - action: Allow
      protocol: UDP
      destination: {selector: k8s-app == "kube-dns", ports: [53]}
    - action: Allow
      destination: {domains: [new.example.com]}
`;

function refsIn(set: PolicySet | undefined): string[] {
  return (set?.egressRules ?? []).map((rule) => rule.ref);
}

describe('staged kinds', () => {
  test('the three kinds validate; their rules carry staged references and none is enforced', async () => {
    const set = await policiesFrom(`${STAGED_SET}---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: global-egress}
spec:
  selector: all()
  types: [Egress]
  egress:
    - action: Deny
      destination: {nets: [192.0.2.0/24]}
---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: knp, namespace: rollout-test}
spec:
  stagedAction: Set
  podSelector: {matchLabels: {my-pod-label: my-value}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 198.51.100.0/24, except: [198.51.100.7/32]}}]
      ports: [{port: 443}, {protocol: UDP, port: 53}]
`);
    assert.deepEqual(set.policies, [], 'staged policies are not among the enforced ones');
    assert.deepEqual(set.egressRules, []);
    // Kubernetes policies at order 1000, then unset orders by key: global-egress before rollout-test/egress.
    assert.deepEqual(refsIn(set.stagedView), [
      'default|rollout-test/staged:knp.default.knp|allow|0',
      'default|rollout-test/staged:knp.default.knp|allow|1',
      'default|default.staged:global-egress|deny|0',
      'default|rollout-test/default.staged:egress|allow|0',
      'default|rollout-test/default.staged:egress|allow|1',
    ]);
    const knp = set.stagedView?.egressRules.filter((rule) => rule.ref.includes('knp'));
    assert.deepEqual(
      knp?.map((rule) => [rule.rule.protocol?.name, rule.rule.destination.ports, rule.rule.destination.nets.map((net) => net.text), rule.rule.destination.notNets.map((net) => net.text)]),
      [
        ['TCP', [{ first: 443, last: 443 }], ['198.51.100.0/24'], ['198.51.100.7/32']],
        ['UDP', [{ first: 53, last: 53 }], ['198.51.100.0/24'], ['198.51.100.7/32']],
      ],
    );
    const engine = new PolicyEngine(set, identities);
    const result = explain(engine, { client: LABELLED_IP, name: 'new.example.com' });
    assert.deepEqual([result.allowed, result.enforced, result.rules], [true, false, []]);
    assert.deepEqual(result.staged, {
      allowed: true,
      enforced: true,
      rules: ['default|rollout-test/default.staged:egress|allow|1'],
      decidedBy: 'default|rollout-test/default.staged:egress|allow|1',
      reason: 'rule',
    });
    assert.deepEqual(explain(engine, { client: LABELLED_IP, name: 'other.example.com' }).staged, { allowed: false, enforced: true, rules: [], decidedBy: null, reason: 'tier-default' });
  });

  test('the staged view: a Set takes the place of the policy it names, a Delete removes it', async () => {
    const replaced = await policiesFrom(`${ENFORCED}---\n${STAGED_SET}`);
    assert.deepEqual(refsIn(replaced), ['default|rollout-test/default.egress|allow|0']);
    assert.deepEqual(refsIn(replaced.stagedView), ['default|rollout-test/default.staged:egress|allow|0', 'default|rollout-test/default.staged:egress|allow|1']);
    const deleted = await policiesFrom(`${ENFORCED}---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: egress, namespace: rollout-test}
spec: {stagedAction: Delete}
`);
    assert.deepEqual(refsIn(deleted), ['default|rollout-test/default.egress|allow|0']);
    assert.deepEqual(refsIn(deleted.stagedView), []);
    assert.equal((await policiesFrom(ENFORCED)).stagedView, undefined, 'nothing staged, no staged view');
  });

  test('explain says the staged verdict beside the enforced one, in JSON and in text', async () => {
    const engine = new PolicyEngine(await policiesFrom(`${ENFORCED}---\n${STAGED_SET}`), identities);
    const result = explain(engine, { client: LABELLED_IP, name: 'old.example.com' });
    assert.equal(result.allowed, true);
    assert.deepEqual(result.staged, { allowed: false, enforced: true, rules: [], decidedBy: null, reason: 'tier-default' });
    const text = explainText(engine, { client: LABELLED_IP, name: 'new.example.com' });
    assert.match(text, /^new\.example\.com: not allowed for pod rollout-test\/labelled \(10\.244\.1\.10\)/);
    assert.match(text, /^staged \(not enforced\): new\.example\.com: allowed for pod rollout-test\/labelled \(10\.244\.1\.10\) by default\|rollout-test\/default\.staged:egress\|allow\|1$/m);
    assert.equal('staged' in explain(new PolicyEngine(await policiesFrom(ENFORCED), identities), { client: LABELLED_IP, name: 'old.example.com' }), false, 'nothing staged, no staged verdict');
  });

  test('the staged view decides as if applied; the enforced decision is unchanged', async () => {
    const set = await policiesFrom(`${ENFORCED}---\n${STAGED_SET}`);
    const enforced = new PolicyEngine(set, identities);
    const staged = new PolicyEngine(set.stagedView as PolicySet, identities);
    assert.equal(explain(enforced, { client: LABELLED_IP, name: 'old.example.com' }).allowed, true);
    assert.equal(explain(enforced, { client: LABELLED_IP, name: 'new.example.com' }).allowed, false);
    assert.equal(explain(staged, { client: LABELLED_IP, name: 'old.example.com' }).allowed, false);
    assert.deepEqual(explain(staged, { client: LABELLED_IP, name: 'new.example.com' }).rules, ['default|rollout-test/default.staged:egress|allow|1']);
    assert.equal(explain(staged, { client: UNLABELLED_IP, name: 'anything.example' }).enforced, false);
  });

  test('problems: stagedAction, a Delete with rules, duplicates, a Kubernetes peer without selector', async () => {
    assert.deepEqual(
      await problemLines(`apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: a, namespace: ns}
spec:
  stagedAction: Apply
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: b}
spec:
  stagedAction: Delete
  egress: [{action: Allow}]
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: a, namespace: ns}
spec: {}
---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: k, namespace: ns}
spec:
  podSelector: {matchExpressions: [{key: app, operator: Near}]}
  egress: [{to: [{}], ports: [{protocol: ICMP}]}]
`),
      [
        'policies.yaml:5:17: spec.stagedAction: stagedAction must be Set or Delete, not "Apply"',
        'policies.yaml:12:11: spec.egress: stagedAction Delete takes no egress',
        'policies.yaml:14:1: duplicate StagedNetworkPolicy ns/default.staged:a, first defined at policies.yaml:1:1',
        'policies.yaml:23:57: spec.podSelector.matchExpressions[0].operator: operator must be In, NotIn, Exists or DoesNotExist, not "Near"',
        'policies.yaml:24:18: spec.egress[0].to[0]: a peer needs podSelector, namespaceSelector or ipBlock',
        'policies.yaml:24:42: spec.egress[0].ports[0].protocol: protocol must be TCP, UDP or SCTP, not "ICMP"',
      ],
    );
  });
});
