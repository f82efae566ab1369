/**
 * What the dataplane does with one connection from a pod: its applicable rules walked in
 * order, each matched field by field as the nftables compiler writes it
 * (src/dataplane/nftables/rule-match.ts), until one decides. `explain` asks it; a test
 * checks it against the compiled table.
 */
import type { Pod } from '../identity/pod.js';
import type { Cidr } from '../net/cidr.js';
import type { ApplicableRules, PolicyEngine } from './engine.js';
import type { PortMatch, Tier } from './model.js';
import type { PolicyRule } from './policy-set.js';
import { CONTAINER_PROTOCOLS, portNames } from './rules.js';

/**
 * A connection a pod opens. An unknown destination address (`address` undefined) stands
 * for any address that no rule names: it is in no selected pod or set and in no net
 * short of the whole family (`0.0.0.0/0`, `::/0`). The source port is taken as one no
 * rule names, as it is the client's ephemeral port.
 */
export interface Connection {
  family: 4 | 6;
  /** The pod's address of `family`, which the connection leaves from. */
  source: string | undefined;
  address: string | undefined;
  /** IANA protocol number: 6 TCP, 17 UDP, … */
  protocol: number;
  /** The destination port; undefined for protocols without ports. */
  port: number | undefined;
  /** Whether the address is learnt for rule `ref` (in its learnt set). */
  learntFor(ref: string): boolean;
}

/** How an evaluation ended. */
export type VerdictReason =
  /** An Allow or Deny rule matched. */
  | 'rule'
  /** No rule of `tier` matched and its default action is Deny. */
  | 'tier-default'
  /** Every applicable tier passed the connection on: Calico's profile allows it. */
  | 'every-tier-passed'
  /** No egress policy selects the pod: its egress is unrestricted. */
  | 'not-enforced';

export interface Verdict {
  action: 'Allow' | 'Deny';
  reason: VerdictReason;
  /** The deciding Allow or Deny rule (reason `rule`). */
  rule: PolicyRule | undefined;
  /** The tier of the deciding rule or default action. */
  tier: Tier | undefined;
  /** Pass rules that sent the connection to the next tier, in order. */
  passedBy: readonly PolicyRule[];
  /** Log rules that matched on the way. */
  loggedBy: readonly PolicyRule[];
}


function wholeFamily(cidr: Cidr, family: 4 | 6): boolean {
  return cidr.family === family && cidr.text.endsWith('/0');
}

/** Whether the destination address is in one of `cidrs`. */
function inNets(cidrs: readonly Cidr[], connection: Connection): boolean {
  const { address, family } = connection;
  return cidrs.some((cidr) => (address === undefined ? wholeFamily(cidr, family) : cidr.family === family && cidr.contains(address)));
}

function inPortRanges(ports: readonly PortMatch[], port: number): boolean {
  return ports.some((match) => 'first' in match && port >= match.first && port <= match.last);
}

/** Whether a pod among `pods` listens on the connection's address, protocol and port under one of `names`. */
function namedPortMatches(names: readonly string[], pods: readonly Pod[], ruleProtocol: number | undefined, connection: Connection): boolean {
  const { address, port, protocol } = connection;
  if (address === undefined || port === undefined) return false;
  if (ruleProtocol !== undefined && ruleProtocol !== protocol) return false;
  return pods.some(
    (pod) =>
      pod.ips.includes(address) &&
      pod.ports.some((named) => names.includes(named.name) && named.port === port && CONTAINER_PROTOCOLS[named.protocol.toUpperCase()] === protocol),
  );
}

