/** The deny answers dnsgate writes (--deny-response), decoded by dns-packet as an independent reader. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { Rcode } from '../../src/dns/constants.js';
import { QueryStatus, QueryView, parseQuery } from '../../src/dns/message.js';
import { DENIED_NEGATIVE_TTL, denyReply } from '../../src/dns/responses.js';

interface Reply {
  id: number;
  rcode: string;
  flag_rd: boolean;
  questions: dnsPacket.Question[];
  answers: dnsPacket.Answer[];
  authorities: dnsPacket.Answer[];
  additionals: dnsPacket.Answer[];
}

function deny(query: dnsPacket.Packet, rcode: Rcode.Refused | Rcode.NXDomain): Reply {
  const message = dnsPacket.encode(query);
  const view = new QueryView();
  assert.equal(parseQuery(message, view), QueryStatus.Ok);
  return dnsPacket.decode(denyReply(message, view.questionEnd, rcode)) as unknown as Reply;
}

const question = { type: 'AAAA', name: 'Mail.Example.com', class: 'IN' } as const;
const opt = (flags = 0): dnsPacket.Answer => ({ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags, flag_do: false, options: [{ code: 12, length: 8 }] });

test('NXDOMAIN carries a SOA for the queried name whose TTL and MINIMUM give the negative-caching time', () => {
  const reply = deny({ type: 'query', id: 0x4242, flags: dnsPacket.RECURSION_DESIRED, questions: [question] }, Rcode.NXDomain);
  assert.equal(reply.id, 0x4242);
  assert.equal(reply.rcode, 'NXDOMAIN');
  assert.deepEqual(reply.questions, [question]);
  assert.deepEqual(reply.answers, []);
  assert.equal(reply.authorities.length, 1);
  const soa = reply.authorities[0] as dnsPacket.SoaAnswer;
  assert.equal(soa.type, 'SOA');
  assert.equal(soa.name, 'Mail.Example.com');
  assert.equal(soa.ttl, DENIED_NEGATIVE_TTL);
  assert.equal(soa.data.minimum, DENIED_NEGATIVE_TTL);
  assert.equal(soa.data.mname, 'dnsgate.invalid');
  assert.equal(soa.data.rname, 'hostmaster.dnsgate.invalid');
  assert.deepEqual(reply.additionals, [], 'no OPT for a query without EDNS');
});

test('a query with EDNS gets an OPT back, with its DO bit and without echoing its options', () => {
  for (const [flags, dnssecOk] of [[0, false], [dnsPacket.DNSSEC_OK, true]] as const) {
    for (const rcode of [Rcode.Refused, Rcode.NXDomain] as const) {
      const reply = deny({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [question], additionals: [opt(flags)] }, rcode);
      assert.equal(reply.additionals.length, 1);
      const record = reply.additionals[0] as dnsPacket.OptAnswer;
      assert.equal(record.type, 'OPT');
      assert.equal(record.udpPayloadSize, 1232);
      assert.equal(record.ednsVersion, 0);
      assert.equal(record.extendedRcode, 0);
      assert.equal(record.flag_do, dnssecOk);
      assert.deepEqual(record.options, []);
      assert.equal(reply.authorities.length, rcode === Rcode.NXDomain ? 1 : 0, 'a SOA with NXDOMAIN only');
    }
  }
});

test('REFUSED carries the question and nothing else without EDNS', () => {
  const reply = deny({ type: 'query', id: 9, questions: [question] }, Rcode.Refused);
  assert.equal(reply.rcode, 'REFUSED');
  assert.equal(reply.flag_rd, false);
  assert.deepEqual([reply.questions, reply.answers, reply.authorities, reply.additionals], [[question], [], [], []]);
});
