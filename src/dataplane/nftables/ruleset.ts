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
 *
 * Two ways to evaluate without dropping:
 *
 *   - staged policies: pods whose rules the staged view changes are first sent through
 *     shadow chains (`staged_…`) of the staged view, where the deciding rule counts the
 *     packet and returns to the base chain, which goes on to the enforced verdict map;
 *   - `audit`: every Deny and tier default Deny counts the packet and accepts it.
 *
 * Counted rules carry their reference as the comment; a tier's default Deny counts under
 * `TIER|default-action|deny|-1`.
 */
import { createHash } from 'node:crypto';
import type { ApplicableTier, PolicyEngine, PolicyRule } from '../../policy/index.js';
import { DestinationIndex, ruleMatches, type Family, type MatchContext } from './rule-match.js';
import { StaticSets } from './static-sets.js';
import { UPSTREAM_SOURCE_PORTS } from '../../upstream/source-ports.js';

export interface RulesetOptions {
  /** The table's name (family inet). */
  table: string;
  /** `forward`: pods routed through this host; `output`: the pod's own network namespace. */
  hook: 'forward' | 'output';
  scope: 'pod' | 'node';
  /** Compile and evaluate everything, drop nothing: a would-be drop is counted under its rule and accepted. */
  audit?: boolean;
  /**
   * Output hook only: dnsgate's own upstream servers. Its queries to them leave the pod
   * from UPSTREAM_SOURCE_PORTS and are accepted whatever the pod's policy says (which
   * may allow DNS only to kube-dns pods, an address the pod's netns never sees).
   */
  ownUpstreams?: readonly { host: string; port: number }[];
  /**
   * Output hook only: the `--intercept` targets, from any source port. While dnsgate
   * runs, the pod's DNS to them is captured before this table sees it; once dnsgate is
   * gone and the interception lease has run out, that DNS goes to them directly, and
   * the pod's policy (which may allow DNS only to kube-dns pods, whose addresses its
   * netns never sees) must not drop it, or the pod would have no DNS at all. Not the
   * `intercept_targets` sets: they are empty exactly then. What the pod resolves that
   * way teaches nothing, so the addresses it gets stay blocked.
   */
  interceptTargets?: readonly { host: string; port: number }[];
}

/** Shadow chains of the staged view are named with this prefix; counters elsewhere are audit counters. */
export const STAGED_CHAIN_PREFIX = 'staged_';

/** Stands for the verdict of a staged Pass rule until the class's next tier is known. */
const NEXT_TIER = '<next tier>';

