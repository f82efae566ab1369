import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfigFile, resolveConfig } from '../../src/config/load.js';
import { loadPodsFile } from '../../src/identity/podfile.js';
import { loadPolicies } from '../../src/policy/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dnsgate-examples-'));

test('every mode config in config/ is a valid serve configuration', () => {
  const configs = readdirSync(join(root, 'config')).filter((name) => /^(dev|node-local|cluster-upstream|sidecar)\.yaml$/.test(name));
  assert.equal(configs.length, 4);
  for (const name of configs) {
    const config = resolveConfig({}, loadConfigFile(join(root, 'config', name)));
    assert.ok(config.listen.length > 0, name);
  }
});

test('the Kubernetes manifests parse, and their ConfigMaps hold valid configs and policies', async () => {
  const manifests = readdirSync(join(root, 'docker/k8s'));
  assert.deepEqual(manifests.sort(), ['cluster-upstream.yaml', 'node-local.yaml', 'rbac.yaml', 'sidecar.yaml']);
  let configs = 0;
  for (const name of manifests) {
    for (const doc of parseAllDocuments(readFileSync(join(root, 'docker/k8s', name), 'utf8'))) {
      assert.deepEqual(doc.errors, [], name);
      const object = doc.toJSON() as { kind: string; data?: Record<string, string> };
      if (object.kind !== 'ConfigMap' || !object.data) continue;
      const configPath = join(dir, `${name}-config.yaml`);
      writeFileSync(configPath, object.data['config.yaml']);
      resolveConfig({}, loadConfigFile(configPath));
      configs++;
      if (object.data['policies.yaml']) {
        const policies = join(dir, `${name}-policies.yaml`);
        writeFileSync(policies, object.data['policies.yaml']);
        const load = await loadPolicies([policies]);
        assert.ok(load.ok, `${name} policies: ${JSON.stringify(load)}`);
      }
    }
  }
  assert.equal(configs, 3);
});

test('the sidecar identity script writes a Pod and its Namespace that --pods reads', async () => {
  const labels = join(dir, 'labels');
  writeFileSync(labels, 'app="web"\npod-template-hash="7d9c8b7f4"\n');
  const output = join(dir, 'self.yaml');
  execFileSync(process.execPath, [join(root, 'docker/sidecar-identity.mjs'), labels, output], {
    env: { ...process.env, POD_NAME: 'web', POD_NAMESPACE: 'shop', POD_IPS: '10.244.1.7,fd00::7', SERVICE_ACCOUNT: 'web-sa', NAMESPACE_LABELS: 'team=payments,tier=web' },
  });
  const identities = await loadPodsFile(output);
  const pod = identities.podByIp('fd00::7');
  assert.equal(pod?.key, 'shop/web');
  assert.deepEqual(pod?.ips, ['10.244.1.7', 'fd00::7']);
  assert.equal(pod?.labels.app, 'web');
  assert.equal(pod?.serviceAccount, 'web-sa');
  assert.equal(pod?.namespaceLabels.team, 'payments', 'namespaceSelectors see the Namespace\'s labels');
  assert.equal(pod?.namespaceLabels['kubernetes.io/metadata.name'], 'shop');
});

test('the node-local DaemonSet intercepts kube-dns and can surge: maxSurge 1, no host ports, probes off the admin port, resources set', () => {
  interface Container {
    ports?: unknown;
    startupProbe: { exec?: unknown };
    readinessProbe: { exec?: unknown };
    resources: { requests: { memory?: string }; limits: { memory?: string } };
  }
  interface Manifest {
    kind: string;
    data?: Record<string, string>;
    spec: { updateStrategy: { rollingUpdate: unknown }; template: { spec: { containers: Container[] } } };
  }
  const docs = parseAllDocuments(readFileSync(join(root, 'docker/k8s/node-local.yaml'), 'utf8')).map((doc) => doc.toJSON() as Manifest);
  const config = docs.find((doc) => doc.kind === 'ConfigMap')?.data?.['config.yaml'] ?? '';
  assert.match(config, /intercept:\n\s+- k8s-service:kube-system\/kube-dns/);
  const daemonSet = docs.find((doc) => doc.kind === 'DaemonSet') as Manifest;
  assert.deepEqual(daemonSet.spec.updateStrategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
  const container = daemonSet.spec.template.spec.containers[0];
  assert.equal(container.ports, undefined, 'declared host ports would block the surge');
  for (const probe of ['startupProbe', 'readinessProbe'] as const) assert.ok(container[probe].exec, `${probe} must not ask the predecessor's admin port`);
  assert.ok(container.resources.requests.memory && container.resources.limits.memory);
});

test('the sidecar is native and ready before the app, and knows its pod from the downward API', () => {
  interface Container {
    name: string;
    restartPolicy?: string;
    args?: string[];
    env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
    startupProbe?: { exec?: { command: string[] } };
    securityContext?: { capabilities?: { add?: string[] } };
  }
  interface Manifest {
    kind: string;
    data?: Record<string, string>;
    spec: { initContainers: Container[]; containers: Container[] };
  }
  const docs = parseAllDocuments(readFileSync(join(root, 'docker/k8s/sidecar.yaml'), 'utf8')).map((doc) => doc.toJSON() as Manifest);
  const configPath = join(dir, 'sidecar-manifest-config.yaml');
  writeFileSync(configPath, docs.find((doc) => doc.kind === 'ConfigMap')?.data?.['config.yaml'] ?? '');
  const config = resolveConfig({}, loadConfigFile(configPath));
  assert.deepEqual(config.intercept.map((spec) => (spec.kind === 'address' ? spec.endpoint.host : spec.name)), ['10.96.0.10']);
  assert.equal(config.nftHook, 'output');

  const pod = docs.find((doc) => doc.kind === 'Pod') as Manifest;
  const names = pod.spec.initContainers.map((container) => container.name);
  assert.deepEqual(names, ['identity', 'dnsgate'], 'the identity is written before dnsgate starts');
  const sidecar = pod.spec.initContainers[1];
  assert.equal(sidecar.restartPolicy, 'Always', 'a native sidecar: the app starts once its startup probe passes');
  assert.deepEqual(sidecar.startupProbe?.exec?.command, ['test', '-e', config.readyFile], 'the probe waits for the file dnsgate writes once intercepting');
  assert.deepEqual(sidecar.args?.slice(-2), ['--local-pod', '$(POD_NAMESPACE)/$(POD_NAME)']);
  const fieldRefs = Object.fromEntries((sidecar.env ?? []).map((variable) => [variable.name, variable.valueFrom?.fieldRef?.fieldPath]));
  assert.deepEqual(fieldRefs, { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
  assert.ok(sidecar.securityContext?.capabilities?.add?.includes('NET_ADMIN'));
  assert.deepEqual(pod.spec.containers.map((container) => container.name), ['app'], 'the app itself is unchanged');

  const shipped = resolveConfig({}, loadConfigFile(join(root, 'config/sidecar.yaml')));
  assert.equal(shipped.localPod, 'shop/web', 'config/sidecar.yaml names its pod, so it learns');
  assert.equal(shipped.nftHook, 'output');
  assert.ok(shipped.intercept.length > 0);
});
