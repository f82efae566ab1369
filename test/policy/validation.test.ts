/**
 * One negative test per validation rule: each expects the exact one-line problem,
 * position included. Positions are 1-based line:col in the YAML given.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadPolicies } from '../../src/policy/loader.js';
import { formatProblem } from '../../src/policy/problems.js';
import { problemLines, TempDir } from './files.js';

const POLICY_HEAD = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
`;

/** A GlobalNetworkPolicy whose spec continues with `spec` (indented by two); its line 6 is the first of `spec`. */
function policy(spec: string): string {
  return POLICY_HEAD + spec.replace(/^(?=.)/gm, '  ');
}

async function expectProblems(yaml: string, expected: string[]): Promise<void> {
  assert.deepEqual(await problemLines(yaml), expected);
}

test('domains: each invalid pattern is an error at the pattern', async () => {
  await expectProblems(
    policy(`egress:
  - action: Allow
    destination:
      domains: ['*.*.mycompany.com', 'www.g*.com', 'www.google.*', '*', 'example.com.', '', 'a..b.com', 'exa mple.com', 'x_y.com', ${JSON.stringify(`${'a'.repeat(250)}.com`)}]
`),
    [
      'policies.yaml:9:19: spec.egress[0].destination.domains[0]: invalid domain "*.*.mycompany.com": only one "*" is allowed',
      'policies.yaml:9:40: spec.egress[0].destination.domains[1]: invalid domain "www.g*.com": "*" must be a whole label',
      'policies.yaml:9:54: spec.egress[0].destination.domains[2]: invalid domain "www.google.*": "*" cannot be the last label',
      'policies.yaml:9:70: spec.egress[0].destination.domains[3]: invalid domain "*": a bare "*" is not allowed',
      'policies.yaml:9:75: spec.egress[0].destination.domains[4]: invalid domain "example.com.": must not end with "."',
      'policies.yaml:9:91: spec.egress[0].destination.domains[5]: invalid domain "": empty domain',
      'policies.yaml:9:95: spec.egress[0].destination.domains[6]: invalid domain "a..b.com": empty label',
      'policies.yaml:9:107: spec.egress[0].destination.domains[7]: invalid domain "exa mple.com": invalid character " " (labels use a-z, 0-9 and "-")',
      'policies.yaml:9:123: spec.egress[0].destination.domains[8]: invalid domain "x_y.com": invalid character "_" (labels use a-z, 0-9 and "-")',
      `policies.yaml:9:134: spec.egress[0].destination.domains[9]: invalid domain "${'a'.repeat(250)}.com": longer than 253 characters`,
    ],
  );
});

test('domains are lowercased before checking, so mixed case is valid', async () => {
  await expectProblems(policy(`egress:\n  - action: Allow\n    destination:\n      domains: [API.Alice.COM, '*.Example.com']\n`), []);
});

test('domains in a Deny, Pass or Log rule are errors', async () => {
  await expectProblems(
    policy(`egress:
  - action: Deny
    destination: {domains: [a.com]}
  - action: Pass
    destination: {domains: [a.com]}
  - action: Log
    destination: {domains: [a.com]}
`),
    [
      'policies.yaml:8:30: spec.egress[0].destination.domains: domains are only allowed in Allow rules, not Deny',
      'policies.yaml:10:30: spec.egress[1].destination.domains: domains are only allowed in Allow rules, not Pass',
      'policies.yaml:12:30: spec.egress[2].destination.domains: domains are only allowed in Allow rules, not Log',
    ],
  );
});

test('domains in a source or in an ingress rule are errors', async () => {
  await expectProblems(
    policy(`egress:
  - action: Allow
    source: {domains: [a.com]}
ingress:
  - action: Allow
    destination: {domains: [a.com]}
  - action: Allow
    source: {domains: [a.com]}
`),
    [
      'policies.yaml:8:25: spec.egress[0].source.domains: domains are only allowed in the destination of an egress Allow rule',
      'policies.yaml:11:30: spec.ingress[0].destination.domains: domains are not allowed in ingress rules',
      'policies.yaml:13:25: spec.ingress[1].source.domains: domains are only allowed in the destination of an egress Allow rule',
    ],
  );
});