/** The reference a tier's default Deny is counted under. */
export function tierDefaultRef(tier: string): string {
  return `${tier}|default-action|deny|-1`;
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
    /** Some rules count packets (staged shadow chains, or --audit). */
    readonly counts: boolean,
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

function verdict(rule: PolicyRule, audit: boolean): string {
  switch (rule.rule.action) {
    case 'Allow':
      return 'accept';
    case 'Deny':
      return audit ? 'counter accept' : 'drop';
    case 'Pass':
      return 'return';
    case 'Log':
      return `log prefix ${quoted(`dnsgate ${rule.ref}: `)}`;
  }
}

/** Accepts UDP and TCP from `sourcePorts` (any when undefined) to each server's address and port. */
function dnsServerLines(servers: readonly { host: string; port: number }[], sourcePorts: string | undefined, comment: string): string[] {
  const lines: string[] = [];
  const from = sourcePorts === undefined ? '' : ` th sport ${sourcePorts}`;
  for (const family of [4, 6] as const) {
    const keys = servers.filter((server) => ipFamily(server.host) === family).map((server) => `${server.host} . ${server.port}`);
    if (keys.length === 0) continue;
    lines.push(`meta l4proto { udp, tcp }${from} ${family === 4 ? 'ip' : 'ip6'} daddr . th dport { ${keys.join(', ')} } accept comment ${quoted(comment)}`);
  }
  return lines;
}

/** Which rules apply, by reference: equal for a pod exactly when the two views evaluate it alike. */
function classSignature(podClass: PodClass): string {
  return podClass.tiers.map((tier) => `${tier.tier.name}:${tier.rules.map((rule) => rule.ref).join(',')}`).join('|');
}

/**
 * The classes of the staged view, narrowed to the pods whose rules it changes: the
 * others are evaluated alike by both views, so their staged verdict is the enforced one.
 */
function shadowClassesOf(staged: PolicyEngine, enforced: readonly PodClass[]): PodClass[] {
  const enforcedSignature = new Map<string, string>();
  for (const podClass of enforced) {
    const signature = classSignature(podClass);
    for (const ip of podClass.ips) enforcedSignature.set(ip, signature);
  }
  const shadow: PodClass[] = [];
  for (const podClass of classesOf(staged)) {
    const signature = classSignature(podClass);
    const ips = podClass.ips.filter((ip) => enforcedSignature.get(ip) !== signature);
    if (ips.length > 0) shadow.push({ ...podClass, ips, families: new Set(ips.map(ipFamily)) });
  }
  return shadow;
}

/** The learnt sets of the domain rules of `classes`, added to `learntByRule` and `learntSets`. */
function addLearntSets(classes: readonly PodClass[], destinations: DestinationIndex, scope: 'pod' | 'node', learntByRule: Map<string, string>, learntSets: TableObject[]): void {
  for (const podClass of classes) {
    for (const rule of podClass.tiers.flatMap((tier) => tier.rules)) {
      if (destinations.of(rule).patterns.length === 0) continue;
      for (const family of podClass.families) {
        const key = `${rule.ref}|${family}`;
        if (learntByRule.has(key)) continue;
        const name = learntSetName(scope, family, rule.ref);
        learntByRule.set(key, name);
        learntSets.push({ kind: 'set', name, body: learntSetBody(scope, family, rule.ref), refill: false });
      }
    }
  }
}

/** The match lines of each rule per address families, compiled once per rule and families. */
function lineCompiler(context: MatchContext, action: (rule: PolicyRule) => string | undefined): (rule: PolicyRule, families: readonly Family[]) => CompiledLine[] {
  const compiled = new Map<string, CompiledLine[]>();
  return (rule, families) => {
    const key = `${rule.sequence}|${families.join()}`;
    let lines = compiled.get(key);
    if (!lines) {
      const statement = action(rule);
      const terminal = rule.rule.action !== 'Log';
      lines = statement === undefined ? [] : ruleMatches(rule, families, context).map((match) => ({ match, terminal, text: `${match === '' ? '' : `${match} `}${statement} comment ${quoted(rule.ref)}` }));
      compiled.set(key, lines);
    }
    return lines;
  };
}

/**
 * The rule lines of one tier for a class of `families`. A line whose match an earlier
 * line with a verdict already took can never be reached (policies repeat rules, the DNS
 * rule above all): it is left out. `end` is what follows when no line decided.
 */
function tierLines(rules: readonly PolicyRule[], families: readonly Family[], ruleLines: (rule: PolicyRule, families: readonly Family[]) => CompiledLine[], end: string | undefined): string[] {
  const decided = new Set<string>();
  const lines: string[] = [];
  for (const line of rules.flatMap((rule) => ruleLines(rule, families))) {
    if (decided.has(line.match) || decided.has('')) continue;
    lines.push(line.text);
    if (line.terminal) decided.add(line.match);
  }
  if (end !== undefined && !decided.has('')) lines.push(end);
  return lines;
}

export function compileRuleset(engine: PolicyEngine, options: RulesetOptions): Ruleset {
  const audit = options.audit === true;
  const classes = classesOf(engine);
  const staged = engine.staged;
  const shadowClasses = staged === undefined ? [] : shadowClassesOf(staged, classes);
  const sets = new StaticSets();
  const destinations = new DestinationIndex(engine);
  const stagedDestinations = staged === undefined ? undefined : new DestinationIndex(staged);
  const learntByRule = new Map<string, string>();
  const learntSets: TableObject[] = [];
  addLearntSets(classes, destinations, options.scope, learntByRule, learntSets);
  if (stagedDestinations) addLearntSets(shadowClasses, stagedDestinations, options.scope, learntByRule, learntSets);
  const learntSet = (ref: string, family: Family): string | undefined => learntByRule.get(`${ref}|${family}`);
  const context: MatchContext = { engine, destinations, sets, scope: options.scope, learntSet };
  // A rule shared by classes of the same families compiles once.
  const ruleLines = lineCompiler(context, (rule) => verdict(rule, audit));

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
      const end = audit ? `counter accept comment ${quoted(tierDefaultRef(definition.name))}` : `drop comment ${quoted(`tier ${definition.name}: no rule matched`)}`;
      return tierLines(tier.rules, families, ruleLines, definition.defaultAction === 'Deny' ? end : undefined).join('\n');
    };
    const chain =
      podClass.tiers.length === 1
        ? chainOf('class', tierBody(podClass.tiers[0]))
        : chainOf('class', podClass.tiers.map((tier) => `jump ${chainOf('tier', tierBody(tier))}`).join('\n'));
    for (const ip of podClass.ips) vmaps[ipFamily(ip)].push(`${ip} : jump ${chain}`);
  }

  // The staged view's shadow: each tier a chain reached by goto, so that a deciding rule's
  // `return` goes back to the base chain, past every tier; Pass goes on to the next tier.
  const stagedVmaps: Record<Family, string[]> = { 4: [], 6: [] };
  if (staged !== undefined && stagedDestinations !== undefined) {
    const stagedContext: MatchContext = { engine: staged, destinations: stagedDestinations, sets, scope: options.scope, learntSet };
    // Where Pass goes depends on the class's next tier: compiled with a stand-in, filled in per class.
    const shadowLines = lineCompiler(stagedContext, (rule) => {
      if (rule.rule.action === 'Log') return undefined;
      return rule.rule.action === 'Pass' ? NEXT_TIER : 'counter return';
    });
    for (const podClass of shadowClasses) {
      const families = [...podClass.families].sort();
      let next: string | undefined;
      for (const tier of [...podClass.tiers].reverse()) {
        const definition = tier.tier;
        const onward = next === undefined ? 'return' : `goto ${next}`;
        const end = definition.defaultAction === 'Deny' ? `counter return comment ${quoted(tierDefaultRef(definition.name))}` : next === undefined ? undefined : onward;
        const lines = tierLines(tier.rules, families, shadowLines, end).map((line) => line.replace(NEXT_TIER, onward));
        next = chainOf(`${STAGED_CHAIN_PREFIX}tier`, lines.join('\n'));
      }
      for (const ip of podClass.ips) if (next !== undefined) stagedVmaps[ipFamily(ip)].push(`${ip} : jump ${next}`);
    }
  }

  const vmapBody = (entries: readonly string[], family: Family): string => {
    const type = `type ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'} : verdict`;
    return entries.length === 0 ? type : `${type}\nelements = { ${entries.join(', ')} }`;
  };
  const base = [
    `type filter hook ${options.hook} priority ${BASE_CHAIN_PRIORITY}; policy accept;`,
    // In the pod's own namespace, traffic to itself is not egress.
    // Captured DNS rerouted to dnsgate's listener still reports the device it was first
    // routed to: its new, local destination says it stays in the pod.
    ...(options.hook === 'output'
      ? [
          'oifname "lo" accept',
          'fib daddr type local accept',
          ...dnsServerLines(options.ownUpstreams ?? [], `${UPSTREAM_SOURCE_PORTS.first}-${UPSTREAM_SOURCE_PORTS.last}`, 'dnsgate upstream'),
          ...dnsServerLines(options.interceptTargets ?? [], undefined, 'dnsgate intercept target'),
        ]
      : []),
    'ct state established,related accept',
    ...(staged === undefined ? [] : ['ip saddr vmap @staged_v4', 'ip6 saddr vmap @staged_v6']),
    'ip saddr vmap @enforced_v4',
    'ip6 saddr vmap @enforced_v6',
  ];
  const objects: TableObject[] = [
    ...sets.all().map((set): TableObject => ({ kind: 'set', name: set.name, body: set.body, refill: false })),
    ...chains.values(),
    ...(staged === undefined
      ? []
      : ([4, 6] as const).map((family): TableObject => ({ kind: 'map', name: `staged_v${family}`, body: vmapBody(stagedVmaps[family], family), refill: true }))),
    { kind: 'map', name: 'enforced_v4', body: vmapBody(vmaps[4], 4), refill: true },
    { kind: 'map', name: 'enforced_v6', body: vmapBody(vmaps[6], 6), refill: true },
    { kind: 'chain', name: `egress_${options.hook}`, body: base.join('\n'), refill: true },
  ];
  const enforcedPods = classes.reduce((sum, podClass) => sum + podClass.pods, 0);
  return new Ruleset(options, objects, learntSets, learntByRule, enforcedPods, classes.length, audit || shadowClasses.length > 0);
}
