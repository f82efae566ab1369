/**
 * Decoding cost per packet of the candidate hot-path codecs on the same messages: a
 * query and a typical answer (a CNAME and two A records with EDNS).
 */
import dnsPacket from 'dns-packet';
import { Packet } from 'dns2';
import { QueryView, parseQuery } from '../../src/dns/message.js';
import { RecordTable, walkRecords } from '../../src/dns/records.js';
import { nsPerCall, type Figure } from './measure.js';

const OPT = { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as dnsPacket.Answer;

export const SAMPLE_QUERY = dnsPacket.encode({
  type: 'query',
  id: 4242,
  flags: dnsPacket.RECURSION_DESIRED,
  questions: [{ type: 'A', name: 'api.example.com', class: 'IN' }],
  additionals: [OPT],
});

export const SAMPLE_ANSWER = dnsPacket.encode({
  type: 'response',
  id: 4242,
  flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
  questions: [{ type: 'A', name: 'api.example.com', class: 'IN' }],
  answers: [
    { type: 'CNAME', name: 'api.example.com', ttl: 300, data: 'edge.cdn.example.net' },
    { type: 'A', name: 'edge.cdn.example.net', ttl: 60, data: '203.0.113.7' },
    { type: 'A', name: 'edge.cdn.example.net', ttl: 60, data: '203.0.113.8' },
  ],
  additionals: [OPT],
});

export function benchCodec(): Figure[] {
  const view = new QueryView();
  const table = new RecordTable();
  const perSecond = (ns: number): number => Math.round(1e9 / ns);
  // The full decoders are 10–1000× slower than the scan: fewer iterations still time
  // them to well under 1%, and keep `npm run bench` within its time budget.
  const dns2Ns = nsPerCall(() => Packet.parse(SAMPLE_ANSWER), 2_000);
  const dnsPacketNs = nsPerCall(() => dnsPacket.decode(SAMPLE_ANSWER), 20_000);
  const fastAnswerNs = nsPerCall(() => {
    parseQuery(SAMPLE_QUERY, view);
    return walkRecords(SAMPLE_ANSWER, view.questionEnd, table);
  });
  const fastQueryNs = nsPerCall(() => parseQuery(SAMPLE_QUERY, view));
  return [
    { name: 'dns2 Packet.parse (answer)', value: perSecond(dns2Ns), unit: 'packets/s' },
    { name: 'dns-packet decode (answer)', value: perSecond(dnsPacketNs), unit: 'packets/s' },
    { name: 'dnsgate scan: query + answer walk', value: perSecond(fastAnswerNs), unit: 'packets/s' },
    { name: 'dnsgate scan: query only', value: perSecond(fastQueryNs), unit: 'packets/s' },
  ];
}