test('domains with destination nets or selector are errors; notNets, ports and namespaceSelector are fine', async () => {
  await expectProblems(
    policy(`egress:
  - action: Allow
    destination:
      domains: [a.com]
      nets: [10.0.0.0/8]
      selector: app == 'x'
  - action: Allow
    protocol: TCP
    destination:
      domains: [a.com]
      notNets: [10.0.0.0/8]
      ports: [443]
      namespaceSelector: global()
`),
    [
      "policies.yaml:10:15: spec.egress[0].destination.nets: nets must be left empty when domains are given",
      "policies.yaml:11:19: spec.egress[0].destination.selector: selector must be left empty when domains are given",
    ],
  );
});

test('allowedEgressDomains of NetworkSets and GlobalNetworkSets are checked like domains', async () => {
  await expectProblems(
    `apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: s, namespace: n}
spec:
  allowedEgressDomains: ['ok.com', 'www.g*.com']
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: s}
spec:
  allowedEgressDomains: ['a.*']
`,
    [
      'policies.yaml:5:36: spec.allowedEgressDomains[1]: invalid domain "www.g*.com": "*" must be a whole label',
      'policies.yaml:11:26: spec.allowedEgressDomains[0]: invalid domain "a.*": "*" cannot be the last label',
    ],
  );
});

test('actions: required, and one of Allow, Deny, Log, Pass', async () => {
  await expectProblems(policy(`egress:\n  - destination: {}\n  - action: allow\n  - action: Reject\n`), [
    'policies.yaml:7:7: spec.egress[0]: action is required (Allow, Deny, Log or Pass)',
    'policies.yaml:8:15: spec.egress[1].action: unknown action "allow" (Allow, Deny, Log or Pass)',
    'policies.yaml:9:15: spec.egress[2].action: unknown action "Reject" (Allow, Deny, Log or Pass)',
  ]);
});

test('protocols: names (any case), 1-255 as number or text; anything else is an error', async () => {
  await expectProblems(
    policy(`egress:
  - {action: Allow, protocol: TCP}
  - {action: Allow, protocol: udp}
  - {action: Allow, protocol: ICMPv6}
  - {action: Allow, protocol: SCTP}
  - {action: Allow, protocol: UDPLite}
  - {action: Allow, protocol: 47}
  - {action: Allow, protocol: '255'}
  - {action: Allow, protocol: 0}
  - {action: Allow, protocol: 256}
  - {action: Allow, protocol: GRE}
  - {action: Allow, notProtocol: [TCP]}
`),
    [
      'policies.yaml:14:33: spec.egress[7].protocol: unknown protocol 0 (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)',
      'policies.yaml:15:33: spec.egress[8].protocol: unknown protocol 256 (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)',
      'policies.yaml:16:33: spec.egress[9].protocol: unknown protocol "GRE" (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)',
      'policies.yaml:17:36: spec.egress[10].notProtocol: unknown protocol ["TCP"] (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)',
    ],
  );
});

test('ipVersion must be 4 or 6', async () => {
  await expectProblems(policy(`egress:\n  - {action: Allow, ipVersion: 4}\n  - {action: Allow, ipVersion: 5}\n`), [
    'policies.yaml:8:34: spec.egress[1].ipVersion: ipVersion must be 4 or 6, not 5',
  ]);
});

test('ports: numbers 0-65535, "first:last" ranges, port names; anything else is an error', async () => {
  await expectProblems(
    policy(`egress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [80, '443', '1000:2000', http-alt, 65536, '2000:1000', 'Bad_Name', -1, 1.5]
      notPorts: ['x:y']
`),
    [
      'policies.yaml:10:51: spec.egress[0].destination.ports[4]: invalid port 65536 (a number 0-65535, "first:last" or a port name)',
      'policies.yaml:10:58: spec.egress[0].destination.ports[5]: invalid port "2000:1000" (a number 0-65535, "first:last" or a port name)',
      'policies.yaml:10:71: spec.egress[0].destination.ports[6]: invalid port "Bad_Name" (a number 0-65535, "first:last" or a port name)',
      'policies.yaml:10:83: spec.egress[0].destination.ports[7]: invalid port -1 (a number 0-65535, "first:last" or a port name)',
      'policies.yaml:10:87: spec.egress[0].destination.ports[8]: invalid port 1.5 (a number 0-65535, "first:last" or a port name)',
      'policies.yaml:11:20: spec.egress[0].destination.notPorts[0]: invalid port "x:y" (a number 0-65535, "first:last" or a port name)',
    ],
  );
});

