/**
 * An answer cut to a UDP client's buffer (RFC 1035 §4.2.1, RFC 6891 §7): the header
 * with TC set, the question, and the answer's OPT record when it has one, so the
 * client retries over TCP.
 */
import { FLAG_TC, RRType } from './constants.js';
import { skipName } from './records.js';

export function truncateAnswer(answer: Buffer, questionEnd: number): Buffer {
  const opt = findOpt(answer, questionEnd);
  const optLength = opt === undefined ? 0 : opt.end - opt.start;
  const out = Buffer.allocUnsafe(questionEnd + optLength);
  answer.copy(out, 0, 0, questionEnd);
  out[2] |= FLAG_TC;
  // One question, no answer or authority records, the OPT alone in additional.
  out.fill(0, 6, 10);
  out[10] = 0;
  out[11] = opt === undefined ? 0 : 1;
  if (opt !== undefined) answer.copy(out, questionEnd, opt.start, opt.end);
  return out;
}

/** Where the answer's OPT record is, if it has a well-formed one. */
function findOpt(msg: Buffer, questionEnd: number): { start: number; end: number } | undefined {
  const before = ((msg[6] << 8) | msg[7]) + ((msg[8] << 8) | msg[9]);
  const records = before + ((msg[10] << 8) | msg[11]);
  let offset = questionEnd;
  for (let i = 0; i < records; i++) {
    const start = offset;
    offset = skipName(msg, offset);
    if (offset < 0 || offset + 10 > msg.length) return undefined;
    const end = offset + 10 + msg.readUInt16BE(offset + 8);
    if (end > msg.length) return undefined;
    if (i >= before && msg.readUInt16BE(offset) === RRType.OPT && msg[start] === 0) return { start, end };
    offset = end;
  }
  return undefined;
}
