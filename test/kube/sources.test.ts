// Where --kubernetes takes policies from, and what a k8s-service --intercept target
// stands for, against an in-process fake of the Kubernetes API (fake-api.ts): no API
// server can run on this machine. dnsgate, knot and dig are real.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { allowed, writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { KubeClient } from '../../src/kube/client.js';
import { resolveTargets } from '../../src/intercept/targets.js';
import { FakeApiServer, type KubeObject } from './fake-api.js';

const skip = missing('knotd', 'dig');
const net = new LoopbackSubnet();
const RULE = 'default|shop/default.allow-egress-to-domains|allow|0';
let knot: DnsServer;
let fixture: string;

const policy = (apiVersion: string, domains: string[]): KubeObject => ({
  apiVersion,
  kind: 'NetworkPolicy',
  metadata: { name: 'allow-egress-to-domains', namespace: 'shop' },
  spec: { selector: "app == 'web'", types: ['Egress'], egress: [{ action: 'Allow', destination: { domains } }] },
});

/** A cluster with one pod at net.address(11) and, per group, the policy resources it serves. */
async function fakeCluster(groups: Record<string, KubeObject[]>): Promise<FakeApiServer> {
  const api = new FakeApiServer();
  api.set('/api/v1/pods', [
    { metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } }, spec: { serviceAccountName: 'default', containers: [] }, status: { phase: 'Running', podIP: net.address(11), podIPs: [{ ip: net.address(11) }] } },
  ]);
  api.set('/api/v1/namespaces', [{ metadata: { name: 'shop' } }]);
  api.set('/api/v1/serviceaccounts', []);
  for (const [group, networkPolicies] of Object.entries(groups)) {
    api.setSingle(group, { kind: 'APIResourceList' });
    api.set(`${group}/networkpolicies`, networkPolicies);
    for (const resource of ['tiers', 'globalnetworkpolicies', 'networksets', 'globalnetworksets']) api.set(`${group}/${resource}`, []);
  }
  await api.start(net.address(3));
  return api;
}

async function withApi<T>(api: FakeApiServer, run: () => Promise<T>): Promise<T> {
  process.env.DNSGATE_KUBE_API = api.url;
  try {
    return await run();
  } finally {
    delete process.env.DNSGATE_KUBE_API;
  }
}

/** Asks www.example.com as the pod and returns the rules that taught it. */
async function learntRules(dnsgate: RunningDnsgate): Promise<string[]> {
  await dig('www.example.com', { server: dnsgate.address, port: dnsgate.port, source: net.address(11) });
  return (await allowed(dnsgate.adminPort, net.address(11))).entries.flatMap((entry) => entry.rules);
}

before(async () => {
  if (skip) return;
  knot = await startKnot(net.address(2), { '.': standardRootZone(net.address(2)) });
  fixture = writeFixture({ 'policies.yaml': JSON.stringify(policy('projectcalico.org/v3', ['www.example.com'])) });
});

after(async () => {
  await knot?.stop();
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

const upstream = (): string[] => ['--upstream', `${knot.address}:${knot.port}`];

test('--kubernetes --policies FILES: identities from the API, policies from the files, with no Calico API served', { skip }, async () => {
  const api = await fakeCluster({});
  try {
    const dnsgate = await withApi(api, () => startDnsgate(net.address(1), ['--kubernetes', '--policies', join(fixture, 'policies.yaml'), ...upstream()]));
    try {
      assert.deepEqual(await learntRules(dnsgate), [RULE]);
      assert.ok(!api.requests.some((path) => path.includes('projectcalico')), 'the API is not asked for policies');
    } finally {
      await dnsgate.stop();
    }
  } finally {
    await api.stop();
  }
});

test('--kubernetes without the v3 API reads the crd.projectcalico.org/v1 CRDs', { skip }, async () => {
  const api = await fakeCluster({ '/apis/crd.projectcalico.org/v1': [policy('crd.projectcalico.org/v1', ['www.example.com'])] });
  try {
    const dnsgate = await withApi(api, () => startDnsgate(net.address(1), ['--kubernetes', ...upstream()]));
    try {
      assert.deepEqual(await learntRules(dnsgate), [RULE]);
    } finally {
      await dnsgate.stop();
    }
  } finally {
    await api.stop();
  }
});

test('--kubernetes with no Calico API at all starts with no policies and says so in one line', { skip }, async () => {
  const api = await fakeCluster({});
  try {
    const dnsgate = await withApi(api, () => startDnsgate(net.address(1), ['--kubernetes', ...upstream()]));
    try {
      assert.deepEqual(await learntRules(dnsgate), []);
      assert.equal(dnsgate.logger.lines.filter((line) => line.includes('no Calico API')).length, 1, dnsgate.logger.lines.join('\n'));
    } finally {
      await dnsgate.stop();
    }
  } finally {
    await api.stop();
  }
});

test('a k8s-service --intercept target is the Service\'s cluster IPs and its endpoints\' addresses', { skip }, async () => {
  const api = new FakeApiServer();
  api.setSingle('/api/v1/namespaces/kube-system/services/kube-dns', {
    spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::a'], ports: [{ name: 'dns', port: 53 }, { name: 'metrics', port: 9153 }] },
  });
  api.setSingle('/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices', {
    items: [{ endpoints: [{ addresses: ['10.244.0.5'] }, { addresses: ['10.244.1.9'] }], ports: [{ name: 'metrics', port: 9153 }, { name: 'dns', port: 5353 }] }],
  });
  await api.start(net.address(3));
  const client = await withApi(api, async () => KubeClient.fromEnvironment());
  try {
    const targets = await resolveTargets([{ kind: 'k8s-service', namespace: 'kube-system', name: 'kube-dns' }], client);
    assert.deepEqual(targets, [
      { ip: '10.96.0.10', port: 53 },
      { ip: 'fd00::a', port: 53 },
      { ip: '10.244.0.5', port: 5353 },
      { ip: '10.244.1.9', port: 5353 },
    ]);
    assert.ok(api.requests.includes('/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkube-dns'));
  } finally {
    await client.close();
    await api.stop();
  }
});
