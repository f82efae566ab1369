/** Answers dnsgate writes itself: FORMERR, SERVFAIL, REFUSED, NXDOMAIN, NOTIMP. */
import { CLASS_IN, FLAG_QR, FLAG_RA, FLAG_RD, HEADER_LENGTH, OPCODE_MASK, Rcode, RRType } from './constants.js';
import { readEdns } from './edns.js';

/**
 * A header-only reply to `query` with `rcode`, echoing the question when it was read
 * (`questionEnd` > 12). The query's EDNS record is not echoed: the reply carries no
 * payload that would need it.
 */
export function synthesizeReply(query: Uint8Array, questionEnd: number, rcode: number): Buffer {
  const hasQuestion = questionEnd > HEADER_LENGTH;
  const reply = Buffer.alloc(hasQuestion ? questionEnd : HEADER_LENGTH);
  reply[0] = query[0];
  reply[1] = query[1];
  reply[2] = FLAG_QR | (query[2] & (OPCODE_MASK | FLAG_RD));
  reply[3] = FLAG_RA | (rcode & 0x0f);
  if (hasQuestion) {
    reply[5] = 1;
    reply.set(query.subarray(HEADER_LENGTH, questionEnd), HEADER_LENGTH);
  }
  return reply;
}

/**
 * How long a resolver or cache in front of dnsgate may remember that a name is denied
 * (the SOA's TTL and MINIMUM, RFC 2308): long enough to spare retries a round trip,
 * short enough that a policy allowing the name soon takes effect.
 */
export const DENIED_NEGATIVE_TTL = 10;

/** The UDP payload size dnsgate announces in its own answers (the DNS Flag Day 2020 value). */
const OWN_UDP_PAYLOAD = 1232;

/** Owner (a pointer to the question's name), type, class, TTL and RDLENGTH of the SOA, then its RDATA. */
const SOA_RECORD = (() => {
  const name = (text: string): Buffer => Buffer.concat([...text.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);
  // A name under .invalid (RFC 6761) says that no server stands behind this SOA.
  const rdata = Buffer.concat([name('dnsgate.invalid'), name('hostmaster.dnsgate.invalid'), Buffer.alloc(20)]);
  const timers = rdata.length - 20;
  rdata.writeUInt32BE(1, timers); // serial
  rdata.writeUInt32BE(1800, timers + 4); // refresh
  rdata.writeUInt32BE(900, timers + 8); // retry
  rdata.writeUInt32BE(604_800, timers + 12); // expire
  rdata.writeUInt32BE(DENIED_NEGATIVE_TTL, timers + 16); // minimum: the negative-caching TTL
  const record = Buffer.alloc(12 + rdata.length);
  record.writeUInt16BE(0xc000 | HEADER_LENGTH, 0);
  record.writeUInt16BE(RRType.SOA, 2);
  record.writeUInt16BE(CLASS_IN, 4);
  record.writeUInt32BE(DENIED_NEGATIVE_TTL, 6);
  record.writeUInt16BE(rdata.length, 10);
  rdata.copy(record, 12);
  return record;
})();

const OPT_RECORD_LENGTH = 11;

/**
 * The answer to a query that policy denies (`--deny-response`): REFUSED or NXDOMAIN with
 * the question. An NXDOMAIN carries a synthesized SOA for the queried name in its
 * Authority section, so resolvers and caches in front of dnsgate cache the denial (RFC
 * 2308); a query with EDNS gets an OPT record back (RFC 6891), with the DO bit copied
 * (RFC 3225). `questionEnd` must be past a question that was read.
 */
export function denyReply(query: Uint8Array, questionEnd: number, rcode: Rcode.Refused | Rcode.NXDomain): Buffer {
  const edns = readEdns(query, questionEnd);
  const withSoa = rcode === Rcode.NXDomain;
  const withOpt = edns?.present === true;
  const reply = Buffer.alloc(questionEnd + (withSoa ? SOA_RECORD.length : 0) + (withOpt ? OPT_RECORD_LENGTH : 0));
  synthesizeReply(query, questionEnd, rcode).copy(reply);
  let offset = questionEnd;
  if (withSoa) {
    reply[9] = 1; // NSCOUNT
    offset += SOA_RECORD.copy(reply, offset);
  }
  if (withOpt) {
    reply[11] = 1; // ARCOUNT
    // Root owner (already 0), type OPT, the payload size in the class, extended rcode and version 0.
    reply.writeUInt16BE(RRType.OPT, offset + 1);
    reply.writeUInt16BE(OWN_UDP_PAYLOAD, offset + 3);
    if (edns.dnssecOk) reply[offset + 7] = 0x80;
  }
  return reply;
}
