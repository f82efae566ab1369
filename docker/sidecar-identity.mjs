// Writes the sidecar's own Pod, as `--pods` reads it, from the downward API: the
// environment (name, namespace, IPs, service account) and the labels file.
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
writeFileSync(output, JSON.stringify(pod));
