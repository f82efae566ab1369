/**
 * Policy rules and their `source`/`destination` entity rules, checked as Calico's
 * validator checks them, plus where domains may appear.
 */
import { parseCidr, type Cidr } from '../net/cidr.js';
import { checkDomainPattern } from './domain-pattern.js';
import type { EntityRule, IcmpMatch, PortMatch, Protocol, Rule, RuleAction, ServiceAccountMatch } from './model.js';
import type { FieldPath, ObjectReader } from './reader.js';
import type { Selector } from './selector.js';

type RuleDirection = 'ingress' | 'egress';

const ACTIONS: readonly RuleAction[] = ['Allow', 'Deny', 'Log', 'Pass'];
const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = { TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58, SCTP: 132, UDPLite: 136 };
/** Protocols with ports: TCP, UDP and SCTP. */
export const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 132]);
/** Protocol numbers of Kubernetes container ports, which named ports resolve to. */
export const CONTAINER_PROTOCOLS: Readonly<Record<string, number>> = { TCP: 6, UDP: 17, SCTP: 132 };
const RULE_FIELDS = new Set(['action', 'protocol', 'notProtocol', 'icmp', 'notICMP', 'ipVersion', 'source', 'destination', 'metadata', 'http']);
const ENTITY_FIELDS = new Set(['nets', 'notNets', 'selector', 'notSelector', 'namespaceSelector', 'ports', 'notPorts', 'domains', 'serviceAccounts', 'services']);
const ICMP_FIELDS = new Set(['type', 'code']);
const SERVICE_ACCOUNT_FIELDS = new Set(['names', 'selector']);
/** Kubernetes port names (IANA service names). */
const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

export function parseRules(reader: ObjectReader, path: FieldPath, direction: RuleDirection): Rule[] {
  const rules: Rule[] = [];
  const length = reader.listLength(path);
  for (let index = 0; index < length; index++) {
    const rule = parseRule(reader, [...path, index], direction, index);
    if (rule) rules.push(rule);
  }
  return rules;
}

function parseRule(reader: ObjectReader, path: FieldPath, direction: RuleDirection, index: number): Rule | undefined {
  const value = reader.value(path);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    reader.error(path, 'expected a rule object');
    return undefined;
  }
  reader.warnUnknownKeys(path, RULE_FIELDS);
  if (reader.has([...path, 'http'])) reader.warning([...path, 'http'], 'application layer (HTTP) matches are not enforced by dnsgate');

  const actionText = reader.string([...path, 'action']);
  // Stands in for a missing or unknown action; the error reported makes the load fail.
  let action: RuleAction = 'Deny';
  if (actionText === undefined) reader.error(path, 'action is required (Allow, Deny, Log or Pass)');
  else if ((ACTIONS as readonly string[]).includes(actionText)) action = actionText as RuleAction;
  else reader.error([...path, 'action'], `unknown action ${JSON.stringify(actionText)} (Allow, Deny, Log or Pass)`);

  const protocol = parseProtocol(reader, [...path, 'protocol']);
  const notProtocol = parseProtocol(reader, [...path, 'notProtocol']);
  const ipVersion = parseIpVersion(reader, [...path, 'ipVersion']);
  const icmp = parseIcmp(reader, [...path, 'icmp'], protocol, ipVersion);
  const notICMP = parseIcmp(reader, [...path, 'notICMP'], protocol, ipVersion);
  const source = parseEntity(reader, [...path, 'source']);
  const destination = parseEntity(reader, [...path, 'destination']);

  for (const [side, entity] of [['source', source], ['destination', destination]] as const) {
    for (const field of ['ports', 'notPorts'] as const) checkPortsNeedProtocol(reader, [...path, side, field], entity[field], protocol);
  }
  checkNetFamilies(reader, path, { source, destination }, ipVersion);
  checkDomainPlacement(reader, path, direction, action, source, destination);

  return { action, protocol, notProtocol, ipVersion, icmp, notICMP, source, destination, index, at: reader.at(path) };
}

/** A protocol Calico names (`TCP`, `udp`, …), in any case; undefined for others. */
/** The port names among `ports` (the others are numbers and ranges). */
export function portNames(ports: readonly PortMatch[]): string[] {
  return ports.flatMap((port) => ('name' in port ? [port.name] : []));
}

export function protocolByName(text: string): Protocol | undefined {
  const name = Object.keys(PROTOCOL_NUMBERS).find((known) => known.toLowerCase() === text.toLowerCase());
  return name === undefined ? undefined : { name, number: PROTOCOL_NUMBERS[name] };
}

/** Calico's name of protocol `number`, or the number as text. */
export function protocolName(number: number): string {
  return Object.keys(PROTOCOL_NUMBERS).find((name) => PROTOCOL_NUMBERS[name] === number) ?? String(number);
}

