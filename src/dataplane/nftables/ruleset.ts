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
import type { ApplicableTier, PolicyEngine, PolicyRule } from '../../policy/index.js';
import { DestinationIndex, ruleMatches, type Family, type MatchContext } from './rule-match.js';
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
const BASE_CHAIN_PRIORITY = 'filter';

/** Learnt sets are kept across swaps; every other object is replaced. */
const LEARNT_SET_PREFIX = 'learnt_';

export interface TableObject {
  kind: 'set' | 'map' | 'chain';
  name: string;
  /** What goes between the braces of its definition. */
  body: string;
  /**
   * Swapped by emptying and refilling it (the verdict maps and the base chain, whose
   * names are fixed). The others are named by their content: one of the same name
   * already holds the same, and stays as it is.
   */
  refill: boolean;
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

  /** Every object, learnt sets included. */
  get allObjects(): readonly TableObject[] {
    return [...this.objects, ...this.learntSets];
  }

  get baseChain(): string {
    return `egress_${this.options.hook}`;
  }

  /** The set learnt addresses of rule `ref` go in, or undefined when no enforced pod has that rule. */
  learntSetFor(ref: string, family: Family): string | undefined {
    return this.learntByRule.get(`${ref}|${family}`);
  }

  /**
   * `table inet NAME { … }` with every object for which `include` holds; learnt sets are
   * declared without elements.
   */
  definition(include: (object: TableObject) => boolean = () => true): string {
    const lines = [`table inet ${this.options.table} {`];
    // The kernel finds a set a rule names by walking the table's sets in the order they
    // were made: the shared static sets, named by many rules, go first.
    const staticSets = this.objects.filter((object) => object.kind === 'set');
    const rest = this.objects.filter((object) => object.kind !== 'set');
    for (const object of [...staticSets, ...this.learntSets, ...rest]) {
      if (include(object)) lines.push(`\t${object.kind} ${object.name} {`, ...object.body.split('\n').map((line) => `\t\t${line}`), '\t}');
    }
    lines.push('}');
    return `${lines.join('\n')}\n`;
  }
}

/** A rule's line in a chain: its match (empty: every packet), and whether its verdict ends the chain. */
interface CompiledLine {
  match: string;
  terminal: boolean;
  text: string;
}

/** Pods that share these are enforced by the same chain. */
interface PodClass {
  /** Applicable tiers in order, each with the rules that apply in it. */
  tiers: readonly ApplicableTier[];
  families: Set<Family>;
  ips: string[];
  pods: number;
}

/** The classes of the enforced pods: pods to which the same rules apply, as the policy engine decides. */
function classesOf(engine: PolicyEngine): PodClass[] {
  const classes = new Map<string, PodClass>();
  for (const pod of engine.identities.pods) {
    const applicable = engine.applicableRules(pod);
    if (!applicable.enforced) continue;
    let podClass = classes.get(applicable.signature);
    if (!podClass) {
      podClass = { tiers: applicable.tiers, families: new Set(), ips: [], pods: 0 };
      classes.set(applicable.signature, podClass);
    }
    podClass.pods++;
    for (const ip of pod.ips) {
      podClass.ips.push(ip);
      podClass.families.add(ipFamily(ip));
    }
  }
  return [...classes.values()];
}

function contentName(prefix: string, body: string): string {
  return `${prefix}_${createHash('sha256').update(body).digest('hex').slice(0, 16)}`;
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
  const destinations = new DestinationIndex(engine);
  const learntByRule = new Map<string, string>();
  const learntSets: TableObject[] = [];
  for (const podClass of classes) {
    for (const rule of podClass.tiers.flatMap((tier) => tier.rules)) {
      if (destinations.of(rule).patterns.length === 0) continue;
      for (const family of podClass.families) {
        const key = `${rule.ref}|${family}`;
        if (learntByRule.has(key)) continue;
        const name = learntSetName(options.scope, family, rule.ref);
        learntByRule.set(key, name);
        learntSets.push({ kind: 'set', name, body: learntSetBody(options.scope, family, rule.ref), refill: false });
      }
    }
  }
  const context: MatchContext = { engine, destinations, sets, scope: options.scope, learntSet: (ref, family) => learntByRule.get(`${ref}|${family}`) };
  // A rule shared by classes of the same families compiles once.
  const compiled = new Map<string, CompiledLine[]>();
  const ruleLines = (rule: PolicyRule, families: readonly Family[]): CompiledLine[] => {
    const key = `${rule.sequence}|${families.join()}`;
    let lines = compiled.get(key);
    if (!lines) {
      const action = verdict(rule);
      const terminal = rule.rule.action !== 'Log';
      lines = ruleMatches(rule, families, context).map((match) => ({ match, terminal, text: `${match === '' ? '' : `${match} `}${action} comment ${quoted(rule.ref)}` }));
      compiled.set(key, lines);
    }
    return lines;
  };

  // Chains are named by their content, like the static sets: a swap leaves alone what did not change.
  const chains = new Map<string, TableObject>();
  const chainOf = (prefix: string, body: string): string => {
    const name = contentName(prefix, body);
    if (!chains.has(name)) chains.set(name, { kind: 'chain', name, body, refill: false });
    return name;
  };
  const vmaps: Record<Family, string[]> = { 4: [], 6: [] };
  for (const podClass of classes) {
    const families = [...podClass.families].sort();
    const tierBody = (tier: ApplicableTier): string => {
      const definition = tier.tier;
      // A line whose match an earlier line with a verdict already took can never be reached
      // (policies repeat rules, the DNS rule above all): it is left out.
      const decided = new Set<string>();
      const lines: string[] = [];
      for (const line of tier.rules.flatMap((rule) => ruleLines(rule, families))) {
        if (decided.has(line.match) || decided.has('')) continue;
        lines.push(line.text);
        if (line.terminal) decided.add(line.match);
      }
      if (definition.defaultAction === 'Deny' && !decided.has('')) lines.push(`drop comment ${quoted(`tier ${definition.name}: no rule matched`)}`);
      return lines.join('\n');
    };
    const chain =
      podClass.tiers.length === 1
        ? chainOf('class', tierBody(podClass.tiers[0]))
        : chainOf('class', podClass.tiers.map((tier) => `jump ${chainOf('tier', tierBody(tier))}`).join('\n'));
    for (const ip of podClass.ips) vmaps[ipFamily(ip)].push(`${ip} : jump ${chain}`);
  }

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
    ...sets.all().map((set): TableObject => ({ kind: 'set', name: set.name, body: set.body, refill: false })),
    ...chains.values(),
    { kind: 'map', name: 'enforced_v4', body: vmapBody(4), refill: true },
    { kind: 'map', name: 'enforced_v6', body: vmapBody(6), refill: true },
    { kind: 'chain', name: `egress_${options.hook}`, body: base.join('\n'), refill: true },
  ];
  const enforcedPods = classes.reduce((sum, podClass) => sum + podClass.pods, 0);
  return new Ruleset(options, objects, learntSets, learntByRule, enforcedPods, classes.length);
}
