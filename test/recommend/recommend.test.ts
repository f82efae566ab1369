/**
 * `dnsgate recommend` on DNS logs that a real `dnsgate serve` wrote without policies,
 * while pods resolved through it, unbound and knot; the recommendation is then read back
 * by `dnsgate validate` and `dnsgate explain` with the same pods. Everything runs in the
 * node namespace of topology.ts: the dig clients on loopback addresses there (`dig -b`
 * gives each its identity), and one pod in a namespace of its own, whose glibc resolver
 * (`getent`) goes down a Kubernetes search list that ends with a domain answering every
 * name. Two dnsgates log the same answers, one with --log-aggregation 0.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadPodsFile } from '../../src/identity/podfile.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { explain } from '../../src/policy/explain.js';
import { loadPolicies } from '../../src/policy/loader.js';
import { Topology } from '../dataplane/topology.js';
import { podsYaml, type AllowedJson, type TestPod } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, startUnbound, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { CLI, spawnReadyDnsgate, type DnsgateProcess } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';

const run = promisify(execFile);
const subnet = new LoopbackSubnet();
const KNOT = subnet.address(1);
const UNBOUND = subnet.address(2);
const DNSGATE = subnet.address(3);
const DNSGATE_UNAGGREGATED = subnet.address(4);
/** Where the pod's resolver finds the second dnsgate: an address of the node, beside the pod's gateway. */
const WORKER_SECOND_NAMESERVER = '10.77.1.3';

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
/** In another namespace: what it resolves must keep wildcards off even when only shop is recommended for. */
const REPORT: TestPod = { name: 'report-6c7d8e9f0-ddddd', namespace: 'billing', ip: subnet.address(13), generateName: 'report-6c7d8e9f0-', labels: { app: 'report', 'pod-template-hash': '6c7d8e9f0' } };
/** Resolves through glibc and a search list; its address is the pod namespace's (topology.ts). */
const WORKER: TestPod = { name: 'worker-4b5c6d7e8-eeeee', namespace: 'shop', ip: '10.77.1.2', generateName: 'worker-4b5c6d7e8-', labels: { app: 'worker', 'pod-template-hash': '4b5c6d7e8' } };
const COREDNS: TestPod = { name: 'coredns-565d847f94-gk6tn', namespace: 'kube-system', ip: UNBOUND, generateName: 'coredns-565d847f94-', labels: { 'k8s-app': 'kube-dns' } };

const CDN = Array.from({ length: 6 }, (_, i) => `s${i}.cdn.example.com`);
const IMG = Array.from({ length: 6 }, (_, i) => `i${i}.img.example.net`);
/** github.io is on the Public Suffix List (private section): siblings under it must stay exact. */
const PAGES = Array.from({ length: 6 }, (_, i) => `p${i}.github.io`);
/** A search domain that answers every name, as some corporate resolvers do. */
const CORP = 'corp.example.org';
const CORP_ADDRESS = '192.0.2.120';
const API_EXAMPLE_ADDRESS = '192.0.2.121';
const EXTRA_RECORDS = [
  ...CDN.map((name, i) => `${name}. IN A 192.0.2.${100 + i}`),
  ...PAGES.map((name, i) => `${name}. IN A 192.0.2.${110 + i}`),
  ...IMG.map((name, i) => `${name}. IN A 198.51.100.${200 + i}`),
  `*.${CORP}. IN A ${CORP_ADDRESS}`,
  `api.example.com. IN A ${API_EXAMPLE_ADDRESS}`,
].join('\n');
const SEARCH = `shop.svc.cluster.local svc.cluster.local cluster.local ${CORP}`;

/**
 * What each workload resolves. `s5.cdn.example.com` by API only and `i5.img.example.net`
 * by REPORT only, so web's wildcards must not cover them; multi.example.com three times.
 */
const WEB_QUERIES = [...CDN.slice(0, 5), ...IMG.slice(0, 5), ...PAGES, 'www.example.com', `www.example.com.${CORP}`, 'www.example.com.shop.svc.cluster.local', 'nothing.example.com'];
const API_QUERIES = ['multi.example.com', 'multi.example.com', 'multi.example.com', 'dual.example.com', 's5.cdn.example.com'];
const REPORT_QUERIES = ['i5.img.example.net'];
/** Through the pod's resolver: `api.example.com` is answered by the search domain before it is asked; `intranet` is a short name the search domain completes. */
const WORKER_LOOKUPS = ['api.example.com', 'intranet'];

