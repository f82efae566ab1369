/** Transaction texts: swaps that keep learnt sets, element batches, and nft's own verdict on them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { EntrySnapshot } from '../../src/allowmap/entry.js';
import type { DataplaneBatch } from '../../src/allowmap/entry.js';
import type { Ruleset } from '../../src/dataplane/nftables/ruleset.js';
import { EMPTY_INVENTORY, batchCommands, commandsText, elementCommands, inventoryOf, swapText } from '../../src/dataplane/nftables/transaction.js';
import { missing } from '../helpers/env.js';
import { NetworkNamespace } from '../helpers/netns.js';
import { compile } from './compile.js';

const run = promisify(execFile);
const DOMAIN_RULE = 'default|shop/default.p|allow|0';
const POLICIES = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
    - {action: Allow, protocol: TCP, destination: {ports: [443], domains: [www.example.com]}}
    - {action: Allow, protocol: UDP, destination: {ports: [53, 5353], nets: [10.96.0.10/32, 10.96.0.11/32]}}
    - {action: Log, destination: {notNets: [10.0.0.0/8], notPorts: [http]}}
`;
const PODS = [
  { name: 'web', ips: ['10.0.0.1', 'fd00::1'], labels: { app: 'web' } },
  { name: 'api', ips: ['10.0.0.2'], labels: { app: 'api' }, ports: [{ name: 'http', containerPort: 8080 }] },
];
const NOW = 1_000_000;

function batchText(ruleset: Ruleset, batch: DataplaneBatch, now: number): { text: string; count: number } {
  const { commands, count } = batchCommands(ruleset, batch, now);
  return { text: commandsText(ruleset.options.table, commands), count };
}

function entry(ip: string, expiresIn: number, rules = [DOMAIN_RULE], now = NOW): EntrySnapshot {
  return { clientKey: 'shop/web', clientIps: ['10.0.0.1', 'fd00::1'], ip, family: ip.includes(':') ? 6 : 4, rules, expiresAt: now + expiresIn };
}

test('a batch: removals tolerate absent elements, upserts replace with the remaining lifetime, expired removals are skipped', async () => {
  const ruleset = await compile(POLICIES, PODS);
  const set4 = ruleset.learntSetFor(DOMAIN_RULE, 4)!;
  const set6 = ruleset.learntSetFor(DOMAIN_RULE, 6)!;
  const { text, count } = batchText(
    ruleset,
    { upserts: [entry('192.0.2.1', 300_000), entry('2001:db8::1', 5_500), entry('192.0.2.9', 1000, ['default|gone|allow|0'])], removals: [entry('192.0.2.2', 10_000), entry('192.0.2.3', 0)] },
    NOW,
  );
  assert.equal(count, 3);
  assert.deepEqual(text.trim().split('\n'), [
    `add element inet dnsgate ${set4} { 10.0.0.1 . 192.0.2.2 }`,
    `delete element inet dnsgate ${set4} { 10.0.0.1 . 192.0.2.2 }`,
    `add element inet dnsgate ${set4} { 10.0.0.1 . 192.0.2.1 timeout 300000ms }`,
    `delete element inet dnsgate ${set4} { 10.0.0.1 . 192.0.2.1 }`,
    `add element inet dnsgate ${set4} { 10.0.0.1 . 192.0.2.1 timeout 300000ms }`,
    `add element inet dnsgate ${set6} { fd00::1 . 2001:db8::1 timeout 5500ms }`,
    `delete element inet dnsgate ${set6} { fd00::1 . 2001:db8::1 }`,
    `add element inet dnsgate ${set6} { fd00::1 . 2001:db8::1 timeout 5500ms }`,
  ]);
  assert.deepEqual(batchText(ruleset, { upserts: [], removals: [entry('192.0.2.3', -1)] }, NOW), { text: '', count: 0 });
});

test('a swap deletes what the new ruleset does not name, refills the maps and the base chain, and keeps learnt sets it still uses', async () => {
  const ruleset = await compile(POLICIES, PODS);
  const learnt = ruleset.learntSetFor(DOMAIN_RULE, 4)!;
  const existing = { chains: ['egress_forward', 'class_0', 'class_7'], sets: [learnt, 'learnt_pod4_0000000000000000', 'ports_000000000000'], maps: ['enforced_v4'] };
  const text = swapText(ruleset, existing, { flushLearnt: false });
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, lines.indexOf('table inet dnsgate {')), [
    'add table inet dnsgate',
    'flush map inet dnsgate enforced_v4',
    'flush chain inet dnsgate egress_forward',
    'flush chain inet dnsgate class_0',
    'flush chain inet dnsgate class_7',
    'delete chain inet dnsgate class_0',
    'delete chain inet dnsgate class_7',
    'delete set inet dnsgate learnt_pod4_0000000000000000',
    'delete set inet dnsgate ports_000000000000',
  ]);
  assert.ok(!text.includes(`set ${learnt} {`), 'the learnt set that exists is not declared again');
  assert.ok(swapText(ruleset, existing, { flushLearnt: true }).includes(`flush set inet dnsgate ${learnt}\n`));
  assert.deepEqual(inventoryOf(ruleset).maps, ['enforced_v4', 'enforced_v6']);
});

test('a swap to the same ruleset only refills the verdict maps and the base chain', async () => {
  const ruleset = await compile(POLICIES, PODS);
  const text = swapText(ruleset, inventoryOf(ruleset), { flushLearnt: false });
  const defined = [...text.matchAll(/^\t(set|map|chain) (\S+) \{$/gm)].map((match) => `${match[1]} ${match[2]}`);
  assert.deepEqual(defined, ['map enforced_v4', 'map enforced_v6', 'chain egress_forward']);
  const changed = await compile(POLICIES.replace('[53, 5353]', '[53]'), PODS);
  const swap = swapText(changed, inventoryOf(ruleset), { flushLearnt: false });
  assert.match(swap, /^delete chain inet dnsgate class_\w+$/m, 'the changed class chain goes');
  assert.match(swap, /^\tchain class_\w+ \{$/m, 'and its successor comes');
});

const skip = missing('nft', 'ip');

test('nft accepts the table, a swap over it that keeps learnt elements, and batches (check mode and for real, in a namespace)', { skip }, async () => {
  const namespace = await NetworkNamespace.create('dnsgate-nftc');
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-nftc-'));
  const nft = async (...args: string[]): Promise<string> => {
    const [file, argv] = namespace.command('nft', args);
    return (await run(file, argv)).stdout;
  };
  const apply = async (text: string, check = false): Promise<void> => {
    writeFileSync(join(dir, 'transaction.nft'), text);
    await nft(...(check ? ['-c'] : []), '-f', join(dir, 'transaction.nft'));
  };
  try {
    const ruleset = await compile(POLICIES, PODS);
    const now = Date.now();
    const learnt = [entry('192.0.2.1', 60_000, [DOMAIN_RULE], now), entry('2001:db8::1', 60_000, [DOMAIN_RULE], now)];
    const first = swapText(ruleset, EMPTY_INVENTORY, { flushLearnt: false }) + commandsText(ruleset.options.table, elementCommands(ruleset, learnt, now, new Set()).commands);
    await apply(first, true);
    await apply(first);
    const set4 = ruleset.learntSetFor(DOMAIN_RULE, 4)!;
    assert.match(await nft('list', 'set', 'inet', 'dnsgate', set4), /10\.0\.0\.1 \. 192\.0\.2\.1 timeout/);

    const changed = await compile(POLICIES.replace('[53, 5353]', '[53]'), PODS);
    await apply(swapText(changed, inventoryOf(ruleset), { flushLearnt: false }));
    assert.match(await nft('list', 'set', 'inet', 'dnsgate', set4), /192\.0\.2\.1/, 'the learnt element outlived the swap');
    assert.ok(!(await nft('list', 'table', 'inet', 'dnsgate')).includes('5353'));

    const later = Date.now();
    await apply(batchText(changed, { upserts: [entry('192.0.2.1', 150_000, [DOMAIN_RULE], later)], removals: [entry('192.0.2.77', 10_000, [DOMAIN_RULE], later)] }, later).text);
    assert.match(await nft('list', 'set', 'inet', 'dnsgate', set4), /192\.0\.2\.1 timeout 2m/, 'the timeout was replaced');

    // A first resync over an earlier run's elements: the restored entry's later expiry wins.
    const restored = [entry('192.0.2.1', 300_000, [DOMAIN_RULE], Date.now())];
    const resync = elementCommands(changed, restored, Date.now(), new Set([set4])).commands;
    assert.deepEqual(resync.map((command) => command.verb), ['add', 'delete', 'add'], 'replaced, whatever the kernel does with an add over an element');
    assert.deepEqual(elementCommands(changed, restored, Date.now(), new Set()).commands.map((command) => command.verb), ['add'], 'a set just made: a plain add');
    await apply(swapText(changed, inventoryOf(changed), { flushLearnt: false }) + commandsText(changed.options.table, resync));
    assert.match(await nft('list', 'set', 'inet', 'dnsgate', set4), /192\.0\.2\.1 timeout (5m |4m59s)/, "the restored entry's 300 s");
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await namespace.delete();
  }
});