/** Whether `rule` matches `connection`, field by field as the compiled rule does. */
export function ruleMatchesConnection(engine: PolicyEngine, rule: PolicyRule, connection: Connection): boolean {
  const { rule: r } = rule;
  const { family, address, protocol, port } = connection;
  if (r.protocol !== undefined && r.protocol.number !== protocol) return false;
  if (r.notProtocol !== undefined && r.notProtocol.number === protocol) return false;
  if (r.ipVersion !== undefined && r.ipVersion !== family) return false;
  // Source nets are matched against the address the connection leaves from, as the compiled rule does.
  const { source } = connection;
  const inSource = (cidrs: readonly Cidr[]): boolean => source !== undefined && cidrs.some((cidr) => cidr.family === family && cidr.contains(source));
  if (r.source.nets.length > 0 && !inSource(r.source.nets)) return false;
  if (inSource(r.source.notNets)) return false;
  // The source port is one no rule names; a named source port is not enforced at all.
  if (portNames(r.source.ports).length > 0 || portNames(r.source.notPorts).length > 0 || r.source.ports.length > 0) return false;

  const destination = r.destination;
  if (destination.nets.length > 0 && !inNets(destination.nets, connection)) return false;
  if (destination.notNets.length > 0 && inNets(destination.notNets, connection)) return false;

  const pods = engine.destinationPods(rule);
  const patterns = engine.allowedPatterns(rule);
  if (pods !== undefined || patterns.length > 0) {
    const selected =
      pods !== undefined &&
      ((address !== undefined && pods.some((pod) => pod.ips.includes(address))) || inNets((engine.destinationSets(rule) ?? []).flatMap((set) => set.nets), connection));
    const learnt = patterns.length > 0 && connection.learntFor(rule.ref);
    if (!selected && !learnt) return false;
  } else if (destination.notSelector !== undefined) {
    const notSelector = destination.notSelector;
    const excludedPod = address !== undefined && engine.identities.pods.some((pod) => notSelector.matches(pod.labels) && pod.ips.includes(address));
    const excludedSet = inNets(
      engine.policies.networkSets.filter((set) => notSelector.matches(set.labels)).flatMap((set) => set.nets),
      connection,
    );
    if (excludedPod || excludedSet) return false;
  }

  const names = portNames(destination.ports);
  if (destination.ports.length > 0) {
    const byNumber = port !== undefined && inPortRanges(destination.ports, port);
    const byName = names.length > 0 && namedPortMatches(names, pods ?? engine.identities.pods, r.protocol?.number, connection);
    if (!byNumber && !byName) return false;
  }
  if (port !== undefined && inPortRanges(destination.notPorts, port)) return false;
  const notNames = portNames(destination.notPorts);
  if (notNames.length > 0 && namedPortMatches(notNames, pods ?? engine.identities.pods, r.protocol?.number, connection)) return false;

  // ICMP matches are ICMPv4 with protocol ICMP and ICMPv6 with ICMPv6; the type and code are ones no rule names.
  if (r.icmp !== undefined || r.notICMP !== undefined) {
    const icmpFamily = r.protocol?.number === 58 ? 6 : 4;
    if (icmpFamily !== family || r.icmp !== undefined) return false;
  }
  return true;
}

/** Walks `applicable` for `connection` as the dataplane does and says what it decides. */
export function evaluateConnection(engine: PolicyEngine, applicable: ApplicableRules, connection: Connection): Verdict {
  const passedBy: PolicyRule[] = [];
  const loggedBy: PolicyRule[] = [];
  const verdict = (action: Verdict['action'], reason: VerdictReason, rule?: PolicyRule, tier?: Tier): Verdict => ({ action, reason, rule, tier, passedBy, loggedBy });
  if (!applicable.enforced) return verdict('Allow', 'not-enforced');
  tiers: for (const { tier, rules } of applicable.tiers) {
    for (const rule of rules) {
      if (!ruleMatchesConnection(engine, rule, connection)) continue;
      switch (rule.rule.action) {
        case 'Log':
          loggedBy.push(rule);
          continue;
        case 'Pass':
          passedBy.push(rule);
          continue tiers;
        default:
          return verdict(rule.rule.action, 'rule', rule, tier);
      }
    }
    if (tier.defaultAction === 'Deny') return verdict('Deny', 'tier-default', undefined, tier);
  }
  return verdict('Allow', 'every-tier-passed');
}
