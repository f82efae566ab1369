/**
 * Reviewed policy files in their staged form, for the adoption path's "apply as staged"
 * step: a Calico NetworkPolicy or GlobalNetworkPolicy becomes its staged kind, a
 * Kubernetes NetworkPolicy a StagedKubernetesNetworkPolicy, each with `stagedAction:
 * Set` and its name kept, so it shows what putting the reviewed policy in place would
 * change. Every other resource (NetworkSets the policies select, tiers) and every
 * comment, commented-out policies included, stays as it is.
 */
import { isMap, isSeq, parseAllDocuments, type Document, type YAMLMap } from 'yaml';

const CALICO_API = 'projectcalico.org/v3';
/** apiVersion, then kind, to the staged kind (always of projectcalico.org/v3). */
const STAGED_KINDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  [CALICO_API]: { NetworkPolicy: 'StagedNetworkPolicy', GlobalNetworkPolicy: 'StagedGlobalNetworkPolicy' },
  'networking.k8s.io/v1': { NetworkPolicy: 'StagedKubernetesNetworkPolicy' },
};

function stageObject(doc: Document, object: YAMLMap): void {
  const apiVersion: unknown = object.get('apiVersion');
  const kind: unknown = object.get('kind');
  const staged = typeof apiVersion === 'string' && typeof kind === 'string' ? STAGED_KINDS[apiVersion]?.[kind] : undefined;
  const spec = object.get('spec', true);
  if (staged === undefined || !isMap(spec)) return;
  object.set('apiVersion', CALICO_API);
  object.set('kind', staged);
  spec.items.unshift(doc.createPair('stagedAction', 'Set'));
}

/** `text` (YAML or JSON, one or more documents, `List` kinds too) with its policies staged. */
export function stagePolicies(text: string): string {
  return parseAllDocuments(text)
    .map((doc) => {
      const root = doc.contents;
      if (isMap(root)) {
        const kind: unknown = root.get('kind');
        const items = root.get('items', true);
        if (typeof kind === 'string' && kind.endsWith('List') && isSeq(items)) {
          for (const item of items.items) if (isMap(item)) stageObject(doc, item);
        } else {
          stageObject(doc, root);
        }
      }
      return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
    })
    .join('');
}
