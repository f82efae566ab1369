/** `k8s-service:[NS/]NAME[:PORT]` upstreams: the Service's cluster IP and port. */
import { canonicalIp, type Endpoint } from '../net/address.js';
import { formatUpstreamSpec, type UpstreamSpec } from '../upstream/spec.js';
import type { KubeClient } from './client.js';
import { ConfigError } from '../util/errors.js';

interface Service {
  spec?: { clusterIP?: string; ports?: { port: number }[] };
}

export async function resolveServiceUpstream(client: KubeClient, spec: Extract<UpstreamSpec, { kind: 'k8s-service' }>): Promise<Endpoint> {
  const where = `--upstream ${formatUpstreamSpec(spec)}`;
  let service: Service;
  try {
    service = await client.get<Service>(`/api/v1/namespaces/${spec.namespace}/services/${spec.name}`);
  } catch (error) {
    throw new ConfigError(`${where}: ${(error as Error).message}`);
  }
  const ip = canonicalIp(service.spec?.clusterIP ?? '');
  if (ip === undefined) throw new ConfigError(`${where}: the Service has no cluster IP (headless?)`);
  // Calico's rule: the port given, else the Service's first port.
  const port = spec.port ?? service.spec?.ports?.[0]?.port;
  if (port === undefined) throw new ConfigError(`${where}: the Service has no ports`);
  return { host: ip, port, family: ip.includes(':') ? 6 : 4 };
}
