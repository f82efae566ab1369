/**
 * Decisions for one policy set and one identity snapshot, both immutable: a new pair
 * means a new engine, so nothing cached here can go stale.
 *
 * `applicableRules(pod)` is the one place that decides which egress rules apply to a
 * pod, in Calico's order; the nftables compiler, learning (through `forClient`) and
 * `explain` all start from it, so the firewall, the allowed map and explanations cannot
 * disagree about a pod's rules.
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
import type { NetworkSet, Policy, Tier } from './model.js';
import type { PolicyRule, PolicySet } from './policy-set.js';
import { entitySelects, hasPositiveSelection, networkSetSelectable, policySelectsPod, sourceCoversPod } from './scope.js';

/** An egress Allow rule that allows a name, with the patterns that matched it. */
export interface AllowRule extends PolicyRule {
  patterns: readonly string[];
}

/** One tier as it applies to a pod: one of its policies selects the pod. */
export interface ApplicableTier {
  readonly tier: Tier;
  /** Position in `PolicySet.tiers`. */
  readonly index: number;
  /**
   * The egress rules of the tier's policies that select the pod and whose source covers
   * it, in evaluation order. May be empty: the tier still ends in its default action.
   */
  readonly rules: readonly PolicyRule[];
}

/**
 * The egress rules that apply to a pod, in Calico's evaluation order: tiers by order,
 * policies by order within a tier, rules in list order. A packet takes the first rule
 * that matches it: Allow and Deny decide, Log goes on, Pass skips to the next tier; a
 * tier in which no rule matched ends in its default action (Deny, or Pass to the next
 * tier); a packet that passed every tier is allowed (Calico's Kubernetes profile).
 */
export interface ApplicableRules {
  /** At least one policy with type Egress selects the pod. */
  readonly enforced: boolean;
  /** Only tiers with a policy selecting the pod, in order. */
  readonly tiers: readonly ApplicableTier[];
  /** The rules of `tiers`, flattened. */
  readonly rules: readonly PolicyRule[];
  /** Equal for pods to which the same tiers and rules apply (they are enforced alike). */
  readonly signature: string;
}

const NOT_ENFORCED: ApplicableRules = Object.freeze({ enforced: false, tiers: [], rules: [], signature: '' });

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
      // On every answer whose name is not remembered: no rule objects, only the references.
      const sequences = this.allowingSequences(this.index.lookup(name));
      refs = sequences.length === 0 ? NO_REFS : sequences.map((sequence) => this.allRules[sequence].ref);
      this.refsByName.set(name, refs);
    }
    return refs;
  }

  allowingRules(name: string): readonly AllowRule[] {
    const hits = this.index.lookup(name);
    const sequences = this.allowingSequences(hits);
    if (sequences.length === 0) return NO_RULES;
    return sequences.map((sequence) => {
      const patterns: string[] = [];
      for (const hit of hits) if (hit.sequence === sequence && !patterns.includes(hit.pattern)) patterns.push(hit.pattern);
      return { ...this.allRules[sequence], patterns };
    });
  }

  /** The rules among `hits` that apply to the client, each once, in evaluation order. */
  private allowingSequences(hits: readonly PatternHit[]): number[] {
    const sequences: number[] = [];
    for (const hit of hits) if (this.applies[hit.sequence] === 1 && !sequences.includes(hit.sequence)) sequences.push(hit.sequence);
    return sequences.length > 1 ? sequences.sort((a, b) => a - b) : sequences;
  }
}

/** What answers teach a client: see PolicyEngine.learningFor. */
export interface LearningRules {
  /** Enforced, or selected by a policy of the staged view. */
  readonly learns: boolean;
  /** References of the enforced rules allowing `name`, then those of staged rules. */
  allowingRuleRefs(name: string): readonly string[];
}

export class PolicyEngine {
  private readonly clients = new WeakMap<Pod, ClientPolicy>();
  private readonly applicable = new WeakMap<Pod, ApplicableRules>();
  private index: DomainIndex<PatternHit> | undefined;
  private candidates: CandidatePolicies | undefined;
  private readonly learning = new WeakMap<Pod, LearningRules>();
  private stagedEngine: PolicyEngine | undefined;

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

  /** The egress rules that apply to `pod`, in evaluation order; computed once per pod object. */
  applicableRules(pod: Pod): ApplicableRules {
    let applicable = this.applicable.get(pod);
    if (!applicable) {
      applicable = this.computeApplicable(pod);
      this.applicable.set(pod, applicable);
    }
    return applicable;
  }

  /**
   * The same decisions over the staged view of the policies (every staged policy applied),
   * for the same pods; undefined when nothing is staged. Nothing it decides is enforced.
   */
  get staged(): PolicyEngine | undefined {
    const view = this.policies.stagedView;
    if (view === undefined) return undefined;
    this.stagedEngine ??= new PolicyEngine(view, this.identities);
    return this.stagedEngine;
  }

