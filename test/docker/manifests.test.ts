/**
 * The Kubernetes manifests under docker/k8s/: every object is valid against the
 * Kubernetes OpenAPI schemas (kubernetes-models' classes validate), images are pinned,
 * every container has resource requests and a memory limit, dnsgate runs as the image's
 * unprivileged user, and the node-local init container's script fails loudly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as kubernetesModels from 'kubernetes-models';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfigFile, resolveConfig } from '../../src/config/load.js';
import { isLoopback } from '../../src/net/address.js';
import { missing } from '../helpers/env.js';
import { NetworkNamespace } from '../helpers/netns.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}

/** Every model class of kubernetes-models, by `apiVersion/kind`. */
function modelClasses(): Map<string, ModelClass> {
  const classes = new Map<string, ModelClass>();
  const walk = (exports: object): void => {
    for (const value of Object.values(exports)) {
      if (typeof value === 'function' && typeof value.apiVersion === 'string' && typeof value.kind === 'string') {
        classes.set(`${value.apiVersion}/${value.kind}`, value as ModelClass);
      } else if (value !== null && typeof value === 'object') {
        walk(value as object);
      }
    }
  };
  walk(kubernetesModels);
  return classes;
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; capabilities?: { add?: string[]; drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { containers?: Container[]; initContainers?: Container[]; template?: { spec: { containers: Container[]; initContainers?: Container[] } } };
}

const manifests = readdirSync(join(root, 'docker/k8s')).filter((name) => name.endsWith('.yaml'));

function objects(): { file: string; object: K8sObject }[] {
  return manifests.flatMap((file) =>
    parseAllDocuments(readFileSync(join(root, 'docker/k8s', file), 'utf8')).map((doc) => ({ file, object: doc.toJSON() as K8sObject })),
  );
}

function containers(object: K8sObject): Container[] {
  const pod = object.spec?.template?.spec ?? object.spec;
  return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
}

const allContainers = objects().flatMap(({ file, object }) => containers(object).map((container) => ({ where: `${file} ${object.kind}/${object.metadata.name} ${container.name}`, container })));

test('every manifest object is valid against the Kubernetes schemas', () => {
  const classes = modelClasses();
  let validated = 0;
  for (const { file, object } of objects()) {
    const Model = classes.get(`${object.apiVersion}/${object.kind}`);
    assert.ok(Model, `${file}: ${object.apiVersion} ${object.kind} is no Kubernetes kind`);
    assert.doesNotThrow(() => new Model(object).validate(), `${file} ${object.kind}/${object.metadata.name}`);
    validated++;
  }
  assert.ok(validated >= 10, `only ${validated} objects`);
});

test('the schema validation catches a broken object', () => {
  const Deployment = modelClasses().get('apps/v1/Deployment');
  assert.ok(Deployment);
  const broken = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'x', image: 'x', resources: { limits: { memory: 'lots' } } }] } } } };
  assert.throws(() => new Deployment(broken).validate(), /memory/);
});

test('images are pinned: dnsgate at the package version, others at a version tag', () => {
  assert.ok(allContainers.length >= 6);
  for (const { where, container } of allContainers) {
    const [name, tag] = container.image.split(':');
    assert.ok(tag !== undefined && tag !== 'latest', `${where}: ${container.image} is not pinned`);
    if (name === 'dnsgate') assert.equal(tag, version, where);
  }
});

test('every container requests CPU and memory and has a memory limit', () => {
  for (const { where, container } of allContainers) {
    assert.ok(container.resources?.requests?.cpu, `${where}: no CPU request`);
    assert.ok(container.resources?.requests?.memory, `${where}: no memory request`);
    assert.ok(container.resources?.limits?.memory, `${where}: no memory limit`);
  }
});

/**
 * The bench's figures the node-local dnsgate's resources are sized from (README,
 * Operations), in MiB as the bench reports them.
 */
const BENCH = {
  idle: 60,
  /** At 10,000 queries/s with policies, DNS logs and nftables. */
  underLoad: 117,
  /** What 100,000 allowed-map entries add (the allowed-map micro-benchmark). */
  allowedMapPer100k: 66,
  /** A start that restores 100,000 learnt entries (the start-up micro-benchmark). */
  startupPeakAt100k: 360,
  /** Loading a 50 MB policy file (the policy-load micro-benchmark). */
  policyFilePeak: 440,
};

function mebibytes(quantity: string | undefined): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity ?? '');
  assert.ok(match, `${quantity}: not a quantity in Mi or Gi`);
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}

test("the node-local dnsgate's memory request and limit cover what the bench measured", () => {
  const dnsgate = allContainers.find(({ where }) => where === 'node-local.yaml DaemonSet/dnsgate dnsgate')?.container;
  const config = objects().find(({ object }) => object.kind === 'ConfigMap' && object.metadata.name === 'dnsgate-node-local')?.object.data?.['config.yaml'];
  assert.ok(dnsgate && config);
  const maxEntries = (parse(config) as { 'max-entries'?: number })['max-entries'] ?? 500_000;
  const request = mebibytes(dnsgate.resources?.requests?.memory);
  const limit = mebibytes(dnsgate.resources?.limits?.memory);
  assert.ok(request >= BENCH.underLoad + BENCH.allowedMapPer100k, `request ${request} Mi: under load with 100,000 entries takes ${BENCH.underLoad + BENCH.allowedMapPer100k}`);
  // A restart's peak grows with the entries it restores.
  const startupPeak = BENCH.idle + ((BENCH.startupPeakAt100k - BENCH.idle) * maxEntries) / 100_000;
  assert.ok(limit >= Math.max(startupPeak, BENCH.policyFilePeak), `limit ${limit} Mi: a restart with max-entries ${maxEntries} peaks at ${Math.round(startupPeak)}`);
});

