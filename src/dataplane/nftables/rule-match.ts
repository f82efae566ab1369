/**
 * One Calico egress rule as nftables matches: the lines whose union is what the rule
 * matches, verdict not included. Calico ANDs every field of a rule; a field that can be
 * met in several ways (a port number or a named port; a selected address or an address
 * learnt for the rule's domains) becomes alternatives, so a rule may take several lines.
 * A rule that can match nothing for an address family takes no line for it.
 */
import type { Pod } from '../../identity/pod.js';
import type { Cidr } from '../../net/cidr.js';
import type { IcmpMatch, NetworkSet, PolicyEngine, PolicyRule, PortMatch } from '../../policy/index.js';
import { CONTAINER_PROTOCOLS, portNames } from '../../policy/index.js';
import type { StaticSets } from './static-sets.js';

export type Family = 4 | 6;

/** What a rule's destination picks; undefined pods and sets mean it picks by no labels (any destination). */
export interface Destinations {
  pods: readonly Pod[] | undefined;
  sets: readonly NetworkSet[] | undefined;
  /** The domain patterns an Allow rule allows. */
  patterns: readonly string[];
}

/**
 * The destinations of each rule, worked out once per compile. Selecting pods walks every
 * pod, and thousands of policies repeat the same destination (kube-dns, say), so rules
 * whose destination selects alike share one walk.
 */
export class DestinationIndex {
  private readonly byRule = new Map<number, Destinations>();
  private readonly bySelection = new Map<string, Pick<Destinations, 'pods' | 'sets'>>();

  constructor(private readonly engine: PolicyEngine) {}

  of(rule: PolicyRule): Destinations {
    let destinations = this.byRule.get(rule.sequence);
    if (!destinations) {
      const { destination } = rule.rule;
      // What entitySelects reads: the selectors, and the policy's namespace unless a namespaceSelector replaces it.
      const key = JSON.stringify([
        destination.selector?.text,
        destination.notSelector?.text,
        destination.namespaceSelector?.text,
        destination.serviceAccounts?.names,
        destination.serviceAccounts?.selector?.text,
        destination.namespaceSelector === undefined ? rule.policy.namespace : undefined,
      ]);
      let selection = this.bySelection.get(key);
      if (!selection) {
        selection = { pods: this.engine.destinationPods(rule), sets: this.engine.destinationSets(rule) };
        this.bySelection.set(key, selection);
      }
      destinations = { ...selection, patterns: this.engine.allowedPatterns(rule) };
      this.byRule.set(rule.sequence, destinations);
    }
    return destinations;
  }
}

export interface MatchContext {
  engine: PolicyEngine;
  destinations: DestinationIndex;
  sets: StaticSets;
  scope: 'pod' | 'node';
  /** The set of addresses learnt for the rule `ref`, in `family`; undefined when there is none. */
  learntSet(ref: string, family: Family): string | undefined;
}

/** nftables' names of the protocols Calico names; others go by number. */
const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite' };

function protocolName(number: number): string {
  return PROTOCOL_NAMES[number] ?? String(number);
}

/** `ip` or `ip6`: the payload that holds the addresses of `family`. */
function addressPayload(family: Family): string {
  return family === 4 ? 'ip' : 'ip6';
}

function ipFamily(ip: string): Family {
  return ip.includes(':') ? 6 : 4;
}

function numericPorts(ports: readonly PortMatch[]): string[] {
  return ports.flatMap((port) => ('first' in port ? [port.first === port.last ? String(port.first) : `${port.first}-${port.last}`] : []));
}

/**
 * `address . protocol . port` of every candidate pod's container port called by one of
 * `names`, as Calico resolves named ports against the destination endpoints.
 */
function namedPortElements(names: readonly string[], pods: readonly Pod[], protocol: number | undefined, family: Family): string[] {
  const elements: string[] = [];
  for (const pod of pods) {
    for (const port of pod.ports) {
      const number = CONTAINER_PROTOCOLS[port.protocol.toUpperCase()];
      if (!names.includes(port.name) || number === undefined || (protocol !== undefined && protocol !== number)) continue;
      for (const ip of pod.ips) if (ipFamily(ip) === family) elements.push(`${ip} . ${protocolName(number)} . ${port.port}`);
    }
  }
  return elements;
}

function icmpMatch(family: Family, icmp: IcmpMatch, negated: boolean): string {
  const header = family === 4 ? 'icmp' : 'icmpv6';
  if (icmp.code === undefined) return `${header} type ${negated ? '!= ' : ''}${icmp.type}`;
  // Not (type and code) is one lookup of the pair; nft takes pairs only from a set.
  if (negated) return `${header} type . ${header} code != { ${icmp.type} . ${icmp.code} }`;
  return `${header} type ${icmp.type} ${header} code ${icmp.code}`;
}

