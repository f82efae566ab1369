/** `explain` walks the pod's rules in order, as the firewall does, and names the rule that decides. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolicyEngine } from '../../src/policy/engine.js';
import { explain, explainText, parseConnectionFilters, type LearntLookup } from '../../src/policy/explain.js';
import { fixturePods, policiesFrom } from './files.js';

const identities = await fixturePods();
/** rollout-test/labelled: my-pod-label == 'my-value', IPv4 and IPv6. */
const CLIENT = '10.244.1.10';

function policy(egress: string, extra = ''): string {
  return `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: seed, namespace: rollout-test}
spec:
  selector: my-pod-label == 'my-value'
  types: [Egress]
${extra}  egress:
${egress}`;
}

async function engineFor(yaml: string): Promise<PolicyEngine> {
  return new PolicyEngine(await policiesFrom(yaml), identities);
}

const DENY_ALL_THEN_ALLOW = policy(`    - action: Deny
      destination: {nets: [0.0.0.0/0]}
    - action: Allow
      destination: {domains: [approved-service.com]}
`);

test('Deny nets 0.0.0.0/0 before Allow domains: denied by rule 0, as nftables drops it', async () => {
  const engine = await engineFor(DENY_ALL_THEN_ALLOW);
  const result = explain(engine, { client: CLIENT, name: 'approved-service.com' });
  assert.equal(result.allowed, false);
  assert.equal(result.decidedBy, 'default|rollout-test/default.seed|deny|0');
  assert.equal(result.reason, 'rule');
  // The Allow rule still names the name: its addresses are learnt for it.
  assert.deepEqual(result.rules, ['default|rollout-test/default.seed|allow|1']);
  const v4 = result.connections.filter((connection) => connection.family === 4);
  assert.ok(v4.length > 0);
  assert.ok(v4.every((connection) => !connection.allowed && connection.rule === 'default|rollout-test/default.seed|deny|0'));
  // The Deny covers IPv4 only: over IPv6 the Allow rule decides.
  const v6 = result.connections.filter((connection) => connection.family === 6);
  assert.ok(v6.every((connection) => connection.allowed && connection.rule === 'default|rollout-test/default.seed|allow|1'));
  assert.match(explainText(engine, { client: CLIENT, name: 'approved-service.com' }), /^approved-service\.com: not allowed for pod rollout-test\/labelled \(10\.244\.1\.10\)/);
});

test('live: the learnt addresses are evaluated, not any address', async () => {
  const engine = await engineFor(
    policy(`    - action: Deny
      destination: {nets: [192.0.2.0/24]}
    - action: Allow
      destination: {domains: [approved-service.com]}
`),
  );
  const ref = 'default|rollout-test/default.seed|allow|1';
  const offline = explain(engine, { client: CLIENT, name: 'approved-service.com' });
  assert.deepEqual([offline.allowed, offline.decidedBy], [true, ref], 'any address is outside 192.0.2.0/24');
  const learnt = (ips: string[]): LearntLookup => (pod, name) => (pod.key === 'rollout-test/labelled' && name === 'approved-service.com' ? ips.map((ip) => ({ ip, family: 4, rules: [ref] })) : []);
  const inDenied = explain(engine, { client: CLIENT, name: 'Approved-Service.com.' }, learnt(['192.0.2.7']));
  assert.deepEqual([inDenied.allowed, inDenied.decidedBy], [false, 'default|rollout-test/default.seed|deny|0']);
  assert.ok(inDenied.connections.every((connection) => connection.address === '192.0.2.7'));
  const outside = explain(engine, { client: CLIENT, name: 'approved-service.com' }, learnt(['198.51.100.7']));
  assert.deepEqual([outside.allowed, outside.decidedBy], [true, ref]);
});

