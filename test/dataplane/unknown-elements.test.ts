/**
 * Learnt elements the map does not hold — a predecessor's during an upgrade, an
 * earlier run's after a crash — outlive every resync until the map is complete, and
 * only then does a resync write the learnt sets whole. Real nft, in a namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Metrics } from '../../src/admin/metrics.js';
import type { EntrySnapshot } from '../../src/allowmap/entry.js';
import { NftablesDataplane } from '../../src/dataplane/nftables/nftables.js';
import { missing } from '../helpers/env.js';
import { NetworkNamespace } from '../helpers/netns.js';
import { engineOf } from './compile.js';

const run = promisify(execFile);
const DOMAIN_RULE = 'default|shop/default.p|allow|0';
const POLICIES = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
    - {action: Allow, protocol: TCP, destination: {ports: [443], domains: [www.example.com, '*.example.net']}}
`;
const PODS = [{ name: 'web', ips: ['10.0.0.1'], labels: { app: 'web' } }];

function entry(ip: string): EntrySnapshot {
  return { clientKey: 'shop/web', clientIps: ['10.0.0.1'], ip, family: 4, rules: [DOMAIN_RULE], expiresAt: Date.now() + 600_000 };
}

test("a successor's resyncs keep the predecessor's elements until its map is complete", { skip: missing('nft', 'ip') }, async () => {
  const namespace = await NetworkNamespace.create('dnsgate-unknown');
  const engine = await engineOf(POLICIES, PODS);
  const silent = { info: () => undefined, error: () => undefined };
  const dataplane = () => new NftablesDataplane({ table: 'dnsgate', hook: 'forward', scope: 'pod', nft: namespace.command('nft', []) }, { current: engine }, new Metrics().nftables, silent);
  const elements = async (): Promise<string> => {
    const [file, args] = namespace.command('nft', ['list', 'table', 'inet', 'dnsgate']);
    return (await run(file, args)).stdout;
  };
  const predecessor = dataplane();
  const successor = dataplane();
  try {
    await predecessor.start();
    await predecessor.resync([entry('192.0.2.1')]);
    predecessor.mapComplete();
    await successor.start();
    await successor.resync([entry('192.0.2.1')]);
    // Learnt by the predecessor during the overlap; the successor's map knows nothing of it.
    await predecessor.apply({ upserts: [entry('192.0.2.2')], removals: [] });
    await successor.resync([entry('192.0.2.1')]);
    assert.match(await elements(), /10\.0\.0\.1 \. 192\.0\.2\.2 timeout/, 'a resync during the overlap keeps it');

    successor.mapComplete();
    await successor.resync([entry('192.0.2.1')]);
    const table = await elements();
    assert.doesNotMatch(table, /192\.0\.2\.2/, 'once the map is complete, a resync writes the learnt sets whole');
    assert.match(table, /10\.0\.0\.1 \. 192\.0\.2\.1 timeout/);
  } finally {
    await predecessor.stop();
    await successor.stop();
    await namespace.delete();
  }
});

test('the first resync writes elements anew (add, delete, add) only in the sets an earlier run left', { skip: missing('nft', 'ip') }, async () => {
  const namespace = await NetworkNamespace.create('dnsgate-earlier');
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-earlier-'));
  const engine = await engineOf(POLICIES, PODS);
  const silent = { info: () => undefined, error: () => undefined };
  // nft itself, in the namespace; what dnsgate gives `nft -i` is copied to a file, with
  // the transaction files it includes.
  const [nftFile, nftArgs] = namespace.command('nft', []);
  const log = join(dir, 'nft-input');
  const copy = `while IFS= read -r line; do case $line in 'include "'*) f=\${line#include \\"}; cat "\${f%\\"}" >> "$0";; *) printf '%s\\n' "$line" >> "$0";; esac; printf '%s\\n' "$line"; done`;
  const script = `for arg; do last=$arg; done; if [ "$last" = -i ]; then ${copy} | "$@"; else exec "$@" </dev/null; fi`;
  const nft: [string, string[]] = ['sh', ['-c', script, log, nftFile, ...nftArgs]];
  const dataplane = () => new NftablesDataplane({ table: 'dnsgate', hook: 'forward', scope: 'pod', nft }, { current: engine }, new Metrics().nftables, silent);
  const firstResyncOf = async (running: NftablesDataplane): Promise<string> => {
    writeFileSync(log, '');
    await running.start();
    writeFileSync(log, '');
    await running.resync([entry('192.0.2.1')]);
    return readFileSync(log, 'utf8');
  };
  const fresh = dataplane();
  const successor = dataplane();
  try {
    const onFreshTable = await firstResyncOf(fresh);
    assert.match(onFreshTable, /add element inet dnsgate \S+ \{ 10\.0\.0\.1 \. 192\.0\.2\.1 timeout/);
    assert.doesNotMatch(onFreshTable, /delete element/, 'sets just made: a plain add');
    fresh.mapComplete();
    await fresh.stop();
    const overEarlierRun = await firstResyncOf(successor);
    assert.match(overEarlierRun, /add element inet dnsgate (\S+) .*\ndelete element inet dnsgate \1 \{ 10\.0\.0\.1 \. 192\.0\.2\.1 \}\nadd element inet dnsgate \1 /, 'the set the earlier run left: written anew');
    successor.mapComplete();
    writeFileSync(log, '');
    await successor.resync([entry('192.0.2.1')]);
    assert.doesNotMatch(readFileSync(log, 'utf8'), /delete element/, 'once the map is complete, the learnt sets are flushed and written whole');
  } finally {
    await fresh.stop();
    await successor.stop();
    await namespace.delete();
    rmSync(dir, { recursive: true, force: true });
  }
});
