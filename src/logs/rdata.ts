/**
 * Types, classes, rcodes and rdata text as Calico's DNS logs write them: gopacket
 * v1.4.0 decodes the packet (layers/dns.go) and linseed formats what it decoded
 * (`DNSRData.IDNAString`, linseed/pkg/apis/v1/dns_log.go).
 */
import { RRType } from '../dns/constants.js';
import { RecordTable, Section } from '../dns/records.js';
import { formatIpv4, formatIpv6 } from '../net/format.js';
import { goString, wireName } from './names.js';

const enum Type {
  RRSIG = 46,
  DNSKEY = 48,
}

/** The types gopacket v1.4.0 names (`DNSType.String`); it calls every other one "Unknown". */
const GOPACKET_TYPES: Record<number, string> = {
  1: 'A', 2: 'NS', 3: 'MD', 4: 'MF', 5: 'CNAME', 6: 'SOA', 7: 'MB', 8: 'MG', 9: 'MR', 10: 'NULL', 11: 'WKS',
  12: 'PTR', 13: 'HINFO', 14: 'MINFO', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 41: 'OPT', 46: 'RRSIG',
  48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS', 256: 'URI',
};

/** The classes gopacket v1.4.0 names (`DNSClass.String`). */
const GOPACKET_CLASSES: Record<number, string> = { 1: 'IN', 2: 'CS', 3: 'CH', 4: 'HS', 255: 'Any' };

/** `qtype`: gopacket's name, else `#N` (CAA is `#257`). */
export function qtypeText(type: number): string {
  return GOPACKET_TYPES[type] ?? `#${type}`;
}

/** `qclass`: gopacket's name, else `#N`. */
export function qclassText(klass: number): string {
  return GOPACKET_CLASSES[klass] ?? `#${klass}`;
}

/** An rrset's `type`: gopacket's name, else the number itself (linseed's `encodeDNSName`). */
export function rrsetType(type: number): string | number {
  return GOPACKET_TYPES[type] ?? type;
}

/** An rrset's `class`: gopacket's name, else the number (an OPT record's class is its UDP size). */
export function rrsetClass(klass: number): string | number {
  return GOPACKET_CLASSES[klass] ?? klass;
}

/**
 * The rcode as gopacket reads it: the header's four bits, ORed for every OPT record of
 * the Additional section with the low four bits of its extended rcode shifted left by
 * four, in eight bits (`DNS.DecodeFromBytes`). BADVERS (extended 1, header 0) is 16.
 */
export function extendedRcode(answer: Uint8Array, records: RecordTable): number {
  let rcode = answer[3] & 0x0f;
  for (let i = 0; i < records.count; i++) {
    if (records.type[i] === RRType.OPT && records.section[i] === Section.Additional) rcode = (rcode | ((records.ttl[i] >>> 20) & 0xf0)) & 0xff;
  }
  return rcode;
}

/**
 * The rdata text of one record; `name` writes the names in it. Where gopacket would
 * fail to decode the record (and so drop the whole packet), the rdata is base64.
 */
export function rdataText(msg: Buffer, type: number, offset: number, length: number, name: (text: string) => string): string {
  return decodedRdata(msg, type, offset, offset + length, name) ?? msg.toString('base64', offset, offset + length);
}

/**
 * What linseed writes for a record of no rdata: gopacket decodes nothing, so the
 * fields are Go's zero values (a nil `net.IP` is `<nil>`).
 */
const EMPTY_RDATA: Record<number, string> = {
  [RRType.A]: '<nil>',
  [RRType.AAAA]: '<nil>',
  [RRType.SOA]: '  0 0 0 0 0',
  [RRType.MX]: '0 ',
  [RRType.SRV]: '0 0 0 ',
  [Type.DNSKEY]: '0 0 0 ',
  [Type.RRSIG]: `Unknown 0 0 0 ${rrsigTime(0)} ${rrsigTime(0)} 0  `,
};

