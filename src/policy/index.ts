/** The policy model: Calico resources in, per-client domain decisions out. See README.md. */
export { DomainIndex } from './domain-index.js';
export { checkDomainPattern, normalizeQueryName, type DomainPatternCheck } from './domain-pattern.js';
export { PolicyEngine, type AllowRule, type ClientPolicy } from './engine.js';
export { explain, explainText, type Explanation } from './explain.js';
export { LiveEngine } from './live-engine.js';
export { loadPolicies, type PolicyLoad } from './loader.js';
export type {
  EntityRule,
  IcmpMatch,
  NetworkSet,
  Policy,
  PolicyType,
  PortMatch,
  Protocol,
  Rule,
  RuleAction,
  ServiceAccountMatch,
  SourcePosition,
  Tier,
} from './model.js';
export { PolicySet, type OrderedTier, type PolicyRule } from './policy-set.js';
export { formatProblem, type PolicyProblem } from './problems.js';
export { parseSelector, SelectorError, type Labels, type Selector } from './selector.js';
export { PolicyStore, type PolicyStoreOptions } from './store.js';
