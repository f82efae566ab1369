/**
 * The Kubernetes side of the workload: the load's source address is a pod, and a
 * Calico v3 NetworkPolicy selects it and allows the allowed and burst names and the churn wildcard.
 */
import { stringify } from 'yaml';
import { ALLOWED, BURST, CHURN_WILDCARD } from './names.js';

export const CLIENT_NAMESPACE = 'bench';
export const CLIENT_POD = 'load-client';

export function policyYaml(): string {
  return stringify({
    apiVersion: 'projectcalico.org/v3',
    kind: 'NetworkPolicy',
    metadata: { name: 'bench-egress', namespace: CLIENT_NAMESPACE },
    spec: {
      selector: "app == 'load'",
      types: ['Egress'],
      egress: [
        { action: 'Allow', protocol: 'UDP', destination: { ports: [53] } },
        { action: 'Allow', destination: { domains: [...ALLOWED, ...BURST, CHURN_WILDCARD] } },
      ],
    },
  });
}

export function podsYaml(clientIp: string): string {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CLIENT_NAMESPACE } },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: CLIENT_POD, namespace: CLIENT_NAMESPACE, labels: { app: 'load' } },
      spec: { containers: [{ name: 'dnsperf', image: 'dnsperf' }] },
      status: { podIP: clientIp, podIPs: [{ ip: clientIp }] },
    },
  ]
    .map((object) => stringify(object))
    .join('---\n');
}
