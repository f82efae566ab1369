// Writes the sidecar's own Pod and its Namespace, as `--pods` reads them, from the
// downward API: the environment (name, namespace, IPs, service account) and the labels
// file. The Namespace carries kubernetes.io/metadata.name, which namespaceSelectors
// match; NAMESPACE_LABELS (`key=value,…`) adds others the downward API cannot see.
// Usage: node sidecar-identity.mjs /etc/podinfo/labels /etc/dnsgate-identity/self.yaml
import { readFileSync, writeFileSync } from 'node:fs';

const [labelsFile, output] = process.argv.slice(2);
const labels = {};
for (const line of readFileSync(labelsFile, 'utf8').split('\n')) {
  const match = /^([^=]+)="(.*)"$/.exec(line.trim());
  if (match) labels[match[1]] = match[2].replace(/\\"/g, '"');
}
const ips = (process.env.POD_IPS ?? process.env.POD_IP ?? '').split(',').filter(Boolean);
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: process.env.POD_NAME, namespace: process.env.POD_NAMESPACE, labels },
  spec: { serviceAccountName: process.env.SERVICE_ACCOUNT ?? 'default', containers: [] },
  status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
};
const namespaceLabels = { 'kubernetes.io/metadata.name': process.env.POD_NAMESPACE };
for (const pair of (process.env.NAMESPACE_LABELS ?? '').split(',').filter(Boolean)) {
  const at = pair.indexOf('=');
  if (at > 0) namespaceLabels[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
}
const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: process.env.POD_NAMESPACE, labels: namespaceLabels } };
writeFileSync(output, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod, namespace] }));
