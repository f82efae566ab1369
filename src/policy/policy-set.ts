/**
 * The immutable, ordered policy model: tiers by order, policies by order within their
 * tier, rules in list order, each egress rule with its rule reference. Built only from
 * resources that passed the cross-resource checks (unique names, known tiers).
 */
import {
  DEFAULT_TIER,
  DEFAULT_TIER_ORDER,
  type NetworkSet,
  type Policy,
  type PolicyResources,
  type Rule,
  type SourcePosition,
  type Tier,
} from './model.js';
import type { ProblemList } from './problems.js';

export interface OrderedTier {
  tier: Tier;
  policies: readonly Policy[];
}

/** An egress rule in evaluation order, with its reference `TIER|POLICY|ACTION|INDEX`. */
export interface PolicyRule {
  policy: Policy;
  rule: Rule;
  ref: string;
  /** Position in `PolicySet.egressRules`. */
  sequence: number;
}

export class PolicySet {
  /** Every egress rule of every policy whose types include Egress, in evaluation order. */
  readonly egressRules: readonly PolicyRule[];
  readonly policies: readonly Policy[];
  private staged: PolicySet | undefined;

  constructor(
    /** Sorted by order (unset last), then name; includes the implicit `default` tier. */
    readonly tiers: readonly OrderedTier[],
    readonly networkSets: readonly NetworkSet[],
    /** Never enforced: what `stagedView` evaluates in place of the policies they name. */
    readonly stagedPolicies: readonly Policy[] = [],
  ) {
    this.policies = tiers.flatMap((tier) => tier.policies);
    const rules: PolicyRule[] = [];
    for (const policy of this.policies) {
      if (!policy.types.includes('Egress')) continue;
      for (const rule of policy.egress) rules.push({ policy, rule, ref: ruleRef(policy, rule), sequence: rules.length });
    }
    this.egressRules = rules;
  }

  static empty(): PolicySet {
    return new PolicySet([{ tier: IMPLICIT_DEFAULT_TIER, policies: [] }], []);
  }

  /**
   * The policies as they would be with every staged policy applied, as Calico evaluates
   * staged policies: a Set takes the place of the policy it names (or joins the set), a
   * Delete removes it. Undefined when nothing is staged. Its staged rules carry their
   * staged references (`TIER|NAMESPACE/TIER.staged:NAME|ACTION|INDEX`).
   */
  get stagedView(): PolicySet | undefined {
    if (this.stagedPolicies.length === 0) return undefined;
    if (!this.staged) {
      const replaced = new Set(this.stagedPolicies.map((policy) => `${policy.kind} ${policy.staged?.target}`));
      const kept = this.policies.filter((policy) => !replaced.has(`${policy.kind} ${policy.refName}`));
      const set = this.stagedPolicies.filter((policy) => policy.staged?.action === 'Set');
      this.staged = new PolicySet(orderTiers(this.tiers.map((tier) => tier.tier), [...kept, ...set]), this.networkSets);
    }
    return this.staged;
  }
}

/** The `default` tier exists whether or not a Tier resource names it. */
const IMPLICIT_DEFAULT_TIER: Tier = { name: DEFAULT_TIER, order: DEFAULT_TIER_ORDER, defaultAction: 'Deny', at: undefined };

function ruleRef(policy: Policy, rule: Rule): string {
  return `${policy.tier}|${policy.refName}|${rule.action.toLowerCase()}|${rule.index}`;
}

/** Unset order sorts last; ties go by name, as Calico orders tiers and policies. */
function byOrderThenName(a: { order: number | undefined; name: string }, b: { order: number | undefined; name: string }): number {
  if (a.order !== b.order) {
    if (a.order === undefined) return 1;
    if (b.order === undefined) return -1;
    return a.order - b.order;
  }
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function where(at: SourcePosition): string {
  return `${at.file}:${at.line}:${at.col}`;
}

/** Orders `resources`; reports duplicates and unknown tiers to `problems` and returns undefined if any. */
export function buildPolicySet(resources: PolicyResources, problems?: ProblemList): PolicySet | undefined {
  let valid = true;
  const firstSeen = new Map<string, SourcePosition>();
  const unique = (key: string, what: string, at: SourcePosition): boolean => {
    const first = firstSeen.get(key);
    if (first) {
      problems?.error(at, `duplicate ${what}, first defined at ${where(first)}`);
      valid = false;
      return false;
    }
    firstSeen.set(key, at);
    return true;
  };

  const tiers = new Map<string, Tier>([[DEFAULT_TIER, IMPLICIT_DEFAULT_TIER]]);
  for (const tier of resources.tiers) {
    if (tier.at && !unique(`Tier ${tier.name}`, `Tier ${tier.name}`, tier.at)) continue;
    tiers.set(tier.name, tier);
  }
  const byTier = new Map<string, Policy[]>([...tiers.keys()].map((name) => [name, []]));
  for (const policy of resources.policies) {
    // Calico names a policy `<tier>.<name>` whether or not the name was written with the prefix.
    if (!unique(`${policy.kind} ${policy.refName}`, `${policy.kind} ${policy.refName}`, policy.at)) continue;
    const list = byTier.get(policy.tier);
    if (list) list.push(policy);
    else {
      problems?.error(policy.tierAt, `tier ${JSON.stringify(policy.tier)} is not defined; add a Tier resource for it`);
      valid = false;
    }
  }
  for (const policy of resources.stagedPolicies) {
    const kind = policy.staged?.kind ?? policy.kind;
    if (!unique(`${kind} ${policy.refName}`, `${kind} ${policy.refName}`, policy.at)) continue;
    if (!tiers.has(policy.tier)) {
      problems?.error(policy.tierAt, `tier ${JSON.stringify(policy.tier)} is not defined; add a Tier resource for it`);
      valid = false;
    }
  }
  for (const set of resources.networkSets) {
    const name = set.namespace === undefined ? set.name : `${set.namespace}/${set.name}`;
    unique(`${set.kind} ${name}`, `${set.kind} ${name}`, set.at);
  }
  if (!valid) return undefined;
  return new PolicySet(orderTiers([...tiers.values()], [...byTier.values()].flat()), resources.networkSets, resources.stagedPolicies);
}

/** Tiers in order, each with its policies in order. Felix breaks order ties by policy key: NAMESPACE/NAME for a NetworkPolicy, NAME otherwise. */
function orderTiers(tiers: readonly Tier[], policies: readonly Policy[]): OrderedTier[] {
  const policyKey = (policy: Policy): string => (policy.namespace === undefined ? policy.name : `${policy.namespace}/${policy.name}`);
  return [...tiers].sort(byOrderThenName).map((tier) => ({
    tier,
    policies: policies
      .filter((policy) => policy.tier === tier.name)
      .map((policy) => ({ policy, order: policy.order, name: policyKey(policy) }))
      .sort(byOrderThenName)
      .map((entry) => entry.policy),
  }));
}