const skip = missing('knotd', 'unbound', 'dig', 'getent', 'ip');
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

function domainsOf(docs: readonly PolicyDoc[], app: string): string[] | undefined {
  return policyFor(docs, `app == '${app}'`).spec.egress?.[2]?.destination?.domains;
}

/** The lines of a log written by one workload only. */
function linesOf(log: string, aggregatedName: string): string {
  return log
    .split('\n')
    .filter((line) => line.includes(`"client_name_aggr":"${aggregatedName}`))
    .join('\n');
}

describe('dnsgate recommend on logs of a real run', { skip }, () => {
  let topology: Topology;
  let knot: DnsServer;
  let unbound: DnsServer;
  let dir: string;
  let podsFile: string;
  let logDir: string;
  let unaggregatedLogDir: string;
  let resolvConfDir: string;
  let recommended: Run;

  /** The worker's addresses for `name`, as its glibc resolver finds them through `nameserver` and the search list. */
  async function workerLookup(name: string, nameserver: string): Promise<string[]> {
    writeFileSync(join(resolvConfDir, 'resolv.conf'), `nameserver ${nameserver}\nsearch ${SEARCH}\noptions ndots:5 timeout:3 attempts:2\n`);
    const [file, args] = topology.pods[0].namespace.command('getent', ['ahostsv4', name]);
    const { stdout } = await run(file, args, { timeout: 30_000 });
    return [...new Set(stdout.split('\n').map((line) => line.split(/\s+/)[0]).filter((ip) => ip !== ''))];
  }

  async function stop(dnsgate: DnsgateProcess): Promise<void> {
    dnsgate.child.kill('SIGTERM');
    assert.equal(await dnsgate.exited, 0, dnsgate.stderr());
  }

  before(async () => {
    topology = await Topology.create(1);
    const node = topology.node;
    await run('ip', ['-n', node.name, 'addr', 'add', `${WORKER_SECOND_NAMESERVER}/32`, 'dev', 'lo']);
    resolvConfDir = join('/etc/netns', topology.pods[0].namespace.name);
    mkdirSync(resolvConfDir, { recursive: true });
    knot = await startKnot(KNOT, { '.': standardRootZone(KNOT, EXTRA_RECORDS) }, { place: node });
    unbound = await startUnbound(UNBOUND, knot, node);
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-recommend-'));
    podsFile = join(dir, 'pods.yaml');
    writeFileSync(podsFile, podsYaml([WEB_A, WEB_B, API, REPORT, WORKER, COREDNS]));
    logDir = join(dir, 'logs');
    unaggregatedLogDir = join(dir, 'logs-unaggregated');
    // No policies: the observation step of the adoption path, logged by two dnsgates, one per aggregation kind.
    const serveArgs = (logs: string, aggregation: string, workerListen: string): string[] => [
      '--listen', `${workerListen}:53`,
      '--upstream', `${UNBOUND}:${unbound.port}`,
      '--pods', podsFile,
      '--log-dir', logs,
      '--log-aggregation', aggregation,
      '--log-flush-interval', '300s',
    ];
    const aggregated = await spawnReadyDnsgate(DNSGATE, serveArgs(logDir, '1', topology.pods[0].gateway), node);
    let unaggregated: (DnsgateProcess & { port: number }) | undefined;
    try {
      unaggregated = await spawnReadyDnsgate(DNSGATE_UNAGGREGATED, serveArgs(unaggregatedLogDir, '0', WORKER_SECOND_NAMESERVER), node);
      const queries = [
        ...WEB_QUERIES.map((name, i) => ({ name, source: i % 2 === 0 ? WEB_A.ip : WEB_B.ip })),
        ...API_QUERIES.map((name) => ({ name, source: API.ip })),
        ...REPORT_QUERIES.map((name) => ({ name, source: REPORT.ip })),
      ];
      for (const dnsgate of [aggregated, unaggregated]) {
        // One after another, so that the three asks of multi.example.com are three answers.
        for (const { name, source } of queries) {
          const result = await dig(name, { server: dnsgate === aggregated ? DNSGATE : DNSGATE_UNAGGREGATED, port: dnsgate.port, source, place: node, timeout: 5 });
          assert.equal(result.status, name === 'nothing.example.com' || name.endsWith('.cluster.local') ? 'NXDOMAIN' : 'NOERROR', name);
        }
      }
      for (const nameserver of [topology.pods[0].gateway, WORKER_SECOND_NAMESERVER]) {
        for (const name of WORKER_LOOKUPS) assert.deepEqual(await workerLookup(name, nameserver), [CORP_ADDRESS], `${name} through ${nameserver}`);
      }
    } finally {
      if (unaggregated) await stop(unaggregated);
      await stop(aggregated);
    }
    recommended = await cli(['recommend', '--logs', logDir]);
    assert.equal(recommended.code, 0, recommended.stderr);
    writeFileSync(join(dir, 'recommended.yaml'), recommended.stdout);
  });

  after(async () => {
    await unbound?.stop();
    await knot?.stop();
    await topology?.delete();
    if (resolvConfDir) rmSync(resolvConfDir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the output validates and says what it was built from', async () => {
    const validate = await cli(['validate', join(dir, 'recommended.yaml')]);
    assert.equal(validate.code, 0, validate.stdout);
    assert.equal(validate.stdout, '');
    assert.match(recommended.stdout, new RegExp(`^# files: ${join(logDir, 'dns.log')}$`, 'm'));
    assert.match(recommended.stdout, /^# time range: \d{4}-\d\d-\d\dT[\d:.]+Z to \d{4}-\d\d-\d\dT[\d:.]+Z$/m);
    assert.match(recommended.stdout, /^# read: \d+ log records \(\d+ answers\); 4 workloads in 2 namespaces$/m);
  });

  test('one NetworkPolicy per workload, its selector without per-revision labels, with the DNS carve-out over UDP and TCP', () => {
    const docs = documents(recommended.stdout);
    assert.deepEqual(docs.map((doc) => [doc.kind, doc.metadata.namespace, doc.metadata.name, doc.spec.selector]), [
      ['NetworkPolicy', 'billing', 'report-egress', "app == 'report'"],
      ['NetworkPolicy', 'shop', 'api-egress', "app == 'api'"],
      ['NetworkPolicy', 'shop', 'web-egress', "app == 'web'"],
      ['NetworkPolicy', 'shop', 'worker-egress', "app == 'worker'"],
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
    // *.cdn.example.com would cover s5.cdn.example.com, which only API resolved, and *.img.example.net
    // i5.img.example.net, which only REPORT of another namespace resolved: web keeps its names exact.
    assert.deepEqual(domainsOf(docs, 'web'), [...CDN.slice(0, 5), 'www.example.com', ...PAGES, ...IMG.slice(0, 5)]);
    assert.deepEqual(domainsOf(docs, 'api'), ['s5.cdn.example.com', 'dual.example.com', 'multi.example.com']);
    assert.deepEqual(domainsOf(docs, 'report'), ['i5.img.example.net']);
    assert.match(
      recommended.stdout,
      /^# left out \(workload, name\) pairs: 1 never answered NOERROR with A\/AAAA \(NXDOMAIN only and such\), 7 under the cluster domain, 2 search-list expansions, 0 below --min-count, 0 not expressible as a domain pattern$/m,
    );
  });

  test("names the pod's resolver took down the search list: the name meant is allowed, not the search domain's answer", async () => {
    // The log shows the resolver's path: the cluster search domains, then the search domain that answered; never the name itself.
    const asked = readFileSync(join(logDir, 'dns.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"client_name_aggr":"worker-'))
      .map((line) => (JSON.parse(line) as { qname: string }).qname)
      .sort();
    assert.deepEqual(asked, [
      'api.example.com.cluster.local',
      `api.example.com.${CORP}`,
      'api.example.com.shop.svc.cluster.local',
      'api.example.com.svc.cluster.local',
      'intranet.cluster.local',
      `intranet.${CORP}`,
      'intranet.shop.svc.cluster.local',
      'intranet.svc.cluster.local',
    ]);
    // intranet is a short name the search domain makes whole: that name is the one needed.
    assert.deepEqual(domainsOf(documents(recommended.stdout), 'worker'), ['api.example.com', `intranet.${CORP}`]);
    assert.match(recommended.stdout, new RegExp(`^# resolved only as a search domain answered them, and allowed as the names meant: api\\.example\\.com \\(asked as api\\.example\\.com\\.corp\\.example\\.org\\)\\.$`, 'm'));
    assert.match(recommended.stdout, /^# Its resolver asks these names only once the longer ones get NXDOMAIN: enforce with --deny-response nxdomain\.$/m);
  });

  test('enforced with --deny-response nxdomain, the pod resolves the name meant and its address is learnt', async () => {
    const dnsgate = await spawnReadyDnsgate(DNSGATE, [
      '--listen', `${topology.pods[0].gateway}:53`,
      '--upstream', `${UNBOUND}:${unbound.port}`,
      '--pods', podsFile,
      '--policies', join(dir, 'recommended.yaml'),
      '--deny-response', 'nxdomain',
      '--log-stdout', 'false',
    ], topology.node);
    try {
      assert.deepEqual(await workerLookup('api.example.com', topology.pods[0].gateway), [API_EXAMPLE_ADDRESS]);
      const reply = await topology.node.get(`http://127.0.0.1:${dnsgate.adminPort}/v1/allowed?client=${WORKER.ip}`);
      assert.equal(reply?.status, 200);
      const { entries } = JSON.parse(reply?.body ?? '{}') as AllowedJson;
      assert.deepEqual(entries.map((entry) => [entry.ip, entry.rules]), [[API_EXAMPLE_ADDRESS, ['default|shop/default.worker-egress|allow|2']]]);
    } finally {
      await stop(dnsgate);
    }
  });

  test('with only one workload, five siblings become *.cdn.example.com', async () => {
    // Without the other workloads' records, web's siblings collapse.
    const webOnly = linesOf(readFileSync(join(logDir, 'dns.log'), 'utf8'), 'web-');
    const run = await cli(['recommend', '--logs', '-'], webOnly);
    assert.equal(run.code, 0, run.stderr);
    const [policy] = documents(run.stdout);
    assert.deepEqual(policy.spec.egress?.[2].destination?.domains, ['*.cdn.example.com', 'www.example.com', ...PAGES, '*.img.example.net']);
    assert.match(run.stdout, /^# files: -$/m);
  });

  test('--wildcard-min sets how many siblings make a wildcard', async () => {
    const webOnly = linesOf(readFileSync(join(logDir, 'dns.log'), 'utf8'), 'web-');
    const six = await cli(['recommend', '--logs', '-', '--wildcard-min', '6'], webOnly);
    assert.equal(six.code, 0, six.stderr);
    assert.deepEqual(documents(six.stdout)[0].spec.egress?.[2].destination?.domains, [...CDN.slice(0, 5), 'www.example.com', ...PAGES, ...IMG.slice(0, 5)]);
    assert.match(six.stdout, /^# options: --min-count 1 --wildcard-min 6$/m);
    // Two: *.cdn.example.com and www.example.com are two children of example.com in turn.
    const two = await cli(['recommend', '--logs', '-', '--wildcard-min', '2'], webOnly);
    assert.equal(two.code, 0, two.stderr);
    assert.deepEqual(documents(two.stdout)[0].spec.egress?.[2].destination?.domains, ['*.example.com', ...PAGES, '*.img.example.net']);
    const tooFew = await cli(['recommend', '--logs', '-', '--wildcard-min', '1'], webOnly);
    assert.equal(tooFew.code, 2);
    assert.match(tooFew.stderr, /--wildcard-min/);
  });

  test('--min-count keeps names answered that often; a policy left with DNS only is written commented out, saying why', async () => {
    const run = await cli(['recommend', '--logs', logDir, '--min-count', '3']);
    assert.equal(run.code, 0, run.stderr);
    const file = join(dir, 'min-count.yaml');
    writeFileSync(file, run.stdout);
    assert.equal((await cli(['validate', file])).code, 0);
    // Only API asked a name three times; the others would be left allowing DNS only.
    const docs = documents(run.stdout);
    assert.deepEqual(docs.map((doc) => doc.metadata.name), ['api-egress']);
    assert.deepEqual(domainsOf(docs, 'api'), ['multi.example.com']);
    const webNotes = run.stdout.slice(run.stdout.indexOf('# shop/web-'), run.stdout.indexOf('# shop/worker-'));
    assert.match(webNotes, /^# left out: 1 never answered NOERROR with A\/AAAA \(NXDOMAIN only and such\), 1 under the cluster domain, 1 search-list expansions, 17 below --min-count$/m);
    assert.match(webNotes, /^# NOT APPLICABLE AS IS: it would allow DNS only, though 17 names it resolved with addresses were left out\.$/m);
    assert.match(webNotes, /^# Lower --min-count or allow the names it needs, and remove the leading "# ":$/m);
    assert.match(webNotes, /^# kind: NetworkPolicy$/m);
    assert.doesNotMatch(run.stdout, /resolved no name outside the cluster/);
    assert.match(run.stdout, /^# options: --min-count 3 --wildcard-min 5$/m);
  });

  test('read back with the same pods, each workload is allowed its own names and none only another resolved', async () => {
    const policies = join(dir, 'recommended.yaml');
    const load = await loadPolicies([policies]);
    assert.ok(load.ok);
    const engine = new PolicyEngine(load.policies, await loadPodsFile(podsFile));
    const webNames = [...CDN.slice(0, 5), ...IMG.slice(0, 5), ...PAGES, 'www.example.com'];
    const apiNames = ['multi.example.com', 'dual.example.com', 's5.cdn.example.com'];
    const checks: { client: TestPod; name: string; allowed: boolean }[] = [
      ...[WEB_A, WEB_B].flatMap((client) => webNames.map((name) => ({ client, name, allowed: true }))),
      ...apiNames.map((name) => ({ client: API, name, allowed: true })),
      ...apiNames.map((name) => ({ client: WEB_A, name, allowed: false })),
      ...['www.example.com', ...CDN.slice(0, 5), PAGES[0], 'p9.github.io', 'i5.img.example.net'].map((name) => ({ client: API, name, allowed: false })),
      { client: REPORT, name: 'i5.img.example.net', allowed: true },
      { client: REPORT, name: IMG[0], allowed: false },
      { client: WEB_B, name: 'i5.img.example.net', allowed: false },
      { client: WORKER, name: 'api.example.com', allowed: true },
      { client: WORKER, name: `intranet.${CORP}`, allowed: true },
      { client: WORKER, name: `api.example.com.${CORP}`, allowed: false },
      { client: WORKER, name: 'www.example.com', allowed: false },
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

  test('logs written with --log-aggregation 0 (one record per pod) give the same policies', async () => {
    const run = await cli(['recommend', '--logs', unaggregatedLogDir]);
    assert.equal(run.code, 0, run.stderr);
    const perPod = readFileSync(join(unaggregatedLogDir, 'dns.log'), 'utf8');
    assert.ok(perPod.includes(`"client_name":"${WEB_A.name}"`) && perPod.includes(`"client_name":"${WEB_B.name}"`), 'records name their pod');
    assert.deepEqual(documents(run.stdout), documents(recommended.stdout));
    const leftOut = (text: string): string | undefined => /^# left out \(workload, name\) pairs: .*$/m.exec(text)?.[0];
    assert.equal(leftOut(run.stdout), leftOut(recommended.stdout));
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
    assert.equal(staged.length, 3);
    for (const policy of staged) {
      assert.equal(policy.spec.stagedAction, 'Set');
      const setSelector = policy.spec.egress?.[2].destination?.selector ?? '';
      const set = docs.find((doc) => doc.kind === 'NetworkSet' && setSelector === `dnsgate.io/egress-domains == '${doc.metadata.labels?.['dnsgate.io/egress-domains']}'`);
      assert.ok(set, `the NetworkSet selected by ${setSelector}`);
      assert.ok((set.spec.allowedEgressDomains ?? []).length > 0);
    }
  });

  test('--namespace keeps only that namespace, and names other namespaces resolved still keep wildcards off', async () => {
    const shop = await cli(['recommend', '--logs', logDir, '--namespace', 'shop']);
    assert.equal(shop.code, 0, shop.stderr);
    const docs = documents(shop.stdout);
    assert.deepEqual(docs.map((doc) => `${doc.metadata.namespace}/${doc.metadata.name}`), ['shop/api-egress', 'shop/web-egress', 'shop/worker-egress']);
    // i5.img.example.net was resolved only by billing's REPORT: web's five siblings stay exact.
    assert.deepEqual(domainsOf(docs, 'web'), [...CDN.slice(0, 5), 'www.example.com', ...PAGES, ...IMG.slice(0, 5)]);
    assert.match(shop.stdout, /^# left out: 1 record of other namespaces$/m);
    const none = await cli(['recommend', '--logs', logDir, '--namespace', 'elsewhere']);
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual(documents(none.stdout), []);
  });

  test('a bad --logs path is one line and exit 2', async () => {
    const bad = await cli(['recommend', '--logs', join(dir, 'absent')]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, `dnsgate: --logs ${join(dir, 'absent')}: cannot read: ENOENT\n`);
  });
});
