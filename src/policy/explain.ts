/**
 * The answer to "may the client at IP reach NAME?": the object `dnsgate explain --json`
 * prints and the admin API's `GET /v1/explain` returns, and its text form.
 *
 * It tells what the dataplane does: each connection the pod may open to the name's
 * addresses is walked through the pod's applicable rules in order (evaluate.ts), so an
 * earlier Deny, a Pass or a tier's default action decides as it does in nftables. The
 * addresses are those learnt for the name when the caller knows them (the running
 * proxy), else "any address" the name may resolve to. Without a protocol or port, the
 * connections tried are TCP and UDP plus the protocols the rules name, to a port no rule
 * names and to each port they do.
 *
 * The verdict is about the connections the name's own Allow rules (those whose domains
 * match it) would allow: the name is allowed when, for each of its addresses (or each
 * address family, offline), one of them passes the firewall. When no such rule
 * matches any connection tried, the first connection decides (TCP, or the protocol
 * asked, to a port no rule names, or the port asked). So a DNS rule allowing UDP port 53
 * to anywhere does not make every name allowed, while an earlier Deny does make a name
 * denied although an Allow rule names it.
 */
import type { Pod } from '../identity/pod.js';
import { canonicalIp } from '../net/address.js';
import type { AllowRule, ApplicableRules, PolicyEngine } from './engine.js';
import { evaluateConnection, ruleMatchesConnection, type Connection, type Verdict, type VerdictReason } from './evaluate.js';
import type { PortMatch, Protocol } from './model.js';
import { PORT_PROTOCOLS, protocolByName, protocolName } from './rules.js';

/** Addresses learnt for a client and a name, with the rules they were learnt for. */
export type LearntLookup = (pod: Pod, name: string) => readonly { ip: string; family: 4 | 6; rules: readonly string[] }[];

export interface ExplainRequest {
  /** The client's IP in any textual form. */
  client: string;
  name: string;
  /** Only connections of this protocol. */
  protocol?: Protocol;
  /** Only connections to this destination port. */
  port?: number;
}

/** What the dataplane does with one connection. */
export interface ConnectionExplanation {
  /** Null for any address the name may resolve to (none learnt, or offline). */
  address: string | null;
  family: 4 | 6;
  protocol: string;
  /** Null for a protocol without ports. */
  port: number | null;
  allowed: boolean;
  reason: VerdictReason;
  /** Reference of the deciding Allow or Deny rule; null when a default action decides. */
  rule: string | null;
  /** The tier of the deciding rule or default action. */
  tier: string | null;
  /** Pass rules that sent the connection on to the next tier. */
  passedBy: string[];
}

export interface Explanation {
  /** Not enforced (unrestricted), or a connection the name's Allow rules allow passes the firewall (see above). */
  allowed: boolean;
  enforced: boolean;
  /** Null when no known pod has the IP. */
  client: { ip: string; namespace: string; name: string } | null;
  /** References `TIER|POLICY|allow|INDEX` of the egress Allow rules whose domains match the name (the rules its addresses are learnt for), in evaluation order. */
  rules: string[];
  /** The deciding Allow or Deny rule of the connection the verdict comes from; null when a default action decides. */
  decidedBy: string | null;
  /** Why, for the same connection. */
  reason: VerdictReason;
  /** Every connection tried, in order. Empty when the client is not enforced. */
  connections: ConnectionExplanation[];
  /**
   * The same decision in the staged view (every staged policy applied), which is never
   * enforced; present only when a policy is staged.
   */
  staged?: StagedExplanation;
}

export type StagedExplanation = Pick<Explanation, 'allowed' | 'enforced' | 'rules' | 'decidedBy' | 'reason'>;

interface Decision {
  ip: string;
  pod: Pod | undefined;
  applicable: ApplicableRules | undefined;
  allowing: readonly AllowRule[];
  connections: ConnectionExplanation[];
  /** The connections the verdict is about (see the top of this file). */
  decisive: ConnectionExplanation[];
}

