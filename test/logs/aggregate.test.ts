/** Aggregation and the flush merge, on crafted answers fed to the aggregator as the pipeline does. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { QueryView, parseQuery } from '../../src/dns/message.js';
import { RecordTable, walkRecords } from '../../src/dns/records.js';
import { podLabels, type Pod } from '../../src/identity/pod.js';
import { IdentitySnapshot } from '../../src/identity/snapshot.js';
import { Aggregator } from '../../src/logs/aggregator.js';
import { AggregationKind } from '../../src/logs/identity-fields.js';
import { renderWindow } from '../../src/logs/render.js';
import { UpstreamServer } from '../../src/upstream/server.js';
import { linesText, parseRecords, udpQuery, type LogRecord } from './fixture.js';

const upstreamA = new UpstreamServer(0, { host: '10.96.0.10', port: 53, family: 4 });
const upstreamB = new UpstreamServer(1, { host: '10.96.0.11', port: 53, family: 4 });

function pod(name: string, ip: string, labels: Record<string, string>): Pod {
  return {
    name,
    namespace: 'shop',
    generateName: 'web-7d9c8b7f4-',
    serviceAccount: 'default',
    ips: [ip],
    labels: podLabels('shop', 'default', labels),
    namespaceLabels: {},
    serviceAccountLabels: {},
    ports: [],
    key: `shop/${name}`,
  };
}

const webA = pod('web-7d9c8b7f4-aaaaa', '10.244.1.10', { app: 'web', replica: 'a' });
const webB = pod('web-7d9c8b7f4-bbbbb', '10.244.1.11', { app: 'web', replica: 'b' });

interface Exchange {
  name: string;
  answers?: dnsPacket.Answer[];
  authorities?: dnsPacket.Answer[];
  additionals?: dnsPacket.Answer[];
  rcode?: number;
  client?: { ip: string; pod: Pod | undefined };
  upstream?: UpstreamServer;
  /** The upstream round trip. */
  latencyMs?: number;
  /** Between the upstream's reply and the answer to the client (a hold). */
  heldMs?: number;
}

const view = new QueryView();
const table = new RecordTable();

/** Feeds one query and its answer to `aggregator` as the pipeline would. */
function feed(aggregator: Aggregator, exchange: Exchange): void {
  const client = exchange.client ?? { ip: webA.ips[0], pod: webA };
  const query = udpQuery(exchange.name, client.ip, 1000, dnsPacket.RECURSION_DESIRED);
  query.pod = client.pod;
  query.sentAt = 1000;
  query.repliedAt = 1000 + (exchange.latencyMs ?? 1);
  const answer = dnsPacket.encode({
    type: 'response',
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (exchange.rcode ?? 0),
    questions: [{ type: 'A', name: exchange.name }],
    answers: exchange.answers ?? [],
    authorities: exchange.authorities ?? [],
    additionals: exchange.additionals ?? [],
  });
  assert.ok(walkRecords(answer, query.questionEnd, table));
  aggregator.add(query, answer, table, exchange.upstream ?? upstreamA, query.repliedAt + (exchange.heldMs ?? 0));
}

async function flush(aggregator: Aggregator, kind = AggregationKind.ClientPrefix, identities = IdentitySnapshot.empty()): Promise<LogRecord[]> {
  const lines = await renderWindow(aggregator.take(), {
    kind,
    includeLabels: true,
    host: 'node-1',
    identities,
    startTime: '2026-01-01T00:00:00Z',
    endTime: '2026-01-01T00:05:00.1Z',
  });
  const text = linesText(lines);
  assert.ok(text === '' || text.endsWith('\n'), 'whole lines');
  assert.equal(text.split('\n').length - 1, lines.lineCounts.reduce((sum, count) => sum + count, 0), 'each line counted');
  return parseRecords(text);
}

const a = (name: string, data: string, ttl = 60): dnsPacket.Answer => ({ type: 'A', name, ttl, data });
const soa: dnsPacket.Answer = {
  type: 'SOA',
  name: 'example.com',
  ttl: 60,
  data: { mname: 'ns.example.com', rname: 'admin.example.com', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 },
};

