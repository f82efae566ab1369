/**
 * The compiler, learning and `explain` agree, on seeded random policy sets and pods:
 *
 *   - learning learns a name's addresses for rules the compiled table has a learnt set for;
 *   - for every connection tried, the verdict and deciding rule `explain` gives are those
 *     of the compiled table, run by a small interpreter of the nft lines the compiler
 *     writes (the vocabulary the random policies use), with the learnt sets filled as
 *     learning fills them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Ruleset } from '../../src/dataplane/nftables/ruleset.js';
import { compileRuleset } from '../../src/dataplane/nftables/ruleset.js';
import type { PolicyEngine } from '../../src/policy/engine.js';
import { explain, parseConnectionFilters } from '../../src/policy/explain.js';
import { engineOf, type PodSpec } from '../dataplane/compile.js';
import { seededRandom } from '../helpers/random.js';

const NAMES = ['a.example.com', 'b.example.com', 'api.example.org'];
const PATTERNS = ['a.example.com', '*.example.com', 'api.example.org', 'b.example.com'];
const NETS = ['0.0.0.0/0', '10.0.0.0/8', '203.0.113.0/24'];
/** In 10.0.0.0/8; in 203.0.113.0/24 and its upper half; in no net short of 0.0.0.0/0. */
const DESTINATIONS = ['10.1.2.3', '203.0.113.200', '198.51.100.1'];
const PORTS = [443, 80, 8050, 22];

type Pick = <T>(items: readonly T[]) => T;

function randomRule(pick: Pick, chance: (p: number) => boolean): string {
  const action = pick(['Allow', 'Allow', 'Deny', 'Pass', 'Log']);
  const lines = [`    - action: ${action}`];
  const protocol = chance(0.5) ? pick(['TCP', 'UDP']) : undefined;
  if (protocol) lines.push(`      protocol: ${protocol}`);
  const destination: string[] = [];
  const kind = pick(['domains', 'nets', 'selector', 'none']);
  if (kind === 'domains' && action === 'Allow') destination.push(`domains: [${(PATTERNS.filter(() => chance(0.4)).join(', ') || PATTERNS[0]).replace(/[^, ]+/g, (pattern) => `"${pattern}"`)}]`);
  if (kind === 'nets') destination.push(`nets: [${pick(NETS)}]`);
  if (kind === 'selector') destination.push(`selector: app == '${pick(['db', 'web'])}'`);
  if (chance(0.2)) destination.push('notNets: [203.0.113.128/25]');
  if (protocol && chance(0.5)) destination.push(`ports: [${pick(['443', '80, "8000:8100"', '22'])}]`);
  if (destination.length > 0) lines.push(`      destination: {${destination.join(', ')}}`);
  return lines.join('\n');
}

function randomPolicies(random: () => number): string {
  const pick: Pick = (items) => items[Math.floor(random() * items.length)];
  const chance = (p: number): boolean => random() < p;
  const documents = [
    `apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 10, defaultAction: ${pick(['Pass', 'Deny'])}}`,
  ];
  const count = 1 + Math.floor(random() * 4);
  for (let index = 0; index < count; index++) {
    const tier = pick(['default', 'security']);
    const global = chance(0.4);
    const name = `${tier}.p${index}`;
    const rules = Array.from({ length: 1 + Math.floor(random() * 4) }, () => randomRule(pick, chance));
    documents.push(
      [
        'apiVersion: projectcalico.org/v3',
        `kind: ${global ? 'GlobalNetworkPolicy' : 'NetworkPolicy'}`,
        `metadata: {name: ${name}${global ? '' : `, namespace: ${pick(['a', 'b'])}`}}`,
        'spec:',
        `  tier: ${tier}`,
        `  order: ${1 + Math.floor(random() * 3)}`,
        `  selector: ${pick(["app == 'web'", "app == 'api'", 'all()'])}`,
        '  types: [Egress]',
        '  egress:',
        ...rules,
      ].join('\n'),
    );
  }
  return documents.join('\n---\n');
}

function randomPods(random: () => number): PodSpec[] {
  const pick: Pick = (items) => items[Math.floor(random() * items.length)];
  return Array.from({ length: 4 }, (_, index) => ({
    name: `pod${index}`,
    namespace: pick(['a', 'b']),
    ips: [`10.244.0.${index + 1}`],
    labels: { app: index === 0 ? 'db' : pick(['web', 'api', 'db']) },
  }));
}

/** A small interpreter of the compiled table, for the lines the random policies produce. */
class TableInterpreter {
  private readonly bodies = new Map<string, string>();
  private readonly learnt = new Map<string, Set<string>>();

  constructor(ruleset: Ruleset) {
    for (const object of ruleset.allObjects) this.bodies.set(object.name, object.body);
  }

  addLearnt(set: string, element: string): void {
    const elements = this.learnt.get(set) ?? new Set();
    elements.add(element);
    this.learnt.set(set, elements);
  }

  /** The verdict for a TCP/UDP packet, with the comment of the line that gave it (undefined: the base chain's policy). */
  verdict(source: string, destination: string, protocol: 'tcp' | 'udp', port: number): { accept: boolean; comment: string | undefined } {
    const map = this.bodies.get('enforced_v4') ?? '';
    const chain = new RegExp(`(?:\\{ |, )${source.replaceAll('.', '\\.')} : jump (\\w+)`).exec(map)?.[1];
    if (chain === undefined) return { accept: true, comment: undefined };
    const result = this.run(chain, { source, destination, protocol, port });
    return result === 'return' ? { accept: true, comment: undefined } : result;
  }