test('ports need TCP, UDP or SCTP; without a protocol only named ports are allowed', async () => {
  await expectProblems(
    policy(`egress:
  - action: Allow
    protocol: ICMP
    destination: {ports: [80]}
  - action: Allow
    protocol: 47
    source: {notPorts: [dns]}
  - action: Allow
    destination: {ports: [80, dns]}
  - action: Allow
    source: {ports: ['1:2']}
  - action: Allow
    destination: {ports: [dns]}
  - action: Allow
    protocol: SCTP
    destination: {ports: [9]}
  - action: Allow
    protocol: 17
    destination: {ports: [53]}
`),
    [
      'policies.yaml:9:28: spec.egress[0].destination.ports: protocol ICMP does not support ports (only TCP, UDP and SCTP do)',
      'policies.yaml:12:26: spec.egress[1].source.notPorts: protocol 47 does not support ports (only TCP, UDP and SCTP do)',
      'policies.yaml:14:28: spec.egress[2].destination.ports: port numbers and ranges need a protocol (TCP, UDP or SCTP)',
      'policies.yaml:16:23: spec.egress[3].source.ports: port numbers and ranges need a protocol (TCP, UDP or SCTP)',
    ],
  );
});

test('CIDRs: invalid ones, a family other than ipVersion, mixed families in one rule, catch-all notNets', async () => {
  await expectProblems(
    policy(`egress:
  - action: Allow
    destination: {nets: [10.0.0.0/33, 10.1.2.3, 'fd00::/8x', 300.1.1.1/8]}
  - action: Allow
    ipVersion: 6
    destination: {nets: [10.0.0.0/8]}
  - action: Allow
    source: {nets: [10.0.0.0/8]}
    destination: {nets: ['fd00::/8']}
  - action: Allow
    destination: {notNets: [0.0.0.0/0]}
  - action: Allow
    destination: {notNets: ['::/0']}
`),
    [
      'policies.yaml:8:28: spec.egress[0].destination.nets[0]: invalid CIDR "10.0.0.0/33"',
      'policies.yaml:8:51: spec.egress[0].destination.nets[2]: invalid CIDR "fd00::/8x"',
      'policies.yaml:8:64: spec.egress[0].destination.nets[3]: invalid CIDR "300.1.1.1/8"',
      'policies.yaml:11:27: spec.egress[1].destination.nets: CIDR version does not match ipVersion 6',
      'policies.yaml:14:27: spec.egress[2].destination.nets: a rule may not mix IPv4 and IPv6 CIDRs; write one rule per family',
      'policies.yaml:16:30: spec.egress[3].destination.notNets: a catch-all CIDR in notNets matches no traffic',
      'policies.yaml:18:30: spec.egress[4].destination.notNets: a catch-all CIDR in notNets matches no traffic',
    ],
  );
});

test('ICMP matches: type 0-254, code 0-255, code needs type, protocol ICMP or ICMPv6 of the rule IP version', async () => {
  await expectProblems(
    policy(`egress:
  - {action: Allow, protocol: ICMP, icmp: {type: 8, code: 0}}
  - {action: Allow, protocol: ICMP, icmp: {type: 255}}
  - {action: Allow, protocol: ICMP, icmp: {code: 300}}
  - {action: Allow, protocol: TCP, notICMP: {type: 1}}
  - {action: Allow, protocol: ICMPv6, ipVersion: 4, icmp: {type: 128}}
`),
    [
      'policies.yaml:8:52: spec.egress[1].icmp.type: ICMP type must be 0-254',
      'policies.yaml:9:52: spec.egress[2].icmp.code: ICMP code must be 0-255',
      'policies.yaml:9:52: spec.egress[2].icmp.code: ICMP code specified without an ICMP type',
      'policies.yaml:10:47: spec.egress[3].notICMP: ICMP matches need protocol ICMP or ICMPv6',
      'policies.yaml:11:61: spec.egress[4].icmp: protocol ICMPv6 does not match ipVersion 4',
    ],
  );
});

