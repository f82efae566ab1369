/**
 * The nftables dataplane against real nftables, in namespaces of its own: pods routed
 * through a node namespace, where dnsgate answers on their gateway address, to a world
 * of TCP listeners. See topology.ts and cluster.ts for the network and the policies.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, startUnbound, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { waitFor } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { ADMIN, TABLE, clusterPodsYaml, clusterPolicies, nftIn, startNodeDnsgate, worldRecords, type NodeDnsgate } from './cluster.js';
import { Topology, type PodNetwork } from './topology.js';

const run = promisify(execFile);
const skip = missing('nft', 'ip', 'knotd', 'unbound', 'dig', 'getent');
let topology: Topology;
let knot: DnsServer | undefined;
let unbound: DnsServer | undefined;
let dnsgate: NodeDnsgate | undefined;
let fixture: string;
let webA: PodNetwork;
let webB: PodNetwork;
let other: PodNetwork;

function dnsgateArgs(): string[] {
  return ['--upstream', `127.0.0.1:${unbound!.port}`, '--pods', join(fixture, 'pods.yaml'), '--policies', join(fixture, 'policies.yaml')];
}

before(async () => {
  if (skip) return;
  topology = await Topology.create(3);
  [webA, webB, other] = topology.pods;
  fixture = writeFixture({ 'pods.yaml': clusterPodsYaml(topology.pods.map((pod) => pod.ip)), 'policies.yaml': clusterPolicies() });
  knot = await startKnot('127.0.0.2', { '.': standardRootZone('127.0.0.2', worldRecords()) }, { port: 5300, place: topology.node });
  unbound = await startUnbound('127.0.0.1', knot, topology.node);
  dnsgate = await startNodeDnsgate(topology.node, topology.pods.map((pod) => pod.gateway), dnsgateArgs());
});

after(async () => {
  await dnsgate?.stop(true);
  await unbound?.stop();
  await knot?.stop();
  await topology?.delete();
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

const digFrom = (pod: PodNetwork, name: string) => dig(name, { server: pod.gateway, port: 53, place: pod.namespace, timeout: 3 });

test('a selected pod is blocked before any lookup; the unselected pod is untouched', { skip }, async () => {
  assert.equal(await webA.agent.connects('203.0.113.1', 443, 500), false, 'web-a reaches nothing it did not resolve');
  assert.equal(await webA.agent.connects('203.0.113.51', 80, 500), false);
  assert.equal(await other.agent.connects('203.0.113.1', 443), true, 'other is not enforced');
  assert.equal(await other.agent.connects('203.0.113.51', 80), true);
  const table = await nftIn(topology.node, 'list', 'table', 'inet', TABLE);
  assert.match(table, /hook forward priority filter; policy accept;/);
  assert.ok(!table.includes(other.ip), 'the unselected pod has no place in the table');
});

test('DelayDNSResponse: the very first connection to each answered IP passes, 40 names in a row', { skip }, async () => {
  // dnsgate runs as root in the node's namespace, so the elements an answer waits for go over its own netlink socket.
  assert.match(dnsgate!.proc.stderr(), /learnt elements through netlink/);
  for (let i = 1; i <= 40; i++) {
    const result = await webA.agent.resolveConnect(`n${i}.allowed.world`, webA.gateway, 443);
    assert.deepEqual(result.ips, [`203.0.113.${i}`]);
    assert.deepEqual(result.ok, [true], `first connection to n${i}.allowed.world`);
  }
});

test('after dig, the allowed port passes and a port outside the rule stays blocked', { skip }, async () => {
  const answer = await digFrom(webA, 'web.allowed.world');
  assert.deepEqual(answer.answers.map((record) => record.data), ['203.0.113.50']);
  assert.equal(await webA.agent.connects('203.0.113.50', 443), true);
  assert.equal(await webA.agent.connects('203.0.113.50', 80, 500), false, 'the domain rule allows TCP 443 only');
});

test('a name no rule allows is answered and stays blocked', { skip }, async () => {
  const answer = await digFrom(webA, 'nope.denied.world');
  assert.deepEqual(answer.answers.map((record) => record.data), ['203.0.113.51']);
  assert.equal(await webA.agent.connects('203.0.113.51', 443, 500), false);
});

test('pod scope: an IP only the other pod resolved stays blocked until this pod resolves it', { skip }, async () => {
  assert.deepEqual((await webB.agent.resolveConnect('shared.allowed.world', webB.gateway, 443)).ok, [true]);
  assert.equal(await webA.agent.connects('203.0.113.52', 443, 500), false, 'web-b learnt it, not web-a');
  assert.deepEqual((await webA.agent.resolveConnect('shared.allowed.world', webA.gateway, 443)).ok, [true]);
});

test('Deny rules and order win: an earlier Deny, and a Deny in an earlier tier, block allowed names', { skip }, async () => {
  const blocked = await webA.agent.resolveConnect('blocked.allowed.world', webA.gateway, 443, 500);
  assert.deepEqual(blocked.ok, [false], 'deny-first (order 5) comes before web-egress (order 10)');
  const tier = await webA.agent.resolveConnect('n45.allowed.world', webA.gateway, 443, 500);
  assert.deepEqual(tier.ok, [false], 'the platform tier denies it before the default tier allows it');
});

test('nets and pod-selector rules: no lookup needed, and a Deny before them wins', { skip }, async () => {
  assert.equal(await webA.agent.connects('203.0.113.203', 5432), true, 'inside the nets');
  assert.equal(await webA.agent.connects('203.0.113.201', 5432, 500), false, 'the Deny rule before it');
  assert.equal(await webA.agent.connects('203.0.113.210', 5432, 500), false, 'outside the nets');
  assert.equal(await webA.agent.connects('203.0.113.150', 8080), true, 'the api pod, by selector, port in range');
  assert.equal(await webA.agent.connects('203.0.113.151', 8080, 500), false, 'not a pod the selector picks');
  assert.equal(await webA.agent.connects('203.0.113.150', 443, 500), false, 'the api pod on a port outside the range');
});

test('the glibc resolver works as a client: getent through resolv.conf, then the connection passes', { skip }, async () => {
  const dir = join('/etc/netns', webA.namespace.name);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'resolv.conf'), `nameserver ${webA.gateway}\noptions timeout:3 attempts:1\n`);
    const [file, args] = webA.namespace.command('getent', ['ahostsv4', 'glibc.allowed.world']);
    const { stdout } = await run(file, args);
    assert.match(stdout, /^203\.0\.113\.55\s/m);
    assert.equal(await webA.agent.connects('203.0.113.55', 443), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('elements expire with their TTL (the 2 s floor), in the kernel', { skip }, async () => {
  assert.deepEqual((await webA.agent.resolveConnect('short.allowed.world', webA.gateway, 443)).ok, [true]);
  await waitFor(async () => !(await nftIn(topology.node, 'list', 'table', 'inet', TABLE)).includes('203.0.113.53'), 5000, 'the element to expire');
  assert.equal(await webA.agent.connects('203.0.113.53', 443, 500), false);
});

test('a policy change swaps the chains atomically and keeps what was learnt', { skip }, async () => {
  assert.equal(await webA.agent.connects('203.0.113.70', 7000, 500), false);
  const extra = `    - action: Allow
      protocol: TCP
      destination:
        nets: [203.0.113.70/32]
        ports: [7000]
`;
  writeFileSync(join(fixture, 'policies.yaml'), clusterPolicies(extra));
  await waitFor(() => webA.agent.connects('203.0.113.70', 7000, 300), 10_000, 'the new rule to take effect');
  assert.equal(await webA.agent.connects('203.0.113.1', 443), true, 'n1, learnt before the swap, still passes');
  assert.equal(await webA.agent.connects('203.0.113.51', 443, 500), false);
});

/** A counter's value in dnsgate's /metrics. */
async function metric(name: string): Promise<number> {
  const text = (await topology.node.get(`http://${ADMIN}/metrics`))?.body ?? '';
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** The `nft -i` dnsgate runs (its child: `ip netns exec` execs dnsgate, keeping the PID). */
function nftChildOf(pid: number): number | undefined {
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.includes('(nft)') && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

test('nft dying is reported, nft is restarted and the table resynced; learning goes on', { skip }, async () => {
  const pid = nftChildOf(dnsgate!.proc.child.pid as number);
  assert.ok(pid, 'dnsgate runs nft -i');
  process.kill(pid, 'SIGKILL');
  await waitFor(async () => (await metric('dnsgate_nftables_restarts_total')) === 1, 5000, 'the restart to be counted');
  await waitFor(async () => (await topology.node.get(`http://${ADMIN}/readyz`))?.status === 200, 5000, 'the resync');
  assert.ok((await metric('dnsgate_nftables_swap_duration_seconds_count{operation="resync"}')) >= 1, 'the resync swap is timed');
  assert.equal(await webA.agent.connects('203.0.113.1', 443), true, 'learnt before');
  assert.deepEqual((await webA.agent.resolveConnect('n41.allowed.world', webA.gateway, 443)).ok, [true], 'learnt after');
  assert.match(dnsgate!.proc.stderr(), /nftables: nft killed by SIGKILL; restarting nft and resyncing/);
});

/**
 * Every change of /readyz, seen from inside the node namespace, until it has been
 * unready and ready again (or `timeoutMs` passed).
 */
async function pollReadiness(timeoutMs: number, polling: string): Promise<{ status: number; body: string }[]> {
  const script = `import { writeFileSync } from 'node:fs';
const states = []; const end = Date.now() + ${timeoutMs};
while (Date.now() < end && !(states.some((s) => s.status === 503) && states.at(-1).status === 200)) {
  const r = await fetch(process.argv[1]).catch(() => undefined);
  const state = r ? { status: r.status, body: await r.text() } : { status: 0, body: '' };
  if (states.at(-1)?.status !== state.status) states.push(state);
  if (states.length === 1) writeFileSync(process.argv[2], '');
  await new Promise((resolve) => setTimeout(resolve, 20));
}
process.stdout.write(JSON.stringify(states));`;
  const [file, args] = topology.node.command(process.execPath, ['--input-type=module', '-e', script, `http://${ADMIN}/readyz`, polling]);
  const { stdout } = await run(file, args);
  return JSON.parse(stdout) as { status: number; body: string }[];
}

test('a failed batch is counted, shows in /readyz, and the resync that follows puts the table back', { skip }, async () => {
  // The unready time lasts until the resync a second after the failure: a poller that
  // runs throughout sees it however slow the machine is, once it has started polling.
  const polling = join(fixture, 'readiness-polling');
  const readiness = pollReadiness(15_000, polling);
  await waitFor(() => existsSync(polling), 10_000, 'the readiness poller to start');
  await nftIn(topology.node, 'delete', 'table', 'inet', TABLE);
  // The batch that should carry this name's IP finds no table: the answer is released without it.
  await webA.agent.resolveConnect('n42.allowed.world', webA.gateway, 443, 300);
  assert.equal(await metric('dnsgate_hold_failures_total{action="release"}'), 1);
  assert.equal(await metric('dnsgate_nftables_errors_total{operation="batch"}'), 1);
  const states = await readiness;
  const unready = states.find((state) => state.status === 503);
  assert.ok(unready, `not ready after the failure: ${JSON.stringify(states)}`);
  assert.match(unready.body, /nftables batch failed: .*no such file or directory.*: add element inet dnsgate learnt_pod4_\w+ \{ 10\.77\.1\.2 \. 203\.0\.113\.42 timeout \d+ms \}; resyncing/i);
  assert.equal(states.at(-1)?.status, 200, 'ready again after the resync');
  assert.equal(await webA.agent.connects('203.0.113.42', 443), true, 'the resync wrote the whole map, n42 included');
  assert.equal(await webA.agent.connects('203.0.113.51', 443, 500), false, 'and enforces again');
});

test('a restart keeps enforcement without a gap (fail-static)', { skip }, async () => {
  assert.deepEqual((await webA.agent.resolveConnect('restart.allowed.world', webA.gateway, 443)).ok, [true]);
  const done = join(fixture, 'restart-done');
  const allowedProbe = webA.agent.probe('203.0.113.54', 443, done);
  const blockedProbe = webB.agent.probe('203.0.113.54', 443, done, 100, 200);
  await dnsgate!.stop(true);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.match(await nftIn(topology.node, 'list', 'table', 'inet', TABLE), /203\.0\.113\.54/, 'the table stays while dnsgate is down');
  assert.equal(await other.agent.connects('203.0.113.54', 80), true, 'the unselected pod, while dnsgate is down');
  dnsgate = await startNodeDnsgate(topology.node, topology.pods.map((pod) => pod.gateway), dnsgateArgs());
  await new Promise((resolve) => setTimeout(resolve, 500));
  writeFileSync(done, '');
  const allowed = await allowedProbe;
  const blocked = await blockedProbe;
  assert.ok(allowed.length >= 10, `probed ${allowed.length} times`);
  assert.deepEqual(allowed.filter((ok) => !ok), [], 'web-a reached the learnt IP throughout');
  assert.deepEqual(blocked.filter((ok) => ok), [], 'web-b, which never resolved it, was blocked throughout');
  assert.equal((await topology.node.get(`http://${ADMIN}/readyz`))?.status, 200);
  assert.deepEqual((await webA.agent.resolveConnect('swap.allowed.world', webA.gateway, 443)).ok, [true], 'and learns again');
});

test('node scope: an IP one pod resolved serves every pod the rule selects, and no other', { skip }, async () => {
  await dnsgate!.stop(true);
  dnsgate = await startNodeDnsgate(topology.node, topology.pods.map((pod) => pod.gateway), [...dnsgateArgs(), '--scope', 'node']);
  assert.match(await nftIn(topology.node, 'list', 'table', 'inet', TABLE), /set learnt_node4_\w+ \{\n\t\ttype ipv4_addr\n/);
  assert.deepEqual((await webB.agent.resolveConnect('n43.allowed.world', webB.gateway, 443)).ok, [true]);
  assert.equal(await webA.agent.connects('203.0.113.43', 443), true, 'web-a, selected by the same rule, shares it');
  assert.equal(await webA.agent.connects('203.0.113.43', 80, 500), false, 'on the rule’s port only');
});
