/** Who asked a query: the pod identity the rest of the pipeline reads. */

export interface NamedPort {
  name: string;
  port: number;
  protocol: string;
}

export interface Namespace {
  name: string;
  /** Including `kubernetes.io/metadata.name` and `projectcalico.org/name`. */
  labels: Readonly<Record<string, string>>;
}

export interface Pod {
  name: string;
  namespace: string;
  /** `metadata.generateName`, e.g. `customer-7d9c8b7f4-`. */
  generateName: string | undefined;
  serviceAccount: string;
  ips: readonly string[];
  /** The pod's labels plus Calico's implicit `projectcalico.org/*` labels. */
  labels: Readonly<Record<string, string>>;
  namespaceLabels: Readonly<Record<string, string>>;
  /** Labels of the pod's service account plus `projectcalico.org/name`. */
  serviceAccountLabels: Readonly<Record<string, string>>;
  ports: readonly NamedPort[];
  /** `namespace/name`, unique among pods. */
  key: string;
}

export const LABEL_NAMESPACE = 'projectcalico.org/namespace';
const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';
export const LABEL_SERVICE_ACCOUNT = 'projectcalico.org/serviceaccount';
export const LABEL_NAME = 'projectcalico.org/name';
const LABEL_K8S_NAMESPACE_NAME = 'kubernetes.io/metadata.name';

export function namespaceLabels(name: string, labels: Record<string, string> = {}): Record<string, string> {
  return { ...labels, [LABEL_K8S_NAMESPACE_NAME]: name, [LABEL_NAME]: name };
}

export function podLabels(namespace: string, serviceAccount: string, labels: Record<string, string> = {}): Record<string, string> {
  return {
    ...labels,
    [LABEL_NAMESPACE]: namespace,
    [LABEL_ORCHESTRATOR]: 'k8s',
    [LABEL_SERVICE_ACCOUNT]: serviceAccount,
  };
}