test('selector syntax errors point at the column inside plain, single- and double-quoted YAML scalars', async () => {
  await expectProblems(
    policy(`selector: app == x
egress:
  - action: Allow
    destination:
      selector: 'a == "x" &'
      notSelector: "has(b"
`),
    [
      'policies.yaml:6:20: spec.selector: invalid selector "app == x": expected a quoted string after "==", found label "x" (column 7)',
      'policies.yaml:10:29: spec.egress[0].destination.selector: invalid selector "a == \\"x\\" &": expected && (column 9)',
      'policies.yaml:11:28: spec.egress[0].destination.notSelector: invalid selector "has(b": expected ) to close has( (column 5)',
    ],
  );
});

test('a selector that is not verbatim in the file is reported at the start of its value', async () => {
  // Block scalars and escapes change the text, so the column cannot be mapped.
  await expectProblems(
    policy(`selector: >-
  app ==
  x
namespaceSelector: "a == \\"x\\" &"
`),
    [
      'policies.yaml:6:13: spec.selector: invalid selector "app == x": expected a quoted string after "==", found label "x" (column 7)',
      'policies.yaml:9:22: spec.namespaceSelector: invalid selector "a == \\"x\\" &": expected && (column 9)',
    ],
  );
});

test('selector columns map into JSON files too', async () => {
  const dir = new TempDir();
  try {
    const json = JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'p' }, spec: { selector: "app == 'x' ||" } });
    const file = dir.write('p.json', json);
    const result = await loadPolicies([file]);
    assert.ok(!result.ok);
    // 1-based column of the opening quote, plus one, plus the selector column.
    const column = json.indexOf('"app') + 2 + 13;
    assert.deepEqual(result.errors.map(formatProblem), [`${file}:1:${column}: spec.selector: invalid selector "app == 'x' ||": unexpected end of selector (column 13)`]);
  } finally {
    dir.remove();
  }
});

test('global() belongs only in a rule namespaceSelector, and alone there', async () => {
  await expectProblems(
    policy(`selector: global()
serviceAccountSelector: "!global()"
namespaceSelector: global()
egress:
  - action: Allow
    destination:
      selector: global()
      notSelector: global() || a == 'b'
      namespaceSelector: global() && a == 'b'
      serviceAccounts: {selector: global()}
  - action: Allow
    destination: {selector: color == 'red', namespaceSelector: global()}
`),
    [
      'policies.yaml:6:13: spec.selector: global() can only be used in a rule namespaceSelector',
      'policies.yaml:7:27: spec.serviceAccountSelector: global() can only be used in a rule namespaceSelector',
      'policies.yaml:8:22: spec.namespaceSelector: global() can only be used in a rule namespaceSelector',
      'policies.yaml:12:19: spec.egress[0].destination.selector: global() can only be used in a namespaceSelector',
      'policies.yaml:13:22: spec.egress[0].destination.notSelector: global() can only be used in a namespaceSelector',
      'policies.yaml:14:28: spec.egress[0].destination.namespaceSelector: global() must be the whole namespaceSelector',
      'policies.yaml:15:37: spec.egress[0].destination.serviceAccounts.selector: global() can only be used in a namespaceSelector',
    ],
  );
});

test('a policy in a tier that no Tier resource defines is an error; the default tier always exists', async () => {
  await expectProblems(
    `${policy('tier: security\n')}---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: q, namespace: n}
spec: {tier: default}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: platform}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: r, namespace: n}
spec: {tier: platform}
`,
    ['policies.yaml:6:9: tier "security" is not defined; add a Tier resource for it'],
  );
});

test('tiers: names without dots, the default tier keeps its order, defaultAction is Deny or Pass', async () => {
  await expectProblems(
    `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: a.b}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: default}
spec: {order: 5}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: c}
spec: {order: high, defaultAction: Allow}
---
${policy('tier: Bad.Tier\n')}`,
    [
      'policies.yaml:3:18: metadata.name: tier name "a.b" must be lowercase letters, digits and "-"',
      'policies.yaml:8:15: spec.order: the default tier\'s order is fixed at 1000000',
      'policies.yaml:13:15: spec.order: expected a number, not "high"',
      'policies.yaml:13:36: spec.defaultAction: defaultAction must be Deny or Pass, not "Allow"',
      'policies.yaml:20:9: spec.tier: tier name "Bad.Tier" must be lowercase letters, digits and "-"',
      'policies.yaml:20:9: tier "Bad.Tier" is not defined; add a Tier resource for it',
    ],
  );
});

