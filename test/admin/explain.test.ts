/**
 * `GET /v1/explain` of the running proxy: the route evaluates the addresses the allowed
 * map learnt for the pod and the name, under the current policies, in rule order. A
 * real AllowedMap and admin server on loopback; the policies and pods are the policy
 * tests' fixtures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../../src/admin/metrics.js';
import { Readiness } from '../../src/admin/readiness.js';
import { addApiRoutes } from '../../src/admin/routes.js';
import { AdminServer } from '../../src/admin/server.js';
import type { EntryClient } from '../../src/allowmap/entry.js';
import { AllowedMap } from '../../src/allowmap/map.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { fixturePods, policiesFrom } from '../policy/files.js';

const identities = await fixturePods();
/** rollout-test/labelled, which the policies select. */
const CLIENT = '10.244.1.10';
const LABELLED: EntryClient = { key: 'rollout-test/labelled', namespace: 'rollout-test', name: 'labelled', ips: [CLIENT], queriedFrom: CLIENT };
const LEARNT_IP = '203.0.113.20';
const NAME = 'approved-service.com';
const DENY = { action: 'Deny', destination: '{nets: [0.0.0.0/0]}' };
const ALLOW = { action: 'Allow', destination: `{domains: [${NAME}]}` };

async function engineWith(rules: readonly { action: string; destination: string }[]): Promise<PolicyEngine> {
  const egress = rules.map((rule) => `    - action: ${rule.action}\n      destination: ${rule.destination}\n`).join('');
  const yaml = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: seed, namespace: rollout-test}
spec:
  selector: my-pod-label == 'my-value'
  types: [Egress]
  egress:
${egress}`;
  return new PolicyEngine(await policiesFrom(yaml), identities);
}

const denyFirst = await engineWith([DENY, ALLOW]);
const allowFirst = await engineWith([ALLOW, DENY]);

/**
 * The admin API over an allowed map holding what the proxy learnt under `policy`:
 * NAME's address for the pod, under the rule allowing NAME (`allowRef`), and two
 * entries that are not the pod's address for NAME.
 */
async function startApi(policy: PolicyEngine, allowRef: string): Promise<AdminServer> {
  const map = new AllowedMap(
    { extraTtlMs: 0, minTtlMs: 0, maxTtlMs: 604_800_000, maxIpsPerName: 100, maxEntries: 1000, maxDomainsPerEntry: 64 },
    { onAdded: () => undefined, onEvicted: () => undefined, onDomainDropped: () => undefined },
  );
  const learn = (client: EntryClient, ip: string, domain: string) => map.learn(client, { ip, family: 4, lifetimeMs: 3_600_000, domain, rules: [allowRef] });
  learn(LABELLED, LEARNT_IP, NAME);
  learn(LABELLED, '203.0.113.99', 'other.example.com');
  learn({ ...LABELLED, key: 'app2-ns/svc3', namespace: 'app2-ns', name: 'svc3', ips: ['10.244.3.10'] }, '203.0.113.98', NAME);
  const admin = new AdminServer({ host: '127.0.0.1', port: 0, family: 4 }, new Metrics(), new Readiness());
  addApiRoutes(admin, { map, policy: { current: policy }, scope: 'pod', ruleCounts: () => undefined });
  await admin.listen();
  return admin;
}

interface ExplainJson {
  allowed: boolean;
  decidedBy: string | null;
  connections: { address: string | null; allowed: boolean; rule: string | null }[];
}

async function explainLive(admin: AdminServer, query: string): Promise<{ status: number; body: ExplainJson & { error?: string } }> {
  const response = await fetch(`http://127.0.0.1:${admin.port}/v1/explain?${query}`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as ExplainJson & { error?: string } };
}

test('Deny nets 0.0.0.0/0, then Allow the name: the learnt address is denied by the Deny rule', async () => {
  const admin = await startApi(denyFirst, 'default|rollout-test/default.seed|allow|1');
  const { status, body } = await explainLive(admin, `client=${CLIENT}&name=${NAME}`).finally(() => admin.close());
  assert.equal(status, 200);
  assert.equal(body.allowed, false);
  assert.equal(body.decidedBy, 'default|rollout-test/default.seed|deny|0');
  assert.ok(body.connections.length > 0);
  for (const connection of body.connections) {
    assert.deepEqual([connection.address, connection.allowed, connection.rule], [LEARNT_IP, false, 'default|rollout-test/default.seed|deny|0']);
  }
});

test('Allow the name, then Deny nets 0.0.0.0/0: the learnt address is allowed by the Allow rule', async () => {
  const admin = await startApi(allowFirst, 'default|rollout-test/default.seed|allow|0');
  const { status, body } = await explainLive(admin, `client=${CLIENT}&name=${NAME}&protocol=TCP&port=443`).finally(() => admin.close());
  assert.equal(status, 200);
  assert.equal(body.allowed, true);
  assert.equal(body.decidedBy, 'default|rollout-test/default.seed|allow|0');
  assert.deepEqual(body.connections.map((connection) => [connection.address, connection.allowed]), [[LEARNT_IP, true]]);
});

test('a bad protocol or port is HTTP 400, naming the parameter', async () => {
  const admin = await startApi(denyFirst, 'default|rollout-test/default.seed|allow|1');
  try {
    const protocol = await explainLive(admin, `client=${CLIENT}&name=${NAME}&protocol=carrier-pigeon`);
    assert.equal(protocol.status, 400);
    assert.match(protocol.body.error ?? '', /^protocol: /);
    for (const port of ['0', '65536', 'https']) {
      const reply = await explainLive(admin, `client=${CLIENT}&name=${NAME}&port=${port}`);
      assert.equal(reply.status, 400, `port=${port}`);
      assert.match(reply.body.error ?? '', /^port: /);
    }
  } finally {
    await admin.close();
  }
});
