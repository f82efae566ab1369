/**
 * The hot-path scanner: reads a query's header and question in one pass without
 * decoding anything else, and checks an upstream reply against the query it answers.
 * Messages are forwarded as bytes; nothing here re-encodes them.
 */
import { FLAG_QR, FLAG_TC, HEADER_LENGTH, MAX_LABEL_LENGTH, MAX_NAME_LENGTH, OPCODE_MASK, RCODE_MASK } from './constants.js';

export const enum QueryStatus {
  Ok = 0,
  /** Shorter than a header: nothing can be answered. */
  TooShort,
  /** QR set: answering a response invites reflection loops, so it is dropped. */
  IsResponse,
  /** A header was read but the question is missing or malformed: answer FORMERR. */
  BadQuestion,
  /** An opcode other than QUERY: answer NOTIMP. */
  NotQuery,
}

/**
 * What the scanner learnt about a query. The pipeline reuses one instance for the
 * messages of all its listeners: each is copied into its Query before the next is read.
 */
export class QueryView {
  id = 0;
  /** Offset just past the question (qname, qtype, qclass). HEADER_LENGTH when unread. */
  questionEnd = HEADER_LENGTH;
  qtype = 0;
  qclass = 0;
  /** Case-folded hash of qname, qtype and qclass. */
  questionHash = 0;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Scans a query's header and its single question. */
export function parseQuery(msg: Uint8Array, out: QueryView): QueryStatus {
  const length = msg.length;
  out.questionEnd = HEADER_LENGTH;
  if (length < HEADER_LENGTH) return QueryStatus.TooShort;
  out.id = (msg[0] << 8) | msg[1];
  if (msg[2] & FLAG_QR) return QueryStatus.IsResponse;
  if (msg[2] & OPCODE_MASK) return QueryStatus.NotQuery;
  if (msg[4] !== 0 || msg[5] !== 1) return QueryStatus.BadQuestion;

  let offset = HEADER_LENGTH;
  let hash = FNV_OFFSET;
  for (;;) {
    if (offset >= length) return QueryStatus.BadQuestion;
    const labelLength = msg[offset];
    // Compression pointers (and the reserved 0x40/0x80 forms) have nothing to point
    // back to in a question.
    if (labelLength > MAX_LABEL_LENGTH) return QueryStatus.BadQuestion;
    hash = Math.imul(hash ^ labelLength, FNV_PRIME);
    const next = offset + 1 + labelLength;
    if (next - HEADER_LENGTH > MAX_NAME_LENGTH || next > length) return QueryStatus.BadQuestion;
    if (labelLength === 0) {
      offset = next;
      break;
    }
    for (let i = offset + 1; i < next; i++) {
      const c = msg[i];
      hash = Math.imul(hash ^ (c >= 0x41 && c <= 0x5a ? c | 0x20 : c), FNV_PRIME);
    }
    offset = next;
  }
  if (offset + 4 > length) return QueryStatus.BadQuestion;
  out.qtype = (msg[offset] << 8) | msg[offset + 1];
  out.qclass = (msg[offset + 2] << 8) | msg[offset + 3];
  for (let i = offset; i < offset + 4; i++) hash = Math.imul(hash ^ msg[i], FNV_PRIME);
  out.questionHash = hash >>> 0;
  out.questionEnd = offset + 4;
  return QueryStatus.Ok;
}

/**
 * Whether `reply` answers `query`: QR set and the same single question, compared
 * case-insensitively because resolvers may echo 0x20-randomised case differently.
 * The ID and the source address are checked by the caller.
 */
export function replyMatchesQuery(reply: Uint8Array, query: Uint8Array, questionEnd: number): boolean {
  if (reply.length < questionEnd || !(reply[2] & FLAG_QR)) return false;
  if (reply[4] !== 0 || reply[5] !== 1) return false;
  for (let i = HEADER_LENGTH; i < questionEnd; i++) {
    const a = reply[i];
    const b = query[i];
    if (a !== b) {
      // Label length bytes are at most 63, so only letters may differ, and only in case.
      const folded = a | 0x20;
      if (folded !== (b | 0x20) || folded < 0x61 || folded > 0x7a) return false;
    }
  }
  return true;
}

export function readId(msg: Uint8Array): number {
  return (msg[0] << 8) | msg[1];
}

export function writeId(msg: Uint8Array, id: number): void {
  msg[0] = id >>> 8;
  msg[1] = id & 0xff;
}

export function rcodeOf(msg: Uint8Array): number {
  return msg[3] & RCODE_MASK;
}

export function isTruncated(msg: Uint8Array): boolean {
  return (msg[2] & FLAG_TC) !== 0;
}