describe('aggregation', () => {
  test('answers differing in name case, TTL or record order are one record; latency merged count-weighted', async () => {
    const aggregator = new Aggregator(AggregationKind.ClientPrefix, 0);
    feed(aggregator, { name: 'www.example.com', answers: [a('www.example.com', '192.0.2.1', 60), a('www.example.com', '192.0.2.2', 60)], latencyMs: 1 });
    feed(aggregator, { name: 'WWW.example.com', answers: [a('WWW.example.com', '192.0.2.1', 59), a('WWW.example.com', '192.0.2.2', 59)], latencyMs: 2 });
    feed(aggregator, { name: 'www.example.com', answers: [a('www.example.com', '192.0.2.2', 58), a('www.example.com', '192.0.2.1', 58)], latencyMs: 6 });
    const records = await flush(aggregator);
    assert.equal(records.length, 1, JSON.stringify(records));
    const [record] = records;
    assert.equal(record.count, 3);
    assert.deepEqual(record.rrsets, [{ name: 'www.example.com', class: 'IN', type: 'A', rdata: ['192.0.2.1', '192.0.2.2'] }]);
    assert.deepEqual(record.latency, { count: 3, mean: 3_000_000, max: 6_000_000 });
  });

  test('questions whose hashes collide, with the same answer records, stay apart', async () => {
    // Found by search: these two names have the same 32-bit question hash.
    const names = ['5vlfaa.example.com', 'mpdhaa.example.com'];
    const hashes = names.map((name) => {
      parseQuery(dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name }] }), view);
      return view.questionHash;
    });
    assert.equal(hashes[0], hashes[1], 'the names collide');
    const aggregator = new Aggregator(AggregationKind.ClientPrefix, 0);
    for (const name of [names[0], names[1], names[0]]) feed(aggregator, { name, rcode: 3, authorities: [soa] });
    const records = await flush(aggregator);
    const summary = records.map((record) => [record.qname, record.count, record.rcode]).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    assert.deepEqual(summary, [[names[0], 2, 'NXDomain'], [names[1], 1, 'NXDomain']]);
  });

  test('kind 1: replicas share a record with the labels they have in common, servers unioned', async () => {
    const aggregator = new Aggregator(AggregationKind.ClientPrefix, 0);
    const answers = [a('www.example.com', '192.0.2.1')];
    feed(aggregator, { name: 'www.example.com', answers, client: { ip: webA.ips[0], pod: webA }, upstream: upstreamA });
    feed(aggregator, { name: 'www.example.com', answers, client: { ip: webB.ips[0], pod: webB }, upstream: upstreamB });
    feed(aggregator, { name: 'www.example.com', answers, client: { ip: webA.ips[0], pod: webA }, upstream: upstreamA });
    const records = await flush(aggregator);
    assert.equal(records.length, 1);
    const [record] = records;
    assert.equal(record.count, 3);
    assert.equal(record.client_name, '-');
    assert.equal(record.client_ip, null);
    assert.equal((record.client_labels as Record<string, string>).replica, undefined);
    assert.equal((record.client_labels as Record<string, string>).app, 'web');
    assert.deepEqual((record.servers as { ip: string }[]).map((server) => server.ip), ['10.96.0.10', '10.96.0.11']);
    assert.deepEqual(record.servers, [
      { name: '-', name_aggr: 'pvt', namespace: '-', ip: '10.96.0.10' },
      { name: '-', name_aggr: 'pvt', namespace: '-', ip: '10.96.0.11' },
    ]);
  });

  test('kind 0: one record per client; an unknown private client is "pvt" with its IP', async () => {
    const aggregator = new Aggregator(AggregationKind.Client, 0);
    const answers = [a('www.example.com', '192.0.2.1')];
    feed(aggregator, { name: 'www.example.com', answers, client: { ip: webA.ips[0], pod: webA } });
    feed(aggregator, { name: 'www.example.com', answers, client: { ip: webB.ips[0], pod: webB } });
    feed(aggregator, { name: 'www.example.com', answers, client: { ip: '192.168.7.7', pod: undefined } });
    const records = await flush(aggregator, AggregationKind.Client);
    assert.deepEqual(
      records.map((record) => [record.client_name, record.client_name_aggr, record.client_namespace, record.client_ip, record.client_labels === null]),
      [
        ['web-7d9c8b7f4-aaaaa', 'web-7d9c8b7f4-*', 'shop', '10.244.1.10', false],
        ['web-7d9c8b7f4-bbbbb', 'web-7d9c8b7f4-*', 'shop', '10.244.1.11', false],
        ['-', 'pvt', '-', '192.168.7.7', false],
      ],
    );
    // Felix: an unknown client's labels are an empty map, written {} (not null).
    assert.deepEqual(records[2].client_labels, {});
  });

  test("labels: one response keeps all, Calico's included; merged responses keep what all share, without projectcalico.org/*", async () => {
    const coredns: Pod = {
      ...pod('coredns-565d847f94-gk6tn', '10.96.0.10', {}),
      namespace: 'kube-system',
      generateName: 'coredns-565d847f94-',
      labels: podLabels('kube-system', 'default', { 'k8s-app': 'kube-dns' }),
    };
    const identities = new IdentitySnapshot([coredns], new Map());
    const aggregator = new Aggregator(AggregationKind.Client, 0);
    feed(aggregator, { name: 'once.example.com', answers: [a('once.example.com', '192.0.2.1')] });
    feed(aggregator, { name: 'twice.example.com', answers: [a('twice.example.com', '192.0.2.1')] });
    feed(aggregator, { name: 'twice.example.com', answers: [a('twice.example.com', '192.0.2.1')] });
    const records = await flush(aggregator, AggregationKind.Client, identities);
    const byName = new Map(records.map((record) => [record.qname, record]));
    const calico = { 'projectcalico.org/namespace': 'shop', 'projectcalico.org/orchestrator': 'k8s', 'projectcalico.org/serviceaccount': 'default' };
    // A record of one response is never merged: the endpoint's labels as they are.
    assert.deepEqual(byName.get('once.example.com')?.client_labels, { app: 'web', ...calico, replica: 'a' });
    assert.deepEqual((byName.get('once.example.com')?.servers as { labels: unknown }[])[0].labels, {
      'k8s-app': 'kube-dns',
      'projectcalico.org/namespace': 'kube-system',
      'projectcalico.org/orchestrator': 'k8s',
      'projectcalico.org/serviceaccount': 'default',
    });
    // DNSSpec.Merge runs IntersectAndFilterLabels on the client and on a server seen again, even for the same pod.
    assert.deepEqual(byName.get('twice.example.com')?.client_labels, { app: 'web', replica: 'a' });
    assert.deepEqual((byName.get('twice.example.com')?.servers as { labels: unknown }[])[0].labels, { 'k8s-app': 'kube-dns' });
  });

  test("latency: the upstream round trip, not the hold; Felix's mean, truncated at each merge", async () => {
    const aggregator = new Aggregator(AggregationKind.ClientPrefix, 0);
    for (const latencyMs of [1, 2, 2]) feed(aggregator, { name: 'www.example.com', answers: [a('www.example.com', '192.0.2.1')], latencyMs, heldMs: 500 });
    const [record] = await flush(aggregator);
    // (1 + 2) / 2 = 1.5 ms, then (1.5 × 2 + 2) / 3 = 1.6666666… ms, truncated to whole nanoseconds.
    assert.deepEqual(record.latency, { count: 3, mean: 1_666_666, max: 2_000_000 });
  });

  test('keys: an answer with OPT and one without, or rdata differing in case, are separate records', async () => {
    const aggregator = new Aggregator(AggregationKind.ClientPrefix, 0);
    const opt: dnsPacket.Answer = { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
    const cname = (target: string): dnsPacket.Answer => ({ type: 'CNAME', name: 'www.example.com', ttl: 60, data: target });
    feed(aggregator, { name: 'www.example.com', answers: [cname('edge.example.net')] });
    feed(aggregator, { name: 'www.example.com', answers: [cname('edge.example.net')], additionals: [opt] });
    feed(aggregator, { name: 'www.example.com', answers: [cname('Edge.Example.NET')] });
    const records = await flush(aggregator);
    assert.deepEqual(
      records.map((record) => record.rrsets),
      [
        [{ name: 'www.example.com', class: 'IN', type: 'CNAME', rdata: ['edge.example.net'] }],
        [
          { name: 'www.example.com', class: 'IN', type: 'CNAME', rdata: ['edge.example.net'] },
          { name: '', class: 1232, type: 'OPT', rdata: [''] },
        ],
        [{ name: 'www.example.com', class: 'IN', type: 'CNAME', rdata: ['Edge.Example.NET'] }],
      ],
    );
  });

  test('rcode: the extended rcode of OPT is part of the key and of the record', async () => {
    const aggregator = new Aggregator(AggregationKind.ClientPrefix, 0);
    const opt = (extendedRcode: number): dnsPacket.Answer => ({ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode, ednsVersion: 0, flags: 0, flag_do: false, options: [] });
    feed(aggregator, { name: 'www.example.com', additionals: [opt(0)] });
    feed(aggregator, { name: 'www.example.com', additionals: [opt(1)] });
    assert.deepEqual((await flush(aggregator)).map((record) => record.rcode), ['NoError', 'BADSIG']);
  });

  test('per-node limit: new keys past it are unlogged, known keys still count; each window starts afresh', async () => {
    const aggregator = new Aggregator(AggregationKind.ClientPrefix, 2);
    for (const name of ['a.example.com', 'b.example.com', 'c.example.com', 'a.example.com', 'd.example.com']) feed(aggregator, { name, answers: [a(name, '192.0.2.1')] });
    const records = await flush(aggregator);
    assert.deepEqual(records.map((record) => [record.type, record.qname ?? null, record.count]), [['log', 'a.example.com', 2], ['log', 'b.example.com', 1], ['unlogged', null, 2]]);
    feed(aggregator, { name: 'd.example.com', answers: [a('d.example.com', '192.0.2.1')] });
    assert.deepEqual((await flush(aggregator)).map((record) => [record.type, record.qname]), [['log', 'd.example.com']]);
  });

  test('a large window is rendered in slices, with other work running between them', async () => {
    const aggregator = new Aggregator(AggregationKind.ClientPrefix, 0);
    for (let i = 0; i < 1000; i++) feed(aggregator, { name: `n${i}.example.com`, answers: [a(`n${i}.example.com`, '192.0.2.1')] });
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const records = await flush(aggregator);
    ticking = false;
    assert.equal(records.length, 1000);
    assert.ok(turns >= 3, `the event loop turned ${turns} times during the flush`);
  });

  test('an empty window renders nothing', async () => {
    assert.deepEqual(await flush(new Aggregator(AggregationKind.ClientPrefix, 0)), []);
  });
});
