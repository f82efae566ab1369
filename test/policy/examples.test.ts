/** The DNS-policy examples from Calico's docs under config/policies: each valid, each deciding as the docs say. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PolicyEngine } from '../../src/policy/engine.js';
import { explain } from '../../src/policy/explain.js';
import { loadPolicies } from '../../src/policy/loader.js';
import { formatProblem } from '../../src/policy/problems.js';
import { EXAMPLES, fixturePods, policiesFrom } from './files.js';

const identities = await fixturePods();

const LABELLED = '10.244.1.10';
const UNLABELLED = '10.244.1.11';
const ELSEWHERE = '10.244.2.10';
const SVC3 = '10.244.3.10';
const SVC4 = '10.244.3.11';
const STAGING = '10.244.4.10';

async function engineFor(...files: string[]): Promise<PolicyEngine> {
  const result = await loadPolicies(files.map((file) => join(EXAMPLES, file)));
  assert.ok(result.ok, result.ok ? '' : result.errors.map(formatProblem).join('\n'));
  return new PolicyEngine(result.policies, identities);
}

/** [allowed, enforced, rules] of `explain`, for compact tables. */
function decide(engine: PolicyEngine, ip: string, name: string): [boolean, boolean, string[]] {
  const result = explain(engine, { client: ip, name });
  return [result.allowed, result.enforced, result.rules];
}

test('every example file is valid on its own, without warnings', async () => {
  const files = readdirSync(EXAMPLES).filter((name) => name.endsWith('.yaml'));
  assert.ok(files.length >= 6, files.join(', '));
  for (const file of files) {
    const result = await loadPolicies([join(EXAMPLES, file)]);
    assert.ok(result.ok, `${file}: ${result.ok ? '' : result.errors.map(formatProblem).join('\n')}`);
    assert.deepEqual(result.warnings, [], file);
  }
});

test('the examples directory loads as one valid set', async () => {
  const result = await loadPolicies([EXAMPLES]);
  assert.ok(result.ok);
  assert.deepEqual(result.policies.tiers.map(({ tier, policies }) => [tier.name, policies.length]), [['application', 1], ['default', 4]]);
});

test('GlobalNetworkPolicy with domains: api.alice.com and *.example.com for my-value pods in any namespace', async () => {
  const engine = await engineFor('globalnetworkpolicy-domains.yaml');
  const rule = ['default|default.allow-egress-to-domains|allow|1'];
  assert.deepEqual(decide(engine, LABELLED, 'api.alice.com'), [true, true, rule]);
  assert.deepEqual(decide(engine, LABELLED, 'bob.example.com'), [true, true, rule]);
  assert.deepEqual(decide(engine, ELSEWHERE, 'bob.example.com'), [true, true, rule]);
  assert.deepEqual(decide(engine, LABELLED, 'example.com'), [false, true, []]);
  assert.deepEqual(decide(engine, LABELLED, 'alice.com'), [false, true, []]);
  assert.deepEqual(decide(engine, UNLABELLED, 'anything.org'), [true, false, []]);
  // The DNS rule: UDP to port 53 or the port named dns, any destination.
  const dns = engine.policies.egressRules[0].rule;
  assert.deepEqual([dns.action, dns.protocol?.name, dns.destination.ports], ['Allow', 'UDP', [{ first: 53, last: 53 }, { name: 'dns' }]]);
});

test('NetworkPolicy with domains: the same, for the rollout-test namespace only', async () => {
  const engine = await engineFor('networkpolicy-domains.yaml');
  const rule = ['default|rollout-test/default.allow-egress-to-domains|allow|1'];
  assert.deepEqual(decide(engine, LABELLED, 'api.alice.com'), [true, true, rule]);
  assert.deepEqual(decide(engine, LABELLED, 'www.bob.example.com'), [true, true, rule]);
  assert.deepEqual(decide(engine, LABELLED, 'api.bob.com'), [false, true, []]);
  assert.deepEqual(decide(engine, ELSEWHERE, 'api.alice.com'), [true, false, []]);
  assert.deepEqual(decide(engine, UNLABELLED, 'api.alice.com'), [true, false, []]);
});

test('GlobalNetworkSet with allowedEgressDomains, picked by a GlobalNetworkPolicy destination selector', async () => {
  const engine = await engineFor('globalnetworkset-domains.yaml');
  const rule = ['default|default.allow-egress-to-domain|allow|0'];
  assert.deepEqual(decide(engine, LABELLED, 'api.alice.com'), [true, true, rule]);
  assert.deepEqual(decide(engine, ELSEWHERE, 'bob.example.com'), [true, true, rule]);
  assert.deepEqual(decide(engine, LABELLED, 'evil.com'), [false, true, []]);
  assert.deepEqual(engine.forClient(identities.podByIp(LABELLED)).allowingRules('bob.example.com')[0].patterns, ['*.example.com']);
  assert.deepEqual(engine.destinationSets(engine.policies.egressRules[0])?.map((set) => set.name), ['allowed-domains-1']);
});