/** `name` as answers and the allowed map spell it. */
function normalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * The protocol and port filters of `explain` from their text (`--protocol`, `--port`, or
 * the admin API's parameters); throws TypeError naming the bad one.
 */
export function parseConnectionFilters(protocol: string | undefined, port: string | undefined): Pick<ExplainRequest, 'protocol' | 'port'> {
  const filters: Pick<ExplainRequest, 'protocol' | 'port'> = {};
  if (protocol !== undefined) {
    const number = /^\d+$/.test(protocol) ? Number(protocol) : undefined;
    filters.protocol = number !== undefined && number >= 1 && number <= 255 ? { name: protocolName(number), number } : protocolByName(protocol);
    if (filters.protocol === undefined) throw new TypeError(`protocol: unknown protocol ${JSON.stringify(protocol)} (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)`);
  }
  if (port !== undefined) {
    if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new TypeError(`port: not a port number (1-65535): ${JSON.stringify(port)}`);
    filters.port = Number(port);
  }
  return filters;
}

/** A port no rule names: the smallest one outside every range. */
function unnamedPort(ranges: readonly PortMatch[]): number {
  let port = 1;
  while (ranges.some((range) => 'first' in range && port >= range.first && port <= range.last)) port++;
  return port;
}

function connectionsToTry(applicable: ApplicableRules, request: ExplainRequest): { protocol: number; port: number | undefined }[] {
  const protocols = request.protocol ? [request.protocol.number] : [...new Set([6, 17, ...applicable.rules.flatMap((rule) => (rule.rule.protocol ? [rule.rule.protocol.number] : []))])];
  const ranges = applicable.rules.flatMap((rule) => [...rule.rule.destination.ports, ...rule.rule.destination.notPorts]);
  const named = [...new Set(ranges.flatMap((range) => ('first' in range ? [range.first] : [])))].sort((a, b) => a - b);
  const ports = [unnamedPort(ranges), ...named];
  return protocols.flatMap((protocol): { protocol: number; port: number | undefined }[] => {
    if (request.port !== undefined) return [{ protocol, port: request.port }];
    return PORT_PROTOCOLS.has(protocol) ? ports.map((port) => ({ protocol, port })) : [{ protocol, port: undefined }];
  });
}

function describe(connection: Connection, verdict: Verdict): ConnectionExplanation {
  return {
    address: connection.address ?? null,
    family: connection.family,
    protocol: protocolName(connection.protocol),
    port: connection.port ?? null,
    allowed: verdict.action === 'Allow',
    reason: verdict.reason,
    rule: verdict.rule?.ref ?? null,
    tier: verdict.tier?.name ?? null,
    passedBy: verdict.passedBy.map((rule) => rule.ref),
  };
}

function decide(engine: PolicyEngine, request: ExplainRequest, learnt: LearntLookup | undefined): Decision {
  const ip = canonicalIp(request.client);
  if (ip === undefined) throw new TypeError(`not an IP address: ${JSON.stringify(request.client)}`);
  const pod = engine.identities.podByIp(ip);
  if (pod === undefined) return { ip, pod, applicable: undefined, allowing: [], connections: [], decisive: [] };
  const name = normalName(request.name);
  const applicable = engine.applicableRules(pod);
  const allowing = engine.forClient(pod).allowingRules(name);
  if (!applicable.enforced) return { ip, pod, applicable, allowing, connections: [], decisive: [] };
  const allowingRefs = new Set(allowing.map((rule) => rule.ref));
  const known = learnt?.(pod, name) ?? [];
  const familyOf = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);
  const sourceOf = (family: 4 | 6): string | undefined => pod.ips.find((podIp) => familyOf(podIp) === family);
  const addresses =
    known.length > 0
      ? known.map((entry) => ({ source: sourceOf(entry.family), address: entry.ip, family: entry.family, learntFor: (ref: string) => entry.rules.includes(ref) }))
      : [...new Set(pod.ips.map(familyOf))].map((family) => ({ source: sourceOf(family), address: undefined, family, learntFor: (ref: string) => allowingRefs.has(ref) }));
  const connections: ConnectionExplanation[] = [];
  const byNameRules: ConnectionExplanation[] = [];
  for (const destination of addresses) {
    for (const { protocol, port } of connectionsToTry(applicable, request)) {
      const connection: Connection = { ...destination, protocol, port };
      const explained = describe(connection, evaluateConnection(engine, applicable, connection));
      connections.push(explained);
      if (allowing.some((rule) => ruleMatchesConnection(engine, rule, connection))) byNameRules.push(explained);
    }
  }
  return { ip, pod, applicable, allowing, connections, decisive: byNameRules.length > 0 ? byNameRules : connections.slice(0, 1) };
}

