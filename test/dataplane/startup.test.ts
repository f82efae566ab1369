/**
 * `--dataplane nftables`, and `--intercept` whatever the dataplane, where they cannot work
 * stop start-up with one line and exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { CLI } from '../helpers/dnsgate.js';
import { haveCommand, missing } from '../helpers/env.js';
import { HOST, NetworkNamespace, type Place } from '../helpers/netns.js';

const SERVE = ['serve', '--upstream', '127.0.0.1:53', '--listen', '127.0.0.1:0', '--admin', 'off', '--log-stdout', 'false'];
const NFTABLES = ['--dataplane', 'nftables'];
/** Interception in a pod's netns (to the loopback listener), with no dataplane. */
const INTERCEPT = ['--dataplane', 'none', '--intercept', '10.96.0.10', '--nft-hook', 'output'];

/** `dnsgate serve` with `flags` in `place`, run through `wrapper` (a command that runs the rest), with `env`. */
function serve(flags: readonly string[], place: Place, wrapper: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stderr: string }> {
  const [first, ...rest] = [...wrapper, process.execPath, CLI, ...SERVE, ...flags];
  const [file, args] = place.command(first, rest);
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

test('without an nft binary', async () => {
  const { code, stderr } = await serve(NFTABLES, HOST, [], { ...process.env, PATH: '/nonexistent' });
  assert.equal(code, 2);
  assert.equal(stderr, 'dnsgate: --dataplane nftables: nft not found; install nftables\n');
});

test('--intercept with --dataplane none, without an nft binary', async () => {
  const { code, stderr } = await serve(INTERCEPT, HOST, [], { ...process.env, PATH: '/nonexistent' });
  assert.equal(code, 2);
  assert.equal(stderr, 'dnsgate: --intercept: nft not found; install nftables\n');
});

const skip = missing('nft', 'ip') || (!haveCommand('setpriv') && 'missing setpriv');

/** Root without CAP_NET_ADMIN: another user could not read a checkout in a private (0700) directory. */
const WITHOUT_NET_ADMIN = ['setpriv', '--inh-caps=-all', '--bounding-set=-net_admin'];

test('without the privilege to change the ruleset', { skip }, async () => {
  const namespace = await NetworkNamespace.create('dnsgate-noperm');
  try {
    const { code, stderr } = await serve(NFTABLES, namespace, WITHOUT_NET_ADMIN);
    assert.equal(code, 2);
    assert.equal(stderr.split('\n').length, 2, stderr);
    assert.match(stderr, /^dnsgate: --dataplane nftables: nft may not read or change the ruleset: Operation not permitted.*; dnsgate needs root or CAP_NET_ADMIN\n$/);
  } finally {
    await namespace.delete();
  }
});

test('--intercept with --dataplane none, without the privilege to change the ruleset', { skip }, async () => {
  const namespace = await NetworkNamespace.create('dnsgate-noperm');
  try {
    const { code, stderr } = await serve(INTERCEPT, namespace, WITHOUT_NET_ADMIN);
    assert.equal(code, 2);
    assert.equal(stderr.split('\n').length, 2, stderr);
    assert.match(stderr, /^dnsgate: --intercept: nft may not change the ruleset: Operation not permitted.*; dnsgate needs root or CAP_NET_ADMIN\n$/);
  } finally {
    await namespace.delete();
  }
});