  /**
   * What answers teach `pod`. Without staged policies, its enforced rules; with them,
   * also the rules of the staged view that are not enforced, so that a staged domain rule's
   * learnt set holds what it would allow. The enforced chains never read those sets.
   */
  learningFor(pod: Pod): LearningRules {
    let rules = this.learning.get(pod);
    if (!rules) {
      const enforced = this.forClient(pod);
      const stagedEngine = this.staged;
      const staged = stagedEngine?.forClient(pod);
      if (staged === undefined || !stagedEngine?.applicableRules(pod).rules.some((rule) => rule.policy.staged !== undefined)) {
        rules = { learns: enforced.enforced, allowingRuleRefs: (name) => enforced.allowingRuleRefs(name) };
      } else {
        rules = {
          learns: true,
          allowingRuleRefs: (name) => {
            const own = enforced.allowingRuleRefs(name);
            const extra = staged.allowingRuleRefs(name).filter((ref) => !own.includes(ref));
            return extra.length === 0 ? own : [...own, ...extra];
          },
        };
      }
      this.learning.set(pod, rules);
    }
    return rules;
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

  /**
   * Looks only at the policies that can select the pod (the global ones and those of its
   * namespace): walking every policy and rule for each pod takes seconds for thousands of each.
   */
  private computeApplicable(pod: Pod): ApplicableRules {
    this.candidates ??= new CandidatePolicies(this.policies);
    const tiers: { tier: Tier; index: number; rules: PolicyRule[] }[] = [];
    for (const { policy, tierIndex, rules } of this.candidates.of(pod.namespace)) {
      if (!policySelectsPod(policy, pod)) continue;
      // A tier applies when one of its policies selects the pod, even with no rule that covers it.
      if (tiers.at(-1)?.index !== tierIndex) tiers.push({ tier: this.policies.tiers[tierIndex].tier, index: tierIndex, rules: [] });
      const tier = tiers[tiers.length - 1];
      for (const rule of rules) if (sourceCoversPod(rule.rule.source, policy.namespace, pod)) tier.rules.push(rule);
    }
    // A policy of type Egress selecting the pod makes its egress default-deny, even without rules.
    if (tiers.length === 0) return NOT_ENFORCED;
    const signature = tiers.map((tier) => `${tier.index}:${tier.rules.map((rule) => rule.sequence).join(',')}`).join('|');
    return { enforced: true, tiers, rules: tiers.flatMap((tier) => tier.rules), signature };
  }

  private computeClient(pod: Pod): ClientPolicy {
    const applicable = this.applicableRules(pod);
    if (!applicable.enforced) return UNRESTRICTED;
    const applies = new Uint8Array(this.policies.egressRules.length);
    for (const rule of applicable.rules) applies[rule.sequence] = 1;
    return new PodPolicy(applicable.rules, applies, this.patternIndex(), this.policies.egressRules);
  }
}

interface CandidatePolicy {
  policy: Policy;
  /** Position in `PolicySet.policies`: evaluation order. */
  position: number;
  tierIndex: number;
  rules: readonly PolicyRule[];
}

/** The Egress policies that can select a pod of each namespace, in evaluation order, with their rules. */
class CandidatePolicies {
  private readonly global: CandidatePolicy[] = [];
  private readonly namespaced = new Map<string, CandidatePolicy[]>();
  private readonly merged = new Map<string, readonly CandidatePolicy[]>();

  constructor(policies: PolicySet) {
    const rulesOf = new Map<Policy, PolicyRule[]>();
    for (const rule of policies.egressRules) {
      const list = rulesOf.get(rule.policy);
      if (list) list.push(rule);
      else rulesOf.set(rule.policy, [rule]);
    }
    let position = 0;
    policies.tiers.forEach(({ policies: inTier }, tierIndex) => {
      for (const policy of inTier) {
        position++;
        if (!policy.types.includes('Egress')) continue;
        const candidate = { policy, position, tierIndex, rules: rulesOf.get(policy) ?? [] };
        if (policy.namespace === undefined) this.global.push(candidate);
        else {
          const list = this.namespaced.get(policy.namespace);
          if (list) list.push(candidate);
          else this.namespaced.set(policy.namespace, [candidate]);
        }
      }
    });
  }

  of(namespace: string): readonly CandidatePolicy[] {
    let list = this.merged.get(namespace);
    if (!list) {
      const own = this.namespaced.get(namespace) ?? [];
      list = own.length === 0 ? this.global : [...this.global, ...own].sort((a, b) => a.position - b.position);
      this.merged.set(namespace, list);
    }
    return list;
  }
}
