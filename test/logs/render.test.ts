/** The rdata text and rrsets of the DNS logs, on crafted packets: each expected value follows the Felix rule named beside it. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { rcodeName } from '../../src/dns/constants.js';
import { RecordTable, skipName, walkRecords } from '../../src/dns/records.js';
import { canonicalName, unicodeName } from '../../src/logs/names.js';
import { extendedRcode, qclassText, qtypeText, rdataText, rrsetClass, rrsetType } from '../../src/logs/rdata.js';
import { renderRrsets } from '../../src/logs/rrsets.js';

/** The end of the question of an encoded packet with one question. */
function questionEnd(packet: Buffer): number {
  return skipName(packet, 12) + 4;
}

function reply(fields: Partial<dnsPacket.Packet>): Buffer {
  return dnsPacket.encode({ type: 'response', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'q.example.com' }], ...fields });
}

/** The rdata of the only answer of `packet`. */
function onlyRdata(packet: Buffer): string[] {
  const rrsets = renderRrsets(packet, questionEnd(packet), true) ?? [];
  assert.equal(rrsets.length, 1, JSON.stringify(rrsets));
  return rrsets[0].rdata;
}

/** The rdata text of one record of `type` whose rdata is `bytes`. */
function text(type: number, bytes: number[] | Buffer, unicode = true): string {
  const buffer = Buffer.from(bytes);
  return rdataText(buffer, type, 0, buffer.length, unicode ? unicodeName : (name) => name);
}

