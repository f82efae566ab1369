/**
 * Extensions as the kernel sees them, with real nftables in namespaces of its own (see
 * topology.ts). dnsgate asks knot directly, so every answer carries the whole TTL (a
 * resolver's cache would count it down and nothing would extend): a repeat moves the
 * entry's expiry, and the element's timeout follows only when the kernel holds it for
 * less than half of what the answer allows, or 10 s before it would lapse.
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
const RECORDS = `repeat.allowed.world. ${TTL_SECONDS} IN A 203.0.113.90`;
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
  dnsgate = await startNodeDnsgate(topology.node, [web.gateway], [
    '--upstream', `127.0.0.2:${knot.port}`,
    '--pods', join(fixture, 'pods.yaml'),
    '--policies', join(fixture, 'policies.yaml'),
  ]);
});

after(async () => {
  await dnsgate?.stop(true);
  await knot?.stop();
  await topology?.delete();
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

/** Seconds until the kernel drops the element for 203.0.113.90, from `nft list table`. */
async function kernelSecondsLeft(): Promise<number> {
  const listing = await nftIn(topology.node, 'list', 'table', 'inet', TABLE);
  const match = /203\.0\.113\.90 timeout \S+ expires ((?:\d+m)?(?:\d+s)?(?:\d+ms)?)/.exec(listing);
  assert.ok(match, `an element for 203.0.113.90 in:\n${listing}`);
  const part = (unit: string): number => Number(new RegExp(`(\\d+)${unit}(?![a-z])`).exec(match[1])?.[1] ?? 0);
  return part('m') * 60 + part('s') + part('ms') / 1000;
}

test('a repeat answer extends the element only when the kernel holds it for less than half of the new TTL, or 10 s before it lapses', { skip }, async () => {
  const ask = async () => assert.deepEqual((await dig('repeat.allowed.world', { server: web.gateway, port: 53, place: web.namespace, timeout: 3 })).answers.map((record) => record.data), ['203.0.113.90']);
  const started = Date.now();
  await ask();
  assert.ok((await kernelSecondsLeft()) > TTL_SECONDS - 2, 'programmed with the whole TTL');
  await sleep(3000);
  await ask();
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
