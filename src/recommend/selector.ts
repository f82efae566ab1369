/**
 * A workload's selector from the labels its pods share, leaving out the labels that
 * differ per pod or per revision (a selector with them would stop matching at the next
 * rollout) and Calico's implicit `projectcalico.org/*` labels.
 */
import type { Workload } from './workloads.js';

const UNSTABLE_LABELS = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'controller-uid',
  'batch.kubernetes.io/controller-uid',
]);
const CALICO_PREFIX = 'projectcalico.org/';

export function isStableLabel(key: string): boolean {
  return !UNSTABLE_LABELS.has(key) && !key.startsWith(CALICO_PREFIX);
}

export type WorkloadSelector =
  | { ok: true; selector: string; labels: Readonly<Record<string, string>> }
  | { ok: false; reason: string };

/** Label values are `[A-Za-z0-9_.-]`, so single quotes need no escaping. */
function equals(key: string, value: string): string {
  return `${key} == '${value}'`;
}

/** The stable labels every record of the workload carried. */
export function stableLabels(workload: Workload): Record<string, string> | undefined {
  if (workload.commonLabels === undefined) return undefined;
  const labels: Record<string, string> = {};
  for (const key of Object.keys(workload.commonLabels).sort()) if (isStableLabel(key)) labels[key] = workload.commonLabels[key];
  return labels;
}

/**
 * `key == 'value' && …` over the stable common labels, plus `key != 'value'` for a label
 * that tells apart another workload of the namespace whose pods carry all of these
 * labels too (a canary beside its main Deployment, say). Not ok when nothing stable is
 * shared, or another workload cannot be told apart.
 */
export function workloadSelector(workload: Workload, namespaceWorkloads: readonly Workload[]): WorkloadSelector {
  const labels = stableLabels(workload);
  if (labels === undefined) return { ok: false, reason: 'its log records carry no client labels (written with --log-include-labels false?)' };
  if (Object.keys(labels).length === 0) return { ok: false, reason: 'its pods share no label that is not per pod or per revision' };
  const terms = Object.entries(labels).map(([key, value]) => equals(key, value));
  for (const other of namespaceWorkloads) {
    if (other === workload) continue;
    const otherLabels = stableLabels(other);
    if (otherLabels === undefined || !Object.entries(labels).every(([key, value]) => otherLabels[key] === value)) continue;
    // A label all of the other's pods carry and none of this workload's pods carry with that value.
    const telling = Object.entries(otherLabels).find(([key, value]) => labels[key] === undefined && !workload.seenLabels.get(key)?.has(value));
    if (!telling) return { ok: false, reason: `no label tells its pods apart from those of ${other.aggregatedName}` };
    terms.push(`${telling[0]} != '${telling[1]}'`);
  }
  return { ok: true, selector: terms.join(' && '), labels };
}
