/**
 * The control path in-process, without root: each reaction to a change of pods,
 * policies or the dataplane, from the real stores, map, learner and committer to the
 * in-process DelayedDataplane, which records what it was given. The same reactions run
 * end to end, as root with nftables, in test/allowmap/ and test/dataplane/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Metrics } from '../src/admin/metrics.js';
import { Readiness } from '../src/admin/readiness.js';
import { Learner } from '../src/allowmap/learner.js';
import { AllowedMap } from '../src/allowmap/map.js';
import { RetainedMappings } from '../src/allowmap/mappings.js';
import { StateFile } from '../src/allowmap/state-file.js';
import { ControlPath } from '../src/control.js';
import { Committer } from '../src/dataplane/committer.js';
import { IdentityStore } from '../src/identity/store.js';
import { LiveEngine, PolicyStore } from '../src/policy/index.js';
import { ConfigError } from '../src/util/errors.js';
import { DelayedDataplane } from './helpers/delayed-dataplane.js';
import { MemoryLogger, waitFor } from './helpers/dnsgate.js';
import { writePodsFile, type PodFixture } from './logs/fixture.js';

const WEB1: PodFixture = { name: 'web1', namespace: 'shop', ip: '10.0.0.1', labels: { app: 'web' } };
const WEB2: PodFixture = { name: 'web2', namespace: 'shop', ip: '10.0.0.2', labels: { app: 'web' } };
const WWW_IP = '192.0.2.10';
const API_IP = '192.0.2.30';
const HOUR_MS = 3_600_000;

/** A policy named `name` letting the web pods reach `domain`; its one rule's reference. */
function allowPolicy(name: string, domain: string): { yaml: string; ref: string } {
  const yaml = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: ${name}, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
    - action: Allow
      destination: {domains: [${domain}]}
`;
  return { yaml, ref: `default|shop/default.${name}|allow|0` };
}
const WWW = allowPolicy('www', 'www.example.com');
const API = allowPolicy('api', 'api.example.com');

/** Records the calls `none` ignores: policy syncs, and the listener for lost state. */
class RecordingDataplane extends DelayedDataplane {
  policySyncs = 0;
  loseState: () => void = () => assert.fail('no resync listener');

  override syncPolicy(): Promise<void> {
    this.policySyncs++;
    return super.syncPolicy();
  }

  override onResyncNeeded(listener: () => void): void {
    this.loseState = listener;
  }
}

interface Harness {
  control: ControlPath;
  committer: Committer<never>;
  identity: IdentityStore;
  policies: PolicyStore;
  map: AllowedMap;
  mappings: RetainedMappings;
  dataplane: RecordingDataplane;
  metrics: Metrics;
  logger: MemoryLogger;
  readiness: Readiness;
  dir: string;
  stateFile: string;
  /** The map's and the learner's clock. */
  clock: { now: number };
  writePods(pods: readonly PodFixture[]): void;
  writePolicies(yaml: string): void;
  /** What the dataplane holds, as `client|ip` → the client's IPs and the entry's rules. */
  programmed(): Record<string, { clientIps: readonly string[]; rules: readonly string[] }>;
  close(): void;
}

/** A control path over pods and policy files in a temporary directory, not started. */
function harness(pods: readonly PodFixture[], policies: string): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-control-'));
  const policiesFile = join(dir, 'policies.yaml');
  const writePolicies = (yaml: string) => writeFileSync(policiesFile, yaml);
  const writePods = (list: readonly PodFixture[]) => void writePodsFile(dir, list);
  writePods(pods);
  writePolicies(policies);
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const identity = new IdentityStore({ podsFile: join(dir, 'pods.yaml') });
  const policyStore = new PolicyStore([policiesFile]);
  const engine = new LiveEngine(policyStore, identity);
  const map = new AllowedMap(
    { extraTtlMs: 0, minTtlMs: 0, maxTtlMs: 604_800_000, maxIpsPerName: 100, maxEntries: 1000, maxDomainsPerEntry: 64, now },
    { onAdded: () => undefined, onEvicted: () => undefined, onDomainDropped: () => undefined },
  );
  const mappings = new RetainedMappings({ namesPerClient: 100, totalNames: 1000, addressesPerName: 100, linksPerName: 32 }, () => undefined);
  const learner = new Learner(map, mappings, 'pod', (pod) => engine.current.forClient(pod).egressRules, now);
  const dataplane = new RecordingDataplane();
  const metrics = new Metrics();
  const logger = new MemoryLogger();
  const readiness = new Readiness();
  const stateFile = join(dir, 'state.json');
  const committer = new Committer<never>(map, dataplane, { onCommitted: () => undefined, onFailed: () => undefined, onBatch: () => undefined });
  const control = new ControlPath({
    identity,
    policies: policyStore,
    policy: engine,
    map,
    learner,
    dataplane,
    stateFile: new StateFile(stateFile, map, mappings, 'pod', logger),
    stateSaveIntervalMs: 100,
    readiness,
    metrics,
    logger,
  });
  return {
    control, committer, identity, policies: policyStore, map, mappings, dataplane, metrics, logger, readiness, dir, stateFile, clock, writePods, writePolicies,
    programmed: () => Object.fromEntries([...dataplane.programmed].map(([key, entry]) => [key, { clientIps: entry.clientIps, rules: entry.rules }])),
    close: () => {
      control.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Loads the first pods and policies and starts the control path over a real committer. */
async function started(pods: readonly PodFixture[], policies: string): Promise<Harness> {
  const h = harness(pods, policies);
  await h.control.loadFirst(undefined);
  h.control.start(h.committer);
  return h;
}

/** What a pod was answered before: `name` → `ip`, kept among its retained mappings. */
function answered(h: Harness, pod: PodFixture, name: string, ip: string): void {
  h.mappings.restore(`${pod.namespace}/${pod.name}`, [{ name, addresses: [[ip, 4, false, h.clock.now + HOUR_MS, name]], targets: [] }], h.clock.now);
}

/** What learning from that answer put in the map, under `ref`, on its way to the dataplane. */
function learnt(h: Harness, pod: PodFixture, name: string, ip: string, ref: string): void {
  const key = `${pod.namespace}/${pod.name}`;
  h.map.learn({ key, namespace: pod.namespace, name: pod.name, ips: [pod.ip], queriedFrom: pod.ip }, { ip, family: 4, lifetimeMs: HOUR_MS, domain: name, rules: [ref] });
  h.committer.kick();
}

function entries(h: Harness): string[] {
  return [...h.map.all()].map((entry) => `${entry.client?.key}|${entry.ip} ${entry.client?.ips.join(',')} ${entry.rules.join(',')}`);
}

async function reloads(metrics: Metrics, what: string, result: string): Promise<number> {
  return (await metrics.reloads.get()).values.find((value) => value.labels.what === what && value.labels.result === result)?.value ?? 0;
}

test('the first load: readiness waits for pods and policies; an invalid first set is one ConfigError line', async () => {
  const good = harness([WEB1], WWW.yaml);
  const bad = harness([WEB1], WWW.yaml.replace("app == 'web'", "app == 'web"));
  try {
    assert.deepEqual(good.readiness.reasons(), ['pods are not loaded yet', 'policies are not loaded yet']);
    await good.control.loadFirst(undefined);
    assert.deepEqual(good.readiness.reasons(), []);
    assert.equal(good.identity.current.pods.length, 1);
    await assert.rejects(bad.control.loadFirst(undefined), (error: Error) => error instanceof ConfigError && /^.*policies\.yaml:\d+:\d+: /.test(error.message) && !error.message.includes('\n'));
    assert.equal(bad.readiness.ready, false);
  } finally {
    good.close();
    bad.close();
  }
});

test('pods changed: entries follow a moved pod, leave with a removed one; committed, policy synced', async () => {
  const h = await started([WEB1, WEB2], WWW.yaml);
  try {
    answered(h, WEB1, 'www.example.com', WWW_IP);
    answered(h, WEB2, 'www.example.com', WWW_IP);
    learnt(h, WEB1, 'www.example.com', WWW_IP, WWW.ref);
    learnt(h, WEB2, 'www.example.com', WWW_IP, WWW.ref);
    const syncs = h.dataplane.policySyncs;
    const moved = { ...WEB1, ip: '10.0.0.11' };
    h.writePods([moved]);
    await h.control.reload();
    assert.deepEqual(entries(h), [`shop/web1|${WWW_IP} 10.0.0.11 ${WWW.ref}`]);
    assert.deepEqual(h.mappings.clientKeys(), ['shop/web1'], 'a removed pod\'s mappings go');
    await waitFor(() => Object.keys(h.programmed()).length === 1, 10_000, 'the commit');
    assert.deepEqual(h.programmed(), { [`shop/web1|${WWW_IP}`]: { clientIps: ['10.0.0.11'], rules: [WWW.ref] } });
    assert.ok(h.dataplane.policySyncs > syncs, 'the dataplane recompiles');
    assert.equal(await reloads(h.metrics, 'pods', 'ok'), 1);
  } finally {
    h.close();
  }
});

test('policies changed: entries of a rule that is gone leave; what the pods were answered is relearnt under the new rules', async () => {
  const h = await started([WEB1], WWW.yaml);
  try {
    answered(h, WEB1, 'www.example.com', WWW_IP);
    answered(h, WEB1, 'api.example.com', API_IP);
    learnt(h, WEB1, 'www.example.com', WWW_IP, WWW.ref);
    const syncs = h.dataplane.policySyncs;
    h.writePolicies(API.yaml);
    // As the file watch does: the pods are not read again.
    await h.policies.reload();
    assert.deepEqual(entries(h), [`shop/web1|${API_IP} 10.0.0.1 ${API.ref}`]);
    await waitFor(() => h.programmed()[`shop/web1|${API_IP}`] !== undefined && h.programmed()[`shop/web1|${WWW_IP}`] === undefined, 10_000, 'the commit');
    assert.ok(h.dataplane.policySyncs > syncs, 'the dataplane recompiles');
    assert.equal(await reloads(h.metrics, 'policies', 'ok'), 1);
  } finally {
    h.close();
  }
});

test('a rejected reload is counted and logged; the previous policies, pods and entries stay', async () => {
  const h = await started([WEB1], WWW.yaml);
  try {
    learnt(h, WEB1, 'www.example.com', WWW_IP, WWW.ref);
    const policies = h.policies.current;
    const pods = h.identity.current;
    h.writePolicies(WWW.yaml.replace('action: Allow', 'action: Permit'));
    writeFileSync(join(h.dir, 'pods.yaml'), 'kind: [');
    await h.control.reload();
    assert.equal(h.policies.current, policies);
    assert.equal(h.identity.current, pods);
    assert.deepEqual(entries(h), [`shop/web1|${WWW_IP} 10.0.0.1 ${WWW.ref}`]);
    assert.ok((await reloads(h.metrics, 'policies', 'error')) >= 1);
    assert.equal(await reloads(h.metrics, 'policies', 'ok'), 0);
    assert.equal(await reloads(h.metrics, 'pods', 'error'), 1);
    assert.ok(h.logger.lines.some((line) => /^reload of policies kept the previous set: .*policies\.yaml:\d+:\d+: /.test(line)), h.logger.lines.join('\n'));
    assert.ok(h.logger.lines.some((line) => line.startsWith('reload of pods kept the previous set: ')), h.logger.lines.join('\n'));
  } finally {
    h.close();
  }
});

test('the expiry sweep removes lapsed entries from the map and the dataplane', async () => {
  const h = await started([WEB1, WEB2], WWW.yaml);
  try {
    learnt(h, WEB1, 'www.example.com', WWW_IP, WWW.ref);
    h.clock.now += 60_000;
    learnt(h, WEB2, 'www.example.com', WWW_IP, WWW.ref);
    await waitFor(() => Object.keys(h.programmed()).length === 2, 10_000, 'the first commit');
    h.clock.now += HOUR_MS - 30_000;
    await waitFor(() => h.map.size === 1, 10_000, 'the sweep');
    assert.deepEqual(entries(h), [`shop/web2|${WWW_IP} 10.0.0.2 ${WWW.ref}`]);
    await waitFor(() => Object.keys(h.programmed()).join() === `shop/web2|${WWW_IP}`, 10_000, 'the commit of the removal');
    assert.equal((await h.metrics.allowed.expired.get()).values[0]?.value, 1);
  } finally {
    h.close();
  }
});

test('the dataplane lost its state: the next commit is a resync of the whole map', async () => {
  const h = await started([WEB1, WEB2], WWW.yaml);
  try {
    learnt(h, WEB1, 'www.example.com', WWW_IP, WWW.ref);
    learnt(h, WEB2, 'www.example.com', WWW_IP, WWW.ref);
    await waitFor(() => Object.keys(h.programmed()).length === 2, 10_000, 'the first commit');
    const resyncs = h.dataplane.resyncs.length;
    h.dataplane.programmed.clear();
    h.dataplane.loseState();
    await waitFor(() => h.dataplane.resyncs.length > resyncs, 10_000, 'the resync');
    assert.deepEqual(h.dataplane.resyncs.at(-1)?.map((entry) => entry.clientKey).sort(), ['shop/web1', 'shop/web2']);
    await waitFor(() => Object.keys(h.programmed()).length === 2, 10_000, 'the map back in the dataplane');
  } finally {
    h.close();
  }
});

test('the map is saved every --state-save-interval', async () => {
  const h = await started([WEB1], WWW.yaml);
  try {
    learnt(h, WEB1, 'www.example.com', WWW_IP, WWW.ref);
    await waitFor(() => existsSync(h.stateFile), 10_000, 'the state file');
  } finally {
    h.close();
  }
});
