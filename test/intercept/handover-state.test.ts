/**
 * What a predecessor learnt after its last state save — before the successor started,
 * and during the overlap — is the successor's once the handover is done: enforced
 * through the successor's next full resync, listed by its /v1/allowed, and in the state
 * file a later restart reads. Real nftables, on the node of node.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterPolicies } from '../dataplane/cluster.js';
import { dig } from '../helpers/dig.js';
import { waitFor, type DnsgateProcess } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { freePort } from '../helpers/net.js';
import { metricSum, parseMetrics } from '../helpers/wire.js';
import { KubeNode, NODE_IP } from './node.js';

const skip = missing('nft', 'ip', 'knotd', 'unbound', 'dig', 'getent', 'musl-gcc');
let node: KubeNode;

before(async () => {
  if (skip) return;
  node = await KubeNode.create();
});

after(async () => {
  await node?.delete();
});

async function stop(dnsgate: DnsgateProcess): Promise<number | string> {
  dnsgate.child.kill('SIGTERM');
  return dnsgate.exited;
}

test("what the predecessor learnt since its last save stays enforced and becomes the successor's", { skip }, async () => {
  const [web] = node.pods;
  const get = async (adminPort: number, path: string): Promise<string> => (await node.topology.node.get(`http://127.0.0.1:${adminPort}${path}`))?.body ?? '';
  const names = async (adminPort: number): Promise<string[]> => {
    const allowed = JSON.parse((await get(adminPort, `/v1/allowed?client=${web.ip}`)) || '{"entries":[]}') as { entries: { domains: string[] }[] };
    return allowed.entries.flatMap((entry) => entry.domains).sort();
  };
  const resyncs = async (adminPort: number): Promise<number> =>
    metricSum(parseMetrics(await get(adminPort, '/metrics')), 'dnsgate_nftables_swap_duration_seconds_count', { operation: 'resync' });
  // No periodic save within the test: all the predecessor learns is after its last save.
  const extra = ['--state-file', join(node.fixture, 'state.json'), '--state-save-interval', '1h'];

  const predecessor = await node.startDnsgate(await freePort('127.0.0.1'), extra);
  assert.deepEqual(await node.lookup(web, 'h1.allowed.world', 'glibc'), ['203.0.113.101'], 'learnt before the successor starts');
  const successorAdmin = await freePort('127.0.0.1');
  const successor = await node.startDnsgate(successorAdmin, extra);
  // The predecessor still holds --listen: asked there directly, it learns during the overlap.
  const overlap = await dig('h2.allowed.world', { server: NODE_IP, port: 5353, place: web.namespace });
  assert.deepEqual(overlap.answers.map((answer) => answer.data), ['203.0.113.102'], 'learnt during the overlap');
  assert.equal(await stop(predecessor), 0, predecessor.stderr());

  const learnt = ['h1.allowed.world', 'h2.allowed.world'];
  const holds = async (adminPort: number): Promise<boolean> => {
    const held = await names(adminPort);
    return learnt.every((name) => held.includes(name));
  };
  await waitFor(() => holds(successorAdmin), 60_000, "the predecessor's final save in the successor's map");

  // A rule with a new learnt set makes the successor resync: every learnt set is written anew from its map.
  const before = await resyncs(successorAdmin);
  const newRule = `    - action: Allow
      protocol: TCP
      destination:
        ports: [8443]
        domains: ['*.later.world']
`;
  writeFileSync(join(node.fixture, 'policies.yaml'), clusterPolicies(newRule));
  await waitFor(async () => (await resyncs(successorAdmin)) > before, 20_000, "the successor's resync");
  assert.equal(await web.agent.connects('203.0.113.101', 443), true, 'h1 passes after the resync');
  assert.equal(await web.agent.connects('203.0.113.102', 443), true, 'h2 passes after the resync');
  assert.equal(await web.agent.connects('203.0.113.103', 443, 500), false, 'what was never learnt stays blocked');
  assert.ok(await holds(successorAdmin), 'listed by the successor after the resync');
  assert.match(successor.stderr(), /merged \d+ allowed entries of the predecessor's final save/);

  assert.equal(await stop(successor), 0, successor.stderr());
  const restartAdmin = await freePort('127.0.0.1');
  const restarted = await node.startDnsgate(restartAdmin, extra);
  assert.ok(await holds(restartAdmin), 'restored from the state file');
  assert.equal(await stop(restarted), 0, restarted.stderr());
});
