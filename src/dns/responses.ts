/** Answers dnsgate writes itself: FORMERR, SERVFAIL, REFUSED, NXDOMAIN, NOTIMP. */
import { FLAG_QR, FLAG_RA, FLAG_RD, HEADER_LENGTH, OPCODE_MASK } from './constants.js';

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
