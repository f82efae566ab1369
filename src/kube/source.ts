/**
 * `--kubernetes`: pods, namespaces and service accounts become the identity snapshot,
 * and Calico's projectcalico.org/v3 resources join the policy files, both kept current
 * by watches. A change rebuilds the snapshot or reloads the policy set whole, through
 * the same stores (and the same validation) as the files.
 */
import { identitiesFromObjects } from '../identity/podfile.js';
import type { IdentityStore } from '../identity/store.js';
import type { PolicyLoad, PolicyStore } from '../policy/index.js';
import type { SourceObject } from '../yaml/documents.js';
import type { KubeClient, KubeObject } from './client.js';
import { Informer } from './informer.js';

/** Changes arriving together (a rollout, the initial lists) are applied once. */
const REBUILD_DELAY_MS = 50;

const IDENTITY_RESOURCES = [
  { path: '/api/v1/pods', apiVersion: 'v1', kind: 'Pod' },
  { path: '/api/v1/namespaces', apiVersion: 'v1', kind: 'Namespace' },
  { path: '/api/v1/serviceaccounts', apiVersion: 'v1', kind: 'ServiceAccount' },
];

const CALICO_API = '/apis/projectcalico.org/v3';
const POLICY_RESOURCES = [
  { path: `${CALICO_API}/tiers`, kind: 'Tier' },
  { path: `${CALICO_API}/networkpolicies`, kind: 'NetworkPolicy' },
  { path: `${CALICO_API}/globalnetworkpolicies`, kind: 'GlobalNetworkPolicy' },
  { path: `${CALICO_API}/networksets`, kind: 'NetworkSet' },
  { path: `${CALICO_API}/globalnetworksets`, kind: 'GlobalNetworkSet' },
  { path: `${CALICO_API}/stagednetworkpolicies`, kind: 'StagedNetworkPolicy' },
  { path: `${CALICO_API}/stagedglobalnetworkpolicies`, kind: 'StagedGlobalNetworkPolicy' },
  { path: `${CALICO_API}/stagedkubernetesnetworkpolicies`, kind: 'StagedKubernetesNetworkPolicy' },
].map((resource) => ({ ...resource, apiVersion: 'projectcalico.org/v3' }));

/** Where an object came from, in the `file:line:col` place of errors. */
function sourceName(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return `kubernetes:${object.kind}/${namespace ? `${namespace}/` : ''}${name}`;
}

export class KubernetesSource {
  private readonly identityInformers: Informer<KubeObject>[];
  private readonly policyInformers: Informer<KubeObject>[];
  private identityTimer: NodeJS.Timeout | undefined;
  private policyTimer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(
    client: KubeClient,
    private readonly identity: IdentityStore,
    private readonly policies: PolicyStore,
    private readonly onError: (message: string) => void,
  ) {
    const informer = (resource: { path: string; apiVersion: string; kind: string }, onChange: () => void) =>
      new Informer<KubeObject>(client, resource.path, resource, onChange, onError);
    this.identityInformers = IDENTITY_RESOURCES.map((resource) => informer(resource, () => this.scheduleIdentity()));
    this.policyInformers = POLICY_RESOURCES.map((resource) => informer(resource, () => this.schedulePolicies()));
  }

  /**
   * Lists everything, installs the first snapshot and loads the first policy set, whose
   * load (errors and warnings) it returns; throws when the API cannot be read.
   */
  async start(): Promise<PolicyLoad> {
    await Promise.all([...this.identityInformers, ...this.policyInformers].map((informer) => informer.start()));
    this.started = true;
    clearTimeout(this.identityTimer);
    clearTimeout(this.policyTimer);
    this.rebuildIdentity();
    return this.reloadPolicies();
  }

  stop(): void {
    clearTimeout(this.identityTimer);
    clearTimeout(this.policyTimer);
    for (const informer of [...this.identityInformers, ...this.policyInformers]) informer.stop();
  }

  private scheduleIdentity(): void {
    if (!this.started) return;
    clearTimeout(this.identityTimer);
    this.identityTimer = setTimeout(() => {
      try {
        this.rebuildIdentity();
      } catch (error) {
        this.onError(`pods from the Kubernetes API kept the previous set: ${(error as Error).message}`);
      }
    }, REBUILD_DELAY_MS);
  }

  private schedulePolicies(): void {
    if (!this.started) return;
    clearTimeout(this.policyTimer);
    this.policyTimer = setTimeout(() => void this.reloadPolicies(), REBUILD_DELAY_MS);
  }

  private rebuildIdentity(): void {
    const objects: SourceObject[] = this.identityInformers
      .flatMap((informer) => informer.list())
      .map((object) => ({ value: object as Record<string, unknown>, file: sourceName(object), at: () => sourceName(object) }));
    this.identity.replace(identitiesFromObjects(objects), 'kubernetes');
  }

  /** Reload failures after start are reported by the store's own listeners. */
  private reloadPolicies(): Promise<PolicyLoad> {
    const files = this.policyInformers.flatMap((informer) => informer.list()).map((object) => ({ path: sourceName(object), text: JSON.stringify(object) }));
    return this.policies.setApiResources(files);
  }
}
