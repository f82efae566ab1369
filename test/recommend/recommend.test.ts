/**
 * `dnsgate recommend` on DNS logs that a real `dnsgate serve` wrote without policies,
 * while pods resolved through it, unbound and knot; the recommendation is then read back
 * by `dnsgate validate` and `dnsgate explain` with the same pods.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadPodsFile } from '../../src/identity/podfile.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { explain } from '../../src/policy/explain.js';
import { loadPolicies } from '../../src/policy/loader.js';
import { podsYaml, type TestPod } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startUpstreams } from '../helpers/dns-servers.js';
import { CLI, spawnReadyDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';

const subnet = new LoopbackSubnet();
const KNOT = subnet.address(1);
const UNBOUND = subnet.address(2);
const DNSGATE = subnet.address(3);

const WEB_HASH = '7d9c8b7f4';
const web = (name: string, host: number): TestPod => ({
  name: `web-${WEB_HASH}-${name}`,
  namespace: 'shop',
  ip: subnet.address(host),
  generateName: `web-${WEB_HASH}-`,
  labels: { app: 'web', 'pod-template-hash': WEB_HASH },
});
const WEB_A = web('aaaaa', 10);
const WEB_B = web('bbbbb', 11);
const API: TestPod = { name: 'api-5f6d7c8b9-ccccc', namespace: 'shop', ip: subnet.address(12), generateName: 'api-5f6d7c8b9-', labels: { app: 'api', 'pod-template-hash': '5f6d7c8b9' } };
const COREDNS: TestPod = { name: 'coredns-565d847f94-gk6tn', namespace: 'kube-system', ip: UNBOUND, generateName: 'coredns-565d847f94-', labels: { 'k8s-app': 'kube-dns' } };

const CDN = Array.from({ length: 6 }, (_, i) => `s${i}.cdn.example.com`);
/** github.io is on the Public Suffix List (private section): siblings under it must stay exact. */
const PAGES = Array.from({ length: 6 }, (_, i) => `p${i}.github.io`);
const EXTRA_RECORDS = [
  ...CDN.map((name, i) => `${name}. IN A 192.0.2.${100 + i}`),
  ...PAGES.map((name, i) => `${name}. IN A 192.0.2.${110 + i}`),
  // A search domain that answers everything, as some corporate resolvers do.
  '*.corp.example.org. IN A 192.0.2.120',
].join('\n');

/** What each workload resolves; `s5.cdn.example.com` by API only, so web's wildcard must not cover it. */
const WEB_QUERIES = [...CDN.slice(0, 5), ...PAGES, 'www.example.com', 'www.example.com.corp.example.org', 'www.example.com.shop.svc.cluster.local', 'nothing.example.com'];
const API_QUERIES = ['multi.example.com', 'dual.example.com', 's5.cdn.example.com'];

const skip = missing('knotd', 'unbound', 'dig');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

interface PolicyDoc {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: {
    stagedAction?: string;
    selector?: string;
    egress?: { action: string; protocol?: string; destination?: { selector?: string; namespaceSelector?: string; ports?: number[]; domains?: string[] } }[];
    allowedEgressDomains?: string[];
  };
}

function documents(text: string): PolicyDoc[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as PolicyDoc | null)
    .filter((doc): doc is PolicyDoc => doc !== null);
}

function policyFor(docs: readonly PolicyDoc[], selector: string): PolicyDoc {
  const policy = docs.find((doc) => doc.spec.selector === selector);
  assert.ok(policy, `a policy with selector ${selector}: ${JSON.stringify(docs)}`);
  return policy;
}

