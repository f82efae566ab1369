/**
 * Start to ready with 100,000 learnt entries in the state file (100 pods × 1,000 names,
 * one address each, under one domain rule; the pods' retained mappings too): the real
 * CLI under the node flags it ships with, `--dataplane nftables` in a network namespace
 * the bench creates and deletes. Measured from the spawn until dnsgate is ready (its
 * --ready-file is written as /readyz turns 200), twice: from an empty table, and after
 * `kill -9` of the first, when the table still holds every element. Also the peak RSS
 * of the start (VmHWM).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EntryClient } from '../../src/allowmap/entry.js';
import { AllowedMap } from '../../src/allowmap/map.js';
import { RetainedMappings } from '../../src/allowmap/mappings.js';
import { saveState } from '../../src/allowmap/state-file.js';
import { podsYaml, type TestPod } from '../../test/helpers/cluster.js';
import { spawnDnsgate, waitFor, type DnsgateProcess } from '../../test/helpers/dnsgate.js';
import { missing } from '../../test/helpers/env.js';
import { NetworkNamespace } from '../../test/helpers/netns.js';
import { metricSum, parseMetrics } from '../../test/helpers/wire.js';
import { shippedNodeFlags } from '../node-flags.js';
import type { Figure } from './measure.js';

const STARTUP_EMPTY_TABLE = 'start to ready, 100k learnt entries, empty table';
const STARTUP_AFTER_KILL = 'start to ready, 100k learnt entries, after kill -9';

const PODS = 100;
const NAMES_PER_POD = 1000;
const ENTRIES = PODS * NAMES_PER_POD;
/** The policy's only rule, as dnsgate names it. */
const RULE = 'default|bench/default.startup|allow|0';
const POLICY = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: startup, namespace: bench}
spec:
  selector: app == 'bench'
  types: [Egress]
  egress:
    - {action: Allow, protocol: TCP, destination: {ports: [443], domains: ['*.startup.bench.test']}}
`;
const ADMIN = '127.0.0.1:9253';
/** Far above what a start took on a loaded 2-core machine. */
const READY_TIMEOUT_MS = 300_000;

function pods(): TestPod[] {
  return Array.from({ length: PODS }, (_, p) => ({ name: `pod-${p}`, namespace: 'bench', ip: `10.244.${p >> 8}.${p & 255}`, labels: { app: 'bench' } }));
}

/** The state file a node of these pods saves once each asked its names: written by dnsgate's own code. */
async function writeStateFile(path: string): Promise<void> {
  const now = Date.now();
  const lifetimeMs = (ttlSeconds: number): number => ttlSeconds * 1000;
  const map = new AllowedMap(
    { extraTtlMs: 0, minTtlMs: 0, maxTtlMs: 604_800_000, maxDomainsPerEntry: 64, maxIpsPerName: 1000, maxEntries: 500_000, now: () => now },
    { onAdded: () => undefined, onEvicted: () => undefined, onDomainDropped: () => undefined },
  );
  const mappings = new RetainedMappings({ namesPerClient: 10_000, totalNames: 500_000, addressesPerName: 1000, linksPerName: 32 }, () => undefined);
  for (const pod of pods()) {
    const client: EntryClient = { key: `${pod.namespace}/${pod.name}`, namespace: pod.namespace, name: pod.name, ips: [pod.ip], queriedFrom: pod.ip };
    for (let n = 0; n < NAMES_PER_POD; n++) {
      const name = `n${n}.startup.bench.test`;
      const ip = `198.18.${n >> 8}.${n & 255}`;
      map.learn(client, { ip, family: 4, lifetimeMs: lifetimeMs(3600), domain: name, rules: [RULE] });
      mappings.record(client.key, { question: name, links: [{ name, addresses: [{ ip, family: 4, ttlSeconds: 3600, special: false }], targets: [] }] }, now, lifetimeMs);
    }
  }
  await saveState(path, map, mappings, 'pod', now);
}

function peakRssMb(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? 0 : Math.round(Number(match[1]) / 1024);
}

/** Starts dnsgate and waits until it is ready; its time to ready and peak RSS. */
async function timeStart(namespace: NetworkNamespace, args: readonly string[], readyFile: string): Promise<{ proc: DnsgateProcess; seconds: number; peakMb: number }> {
  rmSync(readyFile, { force: true });
  const started = performance.now();
  const proc = spawnDnsgate(['serve', ...args, '--ready-file', readyFile], namespace, process.env, shippedNodeFlags());
  let exit: number | string | undefined;
  void proc.exited.then((code) => (exit = code));
  try {
    await waitFor(() => {
      if (exit !== undefined) throw new Error(`dnsgate exited with ${exit}: ${proc.stderr()}`);
      return existsSync(readyFile);
    }, READY_TIMEOUT_MS, 'dnsgate to be ready');
  } catch (error) {
    proc.child.kill('SIGKILL');
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  const peakMb = peakRssMb(proc.child.pid as number);
  const metrics = parseMetrics((await namespace.get(`http://${ADMIN}/metrics`))?.body ?? '');
  const entries = metricSum(metrics, 'dnsgate_allowed_entries');
  if (entries !== ENTRIES) throw new Error(`dnsgate restored ${entries} entries, not ${ENTRIES}: ${proc.stderr()}`);
  if ((await namespace.get(`http://${ADMIN}/readyz`))?.status !== 200) throw new Error(`ready file written, yet /readyz is not 200: ${proc.stderr()}`);
  return { proc, seconds, peakMb };
}

export async function benchStartup(): Promise<Figure[]> {
  const unavailable = missing('nft', 'ip');
  if (unavailable) {
    console.error(`start-up with 100k entries not measured: ${unavailable}`);
    return [];
  }
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-bench-startup-'));
  const namespace = await NetworkNamespace.create('dnsgate-bench-start');
  let running: DnsgateProcess | undefined;
  try {
    writeFileSync(join(dir, 'pods.yaml'), podsYaml(pods(), { bench: {} }));
    writeFileSync(join(dir, 'policies.yaml'), POLICY);
    await writeStateFile(join(dir, 'state.json'));
    const args = [
      '--listen', '127.0.0.1:5353',
      '--admin', ADMIN,
      // Never asked: the start sends no query.
      '--upstream', '127.0.0.1:5399',
      '--pods', join(dir, 'pods.yaml'),
      '--policies', join(dir, 'policies.yaml'),
      '--dataplane', 'nftables',
      '--state-file', join(dir, 'state.json'),
      '--log-stdout', 'false',
    ];
    const readyFile = join(dir, 'ready');
    const empty = await timeStart(namespace, args, readyFile);
    running = empty.proc;
    // A crash: the table keeps its elements, and the state file is the one the first start read.
    empty.proc.child.kill('SIGKILL');
    await empty.proc.exited;
    const afterKill = await timeStart(namespace, args, readyFile);
    running = afterKill.proc;
    return [
      { name: STARTUP_EMPTY_TABLE, value: empty.seconds, unit: 's' },
      { name: STARTUP_AFTER_KILL, value: afterKill.seconds, unit: 's' },
      { name: 'start-up with 100k learnt entries: peak RSS', value: Math.max(empty.peakMb, afterKill.peakMb), unit: 'MB' },
    ];
  } finally {
    running?.child.kill('SIGKILL');
    await running?.exited;
    await namespace.delete();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const figure of await benchStartup()) console.log(`${figure.name}: ${figure.value} ${figure.unit}`);
}