test('protocol and port filters: only those connections, and the rule deciding them', async () => {
  const engine = await engineFor(
    policy(`    - action: Allow
      protocol: TCP
      destination: {domains: [api.example.com], ports: [443]}
`),
  );
  const tls = explain(engine, { client: CLIENT, name: 'api.example.com', ...parseConnectionFilters('tcp', '443') });
  assert.deepEqual([tls.allowed, tls.decidedBy, tls.connections.map((c) => `${c.protocol}/${c.port}`)], [true, 'default|rollout-test/default.seed|allow|0', ['TCP/443', 'TCP/443']]);
  const web = explain(engine, { client: CLIENT, name: 'api.example.com', ...parseConnectionFilters('TCP', '80') });
  assert.deepEqual([web.allowed, web.decidedBy, web.reason, web.connections[0].tier], [false, null, 'tier-default', 'default']);
  const udp = explain(engine, { client: CLIENT, name: 'api.example.com', ...parseConnectionFilters('17', undefined) });
  assert.equal(udp.allowed, false);
  assert.ok(udp.connections.every((connection) => connection.protocol === 'UDP'));
  // Without filters, the verdict is about the connections the name's rule allows: TCP to 443.
  assert.equal(explain(engine, { client: CLIENT, name: 'api.example.com' }).allowed, true);
  assert.throws(() => parseConnectionFilters('tcpx', undefined), /unknown protocol "tcpx"/);
  assert.throws(() => parseConnectionFilters(undefined, '0'), /not a port number/);
});

test('Pass: the next tier decides, and the Pass rule is named; a tier with no match ends in its default action', async () => {
  const tiers = `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 10, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.gate}
spec:
  tier: security
  selector: my-pod-label == 'my-value'
  types: [Egress]
  egress:
    - action: Pass
      protocol: TCP
      destination: {ports: [443]}
    - action: Deny
      protocol: TCP
      destination: {ports: [25]}
---
`;
  const engine = await engineFor(
    tiers +
      policy(`    - action: Allow
      destination: {domains: [api.example.com]}
`),
  );
  const passed = explain(engine, { client: CLIENT, name: 'api.example.com', ...parseConnectionFilters('TCP', '443') });
  assert.deepEqual([passed.allowed, passed.decidedBy], [true, 'default|rollout-test/default.seed|allow|0']);
  assert.deepEqual(passed.connections[0].passedBy, ['security|security.gate|pass|0']);
  const blocked = explain(engine, { client: CLIENT, name: 'api.example.com', ...parseConnectionFilters('TCP', '25') });
  assert.deepEqual([blocked.allowed, blocked.decidedBy, blocked.connections[0].tier], [false, 'security|security.gate|deny|1', 'security']);
  // No rule of the security tier matches: its default Pass hands on to the default tier, whose default is Deny.
  const other = explain(engine, { client: CLIENT, name: 'other.example.com', ...parseConnectionFilters('TCP', '80') });
  assert.deepEqual([other.allowed, other.reason, other.connections[0].tier, other.connections[0].passedBy], [false, 'tier-default', 'default', []]);
});

test('an Allow rule that matches any destination allows every name; an unselected pod is unrestricted', async () => {
  const engine = await engineFor(policy(`    - action: Allow\n`));
  const result = explain(engine, { client: CLIENT, name: 'anything.example.org' });
  assert.deepEqual([result.allowed, result.decidedBy, result.rules], [true, 'default|rollout-test/default.seed|allow|0', []]);
  const unselected = explain(engine, { client: '10.244.1.11', name: 'anything.example.org' });
  assert.deepEqual([unselected.allowed, unselected.enforced, unselected.reason, unselected.connections], [true, false, 'not-enforced', []]);
});

test('source nets are matched against the address the connection leaves from', async () => {
  // The client has an IPv4 and an IPv6 address; the Allow rule's source nets hold only the IPv4 one.
  const engine = await engineFor(policy(`    - action: Allow
      source: {nets: [10.244.1.10/32]}
`));
  const result = explain(engine, { client: CLIENT, name: 'anything.example.org', ...parseConnectionFilters('TCP', '443') });
  const verdicts = result.connections.map((connection) => [connection.family, connection.allowed, connection.reason]);
  assert.deepEqual(verdicts, [
    [4, true, 'rule'],
    [6, false, 'tier-default'],
  ]);
});

test('names compare by labels: evil\\.example.com (the label evil.example under com) is not under *.example.com', async () => {
  const engine = await engineFor(policy(`    - action: Allow
      destination: {domains: ['*.example.com']}
`));
  const ref = 'default|rollout-test/default.seed|allow|0';
  assert.deepEqual(explain(engine, { client: CLIENT, name: 'evil.example.com' }).rules, [ref], 'three labels: under example.com');
  const dotted = explain(engine, { client: CLIENT, name: 'evil\\.example.com' });
  assert.deepEqual([dotted.allowed, dotted.rules, dotted.reason], [false, [], 'tier-default']);
  assert.match(explainText(engine, { client: CLIENT, name: 'evil\\.example.com' }), /no egress Allow rule matches the name/);
});
