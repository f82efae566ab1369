/**
 * Interception's nftables text, IPv4 and IPv6, loaded into real nftables in a namespace
 * of its own: installing twice (a restart) and taking over from another instance work,
 * leases carry timeouts, and a release empties the targets.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { missing } from '../helpers/env.js';
import { NetworkNamespace } from '../helpers/netns.js';
import { chainsText, leaseText, releaseText, setsText, type Instance } from '../../src/intercept/rules.js';

const run = promisify(execFile);
const skip = missing('nft', 'ip');
let namespace: NetworkNamespace;

const instance = (port: number): Instance => ({
  udp: { 4: { host: '10.0.0.1', port, family: 4 }, 6: { host: 'fd00::1', port, family: 6 } },
  tcp: { 4: { host: '10.0.0.1', port, family: 4 }, 6: { host: 'fd00::1', port, family: 6 } },
});
const TARGETS = [
  { ip: '10.96.0.10', port: 53 },
  { ip: 'fd00:96::a', port: 53 },
];

async function nft(text: string): Promise<void> {
  const [file, args] = namespace.command('nft', ['-f', '-']);
  await new Promise<void>((resolve, reject) => {
    const child = execFile(file, args, (error, _stdout, stderr) => (error ? reject(new Error(stderr || error.message)) : resolve()));
    child.stdin?.end(text);
  });
}

async function list(...args: string[]): Promise<string> {
  const [file, argv] = namespace.command('nft', ['list', ...args]);
  return (await run(file, argv)).stdout;
}

before(async () => {
  if (!skip) namespace = await NetworkNamespace.create('dnsgate-intercept');
});

after(async () => {
  await namespace?.delete();
});

test('node-local text: capture before routing, TCP NAT before kube-proxy, replies of every live instance', () => {
  const text = chainsText('dnsgate', 'forward', instance(5353));
  assert.match(text, /intercept_capture_forward \{ type filter hook prerouting priority raw;/);
  assert.match(text, /intercept_tcp_forward \{ type nat hook prerouting priority -110;/);
  assert.match(text, /ip daddr set 10\.0\.0\.1 udp dport set 5353 notrack/);
  assert.match(text, /ip6 daddr set fd00::1 udp dport set 5353 notrack/);
  assert.match(text, /dnat ip6 to \[fd00::1\]:5353/);
  assert.doesNotMatch(text, /th sport 61000-65535 return/, 'on the node, dnsgate\'s own queries never pass prerouting');
  assert.match(text, /add rule inet dnsgate intercept_capture_forward iif "lo" return/, 'but for those to an endpoint on the node, which come in over loopback');
  const sidecar = chainsText('dnsgate', 'output', instance(5354));
  assert.match(sidecar, /intercept_capture_output \{ type route hook output priority raw;/);
  assert.match(sidecar, /add rule inet dnsgate intercept_capture_output meta l4proto \{ udp, tcp \} th sport 61000-65535 return/);
  assert.match(sidecar, /add rule inet dnsgate intercept_tcp_output meta l4proto \{ udp, tcp \} th sport 61000-65535 return/);
});

test('the text loads into real nftables, again on a restart, and a successor replaces the chains in one go', { skip }, async () => {
  await nft(setsText('dnsgate') + leaseText({ table: 'dnsgate', instance: instance(5353), targets: [], dropped: [] }));
  await nft(chainsText('dnsgate', 'forward', instance(5353)) + leaseText({ table: 'dnsgate', instance: instance(5353), targets: TARGETS, dropped: [] }));
  // The same again, as a restarted process does it, then a successor on another port.
  await nft(chainsText('dnsgate', 'forward', instance(5353)) + leaseText({ table: 'dnsgate', instance: instance(5353), targets: TARGETS, dropped: [] }));
  await nft(chainsText('dnsgate', 'forward', instance(40000)) + leaseText({ table: 'dnsgate', instance: instance(40000), targets: TARGETS, dropped: [] }));
  const capture = await list('chain', 'inet', 'dnsgate', 'intercept_capture_forward');
  assert.match(capture, /udp dport set 40000/);
  assert.doesNotMatch(capture, /udp dport set 5353/);
  const targets4 = await list('set', 'inet', 'dnsgate', 'intercept_targets4');
  assert.match(targets4, /10\.96\.0\.10 \. udp \. 53 timeout 5s/);
  assert.match(targets4, /10\.96\.0\.10 \. tcp \. 53 timeout 5s/);
  assert.match(await list('set', 'inet', 'dnsgate', 'intercept_targets6'), /fd00:96::a \. udp \. 53 timeout 5s/);
  const instances = await list('set', 'inet', 'dnsgate', 'intercept_instances6');
  assert.match(instances, /fd00::1 \. 5353 timeout 5s/);
  assert.match(instances, /fd00::1 \. 40000 timeout 5s/);

  await nft(leaseText({ table: 'dnsgate', instance: instance(40000), targets: [TARGETS[1]], dropped: [TARGETS[0]] }));
  assert.doesNotMatch(await list('set', 'inet', 'dnsgate', 'intercept_targets4'), /10\.96\.0\.10/, 'a target no longer wanted goes');
  await nft(releaseText('dnsgate'));
  assert.doesNotMatch(await list('set', 'inet', 'dnsgate', 'intercept_targets6'), /fd00:96::a/);
});
