/**
 * A StagedKubernetesNetworkPolicy: a Kubernetes NetworkPolicy spec (`podSelector`,
 * `policyTypes`, `egress[].to`, `egress[].ports`) plus `stagedAction`, converted as
 * Calico converts Kubernetes NetworkPolicies: policy `knp.default.NAME` in the default
 * tier at order 1000, one Allow rule per destination peer and protocol.
 */
import { parseCidr, type Cidr } from '../net/cidr.js';
import { DEFAULT_TIER, type EntityRule, type Policy, type PortMatch, type Protocol, type Rule, type StagedAction } from './model.js';
import type { FieldPath, ObjectReader } from './reader.js';
import { checkDeleteHasNoRules, parseTypes, stagedName } from './policy-fields.js';
import { ALL, parseSelector, SelectorError, type Selector } from './selector.js';

/** Calico's order for Kubernetes NetworkPolicies. */
const KNP_ORDER = 1000;
const SPEC_FIELDS = new Set(['podSelector', 'policyTypes', 'ingress', 'egress', 'stagedAction']);
const PROTOCOLS: Readonly<Record<string, Protocol>> = { TCP: { name: 'TCP', number: 6 }, UDP: { name: 'UDP', number: 17 }, SCTP: { name: 'SCTP', number: 132 } };
/** Kubernetes pods carry it in Calico; a Kubernetes peer selector only ever picks pods. */
const K8S_PODS = "projectcalico.org/orchestrator == 'k8s'";

const NO_ENTITY: EntityRule = { nets: [], notNets: [], selector: undefined, notSelector: undefined, namespaceSelector: undefined, ports: [], notPorts: [], domains: [], serviceAccounts: undefined };

function quotedValues(values: readonly string[]): string {
  return values.map((value) => `'${value}'`).join(', ');
}

/** A Kubernetes LabelSelector as Calico selector text; undefined when absent or invalid (reported). */
function labelSelectorText(reader: ObjectReader, path: FieldPath): string | undefined {
  if (!reader.has(path) || !reader.isObject(path)) return undefined;
  const terms: string[] = [];
  if (reader.isObject([...path, 'matchLabels'])) {
    const labels = reader.value([...path, 'matchLabels']) as Record<string, unknown> | undefined;
    for (const key of Object.keys(labels ?? {}).sort()) {
      const value = reader.string([...path, 'matchLabels', key]);
      if (value !== undefined) terms.push(`${key} == '${value}'`);
    }
  }
  const length = reader.listLength([...path, 'matchExpressions']);
  for (let i = 0; i < length; i++) {
    const at = [...path, 'matchExpressions', i];
    const key = reader.string([...at, 'key']);
    const operator = reader.string([...at, 'operator']);
    const values = reader.strings([...at, 'values']).map((item) => item.value);
    if (key === undefined) reader.error(at, 'key is required');
    else if (operator === 'In') terms.push(`${key} in { ${quotedValues(values)} }`);
    else if (operator === 'NotIn') terms.push(`${key} not in { ${quotedValues(values)} }`);
    else if (operator === 'Exists') terms.push(`has(${key})`);
    else if (operator === 'DoesNotExist') terms.push(`!has(${key})`);
    else reader.error([...at, 'operator'], `operator must be In, NotIn, Exists or DoesNotExist, not ${JSON.stringify(operator)}`);
  }
  return terms.length === 0 ? 'all()' : terms.join(' && ');
}

function compile(reader: ObjectReader, path: FieldPath, text: string): Selector | undefined {
  try {
    return parseSelector(text);
  } catch (error) {
    if (!(error instanceof SelectorError)) throw error;
    reader.error(path, `invalid selector ${JSON.stringify(text)}: ${error.message}`);
    return undefined;
  }
}

/** One `to` peer as a Calico destination: pods (of namespaces) by labels, or an ipBlock. */
function peerEntity(reader: ObjectReader, path: FieldPath): EntityRule | undefined {
  if (!reader.isObject(path)) return undefined;
  if (reader.has([...path, 'ipBlock'])) {
    const cidr = reader.string([...path, 'ipBlock', 'cidr']);
    const parsed = cidr === undefined ? undefined : parseCidr(cidr);
    if (parsed === undefined) {
      reader.error([...path, 'ipBlock', 'cidr'], `invalid CIDR ${JSON.stringify(cidr)}`);
      return undefined;
    }
    const except: Cidr[] = [];
    for (const item of reader.strings([...path, 'ipBlock', 'except'])) {
      const net = parseCidr(item.value);
      if (net) except.push(net);
      else reader.error(item.path, `invalid CIDR ${JSON.stringify(item.value)}`);
    }
    return { ...NO_ENTITY, nets: [parsed], notNets: except };
  }
  const pods = labelSelectorText(reader, [...path, 'podSelector']);
  const namespaces = labelSelectorText(reader, [...path, 'namespaceSelector']);
  if (pods === undefined && namespaces === undefined) {
    reader.error(path, 'a peer needs podSelector, namespaceSelector or ipBlock');
    return undefined;
  }
  const selector = compile(reader, [...path, 'podSelector'], pods === undefined || pods === 'all()' ? K8S_PODS : `${K8S_PODS} && ${pods}`);
  const namespaceSelector = namespaces === undefined ? undefined : compile(reader, [...path, 'namespaceSelector'], namespaces);
  return { ...NO_ENTITY, selector, namespaceSelector };
}

