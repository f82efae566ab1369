import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, parseFlagValues, resolveConfig, resolvConfNameservers } from '../../src/config/load.js';
import { ConfigError } from '../../src/util/errors.js';
import { parseDuration } from '../../src/config/duration.js';

const dir = mkdtempSync(join(tmpdir(), 'dnsgate-config-'));
function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

test('Go durations', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('3s'), 3000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('0'), 0);
  for (const bad of ['', '3', '3x', 's', '-1s', '1s ']) assert.equal(parseDuration(bad), undefined, bad);
});

test('defaults match product.md', () => {
  const config = resolveConfig(parseFlagValues({ upstream: ['192.0.2.53'] }));
  assert.deepEqual(config.listen, [{ host: '127.0.0.1', port: 5353, family: 4 }]);
  assert.deepEqual(config.upstream, [{ kind: 'address', endpoint: { host: '192.0.2.53', port: 53, family: 4 } }]);
  assert.equal(config.policyMode, 'DelayDNSResponse');
  assert.equal(config.maxHold, 3000);
  assert.equal(config.holdTimeoutAction, 'release');
  assert.equal(config.minTtl, 2000);
  assert.equal(config.maxTtl, 604_800_000, 'product.md says none; capped at 7 days (RFC 8767) so a hostile TTL cannot pin an entry');
  assert.equal(config.scope, 'pod');
  assert.equal(config.dataplane, 'none');
  assert.equal(config.logStdout, true, 'stdout logs when no --log-dir');
  assert.equal(config.logFlushInterval, 1000, 'the dev resolver logs within a second');
  assert.equal(config.logAggregation, 1);
  assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9253, family: 4 });
  assert.equal(config.cacheSize, 0);
  assert.equal(resolveConfig(parseFlagValues({ upstream: ['192.0.2.53'], logDir: '/tmp/x' })).logStdout, false);
});

test('the DNS log window is 1s for the dev resolver, Calico\'s 300s in the other modes, and as given when given', () => {
  const window = (flags: Record<string, string | string[]>): number => resolveConfig(parseFlagValues({ upstream: ['192.0.2.53'], ...flags })).logFlushInterval;
  assert.equal(window({}), 1000);
  assert.equal(window({ pods: '/p.yaml', localPod: 'ns/app' }), 1000);
  assert.equal(window({ kubernetes: 'true' }), 300_000);
  assert.equal(window({ dataplane: 'nftables' }), 300_000);
  assert.equal(window({ logDir: '/tmp/x' }), 300_000);
  assert.equal(window({ logFlushInterval: '5m' }), 300_000);
  assert.equal(window({ kubernetes: 'true', logFlushInterval: '2s' }), 2000);
  for (const mode of ['node-local', 'cluster-upstream', 'sidecar']) {
    const config = resolveConfig({}, loadConfigFile(new URL(`../../../config/${mode}.yaml`, import.meta.url).pathname));
    assert.equal(config.logFlushInterval, 300_000, mode);
  }
});

test('--local-pod needs --pods or --kubernetes', () => {
  assert.throws(
    () => resolveConfig(parseFlagValues({ upstream: ['192.0.2.53'], localPod: 'ns/app' })),
    (error) => error instanceof ConfigError && error.message === '--local-pod: needs --pods or --kubernetes to know that pod',
  );
  assert.equal(resolveConfig(parseFlagValues({ upstream: ['192.0.2.53'], localPod: 'ns/app', pods: '/p.yaml' })).localPod, 'ns/app');
  assert.equal(resolveConfig(parseFlagValues({ upstream: ['192.0.2.53'], localPod: 'ns/app', kubernetes: 'true' })).localPod, 'ns/app');
});

test('upstream syntax: IP, IP:PORT, [IPv6]:PORT, bare IPv6 and k8s-service forms', () => {
  const config = resolveConfig(parseFlagValues({ upstream: ['10.0.0.10', '10.0.0.11:5300', '[fd00::a]:5353', 'fd00::b', 'k8s-service:kube-dns', 'k8s-service:dns/coredns:1053'] }));
  assert.deepEqual(config.upstream, [
    { kind: 'address', endpoint: { host: '10.0.0.10', port: 53, family: 4 } },
    { kind: 'address', endpoint: { host: '10.0.0.11', port: 5300, family: 4 } },
    { kind: 'address', endpoint: { host: 'fd00::a', port: 5353, family: 6 } },
    { kind: 'address', endpoint: { host: 'fd00::b', port: 53, family: 6 } },
    { kind: 'k8s-service', namespace: 'kube-system', name: 'kube-dns', port: undefined },
    { kind: 'k8s-service', namespace: 'dns', name: 'coredns', port: 1053 },
  ]);
});