describe('rdata text (linseed DNSRData.IDNAString over gopacket v1.4.0)', () => {
  const cases: [string, dnsPacket.Answer, string][] = [
    ['A: net.IP.String()', { type: 'A', name: 'a.test', data: '192.0.2.1' }, '192.0.2.1'],
    ['AAAA: net.IP.String()', { type: 'AAAA', name: 'a.test', data: '2001:db8::1' }, '2001:db8::1'],
    ['AAAA IPv4-mapped: net.IP.String() writes the IPv4 address', { type: 'AAAA', name: 'a.test', data: '::ffff:192.0.2.1' }, '192.0.2.1'],
    ['CNAME: the name as sent, case kept (string(rr.CNAME))', { type: 'CNAME', name: 'a.test', data: 'Target.Example.COM' }, 'Target.Example.COM'],
    ['NS', { type: 'NS', name: 'a.test', data: 'ns1.example.com' }, 'ns1.example.com'],
    ['PTR', { type: 'PTR', name: '1.2.0.192.in-addr.arpa', data: 'host.example.com' }, 'host.example.com'],
    ['MX: "%d %s" Preference, Name', { type: 'MX', name: 'a.test', data: { preference: 10, exchange: 'MX.example.com' } }, '10 MX.example.com'],
    ['SRV: "%d %d %d %s" Priority, Weight, Port, Name', { type: 'SRV', name: '_sip._udp.a.test', data: { priority: 10, weight: 20, port: 5060, target: 'sip.example.com' } }, '10 20 5060 sip.example.com'],
    [
      'SOA: "%s %s %d %d %d %d %d"',
      { type: 'SOA', name: 'a.test', data: { mname: 'ns.a.test', rname: 'hostmaster.a.test', serial: 2024010101, refresh: 7200, retry: 900, expire: 1209600, minimum: 30 } },
      'ns.a.test hostmaster.a.test 2024010101 7200 900 1209600 30',
    ],
    ['TXT: the strings\' bytes joined', { type: 'TXT', name: 'a.test', data: ['v=spf1 ', 'include:example.com ~all'] }, 'v=spf1 include:example.com ~all'],
    ['HINFO (no decoded form in getRRDecoded): base64 of the raw rdata', { type: 'HINFO', name: 'a.test', data: { cpu: 'x86', os: 'linux' } }, 'A3g4NgVsaW51eA=='],
    ['CAA (unknown to gopacket): base64 of the raw rdata', { type: 'CAA', name: 'a.test', data: { flags: 0, tag: 'issue', value: 'ca.example.net' } }, 'AAVpc3N1ZWNhLmV4YW1wbGUubmV0'],
    ['DNSKEY: "%d %d %d %s" Flags, Protocol, Algorithm, base64 key', { type: 'DNSKEY', name: 'a.test', data: { flags: 257, algorithm: 13, key: Buffer.from('key bytes') } }, '257 3 13 a2V5IGJ5dGVz'],
    [
      'RRSIG: covered type, numbers, YYYYMMDDHHmmss times, key tag, signer as sent, base64 signature',
      {
        type: 'RRSIG',
        name: 'a.test',
        data: { typeCovered: 'A', algorithm: 13, labels: 2, originalTTL: 300, expiration: 1767225600, inception: 1764547200, keyTag: 4242, signersName: 'Example.COM', signature: Buffer.from('sig') },
      },
      'A 13 2 300 20260101000000 20251201000000 4242 Example.COM c2ln',
    ],
    [
      'RRSIG over a type gopacket cannot name: "Unknown" (DNSType.String)',
      {
        type: 'RRSIG',
        name: 'a.test',
        data: { typeCovered: 'CAA', algorithm: 8, labels: 2, originalTTL: 60, expiration: 0, inception: 0, keyTag: 1, signersName: '.', signature: Buffer.from([1]) },
      },
      'Unknown 8 2 60 19700101000000 19700101000000 1  AQ==',
    ],
    ['punycode in an rdata name is Unicode (aNameToUName)', { type: 'CNAME', name: 'a.test', data: 'xn--bcher-kva.Example' }, 'bücher.Example'],
  ];
  for (const [what, answer, expected] of cases) {
    test(what, () => {
      assert.deepEqual(onlyRdata(reply({ answers: [{ ttl: 60, ...answer } as dnsPacket.Answer] })), [expected]);
    });
  }

  test('addresses as Go writes a net.IP: RFC 5952, IPv4-mapped dotted, odd lengths "?" and hex, none "<nil>"', () => {
    const v6 = (hex: string): string => text(28, Buffer.from(hex, 'hex'));
    assert.equal(v6('00000000000000000000000000000000'), '::');
    assert.equal(v6('00000000000000000000000000000001'), '::1');
    assert.equal(v6('20010db8000000000000000000000000'), '2001:db8::');
    assert.equal(v6('20010db8000000010001000100010001'), '2001:db8:0:1:1:1:1:1');
    assert.equal(v6('20010db8000000000001000000000001'), '2001:db8::1:0:0:1');
    assert.equal(v6('20010db8000000010000000000000001'), '2001:db8:0:1::1');
    assert.equal(v6('FE800000000000000000ABCDEF012345'), 'fe80::abcd:ef01:2345');
    assert.equal(v6('00000000000000000000ffffc0000201'), '192.0.2.1', 'IPv4-mapped: To4() succeeds');
    assert.equal(v6('000000000000000000000000c0000201'), '::c000:201', 'IPv4-compatible is not mapped');
    assert.equal(text(1, Buffer.from('20010db8000000000000000000000001', 'hex')), '2001:db8::1', 'an A of sixteen bytes');
    assert.equal(text(28, [192, 0, 2, 1]), '192.0.2.1', 'an AAAA of four bytes');
    assert.equal(text(1, [192, 0, 2, 1, 7]), '?c000020107');
    assert.equal(text(1, []), '<nil>');
  });

  test('records of no rdata: Go zero values', () => {
    assert.equal(text(6, []), '  0 0 0 0 0');
    assert.equal(text(15, []), '0 ');
    assert.equal(text(33, []), '0 0 0 ');
    assert.equal(text(5, []), '');
    assert.equal(text(16, []), '');
  });

  test('TXT: bytes joined before decoding, invalid UTF-8 one U+FFFD per byte (Go encoding/json)', () => {
    // "é" is C3 A9, split across two character-strings.
    assert.equal(text(16, [2, 0x61, 0xc3, 1, 0xa9]), 'aé');
    assert.equal(text(16, [3, 0x61, 0xe2, 0x82, 1, 0x41]), 'a\ufffd\ufffdA', 'a truncated sequence: one U+FFFD per byte');
  });

  test('names with punycode stay ASCII when asked for as sent, and when one label is not valid punycode', () => {
    const cname = Buffer.from([13, ...Buffer.from('xn--bcher-kva'), 2, ...Buffer.from('de'), 0]);
    assert.equal(text(5, cname, false), 'xn--bcher-kva.de');
    // Go's punycode decoder overflows on this label as Node's does: the whole name stays.
    assert.equal(unicodeName('xn--bcher-kva.xn--99999999999999999999.de'), 'xn--bcher-kva.xn--99999999999999999999.de');
    assert.equal(unicodeName('XN--bcher-kva.de'), 'XN--bcher-kva.de', 'Go checks the prefix in lowercase');
  });

  test('rdata gopacket could not decode (it drops the packet) is shown as base64', () => {
    // A CNAME whose name runs past its rdata.
    const name = Buffer.from([3, 0x77, 0x77, 0x77, 0]);
    assert.equal(rdataText(name, 5, 0, 3, unicodeName), name.subarray(0, 3).toString('base64'));
    // A TXT string longer than the rdata.
    assert.equal(text(16, [9, 0x61]), 'CWE=');
    // An SOA without its five numbers.
    const soa = [1, 0x61, 0, 1, 0x62, 0, 0, 0, 0, 1];
    assert.equal(text(6, soa), Buffer.from(soa).toString('base64'));
    assert.equal(text(15, [0, 10]), 'AAo=', 'MX without an exchange');
  });
});

