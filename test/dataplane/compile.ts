/** Compiles policies and pods given as text, for the compiler's unit tests. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { identitiesFromObjects } from '../../src/identity/podfile.js';
import { compileRuleset, type Ruleset } from '../../src/dataplane/nftables/ruleset.js';
import { PolicyEngine, loadPolicies } from '../../src/policy/index.js';
import { parseObjects } from '../../src/yaml/documents.js';

export interface PodSpec {
  name: string;
  namespace?: string;
  ips: string[];
  labels?: Record<string, string>;
  ports?: { name: string; containerPort: number; protocol?: string }[];
}

export function podObjects(pods: readonly PodSpec[]): string {
  const namespaces = [...new Set(pods.map((pod) => pod.namespace ?? 'shop'))].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  const objects = pods.map((pod) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod.name, namespace: pod.namespace ?? 'shop', labels: pod.labels ?? {} },
    spec: { containers: [{ name: 'app', image: 'app', ports: pod.ports ?? [] }] },
    status: { podIP: pod.ips[0], podIPs: pod.ips.map((ip) => ({ ip })) },
  }));
  return [...namespaces, ...objects].map((object) => JSON.stringify(object)).join('\n---\n');
}

export async function engineOf(policies: string, pods: readonly PodSpec[]): Promise<PolicyEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-compile-'));
  try {
    writeFileSync(join(dir, 'policies.yaml'), policies);
    const load = await loadPolicies([join(dir, 'policies.yaml')]);
    if (!load.ok) throw new Error(load.errors.map((error) => error.message).join('; '));
    return new PolicyEngine(load.policies, identitiesFromObjects(parseObjects('pods.yaml', podObjects(pods))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function compile(policies: string, pods: readonly PodSpec[], scope: 'pod' | 'node' = 'pod'): Promise<Ruleset> {
  return compileRuleset(await engineOf(policies, pods), { table: 'dnsgate', hook: 'forward', scope });
}

/** The body of the object called `name`. */
export function body(ruleset: Ruleset, name: string): string {
  const object = [...ruleset.objects, ...ruleset.learntSets].find((candidate) => candidate.name === name);
  if (!object) throw new Error(`no ${name} in ${ruleset.definition()}`);
  return object.body;
}

/** The rule lines of a chain, comments dropped. */
export function rules(ruleset: Ruleset, chain: string): string[] {
  return body(ruleset, chain)
    .split('\n')
    .map((line) => line.replace(/ comment "[^"]*"$/, ''));
}

/** The chain the verdict map sends packets from `ip` to. */
export function classOf(ruleset: Ruleset, ip: string): string {
  const map = body(ruleset, ip.includes(':') ? 'enforced_v6' : 'enforced_v4');
  const chain = new RegExp(`(?:\\{ |, )${ip.replace(/[.]/g, '\\.')} : jump (\\w+)`).exec(map)?.[1];
  if (!chain) throw new Error(`${ip} is not enforced: ${map}`);
  return chain;
}
