/**
 * `--intercept` beside the rest of the configuration, on the node of node.ts: with
 * `--dataplane none` it still installs and takes the pods' DNS over; beside NodeLocal
 * DNSCache it refuses to start, in one line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { dig } from '../helpers/dig.js';
import { spawnDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { freePort } from '../helpers/net.js';
import { KubeNode, SERVICE_IP, TABLE } from './node.js';

const run = promisify(execFile);
const skip = missing('nft', 'ip', 'knotd', 'unbound', 'dig', 'getent', 'musl-gcc');
let node: KubeNode;

before(async () => {
  if (!skip) node = await KubeNode.create(3);
});

after(async () => {
  await node?.delete();
});

test('with --dataplane none, interception installs in its own table and takes the pods\' DNS over; nothing is enforced', { skip }, async () => {
  const [webA] = node.pods;
  const dnsgate = await node.startDnsgate(await freePort('127.0.0.1'), ['--deny-response', 'refused'], { dataplane: 'none' });
  const denied = await dig('nope.denied.world', { server: SERVICE_IP, port: 53, place: webA.namespace });
  assert.equal(denied.status, 'REFUSED', 'dnsgate answered, not CoreDNS');
  assert.match(denied.output, /SERVER: 10\.96\.0\.10#53\(10\.96\.0\.10\) \(UDP\)/);
  assert.deepEqual(await node.lookup(webA, 'n1.allowed.world', 'musl'), ['203.0.113.1']);
  const table = await node.nftList('list', 'table', 'inet', TABLE);
  assert.match(table, /chain intercept_capture_forward/);
  assert.doesNotMatch(table, /chain egress_forward|map enforced_v4/, 'no enforcement objects');
  assert.equal(await webA.agent.connects('203.0.113.51', 443), true, 'nothing blocks what was not learnt');
  dnsgate.child.kill('SIGTERM');
  assert.equal(await dnsgate.exited, 0);
});

test('beside NodeLocal DNSCache (its interface, or its address) dnsgate refuses to start, in one line, exit 2, having changed nothing', { skip }, async () => {
  const ip = (...args: string[]) => run('ip', ['-n', node.topology.node.name, ...args]);
  // Whether or not an earlier dnsgate left its table: none from here on.
  await node.nft(`add table inet ${TABLE}\ndelete table inet ${TABLE}`);
  const cases = [
    // node-cache binds its link-local address and the Service IP on a dummy interface of its
    // own, which it never sets up; a veth stands in for it here (the dummy driver may be
    // missing), as only its name and addresses matter.
    { link: 'nodelocaldns', address: SERVICE_IP, up: false, found: 'interface nodelocaldns' },
    { link: 'cache0', address: '169.254.20.10', up: true, found: 'address 169.254.20.10 on cache0' },
  ];
  for (const { link, address, up, found } of cases) {
    await ip('link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}-p`);
    try {
      await ip('addr', 'add', `${address}/32`, 'dev', link);
      if (up) for (const end of [link, `${link}-p`]) await ip('link', 'set', end, 'up');
      const dnsgate = spawnDnsgate(node.dnsgateArgs(await freePort('127.0.0.1')), node.topology.node);
      const exit = await Promise.race([dnsgate.exited, new Promise((resolve) => setTimeout(resolve, 30_000, 'still running'))]);
      if (exit === 'still running') dnsgate.child.kill('SIGKILL');
      assert.equal(exit, 2, dnsgate.stderr());
      assert.equal(dnsgate.stderr().split('\n').length, 2, dnsgate.stderr());
      assert.ok(dnsgate.stderr().startsWith(`dnsgate: --intercept: NodeLocal DNSCache runs on this node (${found});`), dnsgate.stderr());
      assert.doesNotMatch(await node.nftList('list', 'tables'), /dnsgate/, 'no table made');
    } finally {
      await ip('link', 'delete', link);
    }
  }
});