function parseProtocol(reader: ObjectReader, path: FieldPath): Protocol | undefined {
  const value = reader.value(path);
  if (value === undefined || value === null) return undefined;
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : undefined;
  if (text !== undefined) {
    if (/^\d+$/.test(text)) {
      const number = Number(text);
      if (number >= 1 && number <= 255) return { name: String(number), number };
    }
    const protocol = protocolByName(text);
    if (protocol) return protocol;
  }
  reader.error(path, `unknown protocol ${JSON.stringify(value)} (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)`);
  return undefined;
}

function parseIpVersion(reader: ObjectReader, path: FieldPath): 4 | 6 | undefined {
  const value = reader.value(path);
  if (value === undefined || value === null) return undefined;
  if (value === 4 || value === 6) return value;
  reader.error(path, `ipVersion must be 4 or 6, not ${JSON.stringify(value)}`);
  return undefined;
}

function parseIcmp(reader: ObjectReader, path: FieldPath, protocol: Protocol | undefined, ipVersion: 4 | 6 | undefined): IcmpMatch | undefined {
  if (!reader.has(path) || !reader.isObject(path)) return undefined;
  reader.warnUnknownKeys(path, ICMP_FIELDS);
  const type = reader.number([...path, 'type']);
  const code = reader.number([...path, 'code']);
  if (type !== undefined && !(Number.isInteger(type) && type >= 0 && type <= 254)) reader.error([...path, 'type'], 'ICMP type must be 0-254');
  if (code !== undefined && !(Number.isInteger(code) && code >= 0 && code <= 255)) reader.error([...path, 'code'], 'ICMP code must be 0-255');
  if (code !== undefined && type === undefined) reader.error([...path, 'code'], 'ICMP code specified without an ICMP type');
  if (protocol?.name !== 'ICMP' && protocol?.name !== 'ICMPv6') reader.error(path, 'ICMP matches need protocol ICMP or ICMPv6');
  else if ((protocol.name === 'ICMP' && ipVersion === 6) || (protocol.name === 'ICMPv6' && ipVersion === 4)) {
    reader.error(path, `protocol ${protocol.name} does not match ipVersion ${ipVersion}`);
  }
  return { type, code };
}

function parseEntity(reader: ObjectReader, path: FieldPath): EntityRule {
  if (!reader.isObject(path)) {
    return { nets: [], notNets: [], selector: undefined, notSelector: undefined, namespaceSelector: undefined, ports: [], notPorts: [], domains: [], serviceAccounts: undefined };
  }
  reader.warnUnknownKeys(path, ENTITY_FIELDS);
  if (reader.has([...path, 'services'])) reader.warning([...path, 'services'], 'Kubernetes service matches are not enforced by dnsgate');
  const selector = ruleSelector(reader, [...path, 'selector']);
  const notSelector = ruleSelector(reader, [...path, 'notSelector']);
  const namespaceSelector = ruleSelector(reader, [...path, 'namespaceSelector']);
  for (const [field, parsed] of [['selector', selector], ['notSelector', notSelector]] as const) {
    if (parsed?.mentionsGlobal) reader.error([...path, field], 'global() can only be used in a namespaceSelector');
  }
  if (namespaceSelector?.mentionsGlobal && !namespaceSelector.isGlobalOnly) {
    reader.error([...path, 'namespaceSelector'], 'global() must be the whole namespaceSelector');
  }
  return {
    nets: parseCidrs(reader, [...path, 'nets']),
    notNets: parseCidrs(reader, [...path, 'notNets']),
    selector,
    notSelector,
    namespaceSelector,
    ports: parsePorts(reader, [...path, 'ports']),
    notPorts: parsePorts(reader, [...path, 'notPorts']),
    domains: parseDomainPatterns(reader, [...path, 'domains']),
    serviceAccounts: parseServiceAccounts(reader, [...path, 'serviceAccounts']),
  };
}

/** In rules Calico treats an empty selector as absent. */
function ruleSelector(reader: ObjectReader, path: FieldPath): Selector | undefined {
  return reader.value(path) === '' ? undefined : reader.selector(path);
}

function parseServiceAccounts(reader: ObjectReader, path: FieldPath): ServiceAccountMatch | undefined {
  if (!reader.has(path) || !reader.isObject(path)) return undefined;
  reader.warnUnknownKeys(path, SERVICE_ACCOUNT_FIELDS);
  const selector = ruleSelector(reader, [...path, 'selector']);
  if (selector?.mentionsGlobal) reader.error([...path, 'selector'], 'global() can only be used in a namespaceSelector');
  return { names: reader.strings([...path, 'names']).map((item) => item.value), selector };
}

