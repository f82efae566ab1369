/** The compiler: Calico policies and pods to the text of dnsgate's nftables table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRuleset } from '../../src/dataplane/nftables/ruleset.js';
import { body, classOf, compile, engineOf, rules } from './compile.js';

const WEB = { name: 'web', ips: ['10.0.0.1'], labels: { app: 'web' } };
const OTHER = { name: 'other', ips: ['10.0.0.9'], labels: { app: 'other' } };

function policy(name: string, egress: string, extra = ''): string {
  return `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: ${name}
  namespace: shop
spec:
  selector: app == 'web'
  types: [Egress]
${extra}  egress:
${egress}`;
}

test('enforced pods reach their class chain through the verdict map; unselected pods are not in the table', async () => {
  const ruleset = await compile(policy('p', '    - action: Allow\n      protocol: TCP\n'), [WEB, { ...WEB, name: 'web2', ips: ['10.0.0.2', 'fd00::2'] }, OTHER]);
  assert.equal(ruleset.enforcedPods, 2);
  assert.equal(ruleset.classes, 1, 'pods with the same rules share a chain');
  const chain = classOf(ruleset, '10.0.0.1');
  assert.match(chain, /^class_[0-9a-f]{16}$/, 'named by its content');
  assert.equal(classOf(ruleset, '10.0.0.2'), chain);
  assert.equal(classOf(ruleset, 'fd00::2'), chain);
  assert.ok(!ruleset.definition().includes('10.0.0.9'));
  assert.deepEqual(rules(ruleset, chain), ['meta l4proto tcp accept', 'drop']);
  assert.deepEqual(body(ruleset, 'egress_forward').split('\n'), [
    'type filter hook forward priority filter; policy accept;',
    'ct state established,related accept',
    'ip saddr vmap @enforced_v4',
    'ip6 saddr vmap @enforced_v6',
  ]);
});

test('a policy without rules still makes egress default-deny', async () => {
  const lockdown = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: lockdown, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
`;
  const ruleset = await compile(lockdown, [WEB]);
  assert.deepEqual(rules(ruleset, classOf(ruleset, '10.0.0.1')), ['drop']);
});

test('tiers: policies and rules in order, Pass returns to the next tier, Log goes on, each tier ends in its default action', async () => {
  const policies = `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 10}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: lenient}
spec: {order: 20, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.guard}
spec:
  tier: security
  selector: app == 'web'
  types: [Egress]
  egress:
    - {action: Log, protocol: TCP}
    - {action: Deny, protocol: TCP, destination: {nets: [192.0.2.0/24]}}
    - {action: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: lenient.only-udp}
spec:
  tier: lenient
  selector: app == 'web'
  types: [Egress]
  egress:
    - {action: Allow, protocol: UDP}
---
${policy('b-second', '    - {action: Allow, protocol: TCP}\n', '  order: 20\n')}
---
${policy('a-first', '    - {action: Deny, protocol: TCP, destination: {ports: [25]}}\n', '  order: 10\n')}
`;
  const ruleset = await compile(policies, [WEB]);
  const tiers = rules(ruleset, classOf(ruleset, '10.0.0.1')).map((line) => /^jump (tier_\w+)$/.exec(line)?.[1] as string);
  assert.equal(tiers.length, 3, 'one chain per tier, jumped to in tier order');
  assert.deepEqual(rules(ruleset, tiers[0]), [
    'meta l4proto tcp log prefix "dnsgate security|security.guard|log|0: "',
    'meta l4proto tcp ip daddr 192.0.2.0/24 drop',
    'return',
  ], 'nothing is left to reach the default action after an unconditional Pass');
  assert.deepEqual(rules(ruleset, tiers[1]), ['meta l4proto udp accept'], 'a Pass tier ends without a verdict');
  assert.deepEqual(rules(ruleset, tiers[2]), ['meta l4proto tcp th dport 25 drop', 'meta l4proto tcp accept', 'drop'], 'order 10 before order 20');
  assert.match(body(ruleset, tiers[0]), /comment "security\|security\.guard\|pass\|2"/);
});

test('protocol, ports, ranges, nets, their negations, ipVersion and ICMP', async () => {
  const egress = `    - action: Allow
      protocol: TCP
      destination:
        ports: [80, '8000:8100']
        notPorts: [8080]
        nets: [198.51.100.0/24, 203.0.113.0/24]
        notNets: [198.51.100.7/32]
    - action: Deny
      notProtocol: UDP
      ipVersion: 6
    - action: Allow
      protocol: ICMP
      icmp: {type: 8, code: 0}
    - action: Allow
      protocol: UDP
      source:
        ports: [68]
    - action: Allow
      protocol: TCP
      destination:
        nets: [2001:db8::/32]
`;
  const ruleset = await compile(policy('p', egress), [{ ...WEB, ips: ['10.0.0.1', 'fd00::1'] }]);
  const lines = rules(ruleset, classOf(ruleset, '10.0.0.1'));
  assert.match(lines[0], /^meta l4proto tcp th dport @ports_\w+ th dport != 8080 ip daddr @addr4_\w+ ip daddr != 198\.51\.100\.7\/32 accept$/);
  assert.match(body(ruleset, /th dport (@ports_\w+)/.exec(lines[0])![1].slice(1)), /elements = \{ 80, 8000-8100 \}/);
  assert.match(body(ruleset, /ip daddr (@addr4_\w+)/.exec(lines[0])![1].slice(1)), /flags interval; auto-merge; elements = \{ 198\.51\.100\.0\/24, 203\.0\.113\.0\/24 \}/);
  assert.deepEqual(lines.slice(1), [
    'meta l4proto != udp meta nfproto ipv6 drop',
    // ICMPv4 only: an IPv6 packet whose next header is 1 does not match.
    'meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0 accept',
    'meta l4proto udp th sport 68 accept',
    'meta l4proto tcp ip6 daddr 2001:db8::/32 accept',
    'drop',
  ]);
});

test('dual-stack: a line one family needs without an address is confined to that family', async () => {
  // Calico matches notNets, notSelector and named notPorts per packet: an IPv4 notNets
  // does not make the rule match IPv4 packets to those nets through its IPv6 line.
  const egress = `    - action: Allow
      destination:
        notNets: [10.0.0.0/8]
`;
  const ruleset = await compile(policy('p', egress), [{ ...WEB, ips: ['10.0.0.1', 'fd00::1'] }]);
  assert.deepEqual(rules(ruleset, classOf(ruleset, '10.0.0.1')), ['ip daddr != 10.0.0.0/8 accept', 'meta nfproto ipv6 accept', 'drop']);
});

test('source nets and notNets match the packet source, so a dual-stack pod covered over IPv4 is not over IPv6', async () => {
  const egress = `    - action: Allow
      source:
        nets: [10.0.0.0/24]
    - action: Deny
      protocol: UDP
      source:
        notNets: [fd00::/64]
`;
  const ruleset = await compile(policy('p', egress), [{ ...WEB, ips: ['10.0.0.1', 'fd00::1'] }]);
  assert.deepEqual(rules(ruleset, classOf(ruleset, '10.0.0.1')), [
    'ip saddr 10.0.0.0/24 accept',
    'meta nfproto ipv4 meta l4proto udp drop',
    'meta l4proto udp ip6 saddr != fd00::/64 drop',
    'drop',
  ]);
});

test('selectors pick pods and NetworkSet nets; named ports resolve against the selected pods', async () => {
  const policies = `apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: partners, namespace: shop, labels: {kind: partner}}
spec: {nets: [192.0.2.0/28]}
---
${policy('p', `    - action: Allow
      destination:
        selector: app == 'db' || kind == 'partner'
        ports: [postgres]
    - action: Allow
      protocol: TCP
      destination:
        selector: app == 'nothing-has-this'
`)}`;
  const db = { name: 'db', ips: ['10.0.0.5'], labels: { app: 'db' }, ports: [{ name: 'postgres', containerPort: 5432 }] };
  const ruleset = await compile(policies, [WEB, db]);
  const lines = rules(ruleset, classOf(ruleset, '10.0.0.1'));
  assert.equal(lines.length, 2, 'the rule that selects nothing never matches');
  const [, addresses, namedPorts] = /^ip daddr @(addr4_\w+) ip daddr \. meta l4proto \. th dport @(nport4_\w+) accept$/.exec(lines[0]) ?? [];
  assert.ok(addresses, lines[0]);
  assert.match(body(ruleset, addresses), /elements = \{ 10\.0\.0\.5, 192\.0\.2\.0\/28 \}/);
  assert.match(body(ruleset, namedPorts), /elements = \{ 10\.0\.0\.5 \. tcp \. 5432 \}/);
});

test('domain rules get a learnt set per address family: client . destination in pod scope, destination in node scope', async () => {
  const policies = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: apis, labels: {kind: apis}}
spec:
  nets: [198.51.100.0/24]
  allowedEgressDomains: [api.example.com]
---
${policy('p', `    - action: Allow
      protocol: TCP
      destination:
        ports: [443]
        domains: [www.example.com]
    - action: Allow
      destination:
        selector: kind == 'apis'
        namespaceSelector: global()
`)}`;
  const pods = [{ ...WEB, ips: ['10.0.0.1', 'fd00::1'] }];
  const podScope = await compile(policies, pods);
  const domainSet = podScope.learntSetFor('default|shop/default.p|allow|0', 4);
  const domainSet6 = podScope.learntSetFor('default|shop/default.p|allow|0', 6);
  const setsSet = podScope.learntSetFor('default|shop/default.p|allow|1', 4);
  assert.ok(domainSet && domainSet6 && setsSet);
  assert.match(domainSet, /^learnt_pod4_[0-9a-f]{16}$/);
  assert.equal(body(podScope, domainSet), 'type ipv4_addr . ipv4_addr\nflags timeout\ncomment "default|shop/default.p|allow|0"');
  assert.equal(body(podScope, domainSet6).split('\n')[0], 'type ipv6_addr . ipv6_addr');
  const lines = rules(podScope, classOf(podScope, '10.0.0.1'));
  assert.deepEqual(lines.slice(0, 2), [`meta l4proto tcp th dport 443 ip saddr . ip daddr @${domainSet} accept`, `meta l4proto tcp th dport 443 ip6 saddr . ip6 daddr @${domainSet6} accept`]);
  assert.equal(lines[2], `ip daddr 198.51.100.0/24 accept`, 'the set’s nets…');
  assert.equal(lines[3], `ip saddr . ip daddr @${setsSet} accept`, '…or an address learnt for its domains');

  const nodeScope = await compile(policies, pods, 'node');
  const nodeSet = nodeScope.learntSetFor('default|shop/default.p|allow|0', 4)!;
  assert.match(nodeSet, /^learnt_node4_/);
  assert.equal(body(nodeScope, nodeSet).split('\n')[0], 'type ipv4_addr');
  assert.equal(rules(nodeScope, classOf(nodeScope, '10.0.0.1'))[0], `meta l4proto tcp th dport 443 ip daddr @${nodeSet} accept`);
});

test('a rule that an earlier rule of the chain always decides first is left out, unless it only logs', async () => {
  const egress = `    - {action: Allow, protocol: UDP, destination: {ports: [53]}}
    - {action: Log, protocol: UDP, destination: {ports: [53]}}
    - {action: Deny, protocol: UDP, destination: {ports: [53]}}
    - {action: Allow, protocol: TCP}
`;
  const ruleset = await compile(`${policy('a', egress)}\n---\n${policy('b', '    - {action: Allow, protocol: UDP, destination: {ports: [53]}}\n    - {action: Log}\n')}`, [WEB]);
  assert.deepEqual(rules(ruleset, classOf(ruleset, '10.0.0.1')), ['meta l4proto udp th dport 53 accept', 'meta l4proto tcp accept', 'log prefix "dnsgate default|shop/default.b|log|1: "', 'drop']);
});

test('the same values share one set, whatever their order and whichever rule or class uses them', async () => {
  const shared = "    - {action: Allow, protocol: UDP, destination: {ports: [53, 5353]}}\n";
  const policies = `${policy('a', shared)}
---
${policy('b', `${shared}    - {action: Allow, protocol: TCP, destination: {ports: [5353, 53]}}\n`).replace("app == 'web'", "app == 'api'")}`;
  const ruleset = await compile(policies, [WEB, { name: 'api', ips: ['10.0.0.3'], labels: { app: 'api' } }]);
  const portSets = ruleset.objects.filter((object) => object.name.startsWith('ports_'));
  assert.equal(portSets.length, 1);
  assert.equal(ruleset.classes, 2);
});

test('output hook (sidecar): traffic over loopback, or to a local address, is not egress', async () => {
  const ruleset = compileRuleset(await engineOf(policy('p', '    - {action: Allow, protocol: TCP}\n'), [WEB]), { table: 'dnsgate', hook: 'output', scope: 'pod' });
  assert.equal(ruleset.baseChain, 'egress_output');
  assert.deepEqual(body(ruleset, 'egress_output').split('\n').slice(0, 3), ['type filter hook output priority filter; policy accept;', 'oifname "lo" accept', 'fib daddr type local accept']);
});

test('output hook (sidecar): dnsgate\'s own queries to its upstreams pass, from its source ports only', async () => {
  const ruleset = compileRuleset(await engineOf(policy('p', '    - {action: Allow, protocol: TCP}\n'), [WEB]), {
    table: 'dnsgate',
    hook: 'output',
    scope: 'pod',
    ownUpstreams: [{ host: '10.96.0.10', port: 53 }, { host: 'fd00::a', port: 53 }],
  });
  assert.deepEqual(body(ruleset, 'egress_output').split('\n').slice(3, 5), [
    'meta l4proto { udp, tcp } th sport 61000-65535 ip daddr . th dport { 10.96.0.10 . 53 } accept comment "dnsgate upstream"',
    'meta l4proto { udp, tcp } th sport 61000-65535 ip6 daddr . th dport { fd00::a . 53 } accept comment "dnsgate upstream"',
  ]);
  const forward = compileRuleset(await engineOf(policy('p', '    - {action: Allow, protocol: TCP}\n'), [WEB]), { table: 'dnsgate', hook: 'forward', scope: 'pod', ownUpstreams: [{ host: '10.96.0.10', port: 53 }] });
  assert.doesNotMatch(body(forward, 'egress_forward'), /dnsgate upstream/, 'on the node, dnsgate\'s traffic is not forwarded traffic');
});

const STAGED_WEB = `---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
    - action: Allow
      protocol: TCP
      destination: {ports: [443]}
    - action: Deny
      protocol: TCP
      destination: {ports: [80]}
`;

test('a staged policy: shadow chains count what it would decide and return; the enforced chain is unchanged', async () => {
  const enforced = policy('p', '    - action: Allow\n      protocol: UDP\n');
  const plain = await compile(enforced, [WEB, OTHER]);
  const ruleset = await compile(`${enforced}${STAGED_WEB}`, [WEB, OTHER]);
  assert.equal(classOf(ruleset, '10.0.0.1'), classOf(plain, '10.0.0.1'), 'the enforced chain is the same');
  assert.deepEqual(body(ruleset, 'egress_forward').split('\n'), [
    'type filter hook forward priority filter; policy accept;',
    'ct state established,related accept',
    'ip saddr vmap @staged_v4',
    'ip6 saddr vmap @staged_v6',
    'ip saddr vmap @enforced_v4',
    'ip6 saddr vmap @enforced_v6',
  ]);
  const shadow = /10\.0\.0\.1 : jump (staged_tier_[0-9a-f]{16})/.exec(body(ruleset, 'staged_v4'))?.[1] as string;
  assert.ok(shadow, body(ruleset, 'staged_v4'));
  assert.deepEqual(body(ruleset, shadow).split('\n'), [
    'meta l4proto tcp th dport 443 counter return comment "default|shop/default.staged:p|allow|0"',
    'meta l4proto tcp th dport 80 counter return comment "default|shop/default.staged:p|deny|1"',
    'counter return comment "default|default-action|deny|-1"',
  ]);
  assert.ok(!body(ruleset, 'staged_v4').includes('10.0.0.9'), 'a pod the staged view does not change has no shadow');
  assert.ok(!ruleset.definition().includes('drop comment "default|'), 'no shadow rule drops');
});

test('staged Pass goes on to the next tier of the class; a Delete makes the pod unenforced in the staged view', async () => {
  const tiers = `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: platform}
spec: {order: 10}
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: platform.guard}
spec:
  tier: platform
  selector: app == 'web'
  types: [Egress]
  egress:
    - action: Pass
      protocol: UDP
`;
  const ruleset = await compile(`${tiers}---\n${policy('p', '    - action: Allow\n      protocol: UDP\n')}`, [WEB]);
  const first = /10\.0\.0\.1 : jump (staged_tier_[0-9a-f]{16})/.exec(body(ruleset, 'staged_v4'))?.[1] as string;
  const lines = body(ruleset, first).split('\n');
  const next = /^meta l4proto udp goto (staged_tier_[0-9a-f]{16}) comment "platform\|platform\.staged:guard\|pass\|0"$/.exec(lines[0])?.[1];
  assert.ok(next, lines[0]);
  assert.equal(lines[1], 'counter return comment "platform|default-action|deny|-1"');
  assert.deepEqual(body(ruleset, next).split('\n'), ['meta l4proto udp counter return comment "default|shop/default.p|allow|0"', 'counter return comment "default|default-action|deny|-1"']);

  const deleted = await compile(`${policy('p', '    - action: Allow\n      protocol: UDP\n')}---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: p, namespace: shop}
spec: {stagedAction: Delete}
`, [WEB]);
  assert.equal(body(deleted, 'staged_v4'), 'type ipv4_addr : verdict', 'unenforced in the staged view: nothing to count');
});

test('--audit: Deny rules and tier defaults count and accept instead of dropping', async () => {
  const engine = await engineOf(policy('p', '    - action: Deny\n      protocol: TCP\n      destination: {ports: [80]}\n    - action: Allow\n      protocol: TCP\n'), [WEB]);
  const ruleset = compileRuleset(engine, { table: 'dnsgate', hook: 'forward', scope: 'pod', audit: true });
  assert.deepEqual(body(ruleset, classOf(ruleset, '10.0.0.1')).split('\n'), [
    'meta l4proto tcp th dport 80 counter accept comment "default|shop/default.p|deny|0"',
    'meta l4proto tcp accept comment "default|shop/default.p|allow|1"',
    'counter accept comment "default|default-action|deny|-1"',
  ]);
  assert.ok(!ruleset.definition().includes('drop'), 'nothing drops');
});
