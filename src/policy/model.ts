/** The typed form of the Calico v3 resources dnsgate reads, as parsed from YAML or JSON. */
import type { Cidr } from '../net/cidr.js';
import type { SourcePosition } from '../yaml/documents.js';
import type { Labels, Selector } from './selector.js';

export type { SourcePosition };

export type RuleAction = 'Allow' | 'Deny' | 'Log' | 'Pass';
export type PolicyType = 'Ingress' | 'Egress';
export type PolicyKind = 'NetworkPolicy' | 'GlobalNetworkPolicy';
export type NetworkSetKind = 'NetworkSet' | 'GlobalNetworkSet';
export type TierDefaultAction = 'Deny' | 'Pass';
export type StagedKind = 'StagedNetworkPolicy' | 'StagedGlobalNetworkPolicy' | 'StagedKubernetesNetworkPolicy';
export type StagedAction = 'Set' | 'Delete';

/**
 * What makes a policy staged: it is never enforced, only evaluated beside the enforced
 * policies, as if it had been applied (Set) or the policy it names deleted (Delete).
 */
export interface Staging {
  kind: StagedKind;
  action: StagedAction;
  /** `refName` of the policy it would set or delete: `NAMESPACE/TIER.NAME`, `TIER.NAME`, `NAMESPACE/knp.default.NAME`. */
  target: string;
}

export interface Protocol {
  /** `TCP`, `UDP`, `ICMP`, `ICMPv6`, `SCTP`, `UDPLite`, or a number as text. */
  name: string;
  number: number;
}

/** A port or `first:last` range (a single port has first === last), or a named port. */
export type PortMatch = { first: number; last: number } | { name: string };

export interface IcmpMatch {
  type: number | undefined;
  code: number | undefined;
}

export interface ServiceAccountMatch {
  names: readonly string[];
  selector: Selector | undefined;
}

/** A rule's `source` or `destination`. */
export interface EntityRule {
  nets: readonly Cidr[];
  notNets: readonly Cidr[];
  selector: Selector | undefined;
  notSelector: Selector | undefined;
  namespaceSelector: Selector | undefined;
  ports: readonly PortMatch[];
  notPorts: readonly PortMatch[];
  /** Lowercased patterns. */
  domains: readonly string[];
  serviceAccounts: ServiceAccountMatch | undefined;
}

export interface Rule {
  action: RuleAction;
  protocol: Protocol | undefined;
  notProtocol: Protocol | undefined;
  ipVersion: 4 | 6 | undefined;
  icmp: IcmpMatch | undefined;
  notICMP: IcmpMatch | undefined;
  source: EntityRule;
  destination: EntityRule;
  /** 0-based position in the policy's `ingress` or `egress` list. */
  index: number;
  at: SourcePosition;
}

export interface Policy {
  kind: PolicyKind;
  name: string;
  /** Undefined for a GlobalNetworkPolicy. */
  namespace: string | undefined;
  tier: string;
  order: number | undefined;
  selector: Selector;
  /** GlobalNetworkPolicy only. */
  namespaceSelector: Selector | undefined;
  serviceAccountSelector: Selector | undefined;
  /** As written, or Calico's default when unset. */
  types: readonly PolicyType[];
  ingress: readonly Rule[];
  egress: readonly Rule[];
  /**
   * The POLICY part of a rule reference: `<tier>.<name>` (unless the name already starts
   * with `<tier>.`), prefixed `NAMESPACE/` for a NetworkPolicy.
   */
  refName: string;
  at: SourcePosition;
  tierAt: SourcePosition;
  /** Set for the staged kinds, whose refName is `…TIER.staged:NAME` as in Calico's flow logs. */
  staged?: Staging;
}

export interface NetworkSet {
  kind: NetworkSetKind;
  name: string;
  /** Undefined for a GlobalNetworkSet. */
  namespace: string | undefined;
  /** As selectors see them: a NetworkSet's carry `projectcalico.org/namespace`. */
  labels: Labels;
  nets: readonly Cidr[];
  /** Lowercased patterns. */
  allowedEgressDomains: readonly string[];
  at: SourcePosition;
}

export interface Tier {
  name: string;
  order: number | undefined;
  defaultAction: TierDefaultAction;
  /** Undefined for the implicit `default` tier. */
  at: SourcePosition | undefined;
}

/** Everything read from the policy files, before ordering and cross-checks. */
export interface PolicyResources {
  tiers: Tier[];
  policies: Policy[];
  /** Staged policies, apart: they never change what is enforced. */
  stagedPolicies: Policy[];
  networkSets: NetworkSet[];
}

export const DEFAULT_TIER = 'default';
export const DEFAULT_TIER_ORDER = 1_000_000;
