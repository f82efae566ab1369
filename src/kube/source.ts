/**
 * `--kubernetes`: pods, namespaces and service accounts become the identity snapshot,
 * and Calico's resources join the policy files, both kept current by watches. A change
 * rebuilds the snapshot or reloads the policy set whole, through the same stores (and
 * the same validation) as the files.
 *
 * Where policies come from: with --policies, the files alone. Otherwise the aggregated
 * projectcalico.org/v3 API when the cluster serves it (Calico Enterprise, or the Calico
 * API server), else Calico's own storage, the crd.projectcalico.org/v1 CRDs (Calico OSS
 * without the API server; the spec is the v3 one), else none: many clusters run another
 * CNI, and dnsgate then starts with no policies and says so.
 */
import { identitiesFromObjects } from '../identity/podfile.js';
import type { IdentityStore } from '../identity/store.js';
import type { PolicyLoad, PolicyStore } from '../policy/index.js';
import type { SourceObject } from '../yaml/documents.js';
import { KubeError, type KubeClient, type KubeObject } from './client.js';
import { Informer } from './informer.js';

/** Changes arriving together (a rollout, the initial lists) are applied once. */
const REBUILD_DELAY_MS = 50;

const IDENTITY_RESOURCES = [
  { path: '/api/v1/pods', apiVersion: 'v1', kind: 'Pod' },
  { path: '/api/v1/namespaces', apiVersion: 'v1', kind: 'Namespace' },
  { path: '/api/v1/serviceaccounts', apiVersion: 'v1', kind: 'ServiceAccount' },
];

/** The groups Calico's resources may be served under, in order of preference. */
const CALICO_APIS = ['/apis/projectcalico.org/v3', '/apis/crd.projectcalico.org/v1'];
const POLICY_KINDS = [
  ['tiers', 'Tier'],
  ['networkpolicies', 'NetworkPolicy'],
  ['globalnetworkpolicies', 'GlobalNetworkPolicy'],
  ['networksets', 'NetworkSet'],
  ['globalnetworksets', 'GlobalNetworkSet'],
] as const;
/** Calico Enterprise's kinds: watched only where the group's discovery lists them. */
const STAGED_KINDS = [
  ['stagednetworkpolicies', 'StagedNetworkPolicy'],
  ['stagedglobalnetworkpolicies', 'StagedGlobalNetworkPolicy'],
  ['stagedkubernetesnetworkpolicies', 'StagedKubernetesNetworkPolicy'],
] as const;

/** A group's discovery document: the resources it serves. */
interface ApiResourceList {
  resources?: readonly { name: string }[];
}

/** Where `--kubernetes` takes policies from. */
export type PolicySource = 'files' | 'api';

/** The first Calico API group the server serves and what it lists, or undefined when it serves none. */
async function servedCalicoApi(client: KubeClient): Promise<{ group: string; resources: ReadonlySet<string> } | undefined> {
  for (const group of CALICO_APIS) {
    try {
      const discovery = await client.get<ApiResourceList>(group);
      return { group, resources: new Set((discovery.resources ?? []).map((resource) => resource.name)) };
    } catch (error) {
      if (!(error instanceof KubeError && error.status === 404)) throw error;
    }
  }
  return undefined;
}

/** Where an object came from, in the `file:line:col` place of errors. */
function sourceName(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return `kubernetes:${object.kind}/${namespace ? `${namespace}/` : ''}${name}`;
}

export class KubernetesSource {
  private readonly identityInformers: Informer<KubeObject>[];
  private policyInformers: Informer<KubeObject>[] = [];
  private identityTimer: NodeJS.Timeout | undefined;
  private policyTimer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(
    private readonly client: KubeClient,
    private readonly identity: IdentityStore,
    private readonly policies: PolicyStore,
    private readonly onError: (message: string) => void,
    private readonly policySource: PolicySource = 'api',
    private readonly onInfo: (message: string) => void = onError,
  ) {
    this.identityInformers = IDENTITY_RESOURCES.map((resource) => this.informer(resource, () => this.scheduleIdentity()));
  }

  private informer(resource: { path: string; apiVersion: string; kind: string }, onChange: () => void): Informer<KubeObject> {
    return new Informer<KubeObject>(this.client, resource.path, resource, onChange, this.onError);
  }

  /** The policy resources to follow: none with --policies, else those of the served Calico API. */
  private async choosePolicyInformers(): Promise<void> {
    if (this.policySource === 'files') return;
    const served = await servedCalicoApi(this.client);
    if (served === undefined) {
      this.onInfo('--kubernetes: the cluster serves no Calico API (projectcalico.org/v3 or crd.projectcalico.org/v1): starting with no policies; give --policies FILES to enforce');
      return;
    }
    // The CRDs hold the v3 spec: they are read as v3 resources.
    const kinds = [...POLICY_KINDS, ...STAGED_KINDS.filter(([plural]) => served.resources.has(plural))];
    this.policyInformers = kinds.map(([plural, kind]) =>
      this.informer({ path: `${served.group}/${plural}`, apiVersion: 'projectcalico.org/v3', kind }, () => this.schedulePolicies()),
    );
  }

  /**
   * Lists everything, installs the first snapshot and loads the first policy set, whose
   * load (errors and warnings) it returns; throws when the API cannot be read.
   */
  async start(): Promise<PolicyLoad> {
    await this.choosePolicyInformers();
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