/** The `ports` of one rule, grouped by protocol (TCP unless given); an empty list means any. */
function portsByProtocol(reader: ObjectReader, path: FieldPath): Map<Protocol, PortMatch[]> {
  const groups = new Map<Protocol, PortMatch[]>();
  const length = reader.listLength(path);
  for (let i = 0; i < length; i++) {
    const at = [...path, i];
    const name = reader.string([...at, 'protocol']) ?? 'TCP';
    const protocol = PROTOCOLS[name];
    if (!protocol) {
      reader.error([...at, 'protocol'], `protocol must be TCP, UDP or SCTP, not ${JSON.stringify(name)}`);
      continue;
    }
    const ports = groups.get(protocol) ?? [];
    groups.set(protocol, ports);
    const port = reader.value([...at, 'port']);
    const endPort = reader.number([...at, 'endPort']);
    if (port === undefined || port === null) continue;
    if (typeof port === 'string') ports.push({ name: port });
    else if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535 && (endPort === undefined || (Number.isInteger(endPort) && endPort >= port && endPort <= 65535))) {
      ports.push({ first: port, last: endPort ?? port });
    } else reader.error([...at, 'port'], `invalid port ${JSON.stringify(port)}${endPort === undefined ? '' : ` to ${endPort}`}`);
  }
  return groups;
}

function egressRules(reader: ObjectReader): Rule[] {
  const rules: Rule[] = [];
  const length = reader.listLength(['spec', 'egress']);
  for (let i = 0; i < length; i++) {
    const path = ['spec', 'egress', i];
    if (!reader.isObject(path)) continue;
    const peerCount = reader.listLength([...path, 'to']);
    const peers: (EntityRule | undefined)[] = peerCount === 0 ? [NO_ENTITY] : Array.from({ length: peerCount }, (_, p) => peerEntity(reader, [...path, 'to', p]));
    const groups = portsByProtocol(reader, [...path, 'ports']);
    const protocols: [Protocol | undefined, PortMatch[]][] = groups.size === 0 ? [[undefined, []]] : [...groups];
    for (const peer of peers) {
      if (!peer) continue;
      for (const [protocol, ports] of protocols) {
        rules.push({
          action: 'Allow',
          protocol,
          notProtocol: undefined,
          ipVersion: undefined,
          icmp: undefined,
          notICMP: undefined,
          source: NO_ENTITY,
          destination: { ...peer, ports },
          index: rules.length,
          at: reader.at(path),
        });
      }
    }
  }
  return rules;
}

/** A StagedKubernetesNetworkPolicy as the staged policy Calico evaluates; ingress is not read (dnsgate enforces egress). */
export function parseKubernetesPolicy(reader: ObjectReader, name: string, namespace: string, action: StagedAction): Policy {
  reader.warnUnknownKeys(['spec'], SPEC_FIELDS);
  checkDeleteHasNoRules(reader, action, ['ingress', 'egress']);
  const podSelector = labelSelectorText(reader, ['spec', 'podSelector']) ?? 'all()';
  const selector = compile(reader, ['spec', 'podSelector'], podSelector === 'all()' ? K8S_PODS : `${K8S_PODS} && ${podSelector}`) ?? ALL;
  const egress = egressRules(reader);
  const policyName = `knp.${DEFAULT_TIER}.${name}`;
  return {
    kind: 'NetworkPolicy',
    name: policyName,
    namespace,
    tier: DEFAULT_TIER,
    order: KNP_ORDER,
    selector,
    namespaceSelector: undefined,
    serviceAccountSelector: undefined,
    types: parseTypes(reader, reader.listLength(['spec', 'ingress']) > 0, egress.length > 0, ['spec', 'policyTypes']),
    ingress: [],
    egress,
    refName: `${namespace}/${stagedName(policyName, DEFAULT_TIER)}`,
    at: reader.at(),
    tierAt: reader.at(['spec']),
    staged: { kind: 'StagedKubernetesNetworkPolicy', action, target: `${namespace}/${policyName}` },
  };
}
