/**
 * `--intercept TARGET`: the same syntax as `--upstream` (IP, IP:PORT, [IPv6]:PORT,
 * k8s-service:[NS/]NAME[:PORT]). A Service stands for its cluster IPs **and** its
 * endpoints' addresses: behind a connect-time load balancer (Cilium or Calico eBPF,
 * kube-proxy replacement) a pod's packet already carries a CoreDNS pod's address.
 * Services are read again every few seconds, so the targets follow the endpoints.
 */
import { ConfigError } from '../util/errors.js';
import type { KubeClient } from '../kube/client.js';
import { canonicalIp } from '../net/address.js';
import { formatUpstreamSpec, type UpstreamSpec } from '../upstream/spec.js';
import type { Target } from './rules.js';

/** How often a Service's addresses are read again. */
export const SERVICE_POLL_MS = 5000;

type ServiceSpec = Extract<UpstreamSpec, { kind: 'k8s-service' }>;

interface ServicePort {
  name?: string;
  port: number;
}

interface Service {
  spec?: { clusterIP?: string; clusterIPs?: string[]; ports?: ServicePort[] };
}

interface EndpointSlices {
  items?: { endpoints?: { addresses?: string[]; conditions?: { ready?: boolean } }[]; ports?: { name?: string; port?: number }[] }[];
}

/** The Service's addresses and port, and its endpoints' addresses and target port. */
async function serviceTargets(client: KubeClient, spec: ServiceSpec): Promise<Target[]> {
  const service = await client.get<Service>(`/api/v1/namespaces/${spec.namespace}/services/${spec.name}`);
  const ports = service.spec?.ports ?? [];
  const servicePort = spec.port === undefined ? ports[0] : ports.find((port) => port.port === spec.port);
  if (servicePort === undefined) throw new Error(spec.port === undefined ? 'the Service has no ports' : `the Service has no port ${spec.port}`);
  const clusterIps = service.spec?.clusterIPs ?? (service.spec?.clusterIP ? [service.spec.clusterIP] : []);
  const targets: Target[] = [];
  for (const ip of clusterIps) {
    const canonical = canonicalIp(ip);
    if (canonical !== undefined) targets.push({ ip: canonical, port: servicePort.port });
  }
  const selector = encodeURIComponent(`kubernetes.io/service-name=${spec.name}`);
  const slices = await client.get<EndpointSlices>(`/apis/discovery.k8s.io/v1/namespaces/${spec.namespace}/endpointslices?labelSelector=${selector}`);
  for (const slice of slices.items ?? []) {
    const port = slice.ports?.find((candidate) => candidate.name === (servicePort.name ?? ''))?.port ?? slice.ports?.[0]?.port;
    if (port === undefined) continue;
    // Endpoints that are not ready may still answer a pod that picked them a moment ago.
    for (const endpoint of slice.endpoints ?? []) {
      for (const ip of endpoint.addresses ?? []) {
        const canonical = canonicalIp(ip);
        if (canonical !== undefined) targets.push({ ip: canonical, port });
      }
    }
  }
  return targets;
}

/** Every target of the specs, now. A Service that cannot be read throws naming it. */
export async function resolveTargets(specs: readonly UpstreamSpec[], client: KubeClient | undefined): Promise<Target[]> {
  const lists = await Promise.all(
    specs.map(async (spec) => {
      if (spec.kind === 'address') return [{ ip: spec.endpoint.host, port: spec.endpoint.port }];
      if (client === undefined) throw new ConfigError(`--intercept ${formatUpstreamSpec(spec)}: needs the Kubernetes API`);
      try {
        return await serviceTargets(client, spec);
      } catch (error) {
        throw new Error(`--intercept ${formatUpstreamSpec(spec)}: ${(error as Error).message}`);
      }
    }),
  );
  return lists.flat();
}
