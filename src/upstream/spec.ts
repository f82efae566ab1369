/** Trusted upstream syntax, as Calico's DNSTrustedServers: an address or a Kubernetes Service. */
import { Endpoint, formatEndpoint, parseEndpoint } from '../net/address.js';

export type UpstreamSpec =
  | { kind: 'address'; endpoint: Endpoint }
  | { kind: 'k8s-service'; namespace: string; name: string; port?: number };

/** The pool keeps the upstreams a query has tried as bits of one small integer. */
export const MAX_UPSTREAMS = 30;

const DNS_PORT = 53;
const K8S_SERVICE = /^k8s-service:(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?::(\d{1,5}))?$/;

export function parseUpstreamSpec(text: string): UpstreamSpec | undefined {
  const service = K8S_SERVICE.exec(text);
  if (service) {
    const port = service[5] === undefined ? undefined : Number(service[5]);
    if (port !== undefined && (port < 1 || port > 65535)) return undefined;
    return { kind: 'k8s-service', namespace: service[1] ?? 'kube-system', name: service[3], port };
  }
  if (text.startsWith('k8s-service:')) return undefined;
  const endpoint = parseEndpoint(text, DNS_PORT);
  return endpoint && endpoint.port > 0 ? { kind: 'address', endpoint } : undefined;
}

export function formatUpstreamSpec(spec: UpstreamSpec): string {
  if (spec.kind === 'address') return formatEndpoint(spec.endpoint);
  return `k8s-service:${spec.namespace}/${spec.name}${spec.port === undefined ? '' : `:${spec.port}`}`;
}
