/**
 * DNS log records end to end: dig from distinct loopback clients mapped to pods by a
 * pods file, through dnsgate in this process, to unbound and knot, and the records in
 * `dns.log` after the shutdown flush (one window) or after interval flushes.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dig } from '../helpers/dig.js';
import { startUpstreams } from '../helpers/dns-servers.js';
import { startDnsgate, waitFor, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet, freePort } from '../helpers/net.js';
import { about, readRecords, timeNs, writePodsFile, type LogRecord } from './fixture.js';

const subnet = new LoopbackSubnet();
const KNOT = subnet.address(1);
const UNBOUND = subnet.address(2);
const DNSGATE = subnet.address(3);
const WEB_A = subnet.address(10);
const WEB_B = subnet.address(11);
const API = subnet.address(12);
const STRANGER = subnet.address(20);
const NODE = 'node-logs-1';

const LIMIT_NAMES = Array.from({ length: 10 }, (_, i) => `n${i}.limit.example.com`);
const EXTRA_RECORDS = LIMIT_NAMES.map((name, i) => `${name}. IN A 192.0.2.${100 + i}`).join('\n');
const LOGS_ZONE = `$ORIGIN logs.example.net.
$TTL 300
@ IN SOA ns.logs.example.net. admin.logs.example.net. 2024010101 7200 900 1209600 30
@ IN NS ns.logs.example.net.
ns IN A 192.0.2.53
`;

const skip = missing('knotd', 'unbound', 'dig');

describe('DNS log records', { skip }, () => {
  let upstreams: Awaited<ReturnType<typeof startUpstreams>>;
  let dir: string;
  let podsFile: string;

  before(async () => {
    upstreams = await startUpstreams(KNOT, UNBOUND, { 'logs.example.net.': LOGS_ZONE }, EXTRA_RECORDS);
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-logs-'));
    const web = { namespace: 'shop', generateName: 'web-7d9c8b7f4-' };
    podsFile = writePodsFile(dir, [
      { ...web, name: 'web-7d9c8b7f4-aaaaa', ip: WEB_A, labels: { app: 'web', replica: 'a' } },
      { ...web, name: 'web-7d9c8b7f4-bbbbb', ip: WEB_B, labels: { app: 'web', replica: 'b' } },
      { name: 'api-0', namespace: 'shop', ip: API, labels: { app: 'api' } },
      { name: 'coredns-565d847f94-gk6tn', namespace: 'kube-system', generateName: 'coredns-565d847f94-', ip: UNBOUND, labels: { 'k8s-app': 'kube-dns' } },
    ]);
  });

  after(async () => {
    await upstreams?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let runs = 0;
  /** A dnsgate logging to a fresh directory, with `args` after the common flags. */
  async function startLogging(args: readonly string[] = [], upstream = `${UNBOUND}:${upstreams.unbound.port}`): Promise<{ dnsgate: RunningDnsgate; logFile: string }> {
    const logDir = join(dir, `run-${++runs}`);
    const dnsgate = await startDnsgate(DNSGATE, [
      '--upstream', upstream, '--pods', podsFile, '--log-dir', logDir, '--node-name', NODE, '--log-flush-interval', '300s', ...args,
    ]);
    return { dnsgate, logFile: join(logDir, 'dns.log') };
  }

  /** Runs `queries` against a fresh dnsgate and returns the records of its one window, flushed at stop. */
  async function oneWindow(args: readonly string[], queries: (dnsgate: RunningDnsgate) => Promise<void>, upstream?: string): Promise<LogRecord[]> {
    const { dnsgate, logFile } = await startLogging(args, upstream);
    try {
      await queries(dnsgate);
    } finally {
      await dnsgate.stop();
    }
    return readRecords(logFile);
  }

  async function ask(dnsgate: RunningDnsgate, name: string, source: string, type = 'A'): Promise<void> {
    const result = await dig(name, { server: DNSGATE, port: dnsgate.port, source, type });
    assert.ok(!result.timedOut, `dig ${name} from ${source} got an answer`);
  }

  function only(records: readonly LogRecord[], qname: string): LogRecord {
    const matching = about(records, qname);
    assert.equal(matching.length, 1, `one record for ${qname}: ${JSON.stringify(records)}`);
    return matching[0];
  }

  /** The server fields of unbound, a pod; a server that gave more than one response of a record loses Calico's labels. */
  const coredns = (labels = true, responses = 1): Record<string, unknown> => ({
    name: 'coredns-565d847f94-gk6tn',
    name_aggr: 'coredns-565d847f94-*',
    namespace: 'kube-system',
    ip: UNBOUND,
    ...(labels
      ? {
          labels: {
            'k8s-app': 'kube-dns',
            ...(responses > 1 ? {} : { 'projectcalico.org/namespace': 'kube-system', 'projectcalico.org/orchestrator': 'k8s', 'projectcalico.org/serviceaccount': 'default' }),
          },
        }
      : {}),
  });
  /** unbound's OPT record: dig asks with EDNS, unbound answers with its UDP size. */
  const OPT = { name: '', class: 1232, type: 'OPT', rdata: [''] };

  test('kind 0: one record per pod, with its name, IP and labels', async () => {
    const records = await oneWindow(['--log-aggregation', '0'], async (dnsgate) => {
      await ask(dnsgate, 'www.example.com', WEB_A);
      await ask(dnsgate, 'WWW.Example.COM', WEB_A);
      await ask(dnsgate, 'www.example.com', WEB_B);
      await ask(dnsgate, 'www.example.com', API);
    });
    const www = about(records, 'www.example.com');
    assert.equal(www.length, 3, JSON.stringify(www));
    const byName = new Map(www.map((record) => [record.client_name, record]));
    const a = byName.get('web-7d9c8b7f4-aaaaa');
    assert.ok(a, 'a record for replica a');
    assert.equal(a.count, 2, 'both spellings of the name in one record');
    assert.equal(a.client_name_aggr, 'web-7d9c8b7f4-*');
    assert.equal(a.client_namespace, 'shop');
    assert.equal(a.client_ip, WEB_A);
    // Two responses merged: Felix keeps the labels both had, without projectcalico.org/*.
    assert.deepEqual(a.client_labels, { app: 'web', replica: 'a' });
    assert.deepEqual(a.servers, [coredns(true, 2)]);
    assert.equal(a.qclass, 'IN');
    assert.equal(a.qtype, 'A');
    assert.equal(a.rcode, 'NoError');
    assert.deepEqual(a.rrsets, [{ name: 'www.example.com', class: 'IN', type: 'A', rdata: ['192.0.2.10'] }, OPT]);
    assert.equal(a.host, NODE);
    const b = byName.get('web-7d9c8b7f4-bbbbb');
    assert.equal(b?.client_ip, WEB_B);
    assert.equal(b?.count, 1);
    // One response: the labels as they are, Calico's included.
    assert.deepEqual(b?.client_labels, {
      app: 'web',
      'projectcalico.org/namespace': 'shop',
      'projectcalico.org/orchestrator': 'k8s',
      'projectcalico.org/serviceaccount': 'default',
      replica: 'b',
    });
    assert.deepEqual(b?.servers, [coredns()]);
    const api = byName.get('api-0');
    assert.equal(api?.client_name_aggr, 'api-0', 'a pod without generateName aggregates under its name');
    assert.equal(api?.client_ip, API);
  });

  test('kind 1 (default): two replicas collapse into one record with count 2', async () => {
    const records = await oneWindow([], async (dnsgate) => {
      await ask(dnsgate, 'www.example.com', WEB_A);
      await ask(dnsgate, 'www.example.com', WEB_B);
      await ask(dnsgate, 'www.example.com', API);
    });
    const www = about(records, 'www.example.com');
    assert.equal(www.length, 2, JSON.stringify(www));
    const web = www.find((record) => record.client_name_aggr === 'web-7d9c8b7f4-*');
    assert.ok(web, JSON.stringify(www));
    assert.equal(web.count, 2);
    assert.equal(web.client_name, '-');
    assert.equal(web.client_ip, null);
    assert.equal(web.client_namespace, 'shop');
    assert.deepEqual(web.client_labels, { app: 'web' }, 'only the labels both replicas have, without projectcalico.org/*');
    assert.equal((web.latency as { count: number }).count, 2);
    const api = www.find((record) => record.client_name_aggr === 'api-0');
    assert.equal(api?.count, 1);
    assert.equal(api?.client_ip, null);
  });

  test('NXDOMAIN carries the SOA of its zone in rrsets', async () => {
    const records = await oneWindow([], async (dnsgate) => {
      await ask(dnsgate, 'NoSuch.Logs.Example.NET', WEB_A);
    });
    const record = only(records, 'nosuch.logs.example.net');
    assert.equal(record.rcode, 'NXDomain');
    // The owner is lowercased; the SOA's names are compressed against the question, whose case they keep.
    assert.deepEqual(record.rrsets, [
      { name: 'logs.example.net', class: 'IN', type: 'SOA', rdata: ['ns.Logs.Example.NET admin.Logs.Example.NET 2024010101 7200 900 1209600 30'] },
      OPT,
    ]);
  });

  test('a CNAME chain: every link and the address, in answer order', async () => {
    const records = await oneWindow([], async (dnsgate) => {
      await ask(dnsgate, 'chain.example.com', WEB_A);
    });
    const record = only(records, 'chain.example.com');
    assert.equal(record.rcode, 'NoError');
    assert.deepEqual(record.rrsets, [
      { name: 'chain.example.com', class: 'IN', type: 'CNAME', rdata: ['hop.example.net'] },
      { name: 'hop.example.net', class: 'IN', type: 'CNAME', rdata: ['end.example.org'] },
      { name: 'end.example.org', class: 'IN', type: 'A', rdata: ['192.0.2.20'] },
      OPT,
    ]);
  });

  test('rdata of real answers: several A, AAAA, MX, TXT and SRV', async () => {
    const records = await oneWindow([], async (dnsgate) => {
      await ask(dnsgate, 'multi.example.com', WEB_A);
      await ask(dnsgate, 'v6.example.com', WEB_A, 'AAAA');
      await ask(dnsgate, 'mail.example.com', WEB_A, 'MX');
      await ask(dnsgate, 'text.example.com', WEB_A, 'TXT');
      await ask(dnsgate, '_sip._udp.example.com', WEB_A, 'SRV');
    });
    const rrset = (qname: string, type: string): unknown => (only(records, qname).rrsets as { type: string; name: string }[]).find((set) => set.type === type && set.name === qname);
    assert.deepEqual(rrset('multi.example.com', 'A'), { name: 'multi.example.com', class: 'IN', type: 'A', rdata: ['192.0.2.11', '192.0.2.12'] });
    assert.deepEqual(rrset('v6.example.com', 'AAAA'), { name: 'v6.example.com', class: 'IN', type: 'AAAA', rdata: ['2001:db8::10'] });
    assert.deepEqual(rrset('mail.example.com', 'MX'), { name: 'mail.example.com', class: 'IN', type: 'MX', rdata: ['10 mx.example.com'] });
    assert.deepEqual(rrset('text.example.com', 'TXT'), { name: 'text.example.com', class: 'IN', type: 'TXT', rdata: ['helloworld'] });
    assert.deepEqual(rrset('_sip._udp.example.com', 'SRV'), { name: '_sip._udp.example.com', class: 'IN', type: 'SRV', rdata: ['10 20 5060 sip.example.com'] });
    assert.equal(only(records, 'v6.example.com').qtype, 'AAAA');
    assert.equal(only(records, '_sip._udp.example.com').qtype, 'SRV');
  });

  test('an unknown client: "-", pub/pvt, labels {}; its IP kept only by kind 0', async () => {
    for (const [kind, ip] of [['0', STRANGER], ['1', null]] as const) {
      const records = await oneWindow(['--log-aggregation', kind], async (dnsgate) => {
        await ask(dnsgate, 'www.example.com', STRANGER);
      });
      const record = only(records, 'www.example.com');
      assert.equal(record.client_name, '-');
      // Loopback is not RFC 1918, so the client is public.
      assert.equal(record.client_name_aggr, 'pub');
      assert.equal(record.client_namespace, '-');
      assert.equal(record.client_ip, ip, `kind ${kind}`);
      // Felix: the labels of no endpoint are an empty map, not null.
      assert.deepEqual(record.client_labels, {});
    }
  });

  test('per-node limit 3 with 10 names: 3 log records and one unlogged record with count 7', async () => {
    const records = await oneWindow(['--log-per-node-limit', '3'], async (dnsgate) => {
      for (const name of LIMIT_NAMES) await ask(dnsgate, name, WEB_A);
      // A key already logged in this window still counts in its record.
      await ask(dnsgate, LIMIT_NAMES[0], WEB_B);
    });
    const logged = records.filter((record) => record.type === 'log');
    assert.deepEqual(logged.map((record) => record.qname), LIMIT_NAMES.slice(0, 3));
    assert.equal(logged[0].count, 2);
    const unlogged = records.filter((record) => record.type === 'unlogged');
    assert.equal(unlogged.length, 1);
    assert.equal(unlogged[0].count, 7);
    assert.equal(records.at(-1), unlogged[0], 'the unlogged record comes last');
  });

  test('--log-include-labels false: client_labels null, server labels omitted', async () => {
    const records = await oneWindow(['--log-include-labels', 'false'], async (dnsgate) => {
      await ask(dnsgate, 'www.example.com', WEB_A);
    });
    const record = only(records, 'www.example.com');
    assert.equal(record.client_labels, null);
    assert.equal(record.client_name_aggr, 'web-7d9c8b7f4-*');
    assert.deepEqual(record.servers, [coredns(false)]);
  });

  test('a server that is not a pod: "-", pub/pvt, "-" and its IP', async () => {
    const records = await oneWindow([], async (dnsgate) => {
      await ask(dnsgate, 'www.example.com', WEB_A);
    }, `${KNOT}:${upstreams.knot.port}`);
    // Loopback is not RFC 1918, so the server is public.
    assert.deepEqual(only(records, 'www.example.com').servers, [{ name: '-', name_aggr: 'pub', namespace: '-', ip: KNOT }]);
  });

  test('answers dnsgate writes itself: SERVFAIL after upstream failure, FORMERR', async () => {
    const deadPort = await freePort(UNBOUND);
    const { dnsgate, logFile } = await startLogging(['--upstream-timeout', '200ms', '--query-timeout', '400ms'], `${UNBOUND}:${deadPort}`);
    try {
      const result = await dig('www.example.com', { server: DNSGATE, port: dnsgate.port, source: WEB_A });
      assert.equal(result.status, 'SERVFAIL');
      // Two questions in one query: FORMERR, and no question is echoed.
      const question = '0377777700' + '00010001';
      const twoQuestions = Buffer.from('abcd01000002000000000000' + question + question, 'hex');
      const reply = await sendUdp(twoQuestions, dnsgate.port, WEB_A);
      assert.equal(reply[3] & 0x0f, 1, 'FORMERR');
    } finally {
      await dnsgate.stop();
    }
    const records = readRecords(logFile);
    const servfail = only(records, 'www.example.com');
    assert.equal(servfail.rcode, 'ServFail');
    assert.deepEqual(servfail.servers, [], 'no upstream answered');
    assert.equal(servfail.rrsets, null);
    const formerr = only(records, '');
    assert.equal(formerr.rcode, 'FormErr');
    assert.equal(formerr.qtype, '#0');
    assert.equal(formerr.qclass, '#0');
    assert.equal(formerr.client_name_aggr, 'web-7d9c8b7f4-*');
  });

  test('windows flush every interval with up to 10 % jitter, each starting where the last ended', async () => {
    // Long enough for the second dig to be answered within the window after the first
    // on a loaded machine: an empty window writes nothing, and the two would not touch.
    const { dnsgate, logFile } = await startLogging(['--log-flush-interval', '1s']);
    try {
      await ask(dnsgate, 'www.example.com', WEB_A);
      await waitFor(() => readRecords(logFile).length === 1, 5000, 'first window');
      await ask(dnsgate, 'alias.example.com', WEB_A);
      await waitFor(() => readRecords(logFile).length === 2, 5000, 'second window');
      const [first, second] = readRecords(logFile);
      assert.equal(first.qname, 'www.example.com');
      assert.equal(second.qname, 'alias.example.com');
      assert.equal(second.start_time, first.end_time, 'windows are contiguous');
      for (const record of [first, second]) {
        const windowMs = Number(timeNs(record.end_time as string) - timeNs(record.start_time as string)) / 1e6;
        // [1000, 1100) ms as Felix's ticker, plus timer lateness on a loaded machine (a millisecond timer may fire a fraction early).
        assert.ok(windowMs >= 999 && windowMs <= 1600, `window of ${windowMs} ms`);
      }
      const times = [first.start_time, first.end_time, second.end_time] as string[];
      assert.ok(times.some((time) => /\.\d{7,}Z$/.test(time)), `times carry nanoseconds: ${times.join(' ')}`);
      // The counter moves when the write settles, which may be just after the line is readable.
      const written = () => dnsgate.app.metrics.registry.getSingleMetricAsString('dnsgate_log_records_written_total');
      await waitFor(async () => /dnsgate_log_records_written_total\{sink="file"\} 2\b/.test(await written()), 2000, 'written counter');
    } finally {
      await dnsgate.stop();
    }
  });
});

function sendUdp(message: Buffer, port: number, source: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no reply'));
    }, 3000);
    socket.once('message', (reply) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    });
    socket.bind(0, source, () => socket.send(message, port, DNSGATE));
  });
}