test('a bad flag value is one line naming the flag', () => {
  const cases: [Record<string, string | string[]>, RegExp][] = [
    [{ maxHold: '3x' }, /^--max-hold: expected a duration/],
    [{ policyMode: 'Inline' }, /^--policy-mode: expected one of NoDelay, DelayDNSResponse/],
    [{ listen: ['localhost:53'] }, /^--listen: expected IP:PORT/],
    [{ upstream: ['k8s-service:Bad_Name'] }, /^--upstream: expected IP/],
    [{ logAggregation: '2' }, /^--log-aggregation: expected an integer from 0 to 1/],
    [{ logIncludeLabels: 'yes' }, /^--log-include-labels: expected true or false/],
    [{ admin: '127.0.0.1:99999' }, /^--admin: expected IP:PORT/],
    [{ stateSaveInterval: '600h' }, /^--state-save-interval: expected a duration up to 2147483647ms/],
    [{ tcpIdleTimeout: '1000h' }, /^--tcp-idle-timeout: expected a duration up to/],
  ];
  for (const [flags, pattern] of cases) {
    assert.throws(() => parseFlagValues(flags), (error: Error) => error instanceof ConfigError && pattern.test(error.message) && !error.message.includes('\n'), JSON.stringify(flags));
  }
  assert.throws(() => resolveConfig(parseFlagValues({ upstream: ['10.0.0.1'], minTtl: '10s', maxTtl: '5s' })), /--max-ttl/);
  // Learnt lifetimes are not timers: a long ceiling is fine.
  assert.equal(resolveConfig(parseFlagValues({ upstream: ['10.0.0.1'], maxTtl: '1000h' })).maxTtl, 3_600_000_000);
  const many = Array.from({ length: 31 }, (_, i) => `10.0.1.${i + 1}`);
  assert.throws(() => resolveConfig(parseFlagValues({ upstream: many })), (error: Error) => error instanceof ConfigError && /^--upstream: 31 given, at most 30 are supported$/.test(error.message));
  assert.equal(resolveConfig(parseFlagValues({ upstream: many.slice(0, 30) })).upstream.length, 30);
});

test('config file: keys as flags, file:line:col on errors, flags win', () => {
  const good = file('good.yaml', 'upstream:\n  - 10.0.0.10\n  - 10.0.0.11\nmax-hold: 1s\nscope: node\n');
  const fromFile = loadConfigFile(good);
  const config = resolveConfig(parseFlagValues({ scope: 'pod' }), fromFile);
  assert.equal(config.upstream.length, 2);
  assert.equal(config.maxHold, 1000);
  assert.equal(config.scope, 'pod', 'the flag wins over the file');

  const unknown = file('unknown.yaml', 'upstream: 10.0.0.10\n  \nmax_hold: 1s\n');
  assert.throws(() => loadConfigFile(unknown), { message: `${unknown}:3:1: unknown key "max_hold"` });
  const badValue = file('bad.yaml', 'upstream: 10.0.0.10\nmax-hold: soon\n');
  assert.throws(() => loadConfigFile(badValue), (error: Error) => error.message.startsWith(`${badValue}:2:11: max-hold: expected a duration`));
  const syntax = file('syntax.yaml', 'upstream: [10.0.0.10\n');
  assert.throws(() => loadConfigFile(syntax), (error: Error) => error instanceof ConfigError && error.message.startsWith(`${syntax}:`));
  assert.throws(() => loadConfigFile(join(dir, 'missing.yaml')), /cannot read config file: ENOENT/);
});

test('resolv.conf nameservers become the default upstreams', () => {
  const resolv = file('resolv.conf', '# comment\nsearch cluster.local\nnameserver 10.96.0.10\nnameserver fe80::1%eth0\noptions ndots:5\n');
  assert.deepEqual(resolvConfNameservers(resolv), [
    { kind: 'address', endpoint: { host: '10.96.0.10', port: 53, family: 4 } },
    { kind: 'address', endpoint: { host: 'fe80::1', port: 53, family: 6 } },
  ]);
});
