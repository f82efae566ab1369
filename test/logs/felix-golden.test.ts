/**
 * DNS log records compared field by field with golden records written from Felix's
 * rules (Calico Enterprise: felix/collector/dnslog, linseed/pkg/apis/v1/dns_log.go,
 * which decode with gopacket v1.4.0 layers/dns.go). dig asks dnsgate, which forwards
 * to knot serving a zone written for this test; the rule behind each golden value is
 * named beside it. Only the times and latencies vary from run to run: their form is
 * checked instead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dig } from '../helpers/dig.js';
import { startKnot, type DnsServer } from '../helpers/dns-servers.js';
import { startDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { readRecords, writePodsFile, type LogRecord } from './fixture.js';

const subnet = new LoopbackSubnet();
const KNOT = subnet.address(1);
const DNSGATE = subnet.address(3);
const WEB = subnet.address(10);
const NODE = 'node-felix-1';
const NSID = 'knot-felix';

const ZONE = `$ORIGIN felix.test.
$TTL 300
@ IN SOA ns.felix.test. admin.felix.test. 2024010101 7200 900 1209600 30
@ IN NS ns.felix.test.
ns IN A 192.0.2.53
a IN A 10.0.0.9
a IN A 9.0.0.1
v6 IN AAAA 2001:db8::10
mapped IN AAAA ::ffff:192.0.2.1
chain IN CNAME hop.felix.test.
hop IN CNAME end.felix.test.
end IN A 192.0.2.20
mail IN MX 10 mx1.example.net.
mail IN MX 5 mx2.example.net.
_sip._udp IN SRV 10 20 5060 sip1.example.net.
_sip._udp IN SRV 5 30 5061 sip2.example.net.
text IN TXT "hello" "world"
text IN TXT "abc"
caa IN CAA 0 issue "ca.example.net"
https IN HTTPS 1 . alpn=h2
xn--bcher-kva IN A 192.0.2.5
key IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
key IN RRSIG DNSKEY 13 3 300 20260101000000 20251201000000 4242 felix.test. c2lnbmF0dXJl
`;

/** Go's time.RFC3339Nano (linseed's time.Time fields): nanoseconds, trailing zeros trimmed. */
const GO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z$/;

const skip = missing('knotd', 'dig');

