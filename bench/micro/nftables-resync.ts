/**
 * The nftables dataplane at scale, in a throwaway network namespace: 10,000 policies
 * (1,000 namespaces × 10; 2,000 pods, each selected by 5 of its namespace's policies;
 * 25,000 rules, 1,000 of them domain rules) and 100,000 learnt elements (100 per domain
 * rule). Measured: installing the table; resyncs with the chains in place; and a full
 * resync after the table vanished, which writes every chain, rule, set and element in
 * one transaction.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { Metrics } from '../../src/admin/metrics.js';
import type { EntrySnapshot } from '../../src/allowmap/entry.js';
import { NftablesDataplane } from '../../src/dataplane/nftables/nftables.js';
import { loadPodsFile } from '../../src/identity/podfile.js';
import { PolicyEngine, loadPolicies } from '../../src/policy/index.js';
import { missing } from '../../test/helpers/env.js';
import { NetworkNamespace } from '../../test/helpers/netns.js';
import type { Figure } from './measure.js';

export const NFTABLES_RESYNC = 'nftables: full resync from an empty table, 10k policies + 100k elements';

const NAMESPACES = 1000;
const POLICIES_PER_NAMESPACE = 10;
const ELEMENTS_PER_DOMAIN_RULE = 100;
const KUBE_DNS = ['10.96.0.10', '10.96.0.11'];

/** Pods `a` and `b` of namespace n: 10.(n / 256).(n % 256).{1,2} in 10.0.0.0/14… kept inside 10/8. */
function podIp(namespace: number, pod: 0 | 1): string {
  return `10.${1 + (namespace >> 8)}.${namespace & 255}.${pod + 1}`;
}

function policyDocuments(): string {
  const documents: unknown[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    for (let p = 0; p < POLICIES_PER_NAMESPACE; p++) {
      const egress: unknown[] = [
        { action: 'Allow', protocol: 'UDP', destination: { namespaceSelector: "kubernetes.io/metadata.name == 'kube-system'", selector: "k8s-app == 'kube-dns'", ports: [53] } },
        { action: 'Allow', protocol: 'TCP', destination: { nets: [`172.16.${n & 255}.${p * 16}/28`], ports: [443, 8443] } },
      ];
      if (p === 0) egress.push({ action: 'Allow', protocol: 'TCP', destination: { ports: [443], domains: [`*.team${n}.example.com`] } });
      documents.push({
        apiVersion: 'projectcalico.org/v3',
        kind: 'NetworkPolicy',
        metadata: { name: `policy-${p}`, namespace: `team-${n}` },
        spec: { order: p, selector: `app == '${p < 5 ? 'a' : 'b'}'`, types: ['Egress'], egress },
      });
    }
  }
  return documents.map((document) => stringify(document)).join('---\n');
}

function podDocuments(): string {
  const pod = (namespace: string, name: string, labels: Record<string, string>, ip: string): unknown => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: 'app', image: 'app' }] },
    status: { podIP: ip, podIPs: [{ ip }] },
  });
  const documents: unknown[] = KUBE_DNS.map((ip, i) => pod('kube-system', `coredns-${i}`, { 'k8s-app': 'kube-dns' }, ip));
  for (let n = 0; n < NAMESPACES; n++) documents.push(pod(`team-${n}`, 'a', { app: 'a' }, podIp(n, 0)), pod(`team-${n}`, 'b', { app: 'b' }, podIp(n, 1)));
  return documents.map((document) => JSON.stringify(document)).join('\n---\n');
}

/** 100 destinations for the domain rule of each namespace, learnt by its pod `a`. */
function entries(expiresAt: number): EntrySnapshot[] {
  const result: EntrySnapshot[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const rule = `default|team-${n}/default.policy-0|allow|2`;
    for (let i = 0; i < ELEMENTS_PER_DOMAIN_RULE; i++) {
      result.push({ clientKey: `team-${n}/a`, clientIps: [podIp(n, 0)], ip: `198.18.${n & 255}.${i}`, family: 4, rules: [rule], expiresAt });
    }
  }
  return result;
}

async function seconds(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

export async function benchNftablesResync(): Promise<Figure[]> {
  const unavailable = missing('nft', 'ip');
  if (unavailable) {
    console.error(`nftables resync not measured: ${unavailable}`);
    return [];
  }
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-bench-nft-'));
  const namespace = await NetworkNamespace.create('dnsgate-bench-nft');
  try {
    writeFileSync(join(dir, 'policies.yaml'), policyDocuments());
    writeFileSync(join(dir, 'pods.yaml'), podDocuments());
    const load = await loadPolicies([join(dir, 'policies.yaml')]);
    if (!load.ok) throw new Error(`bench policies: ${load.errors[0].message}`);
    const engine = new PolicyEngine(load.policies, await loadPodsFile(join(dir, 'pods.yaml')));
    const dataplane = new NftablesDataplane(
      { table: 'dnsgate', hook: 'forward', scope: 'pod', nft: namespace.command('nft', []) },
      { current: engine },
      new Metrics().nftables,
      // The failure below is deliberate; what dnsgate would log about it is not a result.
      { info: () => undefined, error: () => undefined },
    );
    const learnt = entries(Date.now() + 600_000);
    try {
      const install = await seconds(() => dataplane.start());
      // The first resync keeps what an earlier run learnt and adds the map over it.
      const first = await seconds(() => dataplane.resync(learnt));
      // From here on the map is all there is: a resync writes the learnt sets whole.
      dataplane.mapComplete();
      const steady = await seconds(() => dataplane.resync(learnt));
      // Gone behind dnsgate's back: the next batch fails and the resync writes every chain, rule, set and element.
      const [file, args] = namespace.command('nft', ['delete', 'table', 'inet', 'dnsgate']);
      await promisify(execFile)(file, args);
      await dataplane.apply({ upserts: learnt.slice(0, 1), removals: [] }).catch(() => undefined);
      const full = await seconds(() => dataplane.resync(learnt));
      return [
        { name: 'nftables: install the table, 10k policies (2k pods, 25k rules), compile included', value: install, unit: 's' },
        { name: 'nftables: first resync after start, 100k elements added', value: first, unit: 's' },
        { name: 'nftables: resync, 100k elements rewritten, chains unchanged', value: steady, unit: 's' },
        { name: NFTABLES_RESYNC, value: full, unit: 's' },
      ];
    } finally {
      await dataplane.stop();
    }
  } finally {
    await namespace.delete();
    rmSync(dir, { recursive: true, force: true });
  }
}
