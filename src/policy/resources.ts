/**
 * One parsed object to a typed Tier, NetworkPolicy, GlobalNetworkPolicy, NetworkSet or
 * GlobalNetworkSet, or one of the staged kinds (StagedNetworkPolicy,
 * StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy), with every problem found
 * on the way.
 */
import { LABEL_NAMESPACE } from '../identity/pod.js';
import { stringMap, type ParsedObject } from '../yaml/documents.js';
import {
  DEFAULT_TIER,
  DEFAULT_TIER_ORDER,
  type NetworkSet,
  type NetworkSetKind,
  type Policy,
  type PolicyKind,
  type PolicyResources,
  type StagedKind,
  type Tier,
  type TierDefaultAction,
} from './model.js';
import type { ProblemList } from './problems.js';
import { ObjectReader, type FieldPath } from './reader.js';
import { parseKubernetesPolicy } from './kubernetes-policy.js';
import { checkDeleteHasNoRules, parseTypes, stagedAction, stagedName } from './policy-fields.js';
import { parseCidrs, parseDomainPatterns, parseRules } from './rules.js';
import { ALL, type Selector } from './selector.js';

const API_VERSION = 'projectcalico.org/v3';
const KINDS = [
  'NetworkPolicy',
  'GlobalNetworkPolicy',
  'NetworkSet',
  'GlobalNetworkSet',
  'Tier',
  'StagedNetworkPolicy',
  'StagedGlobalNetworkPolicy',
  'StagedKubernetesNetworkPolicy',
] as const;

/** Tier names appear inside policy names and rule references, so no dots. */
const TIER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const COMMON_POLICY_FIELDS = ['order', 'tier', 'selector', 'serviceAccountSelector', 'types', 'ingress', 'egress', 'performanceHints'];
const POLICY_FIELDS: Record<PolicyKind, ReadonlySet<string>> = {
  NetworkPolicy: new Set(COMMON_POLICY_FIELDS),
  GlobalNetworkPolicy: new Set([...COMMON_POLICY_FIELDS, 'namespaceSelector', 'doNotTrack', 'preDNAT', 'applyOnForward']),
};
const SET_FIELDS = new Set(['nets', 'allowedEgressDomains']);
const TIER_FIELDS = new Set(['order', 'defaultAction']);

/** Adds what `object` defines to `into`; other kinds and API versions are skipped with a warning. */
export function addResource(object: ParsedObject, text: string, problems: ProblemList, into: PolicyResources): void {
  const reader = new ObjectReader(object, text, problems);
  const { apiVersion, kind } = object.value;
  if (apiVersion !== API_VERSION || !(KINDS as readonly unknown[]).includes(kind)) {
    problems.warning(reader.at(['kind']), skipMessage(object.value));
    return;
  }
  const name = reader.string(['metadata', 'name']);
  if (name === undefined || name === '') {
    problems.error(reader.at(['metadata']), `${String(kind)} without metadata.name`);
    return;
  }
  if (!reader.isObject(['spec'])) return;
  switch (kind as (typeof KINDS)[number]) {
    case 'Tier':
      into.tiers.push(parseTier(reader, name));
      break;
    case 'NetworkPolicy':
    case 'GlobalNetworkPolicy':
      into.policies.push(parsePolicy(reader, kind as PolicyKind, name));
      break;
    case 'NetworkSet':
    case 'GlobalNetworkSet':
      into.networkSets.push(parseNetworkSet(reader, kind as NetworkSetKind, name));
      break;
    case 'StagedNetworkPolicy':
      into.stagedPolicies.push(parsePolicy(reader, 'NetworkPolicy', name, 'StagedNetworkPolicy'));
      break;
    case 'StagedGlobalNetworkPolicy':
      into.stagedPolicies.push(parsePolicy(reader, 'GlobalNetworkPolicy', name, 'StagedGlobalNetworkPolicy'));
      break;
    case 'StagedKubernetesNetworkPolicy':
      into.stagedPolicies.push(parseKubernetesPolicy(reader, name, namespaceOf(reader), stagedAction(reader)));
      break;
  }
}

/** Why a document dnsgate does not read is skipped, naming what it is. */
function skipMessage(value: Record<string, unknown>): string {
  const reads = `dnsgate reads ${KINDS.join(', ')} of ${API_VERSION}`;
  const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : undefined;
  const kind = typeof value.kind === 'string' ? value.kind : undefined;
  if (apiVersion !== undefined && kind !== undefined) return `skipping ${apiVersion} ${kind}: ${reads}`;
  if (kind !== undefined) return `skipping a ${kind} without apiVersion: ${reads}`;
  if (apiVersion !== undefined) return `skipping a ${apiVersion} document without kind: ${reads}`;
  const keys = Object.keys(value);
  const shown = keys.length > 5 ? `${keys.slice(0, 5).join(', ')}, …` : keys.join(', ');
  return `skipping a document without apiVersion and kind (keys: ${shown}): not a Kubernetes resource; ${reads}`;
}