describe('DNS log records, field by field against Felix', { skip }, () => {
  let knot: DnsServer;
  let dir: string;
  let records: LogRecord[];

  before(async () => {
    knot = await startKnot(KNOT, { 'felix.test.': ZONE }, { nsid: NSID });
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-felix-'));
    const podsFile = writePodsFile(dir, [
      { name: 'web-7d9c8b7f4-aaaaa', namespace: 'shop', generateName: 'web-7d9c8b7f4-', ip: WEB, labels: { app: 'web' } },
      { name: 'knot-0', namespace: 'dns', ip: KNOT, labels: { app: 'knot' } },
    ]);
    const logDir = join(dir, 'logs');
    const dnsgate = await startDnsgate(DNSGATE, ['--upstream', `${KNOT}:${knot.port}`, '--pods', podsFile, '--log-dir', logDir, '--node-name', NODE, '--log-flush-interval', '300s']);
    const ask = async (name: string, type: string, ...extra: string[]): Promise<void> => {
      const result = await dig(name, { server: DNSGATE, port: dnsgate.port, source: WEB, type, extra });
      assert.ok(!result.timedOut, `dig ${name} ${type} got an answer`);
    };
    try {
      await ask('a.felix.test', 'A');
      await ask('v6.felix.test', 'AAAA');
      await ask('mapped.felix.test', 'AAAA');
      await ask('Chain.Felix.TEST', 'A');
      await ask('nosuch.felix.test', 'A');
      await ask('mail.felix.test', 'MX');
      await ask('_sip._udp.felix.test', 'SRV');
      await ask('text.felix.test', 'TXT');
      await ask('caa.felix.test', 'CAA');
      await ask('https.felix.test', 'HTTPS');
      await ask('xn--bcher-kva.felix.test', 'A');
      await ask('key.felix.test', 'DNSKEY');
      await ask('key.felix.test', 'RRSIG');
      await ask('ns.felix.test', 'A', '+nsid');
      await ask('ns.felix.test', 'A', '+edns=1', '+noednsnegotiation');
      // Not knot's zone: REFUSED, and without EDNS the answer has no records at all.
      await ask('other.example', 'A', '+noedns');
      // Asked twice: one record of two responses.
      await ask('a.felix.test', 'A');
    } finally {
      await dnsgate.stop();
    }
    records = readRecords(join(logDir, 'dns.log'));
  });

  after(async () => {
    await knot?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The one record of `qname` and `qtype`, its varying fields checked and left out. */
  function golden(qname: string, qtype: string, rcode?: string): Record<string, unknown> {
    const matching = records.filter((record) => record.qname === qname && record.qtype === qtype && (rcode === undefined || record.rcode === rcode));
    assert.equal(matching.length, 1, `one record of ${qname} ${qtype}: ${JSON.stringify(records)}`);
    const { start_time, end_time, latency, latency_count, latency_mean, latency_max, ...fixed } = matching[0];
    for (const time of [start_time, end_time]) assert.match(time as string, GO_TIME);
    const { count, mean, max } = latency as { count: number; mean: number; max: number };
    assert.ok(Number.isSafeInteger(mean) && Number.isSafeInteger(max) && mean <= max, 'latency in whole nanoseconds');
    assert.deepEqual([latency_count, latency_mean, latency_max], [count, mean, max]);
    assert.equal(count, fixed.count);
    return fixed;
  }

  // DNSData.ToDNSLog with aggregation kind 1 (DNSPrefixNameAndIP): the client's name and
  // IP are "-" and null; name_aggr is generateName + "*".
  const client = {
    type: 'log',
    count: 1,
    client_name: '-',
    client_name_aggr: 'web-7d9c8b7f4-*',
    client_namespace: 'shop',
    client_ip: null,
    // A record of one response is never merged, so the endpoint's labels stay whole, Calico's included.
    client_labels: { app: 'web', 'projectcalico.org/namespace': 'shop', 'projectcalico.org/orchestrator': 'k8s', 'projectcalico.org/serviceaccount': 'default' },
    // The server is a pod: its endpoint fields; labels whole for a single response.
    servers: [
      {
        name: 'knot-0',
        name_aggr: 'knot-0',
        namespace: 'dns',
        ip: KNOT,
        labels: { app: 'knot', 'projectcalico.org/namespace': 'dns', 'projectcalico.org/orchestrator': 'k8s', 'projectcalico.org/serviceaccount': 'default' },
      },
    ],
  };
  // dig sends EDNS; knot answers with its OPT: root name "" (canonicalizeDNSName), class = knot's
  // UDP size 1232 (not a class gopacket names: a JSON number), type OPT, rdata = base64 of no options.
  const opt = { name: '', class: 1232, type: 'OPT', rdata: [''] };
  const record = (qname: string, qtype: string, rcode: string, rrsets: unknown): Record<string, unknown> => ({
    ...client,
    qname,
    qclass: 'IN',
    qtype,
    rcode,
    rrsets,
    host: NODE,
  });

  test('A: rdata sorted by wire bytes (DNSRRSets.Add: 9.0.0.1 before 10.0.0.9); asked twice, one record with merged labels', () => {
    const twice = record('a.felix.test', 'A', 'NoError', [{ name: 'a.felix.test', class: 'IN', type: 'A', rdata: ['9.0.0.1', '10.0.0.9'] }, opt]);
    // DNSSpec.Merge: IntersectAndFilterLabels on the client and on a server seen again drops projectcalico.org/*.
    assert.deepEqual(golden('a.felix.test', 'A'), {
      ...twice,
      count: 2,
      client_labels: { app: 'web' },
      servers: [{ name: 'knot-0', name_aggr: 'knot-0', namespace: 'dns', ip: KNOT, labels: { app: 'knot' } }],
    });
  });

  test('AAAA: net.IP.String(); an IPv4-mapped address is written as IPv4', () => {
    assert.deepEqual(golden('v6.felix.test', 'AAAA'), record('v6.felix.test', 'AAAA', 'NoError', [{ name: 'v6.felix.test', class: 'IN', type: 'AAAA', rdata: ['2001:db8::10'] }, opt]));
    assert.deepEqual(golden('mapped.felix.test', 'AAAA'), record('mapped.felix.test', 'AAAA', 'NoError', [{ name: 'mapped.felix.test', class: 'IN', type: 'AAAA', rdata: ['192.0.2.1'] }, opt]));
  });

  test('CNAME chain: qname and owners lowercased (canonicalizeDNSName), rdata names as sent, every link in answer order', () => {
    // knot compresses "hop.felix.test" as "hop" and a pointer to the question's "Felix.TEST":
    // gopacket follows it, and linseed keeps rdata names as decoded (string(rr.CNAME)).
    assert.deepEqual(
      golden('chain.felix.test', 'A'),
      record('chain.felix.test', 'A', 'NoError', [
        { name: 'chain.felix.test', class: 'IN', type: 'CNAME', rdata: ['hop.Felix.TEST'] },
        { name: 'hop.felix.test', class: 'IN', type: 'CNAME', rdata: ['end.Felix.TEST'] },
        { name: 'end.felix.test', class: 'IN', type: 'A', rdata: ['192.0.2.20'] },
        opt,
      ]),
    );
  });

  test('NXDOMAIN: the SOA of the Authority section (Answers + Additionals + Authorities), "%s %s %d %d %d %d %d"', () => {
    assert.deepEqual(
      golden('nosuch.felix.test', 'A'),
      record('nosuch.felix.test', 'A', 'NXDomain', [{ name: 'felix.test', class: 'IN', type: 'SOA', rdata: ['ns.felix.test admin.felix.test 2024010101 7200 900 1209600 30'] }, opt]),
    );
  });

  test('MX and SRV: "%d %s" and "%d %d %d %s", sorted by wire bytes (5 before 10)', () => {
    assert.deepEqual(golden('mail.felix.test', 'MX'), record('mail.felix.test', 'MX', 'NoError', [{ name: 'mail.felix.test', class: 'IN', type: 'MX', rdata: ['5 mx2.example.net', '10 mx1.example.net'] }, opt]));
    assert.deepEqual(
      golden('_sip._udp.felix.test', 'SRV'),
      record('_sip._udp.felix.test', 'SRV', 'NoError', [{ name: '_sip._udp.felix.test', class: 'IN', type: 'SRV', rdata: ['5 30 5061 sip2.example.net', '10 20 5060 sip1.example.net'] }, opt]),
    );
  });

  test('TXT: each record\'s strings joined; records sorted by wire bytes (\\x03abc before \\x05hello)', () => {
    assert.deepEqual(golden('text.felix.test', 'TXT'), record('text.felix.test', 'TXT', 'NoError', [{ name: 'text.felix.test', class: 'IN', type: 'TXT', rdata: ['abc', 'helloworld'] }, opt]));
  });

  test('CAA: a type gopacket does not name: qtype "#257", rrset type the number 257, rdata base64', () => {
    const caa = Buffer.concat([Buffer.from([0, 5]), Buffer.from('issueca.example.net')]).toString('base64');
    assert.deepEqual(golden('caa.felix.test', '#257'), record('caa.felix.test', '#257', 'NoError', [{ name: 'caa.felix.test', class: 'IN', type: 257, rdata: [caa] }, opt]));
  });

  test('HTTPS: named by gopacket, not decoded by getRRDecoded: rdata base64', () => {
    // Priority 1, target root, key 1 (alpn) of length 3: "\x02h2".
    const https = Buffer.from([0, 1, 0, 0, 1, 0, 3, 2, 0x68, 0x32]).toString('base64');
    assert.deepEqual(golden('https.felix.test', 'HTTPS'), record('https.felix.test', 'HTTPS', 'NoError', [{ name: 'https.felix.test', class: 'IN', type: 'HTTPS', rdata: [https] }, opt]));
  });

  test('punycode: Unicode in qname and owner names (aNameToUName)', () => {
    assert.deepEqual(golden('bücher.felix.test', 'A'), record('bücher.felix.test', 'A', 'NoError', [{ name: 'bücher.felix.test', class: 'IN', type: 'A', rdata: ['192.0.2.5'] }, opt]));
  });

  test('DNSKEY and RRSIG in presentation form (DNSRData.IDNAString)', () => {
    const key = 'mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==';
    assert.deepEqual(golden('key.felix.test', 'DNSKEY'), record('key.felix.test', 'DNSKEY', 'NoError', [{ name: 'key.felix.test', class: 'IN', type: 'DNSKEY', rdata: [`257 3 13 ${key}`] }, opt]));
    assert.deepEqual(
      golden('key.felix.test', 'RRSIG'),
      record('key.felix.test', 'RRSIG', 'NoError', [{ name: 'key.felix.test', class: 'IN', type: 'RRSIG', rdata: ['DNSKEY 13 3 300 20260101000000 20251201000000 4242 felix.test c2lnbmF0dXJl'] }, opt]),
    );
  });

  test('OPT with NSID: rdata is base64 of the options (code 3, length, "knot-felix")', () => {
    const nsid = Buffer.concat([Buffer.from([0, 3, 0, NSID.length]), Buffer.from(NSID)]).toString('base64');
    assert.deepEqual(
      golden('ns.felix.test', 'A', 'NoError'),
      record('ns.felix.test', 'A', 'NoError', [{ name: 'ns.felix.test', class: 'IN', type: 'A', rdata: ['192.0.2.53'] }, { ...opt, rdata: [nsid] }]),
    );
  });

  test('EDNS version 1: BADVERS, the extended rcode of OPT (16), which linseed spells BADSIG', () => {
    assert.deepEqual(golden('ns.felix.test', 'A', 'BADSIG'), record('ns.felix.test', 'A', 'BADSIG', [opt]));
  });

  test('no records at all: rrsets null (an empty Go map)', () => {
    assert.deepEqual(golden('other.example', 'A'), record('other.example', 'A', 'Refused', null));
  });

  test('nothing else was logged', () => {
    assert.equal(records.length, 16, JSON.stringify(records.map((entry) => [entry.qname, entry.qtype, entry.rcode])));
  });
});
