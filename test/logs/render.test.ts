/** The rdata text and rrsets of the DNS logs, on crafted packets. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { rdataText } from '../../src/dns/rdata.js';
import { skipName } from '../../src/dns/records.js';
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
  const rrsets = renderRrsets(packet, questionEnd(packet));
  assert.equal(rrsets.length, 1, JSON.stringify(rrsets));
  return rrsets[0].rdata;
}

describe('rdata text', () => {
  const cases: [string, dnsPacket.Answer, string][] = [
    ['A', { type: 'A', name: 'a.test', data: '192.0.2.1' }, '192.0.2.1'],
    ['AAAA', { type: 'AAAA', name: 'a.test', data: '2001:db8::1' }, '2001:db8::1'],
    ['CNAME', { type: 'CNAME', name: 'a.test', data: 'Target.Example.COM' }, 'target.example.com'],
    ['NS', { type: 'NS', name: 'a.test', data: 'ns1.example.com' }, 'ns1.example.com'],
    ['PTR', { type: 'PTR', name: '1.2.0.192.in-addr.arpa', data: 'host.example.com' }, 'host.example.com'],
    ['MX', { type: 'MX', name: 'a.test', data: { preference: 10, exchange: 'MX.example.com' } }, '10 mx.example.com'],
    ['SRV', { type: 'SRV', name: '_sip._udp.a.test', data: { priority: 10, weight: 20, port: 5060, target: 'sip.example.com' } }, '10 20 5060 sip.example.com'],
    [
      'SOA',
      { type: 'SOA', name: 'a.test', data: { mname: 'ns.a.test', rname: 'hostmaster.a.test', serial: 2024010101, refresh: 7200, retry: 900, expire: 1209600, minimum: 30 } },
      'ns.a.test hostmaster.a.test 2024010101 7200 900 1209600 30',
    ],
    ['TXT', { type: 'TXT', name: 'a.test', data: ['v=spf1 ', 'include:example.com ~all'] }, 'v=spf1 include:example.com ~all'],
    ['HINFO (other types: base64 of raw rdata)', { type: 'HINFO', name: 'a.test', data: { cpu: 'x86', os: 'linux' } }, 'A3g4NgVsaW51eA=='],
  ];
  for (const [type, answer, expected] of cases) {
    test(type, () => {
      assert.deepEqual(onlyRdata(reply({ answers: [{ ttl: 60, ...answer } as dnsPacket.Answer] })), [expected]);
    });
  }

  test('AAAA in RFC 5952 form: the first longest zero run compressed, a single zero group not', () => {
    const text = (hex: string): string => rdataText(Buffer.from(hex, 'hex'), 28, 0, 16);
    assert.equal(text('00000000000000000000000000000000'), '::');
    assert.equal(text('00000000000000000000000000000001'), '::1');
    assert.equal(text('20010db8000000000000000000000000'), '2001:db8::');
    assert.equal(text('20010db8000000010001000100010001'), '2001:db8:0:1:1:1:1:1');
    assert.equal(text('20010db8000000000001000000000001'), '2001:db8::1:0:0:1');
    assert.equal(text('20010db8000000010000000000000001'), '2001:db8:0:1::1');
    assert.equal(text('FE800000000000000000ABCDEF012345'), 'fe80::abcd:ef01:2345');
    assert.equal(text('00000000000000000000ffffc0000201'), '::ffff:192.0.2.1', 'IPv4-mapped: dotted tail, as learnt');
  });

  test('rdata that does not parse as its type is shown as base64', () => {
    const raw = Buffer.from([192, 0, 2, 1, 7]);
    assert.equal(rdataText(raw, 1, 0, 5), raw.toString('base64'), 'A with five bytes');
    // A CNAME whose name runs past its rdata.
    const name = Buffer.from([3, 0x77, 0x77, 0x77, 0]);
    assert.equal(rdataText(name, 5, 0, 3), name.subarray(0, 3).toString('base64'));
    // A TXT string longer than the rdata.
    assert.equal(rdataText(Buffer.from([9, 0x61]), 16, 0, 2), 'CWE=');
    // An SOA without its five numbers.
    const soa = Buffer.from([1, 0x61, 0, 1, 0x62, 0, 0, 0, 0, 1]);
    assert.equal(rdataText(soa, 6, 0, soa.length), soa.toString('base64'));
    assert.equal(rdataText(Buffer.from([0, 10]), 15, 0, 2), 'AAo=', 'MX without an exchange');
  });
});

describe('rrsets', () => {
  test('every section, grouped by name, class and type; rdata sorted; OPT and TTL left out', () => {
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
    assert.deepEqual(renderRrsets(packet, questionEnd(packet)), [
      { name: 'q.example.com', class: 'IN', type: 'CNAME', rdata: ['edge.cdn.net'] },
      { name: 'edge.cdn.net', class: 'IN', type: 'A', rdata: ['203.0.113.10', '203.0.113.7', '203.0.113.9'] },
      { name: 'cdn.net', class: 'IN', type: 'NS', rdata: ['ns.cdn.net'] },
      { name: 'ns.cdn.net', class: 'IN', type: 'A', rdata: ['198.51.100.1'] },
    ]);
  });

  test('an NXDOMAIN: the SOA of the authority section; the root as ""', () => {
    const packet = reply({
      flags: dnsPacket.RECURSION_DESIRED | 3,
      authorities: [{ type: 'SOA', name: '.', ttl: 60, data: { mname: 'a.root-servers.net', rname: 'nstld.verisign-grs.com', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } }],
    });
    assert.deepEqual(renderRrsets(packet, questionEnd(packet)), [
      { name: '', class: 'IN', type: 'SOA', rdata: ['a.root-servers.net nstld.verisign-grs.com 1 2 3 4 5'] },
    ]);
  });

  test('compressed names, in owners and in rdata; other classes and types by name or #N', () => {
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
    assert.deepEqual(renderRrsets(packet, 12 + question.length), [
      { name: 'www.example.com', class: 'IN', type: 'CNAME', rdata: ['cdn.example.com'] },
      { name: 'cdn.example.com', class: 'CH', type: 'TXT', rdata: ['hi'] },
      { name: 'cdn.example.com', class: 'IN', type: '#65280', rdata: ['vu8='] },
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
    assert.deepEqual(renderRrsets(packet, 12 + question.length), [{ name: 'a', class: 'IN', type: 'A', rdata: ['192.0.2.1'] }]);
  });
});
