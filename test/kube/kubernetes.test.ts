// The Kubernetes API here is an in-process fake on loopback serving list and watch for
// the resources dnsgate reads: no API server can run on this machine. dnsgate's client
// side (undici, list-then-watch, rebuilding identities and policies) is the real one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { allowed } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { spawnDnsgate, startDnsgate, waitFor, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { FakeApiServer, type KubeObject } from './fake-api.js';

const skip = missing('knotd', 'dig');
const net = new LoopbackSubnet();

const PODS = '/api/v1/pods';
const POLICIES = '/apis/projectcalico.org/v3/networkpolicies';
const pod = (name: string, ip: string): KubeObject => ({
  metadata: { name, namespace: 'shop', labels: { app: 'web' } },
  spec: { serviceAccountName: 'default', containers: [] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
});
const policy = (domains: string[]): KubeObject => ({
  metadata: { name: 'allow-egress-to-domains', namespace: 'shop' },
  spec: { selector: "app == 'web'", types: ['Egress'], egress: [{ action: 'Allow', destination: { domains } }] },
});

let api: FakeApiServer;
let knot: DnsServer;
let dnsgate: RunningDnsgate;

before(async () => {
  if (skip) return;
  knot = await startKnot(net.address(2), { '.': standardRootZone(net.address(2)) });
  api = new FakeApiServer();
  api.set(PODS, [pod('web-1', net.address(11))]);
  api.set('/api/v1/namespaces', [{ metadata: { name: 'shop', labels: { team: 'shop' } } }]);
  api.set('/api/v1/serviceaccounts', []);
  api.set(POLICIES, [policy(['www.example.com'])]);
  const calicoResources = ['tiers', 'globalnetworkpolicies', 'networksets', 'globalnetworksets', 'stagednetworkpolicies', 'stagedglobalnetworkpolicies', 'stagedkubernetesnetworkpolicies'];
  for (const resource of calicoResources) api.set(`/apis/projectcalico.org/v3/${resource}`, []);
  const resources = ['networkpolicies', ...calicoResources].map((name) => ({ name }));
  api.setSingle('/apis/projectcalico.org/v3', { kind: 'APIResourceList', groupVersion: 'projectcalico.org/v3', resources });
  api.setSingle('/api/v1/namespaces/kube-system/services/kube-dns', { spec: { clusterIP: knot.address, ports: [{ name: 'dns', port: knot.port }] } });
  await api.start(net.address(3));
  process.env.DNSGATE_KUBE_API = api.url;
  try {
    dnsgate = await startDnsgate(net.address(1), ['--kubernetes', '--upstream', 'k8s-service:kube-dns']);
  } finally {
    delete process.env.DNSGATE_KUBE_API;
  }
});

after(async () => {
  await dnsgate?.stop();
  await api?.stop();
  await knot?.stop();
});

async function explainFor(ip: string, name: string): Promise<{ allowed: boolean; enforced: boolean; client: { name: string } | null }> {
  const response = await fetch(`http://127.0.0.1:${dnsgate.adminPort}/v1/explain?client=${ip}&name=${name}`);
  return (await response.json()) as { allowed: boolean; enforced: boolean; client: { name: string } | null };
}

test('pods, policies and the k8s-service upstream come from the API', { skip }, async () => {
  const result = await dig('www.example.com', { server: dnsgate.address, port: dnsgate.port, source: net.address(11) });
  assert.deepEqual(result.answers.map((r) => r.data), ['192.0.2.10'], 'forwarded to the Service kube-dns');
  const entries = (await allowed(dnsgate.adminPort, net.address(11))).entries;
  assert.deepEqual(entries.map((e) => [e.ip, e.client?.name, e.rules]), [['192.0.2.10', 'web-1', ['default|shop/default.allow-egress-to-domains|allow|0']]]);
});

test('watch events update pods and policies', { skip }, async () => {
  await waitFor(() => api.watching(PODS) > 0 && api.watching(POLICIES) > 0, 5000, 'watches');
  api.event(PODS, 'ADDED', pod('web-2', net.address(12)));
  await waitFor(async () => (await explainFor(net.address(12), 'www.example.com')).client?.name === 'web-2', 5000, 'the new pod');

  assert.equal((await explainFor(net.address(11), 'v6.example.com')).allowed, false);
  api.event(POLICIES, 'MODIFIED', policy(['www.example.com', 'v6.example.com']));
  await waitFor(async () => (await explainFor(net.address(11), 'v6.example.com')).allowed, 5000, 'the changed policy');

  api.event(PODS, 'DELETED', pod('web-2', net.address(12)));
  await waitFor(async () => (await explainFor(net.address(12), 'www.example.com')).client === null, 5000, 'the pod to go');
});

test('a staged policy from the API is evaluated beside the enforced ones and enforces nothing', { skip }, async () => {
  const stagedPath = '/apis/projectcalico.org/v3/stagednetworkpolicies';
  await waitFor(() => api.watching(stagedPath) > 0, 5000, 'the staged policies watch');
  const staged: KubeObject = {
    metadata: { name: 'allow-egress-to-domains', namespace: 'shop' },
    spec: { stagedAction: 'Set', selector: "app == 'web'", types: ['Egress'], egress: [{ action: 'Allow', destination: { domains: ['multi.example.com'] } }] },
  };
  api.event(stagedPath, 'ADDED', staged);
  const explained = async (): Promise<{ allowed: boolean; staged?: { allowed: boolean; rules: string[] } }> =>
    (await (await fetch(`http://127.0.0.1:${dnsgate.adminPort}/v1/explain?client=${net.address(11)}&name=multi.example.com`)).json()) as { allowed: boolean; staged?: { allowed: boolean; rules: string[] } };
  await waitFor(async () => (await explained()).staged !== undefined, 5000, 'the staged policy');
  const result = await explained();
  assert.equal(result.allowed, false, 'the enforced policy does not allow it');
  assert.deepEqual([result.staged?.allowed, result.staged?.rules], [true, ['default|shop/default.staged:allow-egress-to-domains|allow|0']]);
  api.event(stagedPath, 'DELETED', staged);
  await waitFor(async () => (await explained()).staged === undefined, 5000, 'the staged policy to go');
});

test('the other staged kinds and a stagedAction Delete from the API: each shows in the staged view and /v1/staged, and enforces nothing', { skip }, async () => {
  // Watch events of the in-process fake API server (fake-api.ts), the one fake here; dnsgate's watch client is the real one.
  const group = '/apis/projectcalico.org/v3';
  interface Explained {
    allowed: boolean;
    enforced: boolean;
    staged?: { allowed: boolean; enforced: boolean; rules: string[]; decidedBy: string | null };
  }
  const explained = async (name: string): Promise<Explained> =>
    (await (await fetch(`http://127.0.0.1:${dnsgate.adminPort}/v1/explain?client=${net.address(11)}&name=${name}`)).json()) as Explained;
  const stagedPolicies = async (): Promise<unknown> => ((await (await fetch(`http://127.0.0.1:${dnsgate.adminPort}/v1/staged`)).json()) as { policies: unknown }).policies;
  const cases: { path: string; object: KubeObject; listed: unknown; staged: Explained['staged'] }[] = [
    {
      path: `${group}/stagedglobalnetworkpolicies`,
      object: { metadata: { name: 'platform-egress' }, spec: { stagedAction: 'Set', selector: "app == 'web'", types: ['Egress'], egress: [{ action: 'Allow', destination: { domains: ['dual.example.com'] } }] } },
      listed: { kind: 'StagedGlobalNetworkPolicy', name: 'default.staged:platform-egress', stagedAction: 'Set', target: 'default.platform-egress' },
      staged: { allowed: true, enforced: true, rules: ['default|default.staged:platform-egress|allow|0'], decidedBy: 'default|default.staged:platform-egress|allow|0' },
    },
    {
      path: `${group}/stagedkubernetesnetworkpolicies`,
      object: { metadata: { name: 'web-egress', namespace: 'shop' }, spec: { stagedAction: 'Set', podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{}] } },
      listed: { kind: 'StagedKubernetesNetworkPolicy', name: 'shop/staged:knp.default.web-egress', stagedAction: 'Set', target: 'shop/knp.default.web-egress' },
      staged: { allowed: true, enforced: true, rules: [], decidedBy: 'default|shop/staged:knp.default.web-egress|allow|0' },
    },
    {
      // Deleting the enforced policy would leave the pod unselected: its egress would be open.
      path: `${group}/stagednetworkpolicies`,
      object: { metadata: { name: 'allow-egress-to-domains', namespace: 'shop' }, spec: { stagedAction: 'Delete' } },
      listed: { kind: 'StagedNetworkPolicy', name: 'shop/default.staged:allow-egress-to-domains', stagedAction: 'Delete', target: 'shop/default.allow-egress-to-domains' },
      staged: { allowed: true, enforced: false, rules: [], decidedBy: null },
    },
  ];
  for (const { path, object, listed, staged } of cases) {
    await waitFor(() => api.watching(path) > 0, 5000, `the watch of ${path}`);
    api.event(path, 'ADDED', object);
    await waitFor(async () => (await explained('dual.example.com')).staged !== undefined, 5000, `the staged policy of ${path}`);
    const result = await explained('dual.example.com');
    assert.deepEqual([result.enforced, result.allowed], [true, false], `${path}: the enforced policy still decides`);
    const { allowed, enforced, rules, decidedBy } = result.staged ?? {};
    assert.deepEqual({ allowed, enforced, rules, decidedBy }, staged, path);
    assert.deepEqual(await stagedPolicies(), [listed]);
    api.event(path, 'DELETED', object);
    await waitFor(async () => (await explained('dual.example.com')).staged === undefined, 5000, `the staged policy of ${path} to go`);
  }
});

test('an invalid policy from the API keeps the previous set', { skip }, async () => {
  api.event(POLICIES, 'MODIFIED', policy(['*.*.bad.example']));
  await waitFor(() => dnsgate.logger.lines.some((line) => line.startsWith('reload of policies kept the previous set: kubernetes:NetworkPolicy/shop/allow-egress-to-domains')), 5000, 'the reload error');
  assert.equal((await explainFor(net.address(11), 'www.example.com')).allowed, true);
});

test('--kubernetes without API access stops start-up with one line', async () => {
  const env = { ...process.env };
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.DNSGATE_KUBE_API;
  const proc = spawnDnsgate(['serve', '--kubernetes', '--upstream', '127.0.0.1', '--admin', 'off', '--listen', `${net.address(30)}:5300`], undefined, env);
  assert.equal(await proc.exited, 2);
  assert.equal(proc.stderr(), 'dnsgate: --kubernetes: not running in a cluster (KUBERNETES_SERVICE_HOST unset) and DNSGATE_KUBE_API not set\n');
});
