/**
 * An upstream the node has no route to, inside a network namespace with only its
 * loopback: queries fail over to a healthy upstream, or get SERVFAIL, and /readyz says
 * why while no upstream is healthy. Nothing leaves the namespace: without a route,
 * the kernel refuses the sends.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { spawnDnsgate, waitFor, type DnsgateProcess } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { NetworkNamespace } from '../helpers/netns.js';

const skip = missing('knotd', 'dig', 'ip');
/** TEST-NET-ish private address with no route in the namespace. */
const UNROUTED = '10.123.0.1';
let namespace: NetworkNamespace;
let knot: DnsServer;
const processes: DnsgateProcess[] = [];

before(async () => {
  if (skip) return;
  namespace = await NetworkNamespace.create('dnsgate-noroute');
  knot = await startKnot('127.0.0.1', { '.': standardRootZone('127.0.0.1') }, { port: 5300, place: namespace });
});

after(async () => {
  for (const proc of processes) {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
  await knot?.stop();
  await namespace?.delete();
});

async function serve(port: number, adminPort: number, upstreams: string[]): Promise<DnsgateProcess> {
  const proc = spawnDnsgate(['serve', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`, '--log-stdout', 'false', ...upstreams.flatMap((u) => ['--upstream', u]), '--upstream-timeout', '500ms', '--query-timeout', '1s'], namespace);
  processes.push(proc);
  await waitFor(async () => (await namespace.get(`http://127.0.0.1:${adminPort}/healthz`))?.status === 200 || proc.child.exitCode !== null, 10_000, 'dnsgate to listen');
  return proc;
}

test('an upstream with no route fails over to a healthy one instead of crashing', { skip }, async () => {
  const proc = await serve(5301, 9301, [UNROUTED, '127.0.0.1:5300']);
  for (let i = 0; i < 3; i++) {
    const result = await dig('www.example.com', { server: '127.0.0.1', port: 5301, timeout: 3, tries: 1, place: namespace });
    assert.equal(result.status, 'NOERROR', proc.stderr());
    assert.deepEqual(result.answers.map((r) => r.data), ['192.0.2.10']);
  }
  assert.equal(proc.child.exitCode, null, `dnsgate still runs: ${proc.stderr()}`);
  const ready = await namespace.get('http://127.0.0.1:9301/readyz');
  assert.equal(ready?.status, 200, 'one healthy upstream is enough');
});

test('with no reachable upstream: SERVFAIL, and /readyz reports not ready with the reason', { skip }, async () => {
  const proc = await serve(5302, 9302, [UNROUTED]);
  const result = await dig('www.example.com', { server: '127.0.0.1', port: 5302, timeout: 3, tries: 1, place: namespace });
  assert.equal(result.status, 'SERVFAIL', proc.stderr());
  assert.equal(proc.child.exitCode, null, `dnsgate still runs: ${proc.stderr()}`);
  const ready = await namespace.get('http://127.0.0.1:9302/readyz');
  assert.equal(ready?.status, 503);
  assert.match(ready?.body ?? '', /no upstream is healthy: 10\.123\.0\.1:53 \(unreachable: ENETUNREACH\)/);
});
