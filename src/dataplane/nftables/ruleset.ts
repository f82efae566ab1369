/**
 * The compiler: policies and pods in, the complete definition of dnsgate's table out.
 *
 * Enforced pods that share the same applicable rules (same tiers, same rules after
 * source matching) form a class with one chain, reached from the base chain through a
 * verdict map from pod IP to class. A class chain lists the class's rules in evaluation
 * order, tier after tier:
 *
 *   - Allow is `accept`, Deny is `drop`, Log is `log` and goes on;
 *   - a tier that applies to the class ends in its default action: `drop` for Deny,
 *     nothing for Pass;
 *   - Pass leaves the tier: each tier of a class spanning several is a chain of its own,
 *     jumped to from the class chain, so Pass is `return` to the next tier;
 *   - when every tier passed, the packet falls off the class chain and the base chain's
 *     policy accepts it, as Calico's Kubernetes profiles allow it.
 *
 * Rules with domains match an address learnt for them: one set per rule and address
 * family, named after the rule's reference so that it, and what it learnt, outlives
 * policy changes and restarts. Pod scope keys it by (client pod IP . destination IP),
 * node scope by destination IP.
 */
import { createHash } from 'node:crypto';
import { policySelectsPod } from '../../policy/scope.js';
import type { PolicyEngine, PolicyRule } from '../../policy/index.js';
import { ruleMatches, type Family, type MatchContext } from './rule-match.js';
import { StaticSets } from './static-sets.js';

export interface RulesetOptions {
  /** The table's name (family inet). */
  table: string;
  /** `forward`: pods routed through this host; `output`: the pod's own network namespace. */
  hook: 'forward' | 'output';
  scope: 'pod' | 'node';
}

/**
 * At the filter priority, after conntrack and destination NAT: rules see the real
 * destination of a connection to a Service. Other tables at the same hook run too; a
 * drop in any of them is final, and an accept here does not bypass them.
 */
export const BASE_CHAIN_PRIORITY = 'filter';

/** Learnt sets are kept across swaps; every other object is replaced. */
export const LEARNT_SET_PREFIX = 'learnt_';

export interface TableObject {
  kind: 'set' | 'map' | 'chain';
  name: string;
  /** What goes between the braces of its definition. */
  body: string;
}

const MAX_COMMENT = 127;

function quoted(text: string): string {
  return `"${text.length > MAX_COMMENT ? text.slice(0, MAX_COMMENT) : text}"`;
}

function ipFamily(ip: string): Family {
  return ip.includes(':') ? 6 : 4;
}

export class Ruleset {
  constructor(
    readonly options: RulesetOptions,
    /** Every object but the learnt sets, in an order in which each is defined before it is used. */
    readonly objects: readonly TableObject[],
    readonly learntSets: readonly TableObject[],
    /** `ref|family` → learnt set name. */
    private readonly learntByRule: ReadonlyMap<string, string>,
    readonly enforcedPods: number,
    readonly classes: number,
  ) {}

  get baseChain(): string {
    return `egress_${this.options.hook}`;
  }

  /** The set learnt addresses of rule `ref` go in, or undefined when no enforced pod has that rule. */
  learntSetFor(ref: string, family: Family): string | undefined {
    return this.learntByRule.get(`${ref}|${family}`);
  }

  /** `table inet NAME { … }` with every object; learnt sets are declared without elements. */
  definition(): string {
    const lines = [`table inet ${this.options.table} {`];
    for (const object of [...this.learntSets, ...this.objects]) lines.push(`\t${object.kind} ${object.name} {`, ...object.body.split('\n').map((line) => `\t\t${line}`), '\t}');
    lines.push('}');
    return `${lines.join('\n')}\n`;
  }
}

/** Pods that share these are enforced by the same chain. */
interface PodClass {
  /** Applicable tiers in order, each with the rules that apply in it. */
  tiers: { index: number; rules: PolicyRule[] }[];
  families: Set<Family>;
  ips: string[];
  pods: number;
}

function classesOf(engine: PolicyEngine): PodClass[] {
  const tierIndex = new Map(engine.policies.tiers.map((tier, index) => [tier.tier.name, index]));
  const egressPolicies = engine.policies.policies.filter((policy) => policy.types.includes('Egress'));
  const classes = new Map<string, PodClass>();
  for (const pod of engine.identities.pods) {
    const client = engine.forClient(pod);
    if (!client.enforced) continue;
    // A tier applies when one of its policies selects the pod, even with no rule that covers it.
    const tiers = [...new Set(egressPolicies.filter((policy) => policySelectsPod(policy, pod)).map((policy) => tierIndex.get(policy.tier) as number))]
      .sort((a, b) => a - b)
      .map((index) => ({ index, rules: client.egressRules.filter((rule) => tierIndex.get(rule.policy.tier) === index) }));
    const signature = tiers.map((tier) => `${tier.index}:${tier.rules.map((rule) => rule.sequence).join(',')}`).join('|');
    let podClass = classes.get(signature);
    if (!podClass) {
      podClass = { tiers, families: new Set(), ips: [], pods: 0 };
      classes.set(signature, podClass);
    }
    podClass.pods++;
    for (const ip of pod.ips) {
      podClass.ips.push(ip);
      podClass.families.add(ipFamily(ip));
    }
  }
  return [...classes.values()];
}