describe('names, question codes and rcode', () => {
  test('owner names and qname: lowercased, dots trimmed and collapsed (canonicalizeDNSName), Go case mapping', () => {
    assert.equal(canonicalName('WWW.Example.COM.'), 'www.example.com');
    assert.equal(canonicalName('a..b'), 'a.b');
    assert.equal(canonicalName('\u0130STANBUL.ΑΣ'), 'istanbul.ασ', 'one code point at a time');
  });

  test('qtype and qclass: gopacket names, else #N; rrset type and class: else the number', () => {
    assert.deepEqual([1, 28, 46, 48, 64, 65, 256, 257, 43, 255, 52].map(qtypeText), ['A', 'AAAA', 'RRSIG', 'DNSKEY', 'SVCB', 'HTTPS', 'URI', '#257', '#43', '#255', '#52']);
    assert.deepEqual([1, 2, 3, 4, 255, 254, 1232].map(qclassText), ['IN', 'CS', 'CH', 'HS', 'Any', '#254', '#1232']);
    assert.deepEqual([257, 65].map(rrsetType), [257, 'HTTPS']);
    assert.deepEqual([1232, 255].map(rrsetClass), [1232, 'Any']);
  });

  test('rcode: the extended rcode of OPT counts, in eight bits (BADVERS is 16, which linseed spells BADSIG)', () => {
    const badvers = reply({ additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 1, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] });
    const table = new RecordTable();
    assert.ok(walkRecords(badvers, questionEnd(badvers), table));
    assert.equal(extendedRcode(badvers, table), 16);
    assert.equal(rcodeName(extendedRcode(badvers, table)), 'BADSIG');
  });
});

