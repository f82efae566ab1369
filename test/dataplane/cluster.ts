/** The cluster the e2e tests enforce: its zone, pods and Calico policies, and dnsgate running on the node. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { podsYaml, type TestPod } from '../helpers/cluster.js';
import { spawnDnsgate, waitFor, type DnsgateProcess } from '../helpers/dnsgate.js';
import type { NetworkNamespace } from '../helpers/netns.js';

const run = promisify(execFile);

export const ADMIN = '127.0.0.1:9253';
export const TABLE = 'dnsgate';

/** 45 names allowed for TCP 443, n1 … n45 → 203.0.113.1 … 45, and the names each test needs. */
export function worldRecords(): string {
  const numbered = Array.from({ length: 45 }, (_, i) => `n${i + 1}.allowed.world. 300 IN A 203.0.113.${i + 1}`);
  return [
    ...numbered,
    'web.allowed.world. 300 IN A 203.0.113.50',
    'shared.allowed.world. 300 IN A 203.0.113.52',
    'short.allowed.world. 1 IN A 203.0.113.53',
    'restart.allowed.world. 300 IN A 203.0.113.54',
    'glibc.allowed.world. 300 IN A 203.0.113.55',
    'swap.allowed.world. 300 IN A 203.0.113.56',
    'blocked.allowed.world. 300 IN A 203.0.113.60',
    'nope.denied.world. 300 IN A 203.0.113.51',
  ].join('\n');
}

/** Pods 1 and 2 run `web` (enforced), pod 3 `other` (no policy selects it); `api` lives in the world. */
export function clusterPods(podIps: readonly string[]): TestPod[] {
  return [
    { name: 'web-a', namespace: 'shop', ip: podIps[0], labels: { app: 'web' } },
    { name: 'web-b', namespace: 'shop', ip: podIps[1], labels: { app: 'web' } },
    { name: 'other', namespace: 'shop', ip: podIps[2], labels: { app: 'other' } },
    { name: 'api', namespace: 'shop', ip: '203.0.113.150', labels: { app: 'api' } },
    { name: 'coredns', namespace: 'kube-system', ip: '10.77.0.53', labels: { 'k8s-app': 'kube-dns' } },
  ];
}

export function clusterPodsYaml(podIps: readonly string[]): string {
  return podsYaml(clusterPods(podIps), { shop: {}, 'kube-system': {} });
}

/**
 * A platform tier before the default one (it denies n45 and passes the rest, logging
 * it), then in the default tier: a Deny before the domain rule (blocked.allowed.world),
 * the domain rule (TCP 443), a nets rule with a Deny before it (TCP 5432), a pod
 * selector rule (TCP 8080 to `api`) and `extraRules`.
 */
export function clusterPolicies(extraRules = ''): string {
  return `apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: platform
spec:
  order: 100
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: platform.guard
spec:
  tier: platform
  selector: app == 'web'
  types: [Egress]
  egress:
    - action: Deny
      protocol: TCP
      destination:
        nets: [203.0.113.45/32]
    - action: Log
      protocol: TCP
      destination:
        ports: [443]
    - action: Pass
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: deny-first
  namespace: shop
spec:
  order: 5
  selector: app == 'web'
  types: [Egress]
  egress:
    - action: Deny
      protocol: TCP
      destination:
        nets: [203.0.113.60/32]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: web-egress
  namespace: shop
spec:
  order: 10
  selector: app == 'web'
  types: [Egress]
  egress:
    - action: Allow
      protocol: UDP
      destination:
        namespaceSelector: kubernetes.io/metadata.name == 'kube-system'
        selector: k8s-app == 'kube-dns'
        ports: [53]
    - action: Allow
      protocol: TCP
      destination:
        ports: [443]
        domains: ['*.allowed.world']
    - action: Deny
      protocol: TCP
      destination:
        nets: [203.0.113.201/32]
    - action: Allow
      protocol: TCP
      destination:
        nets: [203.0.113.200/29]
        ports: [5432]
    - action: Allow
      protocol: TCP
      destination:
        selector: app == 'api'
        ports: ['8000:8999']
${extraRules}`;
}

export interface NodeDnsgate {
  proc: DnsgateProcess;
  /** SIGKILL, or SIGTERM with `graceful`; resolves once it exited. */
  stop(graceful?: boolean): Promise<void>;
}

/** dnsgate in the node namespace on port 53 of every pod gateway; resolves once /readyz says 200. */
export async function startNodeDnsgate(node: NetworkNamespace, gateways: readonly string[], args: readonly string[]): Promise<NodeDnsgate> {
  const listen = gateways.flatMap((gateway) => ['--listen', `${gateway}:53`]);
  const proc = spawnDnsgate(['serve', ...listen, '--admin', ADMIN, '--dataplane', 'nftables', '--log-stdout', 'false', ...args], node);
  let exit: number | string | undefined;
  void proc.exited.then((code) => (exit = code));
  const stop = async (graceful = false): Promise<void> => {
    if (exit !== undefined) return;
    proc.child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
    await proc.exited;
  };
  try {
    await waitFor(async () => {
      if (exit !== undefined) throw new Error(`dnsgate exited with ${exit}: ${proc.stderr()}`);
      return (await node.get(`http://${ADMIN}/readyz`))?.status === 200;
    }, 20_000, 'dnsgate readiness');
  } catch (error) {
    await stop();
    throw error;
  }
  return { proc, stop };
}

/** `nft` inside `namespace`. */
export async function nftIn(namespace: NetworkNamespace, ...args: string[]): Promise<string> {
  const [file, argv] = namespace.command('nft', args);
  return (await run(file, argv)).stdout;
}
