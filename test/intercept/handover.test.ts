/**
 * An upgrade as a DaemonSet with maxSurge 1 does it: a successor starts next to the
 * running dnsgate (same configuration, its own admin port), takes interception over once
 * ready, and the predecessor gets SIGTERM. Under load from the pods, through the Service
 * IP: dnsperf on one socket at a fixed rate, fresh TCP queries, and lookups each followed
 * at once by a connection. Real nftables, in namespaces of its own (node.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dig } from '../helpers/dig.js';
import { missing } from '../helpers/env.js';
import { freePort } from '../helpers/net.js';
import { FRESH_NAMES, KubeNode, SERVICE_IP } from './node.js';

const run = promisify(execFile);
const skip = missing('nft', 'ip', 'knotd', 'unbound', 'dig', 'getent', 'dnsperf', 'musl-gcc');
const RUN_SECONDS = 14;
let node: KubeNode;

before(async () => {
  if (skip) return;
  node = await KubeNode.create(3);
});

after(async () => {
  await node?.delete();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a successor takes over under load: nothing lost, the predecessor exits 0, the successor learns', { skip }, async (t) => {
  const [webA, webB, other] = node.pods;
  const stateFile = join(node.fixture, 'state.json');
  const extra = ['--state-file', stateFile, '--state-save-interval', '1s'];
  const predecessorAdmin = await freePort('127.0.0.1');
  const successorAdmin = await freePort('127.0.0.1');
  const predecessor = await node.startDnsgate(predecessorAdmin, extra);

  const queries = join(node.fixture, 'dnsperf.txt');
  writeFileSync(queries, ['n1.allowed.world A', 'api.shop.svc.cluster.local A', 'nope.denied.world A', 'www.example.com A'].join('\n') + '\n');
  const [perfFile, perfArgs] = webB.namespace.command('dnsperf', ['-s', SERVICE_IP, '-d', queries, '-c', '1', '-Q', '200', '-l', String(RUN_SECONDS), '-t', '3']);
  const dnsperf = run(perfFile, perfArgs, { timeout: 60_000 });

  let running = true;
  const tcpFailures: string[] = [];
  let tcpQueries = 0;
  const tcpLoop = (async () => {
    while (running) {
      const answer = await dig('www.example.com', { server: SERVICE_IP, port: 53, tcp: true, place: other.namespace, timeout: 3 });
      tcpQueries++;
      if (answer.answers[0]?.data !== '192.0.2.10') tcpFailures.push(answer.status || 'no answer');
    }
  })();
  const lookupFailures: string[] = [];
  let lookups = 0;
  const lookupLoop = (async () => {
    for (let i = 1; running && i <= FRESH_NAMES - 10; i++) {
      const resolver = i % 2 === 0 ? 'glibc' : 'musl';
      const ips = await node.lookup(webA, `h${i}.allowed.world`, resolver);
      lookups++;
      if (ips.join() !== `203.0.113.${100 + i}`) lookupFailures.push(`${resolver} h${i}: ${ips.join() || 'no answer'}`);
      else if (!(await webA.agent.connects(ips[0], 443))) lookupFailures.push(`${resolver} h${i}: first connection failed`);
    }
  })();

  await sleep(3000);
  const successor = await node.startDnsgate(successorAdmin, extra);
  await sleep(1000);
  predecessor.child.kill('SIGTERM');
  const predecessorExit = await predecessor.exited;
  const perf = await dnsperf;
  running = false;
  await Promise.all([tcpLoop, lookupLoop]);
  const sent = Number(/Queries sent:\s+(\d+)/.exec(perf.stdout)?.[1]);
  const lost = Number(/Queries lost:\s+(\d+)/.exec(perf.stdout)?.[1]);

  t.diagnostic(`dnsperf sent ${sent}, lost ${lost}; ${tcpQueries} TCP queries; ${lookups} lookups with a connection`);
  assert.equal(predecessorExit, 0, predecessor.stderr());
  assert.match(successor.stderr(), /taken over from the running predecessor/);
  assert.ok(sent >= 200 * (RUN_SECONDS - 2), `dnsperf ran at its rate: ${perf.stdout}`);
  assert.equal(lost, 0, perf.stdout);
  assert.deepEqual(tcpFailures, []);
  assert.ok(tcpQueries > 10);
  assert.deepEqual(lookupFailures, []);
  assert.ok(lookups > 10);

  // The successor serves and learns on its own now.
  const name = `h${FRESH_NAMES}.allowed.world`;
  assert.deepEqual(await node.lookup(webA, name, 'glibc'), [`203.0.113.${100 + FRESH_NAMES}`]);
  assert.equal(await webA.agent.connects(`203.0.113.${100 + FRESH_NAMES}`, 443), true);
  const allowed = JSON.parse((await node.topology.node.get(`http://127.0.0.1:${successorAdmin}/v1/allowed?client=${webA.ip}`))?.body ?? '{}') as { entries: { domains: string[] }[] };
  assert.ok(allowed.entries.some((entry) => entry.domains.includes(name)), 'learnt by the successor');
  const metrics = (await node.topology.node.get(`http://127.0.0.1:${successorAdmin}/metrics`))?.body ?? '';
  assert.match(metrics, /^dnsgate_handovers_total 1$/m);
  assert.match(metrics, /^dnsgate_handover_duration_seconds_count 1$/m);
  assert.match(metrics, /^dnsgate_intercepting 1$/m);
  rmSync(queries);
});
