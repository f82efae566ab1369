/**
 * A small cluster for tests: pods on distinct 127.A.B.x addresses (so `dig -b` gives
 * each its identity) and the Calico policies that select them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoopbackSubnet } from './net.js';

export interface TestPod {
  name: string;
  namespace: string;
  ip: string;
  labels: Record<string, string>;
  generateName?: string;
}

export function podsYaml(pods: readonly TestPod[], namespaces: Record<string, Record<string, string>> = {}): string {
  const docs = Object.entries(namespaces).map(([name, labels]) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }));
  const podDocs = pods.map((pod) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels, ...(pod.generateName ? { generateName: pod.generateName } : {}) },
    spec: { serviceAccountName: 'default', containers: [{ name: 'app', image: 'app' }] },
    status: { podIP: pod.ip, podIPs: [{ ip: pod.ip }] },
  }));
  return [...docs, ...podDocs].map((doc) => JSON.stringify(doc)).join('\n---\n') + '\n';
}

/** The pods most tests use: two replicas of `web` (selected), one `other` pod (not selected). */
export function standardPods(net: LoopbackSubnet): { web1: TestPod; web2: TestPod; other: TestPod; unknownIp: string } {
  return {
    web1: { name: 'web-7d9c8b7f4-aaaaa', namespace: 'shop', ip: net.address(11), labels: { app: 'web' }, generateName: 'web-7d9c8b7f4-' },
    web2: { name: 'web-7d9c8b7f4-bbbbb', namespace: 'shop', ip: net.address(12), labels: { app: 'web' }, generateName: 'web-7d9c8b7f4-' },
    other: { name: 'other-0', namespace: 'shop', ip: net.address(13), labels: { app: 'other' } },
    unknownIp: net.address(14),
  };
}

/**
 * Calico's DNS-policy example adapted to the test zone: a NetworkPolicy with
 * `destination.domains`, and a GlobalNetworkSet with `allowedEgressDomains` picked by
 * a GlobalNetworkPolicy.
 */
export const STANDARD_POLICIES = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-egress-to-domains
  namespace: shop
spec:
  order: 1
  selector: app == 'web'
  types:
    - Egress
  egress:
    - action: Allow
      protocol: UDP
      destination:
        selector: k8s-app == "kube-dns"
        ports: [53]
    - action: Allow
      destination:
        domains:
          - www.example.com
          - chain.example.com
          - v6.example.com
          - dual.example.com
          - ttl1.example.com
          - xa.example.com
          - "*.example.net"
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: allowed-domains
  labels:
    purpose: allowed-egress
spec:
  allowedEgressDomains:
    - multi.example.com
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-set-domains
spec:
  order: 10
  selector: app == 'web'
  types:
    - Egress
  egress:
    - action: Allow
      destination:
        selector: purpose == 'allowed-egress'
`;

/** One NetworkPolicy for the `web` pods of `shop`: Allow to `domains`, and to `nets` when given. */
export function webEgressPolicy(domains: readonly string[], nets: readonly string[] = []): string {
  const netsRule = nets.length === 0 ? '' : `    - action: Allow\n      destination:\n        nets: ${JSON.stringify(nets)}\n`;
  return `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
    - action: Allow
      destination:
        domains: ${JSON.stringify(domains)}
${netsRule}`;
}

export const WEB_DOMAIN_RULE = 'default|shop/default.allow-egress-to-domains|allow|1';
export const SET_DOMAIN_RULE = 'default|default.allow-set-domains|allow|0';

export function writeFixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-cluster-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

export interface AllowedJson {
  entries: { client: { ip: string; namespace: string; name: string } | null; ip: string; domains: string[]; rules: string[]; expiresAt: string }[];
}

export async function allowed(adminPort: number, client?: string): Promise<AllowedJson> {
  const query = client === undefined ? '' : `?client=${encodeURIComponent(client)}`;
  const response = await fetch(`http://127.0.0.1:${adminPort}/v1/allowed${query}`);
  return (await response.json()) as AllowedJson;
}