/**
 * `request.client` in any textual form; throws TypeError when it is not an IP address.
 * `learnt`, when given, supplies the addresses the running proxy learnt for the name.
 */
export function explain(engine: PolicyEngine, request: ExplainRequest, learnt?: LearntLookup): Explanation {
  const explanation = summarise(decide(engine, request, learnt));
  if (engine.staged === undefined) return explanation;
  const { allowed, enforced, rules, decidedBy, reason } = summarise(decide(engine.staged, request, learnt));
  return { ...explanation, staged: { allowed, enforced, rules, decidedBy, reason } };
}

function summarise({ ip, pod, applicable, allowing, connections, decisive }: Decision): Explanation {
  // Each address must be reachable: a client may connect to any of the name's addresses.
  const byAddress = new Map<string, ConnectionExplanation[]>();
  for (const connection of decisive) {
    const key = connection.address ?? `any${connection.family}`;
    byAddress.set(key, [...(byAddress.get(key) ?? []), connection]);
  }
  const blocked = [...byAddress.values()].find((group) => !group.some((connection) => connection.allowed));
  const deciding = blocked?.[0] ?? decisive.find((connection) => connection.allowed);
  return {
    allowed: deciding?.allowed ?? true,
    enforced: applicable?.enforced ?? false,
    client: pod ? { ip, namespace: pod.namespace, name: pod.name } : null,
    rules: allowing.map((rule) => rule.ref),
    decidedBy: deciding?.rule ?? null,
    reason: deciding?.reason ?? 'not-enforced',
    connections,
  };
}

function connectionText(connection: ConnectionExplanation): string {
  const to = connection.address ?? `any IPv${connection.family} address`;
  const what = `${connection.protocol}${connection.port === null ? '' : ` port ${connection.port}`} to ${to}`;
  const passed = connection.passedBy.length > 0 ? ` (passed on by ${connection.passedBy.join(', ')})` : '';
  const by =
    connection.reason === 'rule'
      ? `by ${connection.rule}`
      : connection.reason === 'tier-default'
        ? `by tier ${connection.tier}'s default action: no rule matched`
        : 'as every tier passed it on';
  return `    ${what}: ${connection.allowed ? 'allowed' : 'denied'} ${by}${passed}`;
}

/** A few human-readable lines saying the same as `explain`, with the matching patterns. */
export function explainText(engine: PolicyEngine, request: ExplainRequest, learnt?: LearntLookup): string {
  const text = decisionText(decide(engine, request, learnt), request.name);
  if (engine.staged === undefined) return text;
  return `${text}staged (not enforced): ${decisionText(decide(engine.staged, request, learnt), request.name)}`;
}

function decisionText(decision: Decision, name: string): string {
  const explanation = summarise(decision);
  const { ip, pod, allowing, connections } = decision;
  const who = pod ? `pod ${pod.namespace}/${pod.name} (${ip})` : `${ip} (no known pod)`;
  if (!explanation.enforced) return `${name}: allowed for ${who}: no egress policy applies to it, so its egress is unrestricted\n`;
  const lines = [`${name}: ${explanation.allowed ? 'allowed' : 'not allowed'} for ${who}${explanation.decidedBy ? ` by ${explanation.decidedBy}` : ''}`];
  if (allowing.length === 0) lines.push('  no egress Allow rule matches the name, so its addresses are learnt for none');
  else lines.push('  egress Allow rules matching the name (its addresses are learnt for them):', ...allowing.map((rule) => `    ${rule.ref}  (${rule.patterns.join(', ')})`));
  lines.push('  connections, as the firewall decides them:', ...connections.map(connectionText));
  return `${lines.join('\n')}\n`;
}