test('dnsgate runs as a non-root user, with NET_ADMIN only where nftables enforces', () => {
  const user = readFileSync(join(root, 'docker/Dockerfile'), 'utf8').match(/^USER\s+(\d+)(?::\d+)?\s*$/gm);
  assert.ok(user, 'the Dockerfile sets no numeric USER');
  assert.doesNotMatch(user.at(-1) ?? '', /^USER\s+0\b/);
  const serving = allContainers.filter(({ container }) => container.args?.[0] === 'serve');
  assert.equal(serving.length, 3);
  for (const { where, container } of serving) {
    const context = container.securityContext;
    assert.equal(context?.runAsNonRoot, true, where);
    assert.notEqual(context?.runAsUser, 0, where);
    assert.deepEqual(context?.capabilities?.drop, ['ALL'], where);
  }
  const config = (file: string): string => readFileSync(join(root, 'docker/k8s', file), 'utf8');
  for (const { where, container } of serving) {
    const file = where.split(' ')[0];
    const enforces = /dataplane: nftables/.test(config(file));
    assert.equal(container.securityContext?.capabilities?.add?.includes('NET_ADMIN'), enforces, where);
  }
});

/** The config each serving manifest mounts (its ConfigMap's config.yaml), read as dnsgate reads it. */
function servingConfigs(): { file: string; config: ReturnType<typeof resolveConfig>; args: string[] }[] {
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-manifest-config-'));
  const configs = objects().flatMap(({ file, object }) =>
    containers(object)
      .filter((container) => container.args?.[0] === 'serve')
      .map((container) => {
        const map = objects().find((candidate) => candidate.file === file && candidate.object.kind === 'ConfigMap');
        const text = (map?.object as { data?: Record<string, string> } | undefined)?.data?.['config.yaml'];
        assert.ok(text, `${file}: no ConfigMap with config.yaml`);
        const path = join(dir, `${file}.config.yaml`);
        writeFileSync(path, text);
        return { file, config: resolveConfig({}, loadConfigFile(path)), args: container.args ?? [] };
      }),
  );
  rmSync(dir, { recursive: true });
  return configs;
}

test('the API that shows which pod reaches what stays on loopback: a node-wide --admin serves only metrics and probes', () => {
  const serving = servingConfigs();
  assert.deepEqual(serving.map(({ file }) => file).sort(), ['cluster-upstream.yaml', 'node-local.yaml', 'sidecar.yaml']);
  for (const { file, config, args } of serving) {
    assert.ok(!args.some((arg) => arg.startsWith('--admin')), `${file}: the admin listeners are set in the config, not overridden by flags`);
    // Without a token a non-loopback --admin answers 403 to /v1/* (src/admin/server.ts); with one it would serve them there.
    assert.equal(config.adminTokenFile, undefined, `${file}: no API token, so no API off loopback`);
    const api = [config.admin, config.adminPrivate].filter((endpoint) => endpoint && isLoopback(endpoint.host));
    assert.ok(api.length > 0, `${file}: the API is served on a loopback listener`);
  }
  const nodeLocal = serving.find(({ file }) => file === 'node-local.yaml')!.config;
  assert.equal(nodeLocal.admin?.host, '0.0.0.0', 'metrics and probes on the node address');
  assert.deepEqual([nodeLocal.adminPrivate?.host, nodeLocal.adminPrivate?.port], ['127.0.0.1', 9254], 'the API on loopback, with host networking the node\'s loopback');
});

const nodeLocalInit = allContainers.find(({ where }) => where.startsWith('node-local.yaml DaemonSet/dnsgate host-dirs'))?.container;

/** Runs the node-local init container's command in `namespace`, its volumes at `dirs`, through `wrapper`. */
async function runInit(namespace: NetworkNamespace, dirs: Record<string, string>, wrapper: readonly string[] = []): Promise<{ code: number; stderr: string }> {
  assert.ok(nodeLocalInit?.command);
  const [shell, ...script] = nodeLocalInit.command;
  // The volumes' mount paths become the test's directories.
  const args = script.map((arg) => (nodeLocalInit.volumeMounts ?? []).reduce((text, mount) => text.replaceAll(mount.mountPath, dirs[mount.name]), arg));
  const [file, argv] = namespace.command(wrapper[0] ?? shell, [...wrapper.slice(1), ...(wrapper.length > 0 ? [shell] : []), ...args]);
  try {
    const { stderr } = await run(file, argv);
    return { code: 0, stderr };
  } catch (error) {
    const failure = error as { code: number; stderr: string };
    return { code: failure.code, stderr: failure.stderr };
  }
}

test('the node-local init container shows why it fails, and hands the host directories over again on a restart', { skip: missing('ip', 'setpriv') }, async () => {
  const namespace = await NetworkNamespace.create('dnsgate-init');
  try {
    const base = mkdtempSync(join(tmpdir(), 'dnsgate-init-'));
    const dirs: Record<string, string> = {};
    for (const mount of nodeLocalInit?.volumeMounts ?? []) dirs[mount.name] = mkdtempSync(join(base, `${mount.name}-`));
    assert.deepEqual(Object.keys(dirs).sort(), ['logs', 'state']);

    // Without CAP_CHOWN the hand-over fails: the pod must stop and say why.
    const denied = await runInit(namespace, dirs, ['setpriv', '--inh-caps=-all', '--bounding-set=-chown']);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /Operation not permitted/);

    for (const attempt of ['start', 'restart']) {
      const { code, stderr } = await runInit(namespace, dirs);
      assert.equal(code, 0, `${attempt}: ${stderr}`);
    }
    for (const dir of Object.values(dirs)) assert.equal(statSync(dir).uid, 1000, dir);
  } finally {
    await namespace.delete();
  }
});
