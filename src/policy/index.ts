/** The policy model: Calico resources in, per-client domain decisions out. See README.md. */
export { PolicyEngine, type ApplicableRules, type ApplicableTier, type ClientPolicy } from './engine.js';
export { evaluateConnection, ruleMatchesConnection, type Connection, type Verdict, type VerdictReason } from './evaluate.js';
export { explain, parseConnectionFilters, type ConnectionExplanation, type Explanation, type ExplainRequest, type LearntLookup } from './explain.js';
export { LiveEngine } from './live-engine.js';
export { loadPolicies, type PolicyLoad } from './loader.js';
export type { IcmpMatch, NetworkSet, Policy, PortMatch } from './model.js';
export type { PolicyRule } from './policy-set.js';
export { formatProblem } from './problems.js';
export { CONTAINER_PROTOCOLS, portNames } from './rules.js';
export { PolicyStore } from './store.js';