describe('dnsgate recommend on logs of a real run', { skip }, () => {
  let upstreams: Awaited<ReturnType<typeof startUpstreams>>;
  let dir: string;
  let podsFile: string;
  let logDir: string;
  let recommended: Run;

  before(async () => {
    upstreams = await startUpstreams(KNOT, UNBOUND, {}, EXTRA_RECORDS);
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-recommend-'));
    podsFile = join(dir, 'pods.yaml');
    writeFileSync(podsFile, podsYaml([WEB_A, WEB_B, API, COREDNS]));
    logDir = join(dir, 'logs');
    // No policies: the observation step of the adoption path.
    const dnsgate = await spawnReadyDnsgate(DNSGATE, ['--upstream', `${UNBOUND}:${upstreams.unbound.port}`, '--pods', podsFile, '--log-dir', logDir, '--log-flush-interval', '300s']);
    try {
      const queries = [
        ...WEB_QUERIES.map((name, i) => ({ name, source: i % 2 === 0 ? WEB_A.ip : WEB_B.ip })),
        ...API_QUERIES.map((name) => ({ name, source: API.ip })),
      ];
      const results = await Promise.all(queries.map(({ name, source }) => dig(name, { server: DNSGATE, port: dnsgate.port, source })));
      assert.deepEqual(
        results.map((result) => result.status),
        queries.map(({ name }) => (name === 'nothing.example.com' || name.endsWith('.cluster.local') ? 'NXDOMAIN' : 'NOERROR')),
      );
    } finally {
      dnsgate.child.kill('SIGTERM');
    }
    assert.equal(await dnsgate.exited, 0, dnsgate.stderr());
    recommended = await cli(['recommend', '--logs', logDir]);
    assert.equal(recommended.code, 0, recommended.stderr);
    writeFileSync(join(dir, 'recommended.yaml'), recommended.stdout);
  });

  after(async () => {
    await upstreams?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the output validates and says what it was built from', async () => {
    const validate = await cli(['validate', join(dir, 'recommended.yaml')]);
    assert.equal(validate.code, 0, validate.stdout);
    assert.equal(validate.stdout, '');
    assert.match(recommended.stdout, new RegExp(`^# files: ${join(logDir, 'dns.log')}$`, 'm'));
    assert.match(recommended.stdout, /^# time range: \d{4}-\d\d-\d\dT[\d:.]+Z to \d{4}-\d\d-\d\dT[\d:.]+Z$/m);
    assert.match(recommended.stdout, /^# read: \d+ log records \(\d+ answers\); 2 workloads in 1 namespace$/m);
  });

  test('one NetworkPolicy per workload, its selector without per-revision labels, with the DNS carve-out over UDP and TCP', () => {
    const docs = documents(recommended.stdout);
    assert.deepEqual(docs.map((doc) => [doc.kind, doc.metadata.namespace, doc.metadata.name, doc.spec.selector]), [
      ['NetworkPolicy', 'shop', 'api-egress', "app == 'api'"],
      ['NetworkPolicy', 'shop', 'web-egress', "app == 'web'"],
    ]);
    for (const doc of docs) {
      const dns = (doc.spec.egress ?? []).slice(0, 2);
      assert.deepEqual(
        dns.map((rule) => [rule.action, rule.protocol, rule.destination?.selector, rule.destination?.namespaceSelector, rule.destination?.ports]),
        ['UDP', 'TCP'].map((protocol) => ['Allow', protocol, 'k8s-app == "kube-dns"', 'projectcalico.org/name == "kube-system"', [53]]),
      );
      assert.equal(doc.spec.egress?.length, 3, 'carve-out plus one Allow rule with the domains');
    }
  });

  test('siblings collapse, single names stay exact, nothing collapses onto a public suffix, excluded names are absent', () => {
    const docs = documents(recommended.stdout);
    const webDomains = policyFor(docs, "app == 'web'").spec.egress?.[2].destination?.domains;
    // *.cdn.example.com would cover s5.cdn.example.com, which only API resolved: web keeps its five exact.
    assert.deepEqual(webDomains, [...CDN.slice(0, 5), 'www.example.com', ...PAGES]);
    const apiDomains = policyFor(docs, "app == 'api'").spec.egress?.[2].destination?.domains;
    assert.deepEqual(apiDomains, ['s5.cdn.example.com', 'dual.example.com', 'multi.example.com']);
    assert.match(recommended.stdout, /1 never answered NOERROR with A\/AAAA \(NXDOMAIN only and such\), 1 under the cluster domain, 1 search-list expansions/);
  });

  test('with only one workload, five siblings become *.cdn.example.com', async () => {
    // Without the API workload's records, web's siblings collapse.
    const webOnly = readFileSync(join(logDir, 'dns.log'), 'utf8')
      .split('\n')
      .filter((line) => !line.includes('"client_name_aggr":"api-'))
      .join('\n');
    const run = await cli(['recommend', '--logs', '-'], webOnly);
    assert.equal(run.code, 0, run.stderr);
    const [policy] = documents(run.stdout);
    assert.deepEqual(policy.spec.egress?.[2].destination?.domains, ['*.cdn.example.com', 'www.example.com', ...PAGES]);
    assert.match(run.stdout, /^# files: -$/m);
  });

  test('read back with the same pods, each workload is allowed its own names and none only the other resolved', async () => {
    const policies = join(dir, 'recommended.yaml');
    const load = await loadPolicies([policies]);
    assert.ok(load.ok);
    const engine = new PolicyEngine(load.policies, await loadPodsFile(podsFile));
    const checks: { client: TestPod; name: string; allowed: boolean }[] = [
      ...[WEB_A, WEB_B].flatMap((client) => [...CDN.slice(0, 5), ...PAGES, 'www.example.com'].map((name) => ({ client, name, allowed: true }))),
      ...API_QUERIES.map((name) => ({ client: API, name, allowed: true })),
      ...API_QUERIES.map((name) => ({ client: WEB_A, name, allowed: false })),
      ...['www.example.com', ...CDN.slice(0, 5), PAGES[0], 'p9.github.io'].map((name) => ({ client: API, name, allowed: false })),
    ];
    for (const { client, name, allowed } of checks) {
      const explained = explain(engine, { client: client.ip, name });
      assert.equal(explained.enforced, true, `${client.name} ${name}`);
      assert.equal(explained.allowed, allowed, `${client.name} ${name}: ${JSON.stringify(explained)}`);
    }
    // The command line says the same.
    const run = await cli(['explain', '--policies', policies, '--pods', podsFile, '--client', API.ip, '--name', 'www.example.com', '--json']);
    assert.equal(run.code, 1);
    assert.equal((JSON.parse(run.stdout) as { allowed: boolean }).allowed, false);
  });

  test('a log directory with rotated files reads as the same log, oldest first', async () => {
    const rotated = join(dir, 'rotated');
    mkdirSync(rotated);
    const lines = readFileSync(join(logDir, 'dns.log'), 'utf8').trimEnd().split('\n');
    const half = Math.ceil(lines.length / 2);
    writeFileSync(join(rotated, 'dns.log.1'), `${lines.slice(0, half).join('\n')}\n`);
    writeFileSync(join(rotated, 'dns.log'), `${lines.slice(half).join('\n')}\n`);
    const run = await cli(['recommend', '--logs', rotated]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^# files: ${join(rotated, 'dns.log.1')}, ${join(rotated, 'dns.log')}$`, 'm'));
    const withoutFiles = (text: string): string => text.replace(/^# files: .*$/m, '');
    assert.equal(withoutFiles(run.stdout), withoutFiles(recommended.stdout));
  });

  test('--staged writes StagedNetworkPolicy with stagedAction Set, --network-set a selected NetworkSet; both validate', async () => {
    const run = await cli(['recommend', '--logs', logDir, '--staged', '--network-set', '--namespace', 'shop']);
    assert.equal(run.code, 0, run.stderr);
    const file = join(dir, 'staged.yaml');
    writeFileSync(file, run.stdout);
    const validate = await cli(['validate', file]);
    assert.equal(validate.code, 0, validate.stdout);
    const docs = documents(run.stdout);
    const staged = docs.filter((doc) => doc.kind === 'StagedNetworkPolicy');
    assert.equal(staged.length, 2);
    for (const policy of staged) {
      assert.equal(policy.spec.stagedAction, 'Set');
      const setSelector = policy.spec.egress?.[2].destination?.selector ?? '';
      const set = docs.find((doc) => doc.kind === 'NetworkSet' && setSelector === `dnsgate.io/egress-domains == '${doc.metadata.labels?.['dnsgate.io/egress-domains']}'`);
      assert.ok(set, `the NetworkSet selected by ${setSelector}`);
      assert.ok((set.spec.allowedEgressDomains ?? []).length > 0);
    }
  });

  test('--namespace keeps only that namespace; a bad --logs path is one line and exit 2', async () => {
    const none = await cli(['recommend', '--logs', logDir, '--namespace', 'elsewhere']);
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual(documents(none.stdout), []);
    const bad = await cli(['recommend', '--logs', join(dir, 'absent')]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, `dnsgate: --logs ${join(dir, 'absent')}: cannot read: ENOENT\n`);
  });
});