describe('rrsets', () => {
  test('every section, OPT included, grouped by lowercased name, class and type; rdata sorted by wire bytes; TTL left out', () => {
    const packet = reply({
      answers: [
        { type: 'CNAME', name: 'Q.Example.COM', ttl: 300, data: 'edge.cdn.net' },
        { type: 'A', name: 'edge.cdn.net', ttl: 20, data: '203.0.113.9' },
        { type: 'A', name: 'EDGE.cdn.net', ttl: 10, data: '203.0.113.10' },
        { type: 'A', name: 'edge.cdn.net', ttl: 20, data: '203.0.113.7' },
      ],
      authorities: [{ type: 'NS', name: 'cdn.net', ttl: 3600, data: 'ns.cdn.net' }],
      additionals: [
        { type: 'A', name: 'ns.cdn.net', ttl: 3600, data: '198.51.100.1' },
        { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] },
      ],
    });
    assert.deepEqual(renderRrsets(packet, questionEnd(packet), true), [
      { name: 'q.example.com', class: 'IN', type: 'CNAME', rdata: ['edge.cdn.net'] },
      // DNSRRSets.Add sorts by the raw rdata: 7 < 9 < 10, not by text.
      { name: 'edge.cdn.net', class: 'IN', type: 'A', rdata: ['203.0.113.7', '203.0.113.9', '203.0.113.10'] },
      { name: 'cdn.net', class: 'IN', type: 'NS', rdata: ['ns.cdn.net'] },
      { name: 'ns.cdn.net', class: 'IN', type: 'A', rdata: ['198.51.100.1'] },
      // The OPT pseudo-record: root name "", class = UDP size (unknown to gopacket: a number), no options: base64 of nothing.
      { name: '', class: 1232, type: 'OPT', rdata: [''] },
    ]);
  });

  test('OPT with options (NSID): base64 of the option bytes; MX and SRV sorted by wire bytes', () => {
    const packet = reply({
      answers: [
        { type: 'MX', name: 'q.example.com', ttl: 60, data: { preference: 10, exchange: 'b.example.com' } },
        { type: 'MX', name: 'q.example.com', ttl: 60, data: { preference: 5, exchange: 'c.example.com' } },
        { type: 'MX', name: 'q.example.com', ttl: 60, data: { preference: 10, exchange: 'a.example.com' } },
      ],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [{ code: 3, data: Buffer.from('ns1') }] as unknown as dnsPacket.OptAnswer['options'] }],
    });
    assert.deepEqual(renderRrsets(packet, questionEnd(packet), true), [
      { name: 'q.example.com', class: 'IN', type: 'MX', rdata: ['5 c.example.com', '10 a.example.com', '10 b.example.com'] },
      { name: '', class: 4096, type: 'OPT', rdata: [Buffer.from([0, 3, 0, 3, ...Buffer.from('ns1')]).toString('base64')] },
    ]);
  });

  test('no records at all: null, as Go writes an empty rrsets map', () => {
    const packet = reply({});
    assert.equal(renderRrsets(packet, questionEnd(packet), true), null);
  });

  test('punycode owner names: Unicode when written, ASCII when keyed', () => {
    const packet = reply({ answers: [{ type: 'A', name: 'XN--Bcher-KVA.example', ttl: 60, data: '192.0.2.1' }] });
    assert.deepEqual(renderRrsets(packet, questionEnd(packet), true), [{ name: 'bücher.example', class: 'IN', type: 'A', rdata: ['192.0.2.1'] }]);
    assert.deepEqual(renderRrsets(packet, questionEnd(packet), false), [{ name: 'xn--bcher-kva.example', class: 'IN', type: 'A', rdata: ['192.0.2.1'] }]);
  });

  test('an NXDOMAIN: the SOA of the authority section; the root as ""', () => {
    const packet = reply({
      flags: dnsPacket.RECURSION_DESIRED | 3,
      authorities: [{ type: 'SOA', name: '.', ttl: 60, data: { mname: 'a.root-servers.net', rname: 'nstld.verisign-grs.com', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } }],
    });
    assert.deepEqual(renderRrsets(packet, questionEnd(packet), true), [
      { name: '', class: 'IN', type: 'SOA', rdata: ['a.root-servers.net nstld.verisign-grs.com 1 2 3 4 5'] },
    ]);
  });

  test('compressed names, in owners and in rdata (case kept there); other classes by name, unknown types as numbers', () => {
    const header = [0, 1, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0];
    // Question www.example.com A IN at offset 12; "example.com" starts at offset 16.
    const question = [3, ...Buffer.from('WWW'), 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0, 1, 0, 1];
    const cnameRdata = [3, ...Buffer.from('cdn'), 0xc0, 16];
    const cname = [0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, cnameRdata.length, ...cnameRdata];
    // The CNAME's rdata name (cdn.example.com) is at offset 12 + question.length + 12.
    const cdnOffset = 12 + question.length + 12;
    const chaos = [0xc0, cdnOffset, 0, 16, 0, 3, 0, 0, 0, 60, 0, 3, 2, 0x68, 0x69];
    const private_ = [0xc0, cdnOffset, 0xff, 0x00, 0, 1, 0, 0, 0, 60, 0, 2, 0xbe, 0xef];
    const packet = Buffer.from([...header, ...question, ...cname, ...chaos, ...private_]);
    assert.deepEqual(renderRrsets(packet, 12 + question.length, true), [
      { name: 'www.example.com', class: 'IN', type: 'CNAME', rdata: ['cdn.example.com'] },
      { name: 'cdn.example.com', class: 'CH', type: 'TXT', rdata: ['hi'] },
      { name: 'cdn.example.com', class: 'IN', type: 65280, rdata: ['vu8='] },
    ]);
  });

  test('a record with a forward pointer in its name is left out; the rest stays', () => {
    const header = [0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
    const question = [1, 0x61, 0, 0, 1, 0, 1];
    const good = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1];
    // Points at itself: skipName accepts it (in bounds), readName refuses it.
    const selfOffset = 12 + question.length + good.length;
    const bad = [0xc0, selfOffset, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 2];
    const packet = Buffer.from([...header, ...question, ...good, ...bad]);
    assert.deepEqual(renderRrsets(packet, 12 + question.length, true), [{ name: 'a', class: 'IN', type: 'A', rdata: ['192.0.2.1'] }]);
  });
});