function learntSetName(scope: 'pod' | 'node', family: Family, ref: string): string {
  return `${LEARNT_SET_PREFIX}${scope}${family}_${createHash('sha256').update(ref).digest('hex').slice(0, 16)}`;
}

function learntSetBody(scope: 'pod' | 'node', family: Family, ref: string): string {
  const address = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  const type = scope === 'pod' ? `${address} . ${address}` : address;
  return `type ${type}\nflags timeout\ncomment ${quoted(ref)}`;
}

function verdict(rule: PolicyRule): string {
  switch (rule.rule.action) {
    case 'Allow':
      return 'accept';
    case 'Deny':
      return 'drop';
    case 'Pass':
      return 'return';
    case 'Log':
      return `log prefix ${quoted(`dnsgate ${rule.ref}: `)}`;
  }
}

export function compileRuleset(engine: PolicyEngine, options: RulesetOptions): Ruleset {
  const classes = classesOf(engine);
  const sets = new StaticSets();
  const learntByRule = new Map<string, string>();
  const learntSets: TableObject[] = [];
  for (const podClass of classes) {
    for (const rule of podClass.tiers.flatMap((tier) => tier.rules)) {
      if (engine.allowedPatterns(rule).length === 0) continue;
      for (const family of podClass.families) {
        const key = `${rule.ref}|${family}`;
        if (learntByRule.has(key)) continue;
        const name = learntSetName(options.scope, family, rule.ref);
        learntByRule.set(key, name);
        learntSets.push({ kind: 'set', name, body: learntSetBody(options.scope, family, rule.ref) });
      }
    }
  }
  const context: MatchContext = { engine, sets, scope: options.scope, learntSet: (ref, family) => learntByRule.get(`${ref}|${family}`) };
  // A rule shared by classes of the same families compiles once.
  const compiled = new Map<string, string[]>();
  const ruleLines = (rule: PolicyRule, families: readonly Family[]): string[] => {
    const key = `${rule.sequence}|${families.join()}`;
    let lines = compiled.get(key);
    if (!lines) {
      const action = verdict(rule);
      lines = ruleMatches(rule, families, context).map((match) => `${match === '' ? '' : `${match} `}${action} comment ${quoted(rule.ref)}`);
      compiled.set(key, lines);
    }
    return lines;
  };

  const chains: TableObject[] = [];
  const vmaps: Record<Family, string[]> = { 4: [], 6: [] };
  classes.forEach((podClass, classIndex) => {
    const families = [...podClass.families].sort();
    const chain = `class_${classIndex}`;
    const tierBody = (tier: PodClass['tiers'][number]): string => {
      const { tier: definition } = engine.policies.tiers[tier.index];
      const lines = tier.rules.flatMap((rule) => ruleLines(rule, families));
      if (definition.defaultAction === 'Deny') lines.push(`drop comment ${quoted(`tier ${definition.name}: no rule matched`)}`);
      return lines.join('\n');
    };
    if (podClass.tiers.length === 1) {
      chains.push({ kind: 'chain', name: chain, body: tierBody(podClass.tiers[0]) });
    } else {
      const jumps: string[] = [];
      for (const tier of podClass.tiers) {
        const tierChain = `${chain}_tier_${tier.index}`;
        chains.push({ kind: 'chain', name: tierChain, body: tierBody(tier) });
        jumps.push(`jump ${tierChain}`);
      }
      chains.push({ kind: 'chain', name: chain, body: jumps.join('\n') });
    }
    for (const ip of podClass.ips) vmaps[ipFamily(ip)].push(`${ip} : jump ${chain}`);
  });

  const vmapBody = (family: Family): string => {
    const type = `type ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'} : verdict`;
    return vmaps[family].length === 0 ? type : `${type}\nelements = { ${vmaps[family].join(', ')} }`;
  };
  const base = [
    `type filter hook ${options.hook} priority ${BASE_CHAIN_PRIORITY}; policy accept;`,
    // In the pod's own namespace, traffic to itself is not egress.
    ...(options.hook === 'output' ? ['oifname "lo" accept'] : []),
    'ct state established,related accept',
    'ip saddr vmap @enforced_v4',
    'ip6 saddr vmap @enforced_v6',
  ];
  const objects: TableObject[] = [
    ...sets.all().map((set): TableObject => ({ kind: 'set', name: set.name, body: set.body })),
    ...chains,
    { kind: 'map', name: 'enforced_v4', body: vmapBody(4) },
    { kind: 'map', name: 'enforced_v6', body: vmapBody(6) },
    { kind: 'chain', name: `egress_${options.hook}`, body: base.join('\n') },
  ];
  const enforcedPods = classes.reduce((sum, podClass) => sum + podClass.pods, 0);
  return new Ruleset(options, objects, learntSets, learntByRule, enforcedPods, classes.length);
}
