import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { CLI, spawnDnsgate, spawnReadyDnsgate, waitFor } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { metricSum, metricsText, scrapeMetrics } from '../helpers/wire.js';

const skip = missing('knotd', 'dig');
const net = new LoopbackSubnet();
const dir = mkdtempSync(join(tmpdir(), 'dnsgate-serve-'));
let knot: DnsServer;

before(async () => {
  if (skip) return;
  knot = await startKnot(net.address(2), { '.': standardRootZone(net.address(2)) });
});

after(async () => {
  await knot?.stop();
});

async function usageError(args: string[]): Promise<string> {
  const proc = spawnDnsgate(args);
  const code = await proc.exited;
  assert.equal(code, 2, `exit code of ${args.join(' ')}: ${proc.stderr()}`);
  const lines = proc.stderr().trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${proc.stderr()}`);
  return lines[0];
}

test('bad flags, values and config keys stop start-up with one line and exit 2', async () => {
  assert.match(await usageError(['serve', '--upstream', '127.0.0.1', '--max-hold', 'forever']), /--max-hold: expected a duration/);
  assert.match(await usageError(['serve', '--no-such-flag']), /unknown option '--no-such-flag'/);
  assert.match(await usageError(['serve', '--upstream', '127.0.0.1', '--scope', 'cluster']), /'--scope <scope>' argument 'cluster' is invalid\. Allowed choices are pod, node/);
  const scopeInFile = join(dir, 'scope.yaml');
  writeFileSync(scopeInFile, 'upstream: 127.0.0.1\nscope: cluster\n');
  assert.equal(await usageError(['serve', '-c', scopeInFile]), `dnsgate: ${scopeInFile}:2:8: scope: expected one of pod, node, got "cluster"`);
  assert.equal(await usageError(['serve', '--upstream', '127.0.0.1', '--local-pod', 'ns/app']), 'dnsgate: --local-pod: needs --pods or --kubernetes to know that pod');
  const config = join(dir, 'bad.yaml');
  writeFileSync(config, 'upstream: 127.0.0.1\nlisten: 127.0.0.1:5300\npolicy_mode: NoDelay\n');
  assert.equal(await usageError(['serve', '-c', config]), `dnsgate: ${config}:3:1: unknown key "policy_mode"`);
  assert.match(await usageError(['frobnicate']), /unknown command 'frobnicate'/);
});

test('a malformed pods file stops start-up with file:line:col', async () => {
  const pods = join(dir, 'bad-pods.yaml');
  writeFileSync(pods, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nstatus:\n  podIP: 10.0.0.300\n');
  assert.equal(await usageError(['serve', '--upstream', '127.0.0.1', '--admin', 'off', '--listen', `${net.address(30)}:5300`, '--pods', pods]), `dnsgate: ${pods}:6:10: pod default/a: invalid IP "10.0.0.300"`);
});

test('an invalid policy file stops start-up with one file:line:col line, and no reload message', async () => {
  const policies = join(dir, 'bad-policy.yaml');
  writeFileSync(policies, 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: p\nspec:\n  selector: app ==\n');
  const line = await usageError(['serve', '--upstream', '127.0.0.1', '--admin', 'off', '--listen', `${net.address(31)}:5300`, '--policies', policies]);
  assert.match(line, new RegExp(`^dnsgate: ${policies}:6:\\d+: `));
});

test('a listen address that cannot be bound is one line, exit 2', async () => {
  assert.match(await usageError(['serve', '--upstream', '127.0.0.1', '--admin', 'off', '--listen', '192.0.2.1:5300']), /--listen 192\.0\.2\.1:5300: cannot bind \(EADDRNOTAVAIL\)/);
});

test('version prints the package version', async () => {
  const proc = spawnDnsgate(['version']);
  assert.equal(await proc.exited, 0);
  assert.match(proc.stdout(), /^dnsgate \d+\.\d+\.\d+\n$/);
});

test('the build leaves the CLI executable, as the package bin that npx runs', async () => {
  assert.equal(statSync(CLI).mode & 0o111, 0o111, `mode ${(statSync(CLI).mode & 0o777).toString(8)}`);
  const { stdout } = await promisify(execFile)(CLI, ['version']);
  assert.match(stdout, /^dnsgate \d+\.\d+\.\d+\n$/);
});

test('--help lists the choices of every option that takes one of a list', async () => {
  const proc = spawnDnsgate(['serve', '--help']);
  assert.equal(await proc.exited, 0);
  const help = proc.stdout().replace(/\s+/g, ' ');
  for (const [flag, choices] of [['--scope', 'pod node'], ['--dataplane', 'none nftables'], ['--deny-response', 'off refused nxdomain'], ['--nft-hook', 'forward output'], ['--policy-mode', 'NoDelay DelayDNSResponse'], ['--hold-timeout-action', 'release servfail']]) {
    const listed = choices.split(' ').map((choice) => `"${choice}"`).join(', ');
    // Within the flag's own entry: no other `--flag <value>` between.
    assert.match(help, new RegExp(`${flag} <\\w+> ((?! --[a-z-]+ [<[]).)*\\(choices: ${listed}\\)`), flag);
  }
});

test('--help lists every flag of the product contract', async () => {
  const proc = spawnDnsgate(['serve', '--help']);
  assert.equal(await proc.exited, 0);
  for (const flag of ['--listen', '--upstream', '--policies', '--pods', '--kubernetes', '--policy-mode', '--max-hold', '--hold-timeout-action', '--extra-ttl', '--min-ttl', '--max-ttl', '--scope', '--dataplane', '--deny-response', '--log-dir', '--log-stdout', '--log-flush-interval', '--log-aggregation', '--log-per-node-limit', '--log-include-labels', '--log-max-file-size-mb', '--log-max-files', '--admin', '--state-file', '--cache-size', '--config']) {
    assert.ok(proc.stdout().includes(flag), `${flag} in --help`);
  }
});

test('the CLI serves, is ready, exports metrics, reloads pods on SIGHUP and exits 0 on SIGTERM', { skip }, async () => {
  const pods = join(dir, 'pods.yaml');
  writeFileSync(pods, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: ns\nstatus:\n  podIP: 10.0.0.1\n');
  const proc = await spawnReadyDnsgate(net.address(1), ['--upstream', `${knot.address}:${knot.port}`, '--pods', pods]);
  try {
    const health = await fetch(`http://127.0.0.1:${proc.adminPort}/healthz`);
    assert.equal(health.status, 200);
    const result = await dig('www.example.com', { server: net.address(1), port: proc.port });
    assert.deepEqual(result.answers.map((r) => r.data), ['192.0.2.10']);

    const metrics = await scrapeMetrics(proc.adminPort);
    assert.ok(metricSum(metrics, 'dnsgate_queries_total', { transport: 'udp', rcode: 'NoError' }) >= 1);
    const text = await metricsText(proc.adminPort);
    for (const name of ['dnsgate_upstream_request_duration_seconds', 'dnsgate_upstream_failures_total', 'dnsgate_malformed_packets_total', 'dnsgate_spoofed_replies_dropped_total', 'dnsgate_inflight_queries']) {
      assert.ok(text.includes(`# HELP ${name} `), `${name} exported`);
    }

    writeFileSync(pods, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: b\nstatus:\n  podIP: not-an-ip\n');
    proc.child.kill('SIGHUP');
    await waitFor(() => proc.stderr().includes('reload of pods kept the previous set'), 5000, 'the reload error');
    assert.match(proc.stderr(), /pods\.yaml:6:10: pod default\/b: invalid IP "not-an-ip"/);
    writeFileSync(pods, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: b\nstatus:\n  podIP: 10.0.0.2\n');
    proc.child.kill('SIGHUP');
    await waitFor(async () => metricSum(await scrapeMetrics(proc.adminPort), 'dnsgate_reloads_total', { what: 'pods', result: 'ok' }) === 1, 5000, 'the good reload');
  } finally {
    proc.child.kill('SIGTERM');
  }
  assert.equal(await proc.exited, 0);
});

test('the dev resolver writes a query\'s DNS log record on stdout while it runs, not at the end of a 300 s window', { skip }, async () => {
  const proc = await spawnReadyDnsgate(net.address(3), ['--upstream', `${knot.address}:${knot.port}`]);
  try {
    const result = await dig('www.example.com', { server: net.address(3), port: proc.port });
    assert.equal(result.status, 'NOERROR');
    // Generous for a loaded machine; the window is 1 s, where the old default waited 300 s.
    await waitFor(() => proc.stdout().includes('"qname":"www.example.com"'), 5000, 'the record on stdout');
  } finally {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
});

test('--local-pod: loopback clients are that pod, and an unknown pod stops start-up', { skip }, async () => {
  const pods = join(dir, 'local-pods.yaml');
  writeFileSync(pods, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: ns\nstatus:\n  podIP: 10.0.0.7\n');
  assert.equal(await usageError(['serve', '--upstream', '127.0.0.1', '--admin', 'off', '--listen', `${net.address(31)}:5300`, '--pods', pods, '--local-pod', 'ns/missing']), `dnsgate: ${pods}: --local-pod ns/missing: no such pod`);
  const proc = await spawnReadyDnsgate('127.0.0.1', ['--upstream', `${knot.address}:${knot.port}`, '--pods', pods, '--local-pod', 'ns/app']);
  try {
    const explanation = (await (await fetch(`http://127.0.0.1:${proc.adminPort}/v1/explain?client=127.0.0.1&name=www.example.com`)).json()) as { client: unknown };
    assert.deepEqual(explanation.client, { ip: '127.0.0.1', namespace: 'ns', name: 'app' });
  } finally {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
});
