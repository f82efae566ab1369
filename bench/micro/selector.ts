/**
 * Selector parsing and evaluation on selectors as policies write them, against pod
 * label maps with the implicit Calico labels.
 */
import { podLabels } from '../../src/identity/pod.js';
import { parseSelector, type Labels } from '../../src/policy/selector.js';
import { seededRandom } from '../../test/helpers/random.js';
import { nsPerCall, type Figure } from './measure.js';

const SELECTORS = [
  "app == 'customer'",
  'k8s-app == "kube-dns"',
  'has(my-pod-label) && !has(quarantine)',
  "app == 'api' && tier in {'frontend', 'backend'} || role starts with 'db-'",
  "projectcalico.org/namespace == 'prod' && version != 'canary' && name ends with '-worker'",
  'kubernetes.io/metadata.name not in {"calico-system", "kube-system", "kube-public", "tigera-operator"}',
  '',
];

export async function benchSelector(): Promise<Figure[]> {
  const random = seededRandom(7);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const labelSets: Labels[] = [];
  for (let i = 0; i < 64; i++) {
    labelSets.push(
      podLabels(pick(['prod', 'staging', 'kube-system']), 'default', {
        app: pick(['customer', 'api', 'summary']),
        tier: pick(['frontend', 'backend', 'cache']),
        role: pick(['db-primary', 'web']),
        version: pick(['stable', 'canary']),
        name: pick(['orders-worker', 'orders-api']),
        ...(random() < 0.5 ? { 'my-pod-label': 'x' } : {}),
        ...(random() < 0.2 ? { 'k8s-app': 'kube-dns' } : {}),
      }),
    );
  }
  const selectors = SELECTORS.map(parseSelector);
  const count = selectors.length;
  const evaluate = nsPerCall((i) => (selectors[i % count].matches(labelSets[i & 63]) ? 1 : 0), 1_000_000);
  const parse = nsPerCall((i) => parseSelector(SELECTORS[i % count]).text.length, 20_000);
  return [
    { name: 'selector evaluation', value: Math.round(evaluate), unit: 'ns/evaluation' },
    { name: 'selector parse and compile', value: Math.round(parse), unit: 'ns/selector' },
  ];
}
