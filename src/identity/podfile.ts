/**
 * Reads Pod, Namespace and ServiceAccount objects as
 * `kubectl get pods,namespaces,serviceaccounts -A -o yaml` prints them; namespaces and
 * service accounts are read for their labels, which namespaceSelector and
 * serviceAccountSelector match. Pods without an IP yet, finished pods and host-network
 * pods (whose IP is the node's, shared by many) cannot be told apart by address and are
 * left out, and so is a terminating pod whose IP a running pod already has.
 */
import { canonicalIp } from '../net/address.js';
import { SourceError, SourceObject, parseObjects, stringMap } from '../yaml/documents.js';
import { InputTooLarge, readInputFile } from '../yaml/read.js';
import { LABEL_NAME, NamedPort, Namespace, Pod, namespaceLabels, podLabels } from './pod.js';
import { IdentitySnapshot } from './snapshot.js';
import { errorText } from '../util/errors.js';

export async function loadPodsFile(path: string): Promise<IdentitySnapshot> {
  let text: string;
  try {
    text = await readInputFile(path);
  } catch (error) {
    if (error instanceof InputTooLarge) throw new SourceError(`${path}:1:1`, error.message);
    throw new SourceError(path, `cannot read pods file: ${errorText(error)}`);
  }
  return identitiesFromObjects(parseObjects(path, text));
}

function metadataName(object: SourceObject): string {
  const name = (object.value.metadata as Record<string, unknown> | undefined)?.name;
  if (typeof name !== 'string' || name.length === 0) throw new SourceError(object.at(['metadata']), `${String(object.value.kind)} without metadata.name`);
  return name;
}

export function identitiesFromObjects(objects: readonly SourceObject[]): IdentitySnapshot {
  const namespaces = new Map<string, Namespace>();
  const serviceAccounts = new Map<string, Record<string, string>>();
  const podObjects: SourceObject[] = [];
  for (const object of objects) {
    const metadata = (object.value.metadata ?? {}) as Record<string, unknown>;
    switch (object.value.kind) {
      case 'Namespace': {
        const name = metadataName(object);
        namespaces.set(name, { name, labels: namespaceLabels(name, stringMap(metadata.labels)) });
        break;
      }
      case 'ServiceAccount': {
        const name = metadataName(object);
        const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : 'default';
        serviceAccounts.set(`${namespace}/${name}`, stringMap(metadata.labels) ?? {});
        break;
      }
      case 'Pod':
        podObjects.push(object);
        break;
      default:
        break;
    }
  }
  const pods: Pod[] = [];
  const owners = new Map<string, string>();
  // Pods still running claim their IPs first: a terminating pod stays listed, IP and
  // all, after its IP may already belong to a new pod, and then it is the one left out.
  const terminating = (object: SourceObject) => ((object.value.metadata ?? {}) as Record<string, unknown>).deletionTimestamp !== undefined;
  for (const object of [...podObjects.filter((o) => !terminating(o)), ...podObjects.filter(terminating)]) {
    const pod = podFromObject(object, namespaces, serviceAccounts);
    if (!pod) continue;
    const taken = pod.ips.find((ip) => owners.has(ip));
    if (taken !== undefined) {
      if (terminating(object)) continue;
      throw new SourceError(object.at(['status']), `pod ${pod.key} has IP ${taken}, already held by pod ${owners.get(taken)}`);
    }
    for (const ip of pod.ips) owners.set(ip, pod.key);
    pods.push(pod);
  }
  return new IdentitySnapshot(pods, namespaces);
}

function podFromObject(
  object: SourceObject,
  namespaces: ReadonlyMap<string, Namespace>,
  serviceAccounts: ReadonlyMap<string, Record<string, string>>,
): Pod | undefined {
  const name = metadataName(object);
  const metadata = object.value.metadata as Record<string, unknown>;
  const spec = (object.value.spec ?? {}) as Record<string, unknown>;
  const status = (object.value.status ?? {}) as Record<string, unknown>;
  // Finished pods keep their IP in status while a new pod may already have it.
  if (spec.hostNetwork === true || status.phase === 'Succeeded' || status.phase === 'Failed') return undefined;
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : 'default';
  const serviceAccount = typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : 'default';

  const rawIps: unknown[] = Array.isArray(status.podIPs)
    ? status.podIPs.map((entry) => (entry as Record<string, unknown> | null)?.ip)
    : status.podIP !== undefined ? [status.podIP] : [];
  const ips: string[] = [];
  rawIps.forEach((raw, index) => {
    const ip = typeof raw === 'string' ? canonicalIp(raw) : undefined;
    if (ip === undefined) {
      const path = Array.isArray(status.podIPs) ? ['status', 'podIPs', index, 'ip'] : ['status', 'podIP'];
      throw new SourceError(object.at(path), `pod ${namespace}/${name}: invalid IP ${JSON.stringify(raw)}`);
    }
    if (!ips.includes(ip)) ips.push(ip);
  });
  if (ips.length === 0) return undefined;

  const ports: NamedPort[] = [];
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  for (const container of containers) {
    const containerPorts = (container as Record<string, unknown> | null)?.ports;
    if (!Array.isArray(containerPorts)) continue;
    for (const port of containerPorts as Record<string, unknown>[]) {
      if (typeof port?.name === 'string' && typeof port.containerPort === 'number') {
        ports.push({ name: port.name, port: port.containerPort, protocol: typeof port.protocol === 'string' ? port.protocol : 'TCP' });
      }
    }
  }

  return {
    name,
    namespace,
    generateName: typeof metadata.generateName === 'string' ? metadata.generateName : undefined,
    serviceAccount,
    ips,
    labels: podLabels(namespace, serviceAccount, stringMap(metadata.labels)),
    namespaceLabels: namespaces.get(namespace)?.labels ?? namespaceLabels(namespace),
    serviceAccountLabels: { ...(serviceAccounts.get(`${namespace}/${serviceAccount}`) ?? {}), [LABEL_NAME]: serviceAccount },
    ports,
    key: `${namespace}/${name}`,
  };
}
