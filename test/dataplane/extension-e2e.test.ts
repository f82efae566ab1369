/**
 * Extensions as the kernel sees them, with real nftables in namespaces of its own (see
 * topology.ts). dnsgate asks knot directly, so every answer carries the whole TTL (a
 * resolver's cache would count it down and nothing would extend): a repeat moves the
 * entry's expiry, and the element's timeout follows only when the kernel holds it for
 * less than half of what the answer allows, or 10 s before it would lapse. A restart
 * writes the restored entries' expiries over the elements the earlier run left.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFixture } from '../helpers/cluster.js';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { missing } from '../helpers/env.js';
import { TABLE, clusterPodsYaml, clusterPolicies, nftIn, startNodeDnsgate, type NodeDnsgate } from './cluster.js';
import { Topology, type PodNetwork } from './topology.js';

const skip = missing('nft', 'ip', 'knotd', 'dig');
const TTL_SECONDS = 24;
const RECORDS = [`repeat.allowed.world. ${TTL_SECONDS} IN A 203.0.113.90`, `restart.allowed.world. ${TTL_SECONDS} IN A 203.0.113.91`].join('\n');
let topology: Topology;
let knot: DnsServer | undefined;
let dnsgate: NodeDnsgate | undefined;
let fixture: string;
let web: PodNetwork;

before(async () => {
  if (skip) return;
  topology = await Topology.create(1);
  web = topology.pods[0];
  // The fixture's other two pods are not needed here: their IPs are unrouted.
  fixture = writeFixture({ 'pods.yaml': clusterPodsYaml([web.ip, '10.77.250.2', '10.77.251.2']), 'policies.yaml': clusterPolicies() });
  knot = await startKnot('127.0.0.2', { '.': standardRootZone('127.0.0.2', RECORDS) }, { port: 5300, place: topology.node });
  dnsgate = await startNodeDnsgate(topology.node, [web.gateway], dnsgateArgs());
});

function dnsgateArgs(): string[] {
  return [
    '--upstream', `127.0.0.2:${knot!.port}`,
    '--pods', join(fixture, 'pods.yaml'),
    '--policies', join(fixture, 'policies.yaml'),
    '--state-file', join(fixture, 'state.json'),
  ];
}

after(async () => {
  await dnsgate?.stop(true);
  await knot?.stop();
  await topology?.delete();
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

/** Seconds until the kernel drops the element for `ip`, from `nft list table`. */
async function kernelSecondsLeft(ip = '203.0.113.90'): Promise<number> {
  const listing = await nftIn(topology.node, 'list', 'table', 'inet', TABLE);
  const match = new RegExp(`${ip.replaceAll('.', '\\.')} timeout \\S+ expires ((?:\\d+m)?(?:\\d+s)?(?:\\d+ms)?)`).exec(listing);
  assert.ok(match, `an element for ${ip} in:\n${listing}`);
  const part = (unit: string): number => Number(new RegExp(`(\\d+)${unit}(?![a-z])`).exec(match[1])?.[1] ?? 0);
  return part('m') * 60 + part('s') + part('ms') / 1000;
}

const ask = async (name: string, ip: string) =>
  assert.deepEqual((await dig(name, { server: web.gateway, port: 53, place: web.namespace, timeout: 3 })).answers.map((record) => record.data), [ip]);

test('a repeat answer extends the element only when the kernel holds it for less than half of the new TTL, or 10 s before it lapses', { skip }, async () => {
  const started = Date.now();
  await ask('repeat.allowed.world', '203.0.113.90');
  assert.ok((await kernelSecondsLeft()) > TTL_SECONDS - 2, 'programmed with the whole TTL');
  await sleep(3000);
  await ask('repeat.allowed.world', '203.0.113.90');
  const afterRepeat = await kernelSecondsLeft();
  const elapsed = (Date.now() - started) / 1000;
  assert.ok(afterRepeat <= TTL_SECONDS - elapsed + 0.5, `held for ${afterRepeat} s, more than half of the ${TTL_SECONDS} s the repeat allows: not rewritten`);
  // The sweep queues it REFRESH_LEAD_MS (10 s) before the element lapses: 14 s after the first answer.
  await sleep(Math.max(0, started + (TTL_SECONDS - 10 + 2) * 1000 - Date.now()));
  const refreshed = await kernelSecondsLeft();
  const repeatExpiresIn = TTL_SECONDS + 3 - (Date.now() - started) / 1000;
  assert.ok(refreshed > TTL_SECONDS - (Date.now() - started) / 1000 + 1.5, `rewritten before it lapsed: ${refreshed} s left`);
  assert.ok(Math.abs(refreshed - repeatExpiresIn) < 1.5, `${refreshed} s left, the repeat's TTL ends in ${repeatExpiresIn.toFixed(1)} s`);
});

test('a restart puts the deferred extension in the kernel: the restored expiry replaces the timeout the earlier run left', { skip }, async () => {
  const started = Date.now();
  await ask('restart.allowed.world', '203.0.113.91');
  await sleep(3000);
  await ask('restart.allowed.world', '203.0.113.91');
  const left = await kernelSecondsLeft('203.0.113.91');
  assert.ok(left <= TTL_SECONDS - (Date.now() - started) / 1000 + 0.5, `deferred: ${left} s left`);
  await dnsgate!.stop(true);
  dnsgate = await startNodeDnsgate(topology.node, [web.gateway], dnsgateArgs());
  const restored = await kernelSecondsLeft('203.0.113.91');
  const repeatExpiresIn = TTL_SECONDS + 3 - (Date.now() - started) / 1000;
  assert.ok(Math.abs(restored - repeatExpiresIn) < 1.5, `${restored} s left after the restart, the repeat's TTL ends in ${repeatExpiresIn.toFixed(1)} s`);
});