test('duplicates: the same resource twice, or one policy named with and without its tier prefix', async () => {
  await expectProblems(
    `${policy('order: 1\n')}---
${policy('order: 2\n')}---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: default.q, namespace: n}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: q, namespace: n}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: q, namespace: other}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: q}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: q, namespace: n}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: q, namespace: n}
`,
    [
      'policies.yaml:8:1: duplicate GlobalNetworkPolicy default.p, first defined at policies.yaml:1:1',
      'policies.yaml:19:1: duplicate NetworkPolicy n/default.q, first defined at policies.yaml:15:1',
      'policies.yaml:35:1: duplicate NetworkSet n/q, first defined at policies.yaml:31:1',
    ],
  );
});

test('policy types: Ingress or Egress, no duplicates; egress rules without Egress are flagged', async () => {
  await expectProblems(policy(`types: [Egress, egress, Egress]\n`), [
    'policies.yaml:6:19: spec.types[1]: unknown policy type "egress" (Ingress or Egress)',
    'policies.yaml:6:27: spec.types[2]: duplicate policy type Egress',
  ]);
  await expectProblems(policy(`types: [Ingress]\negress:\n  - action: Allow\n`), [
    'policies.yaml:6:10: warning: spec.types: egress rules are ignored: types does not include Egress',
  ]);
});

test('structure: names, objects, lists, numbers and strings where Calico expects them', async () => {
  await expectProblems(
    `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {namespace: x}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: a}
spec: [1]
---
${policy(`order: first
selector: 5
egress: {action: Allow}
ingress:
  - just-a-string
`)}`,
    [
      'policies.yaml:3:11: GlobalNetworkPolicy without metadata.name',
      'policies.yaml:8:7: spec: expected an object',
      'policies.yaml:15:10: spec.order: expected a number, not "first"',
      'policies.yaml:16:13: spec.selector: expected a string, not 5',
      'policies.yaml:17:11: spec.egress: expected a list',
      'policies.yaml:19:7: spec.ingress[0]: expected a rule object',
    ],
  );
});

test('YAML syntax errors are positioned', async () => {
  const lines = await problemLines('apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^policies\.yaml:\d+:\d+: \S/);
});

test('other kinds and API versions are skipped with a warning naming them', async () => {
  await expectProblems(
    `apiVersion: v1
kind: Pod
metadata: {name: p}
---
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: p}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
`,
    [
      'policies.yaml:2:7: warning: skipping v1 Pod: dnsgate reads NetworkPolicy, GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, Tier, StagedNetworkPolicy, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy of projectcalico.org/v3',
      'policies.yaml:6:7: warning: skipping crd.projectcalico.org/v1 NetworkPolicy: dnsgate reads NetworkPolicy, GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, Tier, StagedNetworkPolicy, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy of projectcalico.org/v3',
      'policies.yaml:10:7: warning: skipping networking.k8s.io/v1 NetworkPolicy: dnsgate reads NetworkPolicy, GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, Tier, StagedNetworkPolicy, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy of projectcalico.org/v3',
    ],
  );
});

test('unknown fields and matches dnsgate cannot enforce are warnings', async () => {
  await expectProblems(
    `${policy(`selectr: a == 'b'
egress:
  - action: Allow
    destinaton: {}
    http: {methods: [GET]}
    destination:
      services: {name: s, namespace: n}
      domain: [a.com]
`)}---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: n}
spec: {namespaceSelector: all()}
`,
    [
      'policies.yaml:6:12: warning: spec.selectr: unknown field, ignored',
      'policies.yaml:9:19: warning: spec.egress[0].destinaton: unknown field, ignored',
      'policies.yaml:10:13: warning: spec.egress[0].http: application layer (HTTP) matches are not enforced by dnsgate',
      'policies.yaml:12:19: warning: spec.egress[0].destination.services: Kubernetes service matches are not enforced by dnsgate',
      'policies.yaml:13:17: warning: spec.egress[0].destination.domain: unknown field, ignored',
      'policies.yaml:18:27: warning: spec.namespaceSelector: unknown field, ignored',
    ],
  );
});

test('a path that cannot be read is an error naming it', async () => {
  const result = await loadPolicies(['/nonexistent/dnsgate-policies']);
  assert.ok(!result.ok);
  assert.deepEqual(result.errors.map(formatProblem), ['/nonexistent/dnsgate-policies:1:1: cannot read: ENOENT']);
});