function cidrsOf(cidrs: readonly Cidr[], family: Family): string[] {
  return cidrs.filter((cidr) => cidr.family === family).map((cidr) => cidr.text);
}

/** Every combination of one alternative from each condition. */
function combinations(conditions: readonly (readonly string[])[]): string[] {
  let lines = [''];
  for (const alternatives of conditions) lines = lines.flatMap((line) => alternatives.map((alternative) => (line === '' ? alternative : `${line} ${alternative}`)));
  return lines;
}

/** Whether the rule's match depends on the address family (then it is written once per family). */
function familySpecific(rule: PolicyRule, context: MatchContext): boolean {
  const { rule: r } = rule;
  const destination = r.destination;
  return (
    r.ipVersion !== undefined ||
    r.source.nets.length > 0 ||
    r.source.notNets.length > 0 ||
    r.icmp !== undefined ||
    r.notICMP !== undefined ||
    destination.nets.length > 0 ||
    destination.notNets.length > 0 ||
    destination.notSelector !== undefined ||
    portNames(destination.ports).length > 0 ||
    portNames(destination.notPorts).length > 0 ||
    context.destinations.of(rule).pods !== undefined ||
    context.destinations.of(rule).patterns.length > 0
  );
}

/** The conditions that hold for any family, or undefined when the rule can never match. */
function commonConditions(rule: PolicyRule, context: MatchContext): string[][] | undefined {
  const { rule: r } = rule;
  const conditions: string[][] = [];
  if (r.protocol) conditions.push([`meta l4proto ${protocolName(r.protocol.number)}`]);
  if (r.notProtocol) conditions.push([`meta l4proto != ${protocolName(r.notProtocol.number)}`]);
  // A named source port would be resolved against the client pod itself; rules that use one are not enforced (see README).
  if (portNames(r.source.ports).length > 0 || portNames(r.source.notPorts).length > 0) return undefined;
  const sourcePorts = numericPorts(r.source.ports);
  if (sourcePorts.length > 0) conditions.push([`th sport ${context.sets.operand('ports', sourcePorts)}`]);
  const sourceNotPorts = numericPorts(r.source.notPorts);
  if (sourceNotPorts.length > 0) conditions.push([`th sport != ${context.sets.operand('ports', sourceNotPorts)}`]);
  const ports = numericPorts(r.destination.ports);
  // Named destination ports are alternatives to these numbers, added per family.
  if (ports.length > 0 && portNames(r.destination.ports).length === 0) conditions.push([`th dport ${context.sets.operand('ports', ports)}`]);
  const notPorts = numericPorts(r.destination.notPorts);
  if (notPorts.length > 0) conditions.push([`th dport != ${context.sets.operand('ports', notPorts)}`]);
  return conditions;
}

