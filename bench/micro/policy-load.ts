/**
 * Loading large policy sets: 100,000 NetworkSets in one multi-document YAML file, and
 * one 50 MB file of GlobalNetworkPolicies with domain rules. Each load runs in a child
 * process of its own, under the node flags dnsgate ships with (the young generation's size
 * alone doubles the time of the 50 MB file), so its peak RSS is its own; the figures are
 * the wall time of loadPolicies and the child's peak RSS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicies } from '../../src/policy/index.js';
import { shippedNodeFlags } from '../node-flags.js';
import type { Figure } from './measure.js';

const NETWORK_SETS = 100_000;

/** Names of the figures the goals read. */
export const POLICY_LOAD_SETS_MS = 'policy load, 100k NetworkSets';
export const POLICY_LOAD_SETS_PEAK = 'policy load, 100k NetworkSets, peak RSS';
export const POLICY_LOAD_FILE_MS = 'policy load, 50 MB policy file';
export const POLICY_LOAD_FILE_PEAK = 'policy load, 50 MB policy file, peak RSS';
const POLICY_FILE_BYTES = 50 * 1024 * 1024;

function networkSets(count: number): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(`apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata:
  name: set-${i}
  namespace: ns-${i % 100}
  labels:
    role: egress-${i % 10}
spec:
  nets:
    - 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32
  allowedEgressDomains:
    - api-${i}.example.com
    - "*.svc-${i}.example.net"
`);
  }
  return parts.join('---\n');
}

function largePolicyFile(bytes: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const domains = Array.from({ length: 20 }, (_, d) => `        - host-${d}.team-${i}.example.com`).join('\n');
    const part = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: policy-${i}
spec:
  order: ${i}
  selector: app == 'app-${i % 500}'
  types:
    - Egress
  egress:
    - action: Allow
      protocol: TCP
      destination:
        ports: [443]
        domains:
${domains}
    - action: Allow
      destination:
        nets: [10.${(i >> 8) & 255}.${i & 255}.0/24]
`;
    parts.push(part);
    size += part.length + 4;
  }
  return parts.join('---\n');
}

/** Loads `file` in this process and prints what it took as JSON. */
async function loadOnce(file: string): Promise<void> {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const load = await loadPolicies([file]);
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  if (!load.ok) throw new Error(`policy load failed: ${JSON.stringify(load.errors[0])}`);
  process.stdout.write(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, maxRssKb: process.resourceUsage().maxRSS }));
}

interface LoadFigures {
  ms: number;
  /** CPU time of the whole process (the garbage collector's threads included): on a shared machine, steadier than wall time. */
  cpuMs: number;
  maxRssKb: number;
}

function measure(file: string): LoadFigures {
  const output = execFileSync(process.execPath, [...shippedNodeFlags(), fileURLToPath(import.meta.url), file], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(output) as LoadFigures;
}

export async function benchPolicyLoad(): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-policy-load-'));
  try {
    const setsFile = join(dir, 'networksets.yaml');
    writeFileSync(setsFile, networkSets(NETWORK_SETS));
    const policyFile = join(dir, 'policies.yaml');
    writeFileSync(policyFile, largePolicyFile(POLICY_FILE_BYTES));
    const sets = measure(setsFile);
    const policies = measure(policyFile);
    return [
      { name: POLICY_LOAD_SETS_MS, value: Math.round(sets.ms), unit: 'ms' },
      { name: 'policy load, 100k NetworkSets, CPU', value: Math.round(sets.cpuMs), unit: 'ms' },
      { name: POLICY_LOAD_SETS_PEAK, value: Math.round(sets.maxRssKb / 1024), unit: 'MB' },
      { name: POLICY_LOAD_FILE_MS, value: Math.round(policies.ms), unit: 'ms' },
      { name: 'policy load, 50 MB policy file, CPU', value: Math.round(policies.cpuMs), unit: 'ms' },
      { name: POLICY_LOAD_FILE_PEAK, value: Math.round(policies.maxRssKb / 1024), unit: 'MB' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] !== undefined) await loadOnce(process.argv[2]);
  else for (const figure of await benchPolicyLoad()) console.log(`${figure.name}: ${figure.value} ${figure.unit}`);
}
