/** Offsets and codes of the DNS wire format (RFC 1035, 3596, 6891). */

export const HEADER_LENGTH = 12;
export const MAX_NAME_LENGTH = 255;
export const MAX_LABEL_LENGTH = 63;

export const FLAG_QR = 0x80; // in byte 2
export const FLAG_TC = 0x02; // in byte 2
export const FLAG_RD = 0x01; // in byte 2
export const FLAG_RA = 0x80; // in byte 3
export const OPCODE_MASK = 0x78; // in byte 2
export const RCODE_MASK = 0x0f; // in byte 3

export const enum RRType {
  A = 1,
  NS = 2,
  CNAME = 5,
  SOA = 6,
  PTR = 12,
  MX = 15,
  TXT = 16,
  AAAA = 28,
  SRV = 33,
  OPT = 41,
}

export const CLASS_IN = 1;

export const enum Rcode {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NXDomain = 3,
  NotImp = 4,
  Refused = 5,
}

/** Spellings of Calico's DNS logs (linseed's `dnsResponseCodeTable`); 16 is BADSIG there, never BADVERS. */
const RCODE_NAMES: Record<number, string> = {
  0: 'NoError', 1: 'FormErr', 2: 'ServFail', 3: 'NXDomain', 4: 'NotImp', 5: 'Refused',
  6: 'YXDomain', 7: 'YXRRSet', 8: 'NXRRSet', 9: 'NotAuth', 10: 'NotZone', 11: 'DSOTYPENI', 16: 'BADSIG',
  17: 'BADKEY', 18: 'BADTIME', 19: 'BADMODE', 20: 'BADNAME', 21: 'BADALG', 22: 'BADTRUNC',
  23: 'BADCOOKIE',
};

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `#${rcode}`;
}

/** Every rcode name, for metric label pre-binding. */
export const KNOWN_RCODES: readonly number[] = Object.keys(RCODE_NAMES).map(Number);