function decodedRdata(msg: Buffer, type: number, offset: number, end: number, name: (text: string) => string): string | undefined {
  const length = end - offset;
  if (length === 0) return EMPTY_RDATA[type] ?? '';
  switch (type) {
    case RRType.A:
    case RRType.AAAA:
      return goIpText(msg, offset, length);
    case RRType.CNAME:
    case RRType.NS:
    case RRType.PTR: {
      const target = wireName(msg, offset, end);
      return target && name(target.text);
    }
    case RRType.MX: {
      const exchange = length >= 2 ? wireName(msg, offset + 2, end) : undefined;
      return exchange && `${msg.readUInt16BE(offset)} ${name(exchange.text)}`;
    }
    case RRType.SRV: {
      const target = length >= 6 ? wireName(msg, offset + 6, end) : undefined;
      return target && `${msg.readUInt16BE(offset)} ${msg.readUInt16BE(offset + 2)} ${msg.readUInt16BE(offset + 4)} ${name(target.text)}`;
    }
    case RRType.SOA: {
      const mname = wireName(msg, offset, end);
      const rname = mname && wireName(msg, mname.end, end);
      if (mname === undefined || rname === undefined || rname.end + 20 > end) return undefined;
      const numbers = [0, 4, 8, 12, 16].map((at) => msg.readUInt32BE(rname.end + at));
      return `${name(mname.text)} ${name(rname.text)} ${numbers.join(' ')}`;
    }
    case RRType.TXT:
      return txtText(msg, offset, end);
    case Type.DNSKEY:
      return length >= 4 ? `${msg.readUInt16BE(offset)} ${msg[offset + 2]} ${msg[offset + 3]} ${msg.toString('base64', offset + 4, end)}` : undefined;
    case Type.RRSIG:
      return rrsigText(msg, offset, end);
    default:
      return undefined;
  }
}

/**
 * Go's `net.IP.String()` of the rdata, whatever the type says: four bytes dotted, an
 * IPv4-mapped IPv6 address dotted too, sixteen bytes RFC 5952, anything else `?` and hex.
 */
function goIpText(msg: Buffer, offset: number, length: number): string {
  if (length === 4) return formatIpv4(msg, offset);
  if (length !== 16) return `?${msg.toString('hex', offset, offset + length)}`;
  let mapped = msg[offset + 10] === 0xff && msg[offset + 11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) mapped = msg[offset + i] === 0;
  return mapped ? formatIpv4(msg, offset + 12) : formatIpv6(msg, offset);
}

/** The character-strings' bytes joined, then read as text (a character split across strings stays whole). */
function txtText(msg: Buffer, offset: number, end: number): string | undefined {
  const strings: Buffer[] = [];
  while (offset < end) {
    const next = offset + 1 + msg[offset];
    if (next > end) return undefined;
    strings.push(msg.subarray(offset + 1, next));
    offset = next;
  }
  return goString(Buffer.concat(strings));
}

/**
 * RRSIG in linseed's form: the covered type as gopacket names it ("Unknown" when it
 * cannot), algorithm, labels, original TTL, expiration and inception as
 * YYYYMMDDHHmmss, key tag, signer name as sent, base64 signature.
 */
function rrsigText(msg: Buffer, offset: number, end: number): string | undefined {
  if (end - offset < 18) return undefined;
  const signer = wireName(msg, offset + 18, end);
  if (signer === undefined) return undefined;
  const covered = GOPACKET_TYPES[msg.readUInt16BE(offset)] ?? 'Unknown';
  const fields = [covered, msg[offset + 2], msg[offset + 3], msg.readUInt32BE(offset + 4), rrsigTime(msg.readUInt32BE(offset + 8)), rrsigTime(msg.readUInt32BE(offset + 12)), msg.readUInt16BE(offset + 16)];
  return `${fields.join(' ')} ${signer.text} ${msg.toString('base64', signer.end, end)}`;
}

/** Seconds since the epoch as YYYYMMDDHHmmss, UTC. */
function rrsigTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace(/[-T:]/g, '');
}
