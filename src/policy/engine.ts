/**
 * Decisions for one policy set and one identity snapshot, both immutable: a new pair
 * means a new engine, so nothing cached here can go stale.
 *
 * Which patterns an egress Allow rule allows does not depend on the client (its own
 * `domains` plus the `allowedEgressDomains` of the sets its destination selects), so one
 * domain index over all rules serves every client. Per client, computed once and kept
 * for the pod object's lifetime, is which rules apply to it; a query is one index lookup
 * filtered by that.
 */
import { LRUCache } from 'lru-cache';
import type { Pod } from '../identity/pod.js';
import type { IdentitySnapshot } from '../identity/snapshot.js';
import { DomainIndex } from './domain-index.js';
import type { NetworkSet, Policy } from './model.js';
import type { PolicyRule, PolicySet } from './policy-set.js';
import { entitySelects, hasPositiveSelection, networkSetSelectable, policySelectsPod, sourceCoversPod } from './scope.js';

/** An egress Allow rule that allows a name, with the patterns that matched it. */
export interface AllowRule extends PolicyRule {
  patterns: readonly string[];
}

export interface ClientPolicy {
  /** At least one policy with type Egress applies to the client. */
  readonly enforced: boolean;
  /** Egress rules of the policies that apply to the client (and whose source covers it), in evaluation order. */
  readonly egressRules: readonly PolicyRule[];
  /** Egress Allow rules whose domains match `name`, in evaluation order. */
  allowingRules(name: string): readonly AllowRule[];
  /** The references of `allowingRules(name)`, remembered per client for names asked again. */
  allowingRuleRefs(name: string): readonly string[];
}

interface PatternHit {
  sequence: number;
  pattern: string;
}

const NO_RULES: readonly AllowRule[] = Object.freeze([]);

/** An unknown client, or a pod no egress policy applies to: unrestricted. */
const NO_REFS: readonly string[] = Object.freeze([]);

const UNRESTRICTED: ClientPolicy = Object.freeze({ enforced: false, egressRules: [], allowingRules: () => NO_RULES, allowingRuleRefs: () => NO_REFS });

/** Names whose rule references a client remembers; answers repeat names far more than that. */
const REMEMBERED_NAMES = 4096;

class PodPolicy implements ClientPolicy {
  readonly enforced = true;
  private readonly refsByName = new LRUCache<string, readonly string[]>({ max: REMEMBERED_NAMES });

  constructor(
    readonly egressRules: readonly PolicyRule[],
    /** Indexed by PolicyRule.sequence. */
    private readonly applies: Uint8Array,
    private readonly index: DomainIndex<PatternHit>,
    private readonly allRules: readonly PolicyRule[],
  ) {}

  allowingRuleRefs(name: string): readonly string[] {
    let refs = this.refsByName.get(name);
    if (refs === undefined) {
      const rules = this.allowingRules(name);
      refs = rules.length === 0 ? NO_REFS : rules.map((rule) => rule.ref);
      this.refsByName.set(name, refs);
    }
    return refs;
  }

  allowingRules(name: string): readonly AllowRule[] {
    const hits = this.index.lookup(name);
    if (hits.length === 0) return NO_RULES;
    const bySequence = new Map<number, string[]>();
    for (const hit of hits) {
      if (this.applies[hit.sequence] !== 1) continue;
      const patterns = bySequence.get(hit.sequence);
      if (!patterns) bySequence.set(hit.sequence, [hit.pattern]);
      else if (!patterns.includes(hit.pattern)) patterns.push(hit.pattern);
    }
    if (bySequence.size === 0) return NO_RULES;
    return [...bySequence]
      .sort(([a], [b]) => a - b)
      .map(([sequence, patterns]) => ({ ...this.allRules[sequence], patterns }));
  }
}

export class PolicyEngine {
  private readonly clients = new WeakMap<Pod, ClientPolicy>();
  private index: DomainIndex<PatternHit> | undefined;

  constructor(
    readonly policies: PolicySet,
    readonly identities: IdentitySnapshot,
  ) {}

  /** The decisions for `pod`, computed on first use. */
  forClient(pod: Pod | undefined): ClientPolicy {
    if (!pod) return UNRESTRICTED;
    let client = this.clients.get(pod);
    if (!client) {
      client = this.computeClient(pod);
      this.clients.set(pod, client);
    }
    return client;
  }

  /** The pods `policy` applies to (its types aside). */
  podsSelectedBy(policy: Policy): readonly Pod[] {
    return this.identities.pods.filter((pod) => policySelectsPod(policy, pod));
  }

  /** The pods a rule's destination selects, or undefined when it selects by no labels (any destination). */
  destinationPods(rule: PolicyRule): readonly Pod[] | undefined {
    const { destination } = rule.rule;
    const namespace = rule.policy.namespace;
    if (!hasPositiveSelection(destination, namespace)) return undefined;
    return this.identities.pods.filter((pod) => entitySelects(destination, namespace, pod));
  }

  /** The NetworkSets and GlobalNetworkSets a rule's destination selects, or undefined as for destinationPods. */
  destinationSets(rule: PolicyRule): readonly NetworkSet[] | undefined {
    const { destination } = rule.rule;
    const namespace = rule.policy.namespace;
    if (!hasPositiveSelection(destination, namespace)) return undefined;
    return this.policies.networkSets.filter((set) => entitySelects(destination, namespace, networkSetSelectable(set, this.identities)));
  }

  /** Every pattern an egress Allow rule allows: its own domains, then those of the sets it selects. */
  allowedPatterns(rule: PolicyRule): readonly string[] {
    if (rule.rule.action !== 'Allow') return [];
    const patterns = new Set(rule.rule.destination.domains);
    for (const set of this.destinationSets(rule) ?? []) for (const pattern of set.allowedEgressDomains) patterns.add(pattern);
    return [...patterns];
  }

  /** From pattern to rule; built on first use and shared by every client of this engine. */
  private patternIndex(): DomainIndex<PatternHit> {
    if (!this.index) {
      const index = new DomainIndex<PatternHit>();
      for (const rule of this.policies.egressRules) {
        for (const pattern of this.allowedPatterns(rule)) index.add(pattern, { sequence: rule.sequence, pattern });
      }
      this.index = index;
    }
    return this.index;
  }

  private computeClient(pod: Pod): ClientPolicy {
    const selecting = new Set(this.policies.policies.filter((policy) => policy.types.includes('Egress') && policySelectsPod(policy, pod)));
    // A policy of type Egress selecting the pod makes its egress default-deny, even without rules.
    if (selecting.size === 0) return UNRESTRICTED;
    const rules = this.policies.egressRules;
    const applies = new Uint8Array(rules.length);
    const egressRules: PolicyRule[] = [];
    for (const rule of rules) {
      if (!selecting.has(rule.policy) || !sourceCoversPod(rule.rule.source, rule.policy.namespace, pod)) continue;
      egressRules.push(rule);
      applies[rule.sequence] = 1;
    }
    return new PodPolicy(egressRules, applies, this.patternIndex(), rules);
  }
}
