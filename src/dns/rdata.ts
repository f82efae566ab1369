/**
 * The presentation text of one record's RDATA as the DNS logs write it: the address
 * of A/AAAA, the name of CNAME/NS/PTR, the fields of MX, SRV and SOA, the joined
 * strings of TXT, and base64 of the raw bytes for every other type, or for RDATA that
 * does not parse as its type says (so a malformed record is still shown, never lost).
 */
import { formatIpv4, formatIpv6 } from '../net/format.js';
import { RRType } from './constants.js';
import { readName, skipName } from './records.js';

export function rdataText(msg: Buffer, type: number, offset: number, length: number): string {
  return parsedRdata(msg, type, offset, offset + length) ?? msg.toString('base64', offset, offset + length);
}

function parsedRdata(msg: Buffer, type: number, offset: number, end: number): string | undefined {
  const length = end - offset;
  switch (type) {
    case RRType.A:
      return length === 4 ? formatIpv4(msg, offset) : undefined;
    case RRType.AAAA:
      return length === 16 ? formatIpv6(msg, offset) : undefined;
    case RRType.CNAME:
    case RRType.NS:
    case RRType.PTR:
      return nameEndingAt(msg, offset, end);
    case RRType.MX: {
      const exchange = length > 2 ? nameEndingAt(msg, offset + 2, end) : undefined;
      return exchange === undefined ? undefined : `${msg.readUInt16BE(offset)} ${exchange}`;
    }
    case RRType.SRV: {
      const target = length > 6 ? nameEndingAt(msg, offset + 6, end) : undefined;
      return target === undefined ? undefined : `${msg.readUInt16BE(offset)} ${msg.readUInt16BE(offset + 2)} ${msg.readUInt16BE(offset + 4)} ${target}`;
    }
    case RRType.SOA:
      return soaText(msg, offset, end);
    case RRType.TXT:
      return txtText(msg, offset, end);
    default:
      return undefined;
  }
}

/** The name at `offset` when it is well-formed and ends exactly at `end`. */
function nameEndingAt(msg: Buffer, offset: number, end: number): string | undefined {
  return skipName(msg, offset) === end ? readName(msg, offset) : undefined;
}

function soaText(msg: Buffer, offset: number, end: number): string | undefined {
  const mnameEnd = skipName(msg, offset);
  const rnameEnd = mnameEnd < 0 || mnameEnd >= end ? -1 : skipName(msg, mnameEnd);
  if (rnameEnd < 0 || rnameEnd + 20 !== end) return undefined;
  const mname = readName(msg, offset);
  const rname = readName(msg, mnameEnd);
  if (mname === undefined || rname === undefined) return undefined;
  const numbers: number[] = [];
  for (let at = rnameEnd; at < end; at += 4) numbers.push(msg.readUInt32BE(at));
  return `${mname} ${rname} ${numbers.join(' ')}`;
}

/** The character-strings concatenated, as a TXT record split at 255 bytes is meant to be read. */
function txtText(msg: Buffer, offset: number, end: number): string | undefined {
  let text = '';
  while (offset < end) {
    const next = offset + 1 + msg[offset];
    if (next > end) return undefined;
    text += msg.toString('utf8', offset + 1, next);
    offset = next;
  }
  return text;
}
