import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identitiesFromObjects } from '../../src/identity/podfile.js';
import { SourceError, parseObjects } from '../../src/yaml/documents.js';

const FILE = 'pods.yaml';

function pod(name: string, ip: string | undefined, extra: { phase?: string; terminating?: boolean; hostNetwork?: boolean; podIPs?: string[] } = {}): string {
  const lines = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    '  namespace: shop',
    '  labels: { app: web }',
    ...(extra.terminating ? ['  deletionTimestamp: "2026-11-22T10:00:00Z"'] : []),
    'spec:',
    '  serviceAccountName: web-sa',
    ...(extra.hostNetwork ? ['  hostNetwork: true'] : []),
    '  containers:',
    '    - name: c',
    '      ports: [{ name: http, containerPort: 8080 }]',
    'status:',
    `  phase: ${extra.phase ?? 'Running'}`,
    ...(ip === undefined ? [] : [`  podIP: ${ip}`]),
    ...(extra.podIPs ? ['  podIPs:', ...extra.podIPs.map((address) => `    - ip: "${address}"`)] : []),
  ];
  return lines.join('\n');
}

const NAMESPACE_AND_ACCOUNT = [
  'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: { team: payments }',
  'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web-sa\n  namespace: shop\n  labels: { tier: front }',
];

function snapshot(...documents: string[]) {
  return identitiesFromObjects(parseObjects(FILE, documents.join('\n---\n')));
}

test('a running pod: its IPs (dual stack), labels with Calico implicit ones, namespace and service account labels, named ports', () => {
  const identities = snapshot(...NAMESPACE_AND_ACCOUNT, pod('web-1', undefined, { podIPs: ['10.0.0.1', 'fd00::0:1'] }));
  const web = identities.podByIp('fd00::1');
  assert.ok(web, 'found by its canonical IPv6 address');
  assert.equal(identities.podByIp('10.0.0.1'), web);
  assert.deepEqual(web.ips, ['10.0.0.1', 'fd00::1']);
  assert.equal(web.key, 'shop/web-1');
  assert.equal(web.labels.app, 'web');
  assert.equal(web.labels['projectcalico.org/namespace'], 'shop');
  assert.equal(web.labels['projectcalico.org/serviceaccount'], 'web-sa');
  assert.equal(web.namespaceLabels.team, 'payments');
  assert.equal(web.namespaceLabels['projectcalico.org/name'], 'shop');
  assert.deepEqual(web.serviceAccountLabels, { tier: 'front', 'projectcalico.org/name': 'web-sa' });
  assert.deepEqual(web.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
});

test('pods without an IP, finished pods and host-network pods are left out', () => {
  const identities = snapshot(
    pod('pending', undefined, { phase: 'Pending' }),
    pod('done', '10.0.0.2', { phase: 'Succeeded' }),
    pod('failed', '10.0.0.3', { phase: 'Failed' }),
    pod('host', '10.0.0.4', { hostNetwork: true }),
  );
  assert.deepEqual(identities.pods, []);
});

test('two running pods with one IP is an error at the second, file:line:col', () => {
  assert.throws(
    () => snapshot(pod('a', '10.0.0.5'), pod('b', '10.0.0.5')),
    (error: unknown) => error instanceof SourceError && /^pods\.yaml:28:3: pod shop\/b has IP 10\.0\.0\.5, already held by pod shop\/a$/.test(error.message),
  );
});

test('a terminating pod still listed with an IP a new pod already has is left out, whichever comes first', () => {
  for (const documents of [
    [pod('old', '10.0.0.6', { terminating: true }), pod('new', '10.0.0.6')],
    [pod('new', '10.0.0.6'), pod('old', '10.0.0.6', { terminating: true })],
  ]) {
    const identities = snapshot(...documents);
    assert.equal(identities.podByIp('10.0.0.6')?.name, 'new');
    assert.deepEqual(identities.pods.map((p) => p.name), ['new']);
  }
  // Alone, a terminating pod still has its IP: it may still ask during its grace period.
  assert.equal(snapshot(pod('old', '10.0.0.7', { terminating: true })).podByIp('10.0.0.7')?.name, 'old');
});

test('an invalid IP names its place', () => {
  assert.throws(() => snapshot(pod('bad', '10.0.0.300')), (error: unknown) => error instanceof SourceError && /^pods\.yaml:14:10: pod shop\/bad: invalid IP "10\.0\.0\.300"$/.test(error.message));
});
