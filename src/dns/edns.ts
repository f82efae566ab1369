/** The EDNS facts of a message (RFC 6891): the OPT record's UDP payload size and DO bit. */
import { RRType } from './constants.js';
import { skipName } from './records.js';

/** Without EDNS a UDP answer may be at most this long (RFC 1035). */
export const CLASSIC_UDP_PAYLOAD = 512;

export interface EdnsInfo {
  /** The message has an OPT record. */
  present: boolean;
  /** Largest UDP answer the sender accepts. */
  udpPayload: number;
  /** DNSSEC OK: the sender wants DNSSEC records. */
  dnssecOk: boolean;
}

/** EDNS of the message whose question ends at `questionEnd`; undefined when malformed. */
export function readEdns(msg: Uint8Array, questionEnd: number): EdnsInfo | undefined {
  const records = ((msg[6] << 8) | msg[7]) + ((msg[8] << 8) | msg[9]) + ((msg[10] << 8) | msg[11]);
  let offset = questionEnd;
  for (let i = 0; i < records; i++) {
    const nameEnd = skipName(msg, offset);
    if (nameEnd < 0 || nameEnd + 10 > msg.length) return undefined;
    const type = (msg[nameEnd] << 8) | msg[nameEnd + 1];
    if (type === RRType.OPT) {
      return { present: true, udpPayload: Math.max(CLASSIC_UDP_PAYLOAD, (msg[nameEnd + 2] << 8) | msg[nameEnd + 3]), dnssecOk: (msg[nameEnd + 6] & 0x80) !== 0 };
    }
    offset = nameEnd + 10 + ((msg[nameEnd + 8] << 8) | msg[nameEnd + 9]);
  }
  return offset <= msg.length ? { present: false, udpPayload: CLASSIC_UDP_PAYLOAD, dnssecOk: false } : undefined;
}