export function parseCidrs(reader: ObjectReader, path: FieldPath): Cidr[] {
  const cidrs: Cidr[] = [];
  for (const item of reader.strings(path)) {
    const cidr = parseCidr(item.value);
    if (cidr) cidrs.push(cidr);
    else reader.error(item.path, `invalid CIDR ${JSON.stringify(item.value)}`);
  }
  return cidrs;
}

export function parseDomainPatterns(reader: ObjectReader, path: FieldPath): string[] {
  const patterns: string[] = [];
  for (const item of reader.strings(path)) {
    const check = checkDomainPattern(item.value);
    if (check.ok) patterns.push(check.pattern);
    else reader.error(item.path, `invalid domain ${JSON.stringify(item.value)}: ${check.reason}`);
  }
  return patterns;
}

function parsePorts(reader: ObjectReader, path: FieldPath): PortMatch[] {
  const ports: PortMatch[] = [];
  const length = reader.listLength(path);
  for (let i = 0; i < length; i++) {
    const value = reader.value([...path, i]);
    const port = parsePort(value);
    if (port) ports.push(port);
    else reader.error([...path, i], `invalid port ${JSON.stringify(value)} (a number 0-65535, "first:last" or a port name)`);
  }
  return ports;
}

function parsePort(value: unknown): PortMatch | undefined {
  const valid = (port: number): boolean => Number.isInteger(port) && port >= 0 && port <= 65535;
  if (typeof value === 'number') return valid(value) ? { first: value, last: value } : undefined;
  if (typeof value !== 'string') return undefined;
  const range = /^(\d+)(?::(\d+))?$/.exec(value);
  if (range) {
    const first = Number(range[1]);
    const last = range[2] === undefined ? first : Number(range[2]);
    return valid(first) && valid(last) && first <= last ? { first, last } : undefined;
  }
  return PORT_NAME.test(value) ? { name: value } : undefined;
}

/**
 * As current Calico: without a protocol only named ports may be given (they carry their
 * own protocol); with a protocol, ports need TCP, UDP or SCTP.
 */
function checkPortsNeedProtocol(reader: ObjectReader, path: FieldPath, ports: readonly PortMatch[], protocol: Protocol | undefined): void {
  if (ports.length === 0) return;
  if (protocol === undefined) {
    if (ports.some((port) => !('name' in port))) reader.error(path, 'port numbers and ranges need a protocol (TCP, UDP or SCTP)');
  } else if (!PORT_PROTOCOLS.has(protocol.number)) {
    reader.error(path, `protocol ${protocol.name} does not support ports (only TCP, UDP and SCTP do)`);
  }
}

function checkNetFamilies(reader: ObjectReader, path: FieldPath, sides: Record<'source' | 'destination', EntityRule>, ipVersion: 4 | 6 | undefined): void {
  const seen = new Set<4 | 6>();
  for (const side of ['source', 'destination'] as const) {
    for (const field of ['nets', 'notNets'] as const) {
      const cidrs = sides[side][field];
      if (cidrs.length === 0) continue;
      const fieldPath = [...path, side, field];
      const families = new Set(cidrs.map((cidr) => cidr.family));
      if (ipVersion !== undefined && [...families].some((family) => family !== ipVersion)) {
        reader.error(fieldPath, `CIDR version does not match ipVersion ${ipVersion}`);
      }
      for (const family of families) seen.add(family);
      if (seen.size > 1) reader.error(fieldPath, 'a rule may not mix IPv4 and IPv6 CIDRs; write one rule per family');
      if (field === 'notNets' && cidrs.some((cidr) => cidr.text === '0.0.0.0/0' || cidr.text === '::/0')) {
        reader.error(fieldPath, 'a catch-all CIDR in notNets matches no traffic');
      }
    }
  }
}

/** Domains belong only in the destination of an egress Allow rule without nets or selector. */
function checkDomainPlacement(reader: ObjectReader, path: FieldPath, direction: RuleDirection, action: RuleAction, source: EntityRule, destination: EntityRule): void {
  if (source.domains.length > 0) reader.error([...path, 'source', 'domains'], 'domains are only allowed in the destination of an egress Allow rule');
  if (destination.domains.length === 0) return;
  const domainsPath = [...path, 'destination', 'domains'];
  if (direction === 'ingress') reader.error(domainsPath, 'domains are not allowed in ingress rules');
  else if (action !== 'Allow') reader.error(domainsPath, `domains are only allowed in Allow rules, not ${action}`);
  if (destination.nets.length > 0) reader.error([...path, 'destination', 'nets'], 'nets must be left empty when domains are given');
  if (destination.selector) reader.error([...path, 'destination', 'selector'], 'selector must be left empty when domains are given');
}
