/**
 * The hot-path scanner: reads a query's header and question in one pass without
 * decoding anything else, and checks an upstream reply against the query it answers.
 * Messages are forwarded as bytes; nothing here re-encodes them.
 */
import { FLAG_QR, FLAG_TC, HEADER_LENGTH, MAX_LABEL_LENGTH, MAX_NAME_LENGTH, OPCODE_MASK, RCODE_MASK, RRType } from './constants.js';
import { skipName } from './records.js';

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
  /**
   * The question is readable but the rest is not a query: records in the answer or
   * authority section, a malformed additional record or OPT, or trailing bytes. Answer
   * FORMERR here rather than let an upstream reset a connection other clients share.
   */
  Malformed,
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
  // Answer and authority records have no place in a query.
  if (msg[6] !== 0 || msg[7] !== 0 || msg[8] !== 0 || msg[9] !== 0) return QueryStatus.Malformed;
  return additionalIsWellFormed(msg, offset + 4) ? QueryStatus.Ok : QueryStatus.Malformed;
}

/**
 * Whether a query's additional section (after `questionEnd`, with nothing before it) is
 * well formed: no record overruns the message, at most one OPT, owned by the root, with
 * options that fill it exactly, and no bytes after the last record.
 */
export function additionalIsWellFormed(msg: Uint8Array, questionEnd: number): boolean {
  const records = (msg[10] << 8) | msg[11];
  let sawOpt = false;
  let offset = questionEnd;
  for (let i = 0; i < records; i++) {
    const owner = offset;
    offset = skipName(msg, offset);
    if (offset < 0 || offset + 10 > msg.length) return false;
    const end = offset + 10 + ((msg[offset + 8] << 8) | msg[offset + 9]);
    if (end > msg.length) return false;
    if (((msg[offset] << 8) | msg[offset + 1]) === RRType.OPT) {
      if (sawOpt || msg[owner] !== 0) return false;
      sawOpt = true;
      let option = offset + 10;
      while (option < end) {
        if (option + 4 > end) return false;
        option += 4 + ((msg[option + 2] << 8) | msg[option + 3]);
      }
      if (option !== end) return false;
    }
    offset = end;
  }
  return offset === msg.length;
}


/**
 * Whether `reply` answers `query`: QR set and the same single question. The name is
 * compared case-insensitively, unless `exactCase` (0x20 randomisation, whose random
 * case the reply must echo); the type and class are compared exactly.
 * The ID and the source address are checked by the caller.
 */
export function replyMatchesQuery(reply: Uint8Array, query: Uint8Array, questionEnd: number, exactCase = false): boolean {
  if (reply.length < questionEnd || !(reply[2] & FLAG_QR)) return false;
  if (reply[4] !== 0 || reply[5] !== 1) return false;
  const nameEnd = questionEnd - 4;
  for (let i = HEADER_LENGTH; i < nameEnd; i++) {
    const a = reply[i];
    const b = query[i];
    if (a !== b) {
      if (exactCase) return false;
      // Label length bytes are at most 63, so only letters may differ, and only in case.
      const folded = a | 0x20;
      if (folded !== (b | 0x20) || folded < 0x61 || folded > 0x7a) return false;
    }
  }
  for (let i = nameEnd; i < questionEnd; i++) if (reply[i] !== query[i]) return false;
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
