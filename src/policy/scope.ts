/**
 * Which pods a policy applies to and which pods and network sets a rule's entity
 * selects, with Calico's scoping: a NetworkPolicy's rule sees only its own namespace
 * unless it has a namespaceSelector, `global()` there reaches non-namespaced sets, and a
 * GlobalNetworkPolicy's rule sees everything.
 */
import { LABEL_SERVICE_ACCOUNT, type Pod } from '../identity/pod.js';
import type { IdentitySnapshot } from '../identity/snapshot.js';
import type { EntityRule, NetworkSet, Policy } from './model.js';
import { GLOBAL_RESOURCE, NAMESPACED_RESOURCE, type Labels } from './selector.js';

/** A pod or network set as rule selectors see it. */
export interface Selectable {
  labels: Labels;
  /** Undefined for a GlobalNetworkSet. */
  namespace: string | undefined;
  namespaceLabels: Labels;
  serviceAccountLabels: Labels;
}

const NO_LABELS: Labels = Object.freeze({});

export function networkSetSelectable(set: NetworkSet, identities: IdentitySnapshot): Selectable {
  return {
    labels: set.labels,
    namespace: set.namespace,
    namespaceLabels: set.namespace === undefined ? NO_LABELS : identities.namespace(set.namespace).labels,
    serviceAccountLabels: NO_LABELS,
  };
}

/** Whether `policy` applies to `pod` (its types aside). */
export function policySelectsPod(policy: Policy, pod: Pod): boolean {
  if (policy.namespace !== undefined && policy.namespace !== pod.namespace) return false;
  return (
    policy.selector.matches(pod.labels) &&
    (policy.namespaceSelector?.matches(pod.namespaceLabels) ?? true) &&
    (policy.serviceAccountSelector?.matches(pod.serviceAccountLabels) ?? true)
  );
}

/**
 * Whether the entity has a positive selection (selector, serviceAccounts, or a
 * namespace scope made explicit by namespaceSelector or notSelector). Without one, a
 * rule matches any endpoint and picks no network set.
 */
export function hasPositiveSelection(entity: EntityRule, policyNamespace: string | undefined): boolean {
  const serviceAccounts = entity.serviceAccounts !== undefined && (entity.serviceAccounts.names.length > 0 || entity.serviceAccounts.selector !== undefined);
  const namespaceScoped = entity.namespaceSelector !== undefined || policyNamespace !== undefined;
  return entity.selector !== undefined || serviceAccounts || (namespaceScoped && (entity.notSelector !== undefined || entity.namespaceSelector !== undefined));
}

/**
 * Whether the entity's selectors match `target`, following how Calico combines them
 * into one selector (libcalico-go's getEndpointSelector) plus the separate notSelector.
 * True for an entity without selectors.
 */
export function entitySelects(entity: EntityRule, policyNamespace: string | undefined, target: Selectable): boolean {
  if (entity.notSelector?.matches(target.labels)) return false;
  if (!hasPositiveSelection(entity, policyNamespace)) return true;
  if (entity.namespaceSelector) {
    const scope = target.namespace === undefined ? GLOBAL_RESOURCE : NAMESPACED_RESOURCE;
    if (!entity.namespaceSelector.evaluate(target.namespaceLabels, scope)) return false;
  } else if (policyNamespace !== undefined && target.namespace !== policyNamespace) {
    return false;
  }
  const serviceAccounts = entity.serviceAccounts;
  if (serviceAccounts) {
    const account = target.labels[LABEL_SERVICE_ACCOUNT];
    if (serviceAccounts.names.length > 0 && !(typeof account === 'string' && serviceAccounts.names.includes(account))) return false;
    if (serviceAccounts.selector && !serviceAccounts.selector.matches(target.serviceAccountLabels)) return false;
  }
  return entity.selector?.matches(target.labels) ?? true;
}

/** Whether an egress rule's `source` covers `pod`: its selectors, and nets against the pod's IPs. */
export function sourceCoversPod(source: EntityRule, policyNamespace: string | undefined, pod: Pod): boolean {
  if (!entitySelects(source, policyNamespace, pod)) return false;
  if (source.nets.length > 0 && !pod.ips.some((ip) => source.nets.some((cidr) => cidr.contains(ip)))) return false;
  if (source.notNets.length > 0 && pod.ips.every((ip) => source.notNets.some((cidr) => cidr.contains(ip)))) return false;
  return true;
}