test('NetworkSet with allowedEgressDomains, picked by a NetworkPolicy of its namespace', async () => {
  const engine = await engineFor('networkset-domains.yaml');
  const rule = ['default|rollout-test/default.allow-egress-to-domain|allow|0'];
  assert.deepEqual(decide(engine, LABELLED, 'api.alice.com'), [true, true, rule]);
  assert.deepEqual(decide(engine, LABELLED, 'bob.example.com'), [true, true, rule]);
  assert.deepEqual(decide(engine, LABELLED, 'bob.example.org'), [false, true, []]);
  assert.deepEqual(decide(engine, ELSEWHERE, 'api.alice.com'), [true, false, []]);
});

test('a policy in its own tier with a domain NetworkSet and an IP NetworkSet', async () => {
  const engine = await engineFor('tier-application-networksets.yaml');
  assert.deepEqual(engine.policies.tiers.map(({ tier }) => [tier.name, tier.order]), [['application', 100], ['default', 1_000_000]]);
  assert.deepEqual(decide(engine, SVC3, 'app2-repo.example.com'), [true, true, ['application|app2-ns/application.app2-svc3-egress|allow|0']]);
  assert.deepEqual(decide(engine, SVC3, 'api.alice.com'), [false, true, []]);
  assert.deepEqual(decide(engine, SVC4, 'app2-repo.example.com'), [true, false, []]);
  const [repo, partners, dns] = engine.policies.egressRules;
  assert.deepEqual([repo.rule.protocol?.name, repo.rule.destination.ports], ['TCP', [{ first: 443, last: 443 }]]);
  assert.deepEqual(engine.destinationSets(partners)?.map((set) => [set.name, set.nets.map((cidr) => cidr.text)]), [['app2-partners', ['10.10.10.10/32']]]);
  assert.deepEqual(engine.allowedPatterns(partners), []);
  assert.equal(engine.destinationSets(dns), undefined);
});

test('the reference sample sets: their domains count once a rule of the right scope picks them', async () => {
  const samples = readFileSync(join(EXAMPLES, 'networkset-samples.yaml'), 'utf8');
  const policies = await policiesFrom(`${samples}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: to-db, namespace: staging}
spec:
  egress:
    - action: Allow
      destination: {selector: role == 'db'}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: to-external-db}
spec:
  selector: role == 'client'
  egress:
    - action: Allow
      destination: {selector: role == 'external-database'}
`);
  const engine = new PolicyEngine(policies, identities);
  // Neither policy has an order, so they go by key: staging/to-db before to-external-db.
  const both = ['default|staging/default.to-db|allow|0', 'default|default.to-external-db|allow|0'];
  assert.deepEqual(decide(engine, STAGING, 'db.com'), [true, true, both]);
  assert.deepEqual(decide(engine, STAGING, 'www.db.com'), [true, true, both]);
  assert.deepEqual(decide(engine, STAGING, 'db.org'), [false, true, []]);
  const [toDb, toExternal] = engine.policies.egressRules;
  assert.deepEqual(engine.destinationSets(toExternal)?.map((set) => set.kind), ['GlobalNetworkSet']);
  assert.deepEqual(engine.destinationSets(toDb)?.map((set) => [set.kind, set.nets.map((cidr) => cidr.text)]), [['NetworkSet', ['198.51.100.0/28', '203.0.113.0/24']]]);
});

test('all examples together: every applicable rule, in policy order', async () => {
  const result = await loadPolicies([EXAMPLES]);
  assert.ok(result.ok);
  const engine = new PolicyEngine(result.policies, identities);
  assert.deepEqual(decide(engine, LABELLED, 'api.alice.com'), [
    true,
    true,
    [
      'default|default.allow-egress-to-domain|allow|0',
      'default|default.allow-egress-to-domains|allow|1',
      'default|rollout-test/default.allow-egress-to-domain|allow|0',
      'default|rollout-test/default.allow-egress-to-domains|allow|1',
    ],
  ]);
  assert.deepEqual(decide(engine, ELSEWHERE, 'api.alice.com'), [true, true, ['default|default.allow-egress-to-domain|allow|0', 'default|default.allow-egress-to-domains|allow|1']]);
  assert.deepEqual(decide(engine, SVC3, 'app2-repo.example.com'), [true, true, ['application|app2-ns/application.app2-svc3-egress|allow|0']]);
});