/** The conditions of `family`, or undefined when the rule can match no packet of it. */
function familyConditions(rule: PolicyRule, family: Family, context: MatchContext): string[][] | undefined {
  const { rule: r, ref } = rule;
  const { engine, sets } = context;
  const destination = r.destination;
  const ip = addressPayload(family);
  const addresses = family === 4 ? 'addresses4' : 'addresses6';
  const namedPorts = family === 4 ? 'namedPorts4' : 'namedPorts6';
  const conditions: string[][] = [];
  if (r.ipVersion !== undefined && r.ipVersion !== family) return undefined;
  if (r.ipVersion !== undefined) conditions.push([`meta nfproto ${family === 4 ? 'ipv4' : 'ipv6'}`]);

  // The rule covers the pod when one of its addresses is in the source nets (scope.ts), but
  // Calico matches each packet's source: a dual-stack pod covered over IPv4 is not over IPv6.
  if (r.source.nets.length > 0) {
    const nets = cidrsOf(r.source.nets, family);
    if (nets.length === 0) return undefined;
    conditions.push([`${ip} saddr ${sets.operand(addresses, nets)}`]);
  }
  const sourceNotNets = cidrsOf(r.source.notNets, family);
  if (sourceNotNets.length > 0) conditions.push([`${ip} saddr != ${sets.operand(addresses, sourceNotNets)}`]);

  if (destination.nets.length > 0) {
    const nets = cidrsOf(destination.nets, family);
    if (nets.length === 0) return undefined;
    conditions.push([`${ip} daddr ${sets.operand(addresses, nets)}`]);
  }
  const notNets = cidrsOf(destination.notNets, family);
  if (notNets.length > 0) conditions.push([`${ip} daddr != ${sets.operand(addresses, notNets)}`]);

  const { pods, sets: selectedSets, patterns } = context.destinations.of(rule);
  if (pods !== undefined || patterns.length > 0) {
    // The selected pods and NetworkSets, or an address learnt for the rule's domains.
    const alternatives: string[] = [];
    if (pods !== undefined) {
      const selected = [
        ...pods.flatMap((pod) => pod.ips.filter((address) => ipFamily(address) === family)),
        ...(selectedSets ?? []).flatMap((set) => cidrsOf(set.nets, family)),
      ];
      if (selected.length > 0) alternatives.push(`${ip} daddr ${sets.operand(addresses, selected)}`);
    }
    const learnt = patterns.length > 0 ? context.learntSet(ref, family) : undefined;
    if (learnt !== undefined) alternatives.push(context.scope === 'pod' ? `${ip} saddr . ${ip} daddr @${learnt}` : `${ip} daddr @${learnt}`);
    if (alternatives.length === 0) return undefined;
    conditions.push(alternatives);
  } else if (destination.notSelector !== undefined) {
    // Only a GlobalNetworkPolicy's rule can have a notSelector and no positive selection: it excludes what it picks anywhere.
    const notSelector = destination.notSelector;
    const excluded = [
      ...engine.identities.pods.filter((pod) => notSelector.matches(pod.labels)).flatMap((pod) => pod.ips.filter((address) => ipFamily(address) === family)),
      ...engine.policies.networkSets.filter((set) => notSelector.matches(set.labels)).flatMap((set) => cidrsOf(set.nets, family)),
    ];
    if (excluded.length > 0) conditions.push([`${ip} daddr != ${sets.operand(addresses, excluded)}`]);
  }

  const names = portNames(destination.ports);
  if (names.length > 0) {
    const alternatives: string[] = [];
    const numbers = numericPorts(destination.ports);
    if (numbers.length > 0) alternatives.push(`th dport ${sets.operand('ports', numbers)}`);
    const elements = namedPortElements(names, pods ?? engine.identities.pods, r.protocol?.number, family);
    if (elements.length > 0) alternatives.push(`${ip} daddr . meta l4proto . th dport ${sets.operand(namedPorts, elements)}`);
    if (alternatives.length === 0) return undefined;
    conditions.push(alternatives);
  }
  const notNames = portNames(destination.notPorts);
  if (notNames.length > 0) {
    const elements = namedPortElements(notNames, pods ?? engine.identities.pods, r.protocol?.number, family);
    if (elements.length > 0) conditions.push([`${ip} daddr . meta l4proto . th dport != ${sets.operand(namedPorts, elements)}`]);
  }

  // ICMP matches are ICMPv4 with protocol ICMP and ICMPv6 with ICMPv6 (validation ensures one of them).
  const icmpFamily: Family = r.protocol?.number === 58 ? 6 : 4;
  if ((r.icmp !== undefined || r.notICMP !== undefined) && icmpFamily !== family) return undefined;
  if (r.icmp !== undefined) conditions.push([icmpMatch(family, r.icmp, false)]);
  if (r.notICMP !== undefined) conditions.push([icmpMatch(family, r.notICMP, true)]);
  return conditions;
}

/**
 * The match lines of `rule` for a chain that packets of `families` traverse. An empty
 * line matches every packet; no line at all means the rule never matches.
 */
export function ruleMatches(rule: PolicyRule, families: readonly Family[], context: MatchContext): string[] {
  const common = commonConditions(rule, context);
  if (common === undefined) return [];
  if (!familySpecific(rule, context)) return combinations(common);
  // A line that names no address comes out the same for both families, and matches packets
  // of both: when only one family has it, it is confined to that family.
  const lineFamilies = new Map<string, Family[]>();
  for (const family of families) {
    const own = familyConditions(rule, family, context);
    if (own !== undefined) for (const line of combinations([...common, ...own])) lineFamilies.set(line, [...(lineFamilies.get(line) ?? []), family]);
  }
  return [...lineFamilies].map(([line, of]) => (of.length === families.length || FAMILY_BOUND.test(line) ? line : confined(line, of[0])));
}

/** A line that matches one address family only: it reads an address or names the family. */
const FAMILY_BOUND = /(^| )(ip6? [sd]addr|meta nfproto) /;

function confined(line: string, family: Family): string {
  const nfproto = `meta nfproto ${family === 4 ? 'ipv4' : 'ipv6'}`;
  return line === '' ? nfproto : `${nfproto} ${line}`;
}
