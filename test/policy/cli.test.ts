/** `dnsgate validate` and `dnsgate explain` as users run them: output and exit codes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI, spawnDnsgate } from '../helpers/dnsgate.js';
import { EXAMPLES, PODS_FIXTURE, REPO, TempDir } from './files.js';

async function run(args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawnDnsgate(args);
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

function explainArgs(client: string, name: string, ...extra: string[]): string[] {
  return ['explain', '--policies', EXAMPLES, '--pods', PODS_FIXTURE, '--client', client, '--name', name, ...extra];
}

test('validate: exit 0 and no output when every file is valid', async () => {
  assert.deepEqual(await run(['validate', EXAMPLES]), { code: 0, stdout: '', stderr: '' });
});

test('validate: exit 1 with one file:line:col line per problem, warnings included', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write(
      'bad.yaml',
      `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: app == x
  egress:
    - action: Deny
      destination: {domains: [a.com]}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
`,
    );
    const result = await run(['validate', file, EXAMPLES]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stdout,
      [
        `${file}:5:20: spec.selector: invalid selector "app == x": expected a quoted string after "==", found label "x" (column 7)`,
        `${file}:8:30: spec.egress[0].destination.domains: domains are only allowed in Allow rules, not Deny`,
        `${file}:11:7: warning: skipping v1 Pod: dnsgate reads NetworkPolicy, GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, Tier, StagedNetworkPolicy, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy of projectcalico.org/v3`,
        '',
      ].join('\n'),
    );
  } finally {
    dir.remove();
  }
});

test('validate: warnings alone still exit 0', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write('w.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n');
    const result = await run(['validate', file]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^.*w\.yaml:2:7: warning: skipping v1 ConfigMap/);
  } finally {
    dir.remove();
  }
});

test('validate: a missing path, a missing argument or an unknown flag is a usage error (exit 2)', async () => {
  const missing = await run(['validate', EXAMPLES, '/nonexistent/policies']);
  assert.deepEqual(missing, { code: 2, stdout: '', stderr: 'dnsgate: /nonexistent/policies: cannot read: ENOENT\n' });
  assert.equal((await run(['validate'])).code, 2);
  assert.equal((await run(['validate', '--bogus', EXAMPLES])).code, 2);
});

test('explain --json: allowed, exit 0, exactly the documented object', async () => {
  const result = await run(explainArgs('10.244.3.10', 'app2-repo.example.com', '--json', '--protocol', 'tcp', '--port', '443'));
  assert.equal(result.code, 0);
  assert.equal(
    result.stdout,
    '{"allowed":true,"enforced":true,"client":{"ip":"10.244.3.10","namespace":"app2-ns","name":"svc3"},"rules":["application|app2-ns/application.app2-svc3-egress|allow|0"],' +
      '"decidedBy":"application|app2-ns/application.app2-svc3-egress|allow|0","reason":"rule","connections":[' +
      '{"address":null,"family":4,"protocol":"TCP","port":443,"allowed":true,"reason":"rule","rule":"application|app2-ns/application.app2-svc3-egress|allow|0","tier":"application","passedBy":[]}]}\n',
  );
  const otherPort = await run(explainArgs('10.244.3.10', 'app2-repo.example.com', '--json', '--protocol', 'TCP', '--port', '80'));
  assert.equal(otherPort.code, 1);
  assert.deepEqual(JSON.parse(otherPort.stdout).connections, [
    { address: null, family: 4, protocol: 'TCP', port: 80, allowed: false, reason: 'tier-default', rule: null, tier: 'application', passedBy: [] },
  ]);
});

test('explain --json: not allowed, exit 1', async () => {
  const result = await run(explainArgs('10.244.3.10', 'evil.example.org', '--json'));
  assert.equal(result.code, 1);
  assert.deepEqual(JSON.parse(result.stdout), {
    allowed: false,
    enforced: true,
    client: { ip: '10.244.3.10', namespace: 'app2-ns', name: 'svc3' },
    rules: [],
    decidedBy: null,
    reason: 'tier-default',
    connections: JSON.parse(result.stdout).connections,
  });
  assert.deepEqual(JSON.parse(result.stdout).connections[0], {
    address: null,
    family: 4,
    protocol: 'TCP',
    port: 1,
    allowed: false,
    reason: 'tier-default',
    rule: null,
    tier: 'application',
    passedBy: [],
  });
});

test('explain compares names by labels: evil\\.example.com is not under *.example.com', async () => {
  const allowed = await run(explainArgs('10.244.2.10', 'bob.example.com', '--json'));
  assert.equal(allowed.code, 0, 'the wildcard allows a real name under example.com');
  const dotted = await run(explainArgs('10.244.2.10', 'evil\\.example.com', '--json'));
  assert.deepEqual([dotted.code, JSON.parse(dotted.stdout).rules], [1, []]);
});

test('explain --json: an IP no pod has is an unknown, unrestricted client', async () => {
  const result = await run(explainArgs('192.0.2.7', 'anything.example', '--json'));
  assert.deepEqual([result.code, result.stdout], [0, '{"allowed":true,"enforced":false,"client":null,"rules":[],"decidedBy":null,"reason":"not-enforced","connections":[]}\n']);
});

test('explain in text: the decision, the client and each rule with its patterns', async () => {
  const allowed = await run(explainArgs('10.244.1.10', 'Bob.Example.com', '--protocol', 'UDP', '--port', '53'));
  assert.equal(allowed.code, 0);
  assert.equal(
    allowed.stdout,
    [
      'Bob.Example.com: allowed for pod rollout-test/labelled (10.244.1.10) by default|default.allow-egress-to-domain|allow|0',
      '  egress Allow rules matching the name (its addresses are learnt for them):',
      '    default|default.allow-egress-to-domain|allow|0  (*.example.com)',
      '    default|default.allow-egress-to-domains|allow|1  (*.example.com)',
      '    default|rollout-test/default.allow-egress-to-domain|allow|0  (*.example.com)',
      '    default|rollout-test/default.allow-egress-to-domains|allow|1  (*.example.com)',
      '  connections, as the firewall decides them:',
      '    UDP port 53 to any IPv4 address: allowed by default|default.allow-egress-to-domain|allow|0',
      '    UDP port 53 to any IPv6 address: allowed by default|default.allow-egress-to-domain|allow|0',
      '',
    ].join('\n'),
  );
  const denied = await run(explainArgs('10.244.1.10', 'example.com'));
  assert.equal(denied.code, 1);
  assert.match(denied.stdout, /^example\.com: not allowed for pod rollout-test\/labelled \(10\.244\.1\.10\)/);
});

test('explain: unusable inputs exit 2 and say why', async () => {
  const badIp = await run(explainArgs('10.0.0.300', 'a.com'));
  assert.deepEqual([badIp.code, badIp.stderr], [2, 'dnsgate: --client 10.0.0.300: not an IP address\n']);
  const badProtocol = await run(explainArgs('10.244.1.10', 'a.com', '--protocol', 'TCPX'));
  assert.deepEqual([badProtocol.code, badProtocol.stderr], [2, 'dnsgate: --protocol: unknown protocol "TCPX" (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)\n']);
  const badPort = await run(explainArgs('10.244.1.10', 'a.com', '--port', '70000'));
  assert.deepEqual([badPort.code, badPort.stderr], [2, 'dnsgate: --port: not a port number (1-65535): "70000"\n']);
  assert.equal((await run(['explain', '--policies', EXAMPLES, '--pods', PODS_FIXTURE, '--client', '10.244.1.10'])).code, 2);

  const dir = new TempDir();
  try {
    const policies = dir.write('p.yaml', 'apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: a.b}\n');
    const invalid = await run(['explain', '--policies', policies, '--pods', PODS_FIXTURE, '--client', '10.244.1.10', '--name', 'a.com']);
    assert.equal(invalid.code, 2);
    assert.equal(
      invalid.stderr,
      `${policies}:3:18: metadata.name: tier name "a.b" must be lowercase letters, digits and "-"\ndnsgate: --policies: 1 error(s); nothing explained\n`,
    );
    const pods = dir.write('pods.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {podIP: nope}\n');
    const badPods = await run(['explain', '--policies', EXAMPLES, '--pods', pods, '--client', '10.244.1.10', '--name', 'a.com']);
    assert.equal(badPods.code, 2);
    assert.match(badPods.stderr, /pods\.yaml:4:17: pod default\/p: invalid IP "nope"/);
  } finally {
    dir.remove();
  }
});

test('validate: a YAML document that is no Calico resource is named with the reason it is skipped', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write('compose.yaml', 'services:\n  web:\n    image: nginx\nvolumes: {}\n---\napiVersion: projectcalico.org/v3\nmetadata: {name: x}\n---\nkind: NetworkPolicy\nmetadata: {name: y}\n');
    const result = await run(['validate', file]);
    assert.equal(result.code, 0);
    assert.equal(
      result.stdout,
      [
        `${file}:1:1: warning: skipping a document without apiVersion and kind (keys: services, volumes): not a Kubernetes resource; dnsgate reads NetworkPolicy, GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, Tier, StagedNetworkPolicy, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy of projectcalico.org/v3`,
        `${file}:6:1: warning: skipping a projectcalico.org/v3 document without kind: dnsgate reads NetworkPolicy, GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, Tier, StagedNetworkPolicy, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy of projectcalico.org/v3`,
        `${file}:9:7: warning: skipping a NetworkPolicy without apiVersion: dnsgate reads NetworkPolicy, GlobalNetworkPolicy, NetworkSet, GlobalNetworkSet, Tier, StagedNetworkPolicy, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy of projectcalico.org/v3`,
        '',
      ].join('\n'),
    );
  } finally {
    dir.remove();
  }
});

test('explain --help shows a complete command, which works from the repository root with the shipped files', async () => {
  const help = await run(['explain', '--help']);
  assert.equal(help.code, 0);
  const example = /^\s*dnsgate (explain .*)$/m.exec(help.stdout)?.[1];
  assert.ok(example, help.stdout);
  assert.match(example, /--policies config\/policies --pods config\/pods\.yaml --client \S+ --name \S+/);
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, ...example.split(' '), '--json'], { cwd: REPO });
  const result = JSON.parse(stdout) as { allowed: boolean; enforced: boolean; rules: string[] };
  assert.equal(result.allowed, true);
  assert.equal(result.enforced, true);
  assert.ok(result.rules.length > 0);
});