  private run(chain: string, packet: Packet): { accept: boolean; comment: string | undefined } | 'return' {
    const body = this.bodies.get(chain);
    assert.ok(body !== undefined, `no chain ${chain}`);
    for (const line of body.split('\n')) {
      const comment = / comment "([^"]*)"$/.exec(line)?.[1];
      let rest = line.replace(/ comment "[^"]*"$/, '');
      let matches = true;
      for (;;) {
        const condition = /^(meta l4proto|th dport|ip daddr|ip saddr \. ip daddr) (!= )?(\S+) ?/.exec(rest);
        if (!condition) break;
        rest = rest.slice(condition[0].length);
        const [, field, negated, operand] = condition;
        const value =
          field === 'meta l4proto' ? packet.protocol : field === 'th dport' ? String(packet.port) : field === 'ip daddr' ? packet.destination : `${packet.source} . ${packet.destination}`;
        if (this.contains(operand, value) === (negated !== undefined)) matches = false;
      }
      if (!matches) continue;
      if (rest === 'accept') return { accept: true, comment };
      if (rest === 'drop') return { accept: false, comment };
      if (rest === 'return') return 'return';
      if (rest.startsWith('log prefix ')) continue;
      const jump = /^jump (\w+)$/.exec(rest);
      assert.ok(jump, `unknown line ${JSON.stringify(line)}`);
      const result = this.run(jump[1], packet);
      if (result !== 'return') return result;
    }
    return 'return';
  }

  private contains(operand: string, value: string): boolean {
    if (!operand.startsWith('@')) return elementHolds(operand, value);
    const name = operand.slice(1);
    const learnt = this.learnt.get(name);
    if (name.startsWith('learnt_')) return learnt?.has(value) ?? false;
    const elements = /elements = \{ (.*) \}/.exec(this.bodies.get(name) ?? '')?.[1].split(', ') ?? [];
    return elements.some((element) => elementHolds(element, value));
  }
}

interface Packet {
  source: string;
  destination: string;
  protocol: 'tcp' | 'udp';
  port: number;
}

function ipv4(ip: string): number {
  return ip.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

/** An element (a value, a CIDR or a port range) holds `value`. */
function elementHolds(element: string, value: string): boolean {
  if (element.includes('/')) {
    const [network, prefix] = element.split('/');
    const size = 2 ** (32 - Number(prefix));
    return Math.floor(ipv4(value) / size) === Math.floor(ipv4(network) / size);
  }
  const range = /^(\d+)-(\d+)$/.exec(element);
  if (range) return Number(value) >= Number(range[1]) && Number(value) <= Number(range[2]);
  return element === value;
}

async function checkSeed(seed: number): Promise<number> {
  const random = seededRandom(seed);
  const policies = randomPolicies(random);
  const pods = randomPods(random);
  const engine: PolicyEngine = await engineOf(policies, pods);
  const ruleset = compileRuleset(engine, { table: 'dnsgate', hook: 'forward', scope: 'pod' });
  let checked = 0;
  for (const pod of engine.identities.pods) {
    const client = engine.forClient(pod);
    const applicable = engine.applicableRules(pod);
    assert.equal(client.enforced, applicable.enforced, `seed ${seed}: ${pod.key}`);
    assert.deepEqual(client.egressRules, applicable.rules);
    for (const name of NAMES) {
      for (const destination of DESTINATIONS) {
        const table = new TableInterpreter(ruleset);
        // Learning: the answer for `name` teaches `destination` under the rules allowing the name.
        const refs = client.allowingRuleRefs(name);
        for (const ref of refs) {
          const set = ruleset.learntSetFor(ref, 4);
          assert.ok(set !== undefined, `seed ${seed}: ${pod.key} learns ${name} for ${ref}, which the table has no set for\n${policies}`);
          table.addLearnt(set, `${pod.ips[0]} . ${destination}`);
        }
        const learnt = () => [{ ip: destination, family: 4 as const, rules: refs }];
        for (const protocol of ['tcp', 'udp'] as const) {
          for (const port of PORTS) {
            const filters = parseConnectionFilters(protocol, String(port));
            const expected = table.verdict(pod.ips[0], destination, protocol, port);
            const explained = explain(engine, { client: pod.ips[0], name, ...filters }, learnt);
            const connection = explained.connections[0];
            const context = `seed ${seed}: ${pod.key} → ${name} at ${destination} ${protocol}/${port}\n${policies}\n${ruleset.definition()}`;
            if (!applicable.enforced) {
              assert.deepEqual([expected.accept, explained.allowed, explained.reason], [true, true, 'not-enforced'], context);
              continue;
            }
            assert.equal(explained.allowed, expected.accept, context);
            assert.equal(connection.allowed, expected.accept, context);
            if (connection.reason === 'rule') assert.equal(connection.rule, expected.comment, context);
            else if (connection.reason === 'tier-default') assert.equal(expected.comment, `tier ${connection.tier}: no rule matched`, context);
            else assert.equal(expected.comment, undefined, context);
            // Offline, "any address" is one in no net short of 0.0.0.0/0: 198.51.100.1 here.
            if (destination === '198.51.100.1') {
              const offline = explain(engine, { client: pod.ips[0], name, ...filters });
              assert.deepEqual([offline.connections[0].allowed, offline.connections[0].rule], [connection.allowed, connection.rule], context);
            }
            checked++;
          }
        }
      }
    }
  }
  return checked;
}

test('compiler, learning and explain agree on seeded random policies and pods', async () => {
  let checked = 0;
  for (let seed = 1; seed <= 40; seed++) checked += await checkSeed(seed);
  assert.ok(checked > 1000, `only ${checked} connections checked`);
});