function namespaceOf(reader: ObjectReader): string {
  return reader.string(['metadata', 'namespace']) ?? 'default';
}

function parseTier(reader: ObjectReader, name: string): Tier {
  reader.warnUnknownKeys(['spec'], TIER_FIELDS);
  if (!TIER_NAME.test(name)) reader.error(['metadata', 'name'], `tier name ${JSON.stringify(name)} must be lowercase letters, digits and "-"`);
  const order = reader.number(['spec', 'order']);
  if (name === DEFAULT_TIER && order !== undefined && order !== DEFAULT_TIER_ORDER) {
    reader.error(['spec', 'order'], `the default tier's order is fixed at ${DEFAULT_TIER_ORDER}`);
  }
  const action = reader.string(['spec', 'defaultAction']);
  let defaultAction: TierDefaultAction = 'Deny';
  if (action === 'Pass' || action === 'Deny') defaultAction = action;
  else if (action !== undefined) reader.error(['spec', 'defaultAction'], `defaultAction must be Deny or Pass, not ${JSON.stringify(action)}`);
  return { name, order: name === DEFAULT_TIER ? DEFAULT_TIER_ORDER : order, defaultAction, at: reader.at() };
}

/** A policy-level selector; `global()` is only meaningful in a rule's namespaceSelector. */
function policySelector(reader: ObjectReader, path: FieldPath): Selector | undefined {
  const selector = reader.selector(path);
  if (selector?.mentionsGlobal) reader.error(path, 'global() can only be used in a rule namespaceSelector');
  return selector;
}

function parsePolicy(reader: ObjectReader, kind: PolicyKind, name: string, stagedKind?: StagedKind): Policy {
  reader.warnUnknownKeys(['spec'], stagedKind === undefined ? POLICY_FIELDS[kind] : new Set([...POLICY_FIELDS[kind], 'stagedAction']));
  const namespace = kind === 'NetworkPolicy' ? namespaceOf(reader) : undefined;
  const tier = reader.string(['spec', 'tier']) ?? DEFAULT_TIER;
  if (!TIER_NAME.test(tier)) reader.error(['spec', 'tier'], `tier name ${JSON.stringify(tier)} must be lowercase letters, digits and "-"`);
  const ingress = parseRules(reader, ['spec', 'ingress'], 'ingress');
  const egress = parseRules(reader, ['spec', 'egress'], 'egress');
  const policyName = name.startsWith(`${tier}.`) ? name : `${tier}.${name}`;
  const action = stagedKind === undefined ? undefined : stagedAction(reader);
  if (action !== undefined) checkDeleteHasNoRules(reader, action, ['ingress', 'egress']);
  const qualify = (text: string): string => (namespace === undefined ? text : `${namespace}/${text}`);
  return {
    kind,
    name,
    namespace,
    tier,
    order: reader.number(['spec', 'order']),
    selector: policySelector(reader, ['spec', 'selector']) ?? ALL,
    namespaceSelector: kind === 'GlobalNetworkPolicy' ? policySelector(reader, ['spec', 'namespaceSelector']) : undefined,
    serviceAccountSelector: policySelector(reader, ['spec', 'serviceAccountSelector']),
    types: parseTypes(reader, ingress.length > 0, egress.length > 0),
    ingress,
    egress,
    refName: qualify(action === undefined ? policyName : stagedName(policyName, tier)),
    at: reader.at(),
    tierAt: reader.at(['spec', 'tier']),
    ...(stagedKind === undefined || action === undefined ? {} : { staged: { kind: stagedKind, action, target: qualify(policyName) } }),
  };
}

function parseNetworkSet(reader: ObjectReader, kind: NetworkSetKind, name: string): NetworkSet {
  reader.warnUnknownKeys(['spec'], SET_FIELDS);
  const namespace = kind === 'NetworkSet' ? namespaceOf(reader) : undefined;
  let labels: Record<string, string> = {};
  if (reader.isObject(['metadata', 'labels'])) labels = stringMap(reader.value(['metadata', 'labels'])) ?? {};
  // Calico gives a NetworkSet its namespace as a label, so selectors can scope to it.
  if (namespace !== undefined) labels = { ...labels, [LABEL_NAMESPACE]: namespace };
  return {
    kind,
    name,
    namespace,
    labels,
    nets: parseCidrs(reader, ['spec', 'nets']),
    allowedEgressDomains: parseDomainPatterns(reader, ['spec', 'allowedEgressDomains']),
    at: reader.at(),
  };
}
