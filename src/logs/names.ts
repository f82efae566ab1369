/**
 * Names as Calico's DNS logs write them. Felix decodes packets with gopacket v1.4.0,
 * which joins the raw label bytes with dots (no escaping, case kept); linseed then
 * lowercases owner names and the question (`canonicalizeDNSName`) but not names in
 * rdata, and writes every name with its punycode labels turned into Unicode
 * (`aNameToUName`). Go's JSON encoder replaces each byte that is not UTF-8 with U+FFFD.
 */
import { isUtf8 } from 'node:buffer';
import { domainToUnicode } from 'node:url';

/** gopacket's limit on pointer hops (`maxRecursionLevel`). */
const MAX_POINTER_HOPS = 255;
const DOT = 0x2e;

/**
 * Where a name's labels are joined, reused by every call (names are read one at a
 * time, at the flush): a window renders tens of thousands of names, and a buffer per
 * label and per name was most of what rendering allocated. Grows for the rare name
 * that pointers make longer.
 */
let nameBytes: Buffer = Buffer.allocUnsafe(512);

export interface WireName {
  text: string;
  /** Offset just past the name (after its pointer, if it ends in one). */
  end: number;
}

/**
 * The name at `offset` as gopacket's `decodeName` reads it from the first `limit`
 * bytes of `msg` (for rdata, gopacket stops at the record's end); undefined where it
 * would fail, which makes gopacket reject the whole packet.
 */
export function wireName(msg: Uint8Array, offset: number, limit: number): WireName | undefined {
  let length = 0;
  let ascii = true;
  let end = -1;
  for (let hops = 1; ; hops++) {
    if (hops > MAX_POINTER_HOPS || offset >= limit) return undefined;
    const start = offset;
    let index = offset;
    let pointer = -1;
    while (msg[index] !== 0) {
      const b = msg[index];
      if ((b & 0xc0) === 0xc0) {
        if (index + 2 > limit) return undefined;
        pointer = ((b & 0x3f) << 8) | msg[index + 1];
        if (pointer > limit) return undefined;
        index += 2;
        break;
      }
      if ((b & 0xc0) !== 0) return undefined;
      const next = index + b + 1;
      if (next - start > 255 || next > limit) return undefined;
      if (length + b + 1 > nameBytes.length) nameBytes = grown(nameBytes, length);
      if (length > 0) nameBytes[length++] = DOT;
      for (let i = index + 1; i < next; i++) {
        const byte = msg[i];
        if (byte >= 0x80) ascii = false;
        nameBytes[length++] = byte;
      }
      index = next;
      if (index >= limit) return undefined;
    }
    if (end < 0) end = pointer < 0 ? index + 1 : index;
    if (pointer < 0) break;
    offset = pointer;
  }
  return { text: ascii ? nameBytes.toString('latin1', 0, length) : goString(nameBytes.subarray(0, length)), end };
}

/** `bytes` moved into a buffer twice its size, its first `used` bytes kept. */
function grown(bytes: Buffer, used: number): Buffer {
  const larger = Buffer.allocUnsafe(bytes.length * 2);
  bytes.copy(larger, 0, 0, used);
  return larger;
}

/** Bytes as Go's JSON encoder writes a string: each byte that is not part of valid UTF-8 becomes U+FFFD. */
export function goString(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  let text = '';
  for (let i = 0; i < bytes.length; ) {
    const length = utf8SequenceLength(bytes, i);
    text += length === 0 ? '\ufffd' : bytes.toString('utf8', i, i + length);
    i += length === 0 ? 1 : length;
  }
  return text;
}

/** The length of the valid UTF-8 sequence at `i` (Go's `utf8.DecodeRune` ranges), 0 when invalid. */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i];
  if (b < 0x80) return 1;
  const inRange = (at: number, low: number, high: number): boolean => at < bytes.length && bytes[at] >= low && bytes[at] <= high;
  if (b >= 0xc2 && b <= 0xdf) return inRange(i + 1, 0x80, 0xbf) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    const [low, high] = b === 0xe0 ? [0xa0, 0xbf] : b === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return inRange(i + 1, low, high) && inRange(i + 2, 0x80, 0xbf) ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    const [low, high] = b === 0xf0 ? [0x90, 0xbf] : b === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return inRange(i + 1, low, high) && inRange(i + 2, 0x80, 0xbf) && inRange(i + 3, 0x80, 0xbf) ? 4 : 0;
  }
  return 0;
}

/**
 * linseed's `canonicalizeDNSName`: lowercase (Go's simple case mapping), no leading
 * or trailing dots, runs of dots collapsed. For owner names and the question.
 */
export function canonicalName(name: string): string {
  const lower = goLowercase(name);
  // Names rarely have dots to drop; the replacements would each copy them.
  if (!lower.startsWith('.') && !lower.endsWith('.') && !lower.includes('..')) return lower;
  return lower.replace(/^\.+|\.+$/g, '').replace(/\.\.+/g, '.');
}

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Go's `strings.ToLower`: one code point at a time. JavaScript's own lowercasing maps
 * U+0130 to two code points and a final capital sigma by context; Go does neither.
 */
function goLowercase(text: string): string {
  if (!NON_ASCII.test(text)) return text.toLowerCase();
  let lower = '';
  for (const char of text) lower += char === '\u0130' ? 'i' : char.toLowerCase();
  return lower;
}

const ACE_PREFIX = 'xn--';

/**
 * linseed's `aNameToUName`: each label that starts with `xn--` (in lowercase, as Go
 * checks it) is decoded from punycode; when one cannot be, the name stays as it is.
 */
export function unicodeName(name: string): string {
  if (!name.includes(ACE_PREFIX)) return name;
  const labels = name.split('.');
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i].startsWith(ACE_PREFIX)) continue;
    const decoded = domainToUnicode(labels[i]);
    if (decoded === '') return name;
    labels[i] = decoded;
  }
  return labels.join('.');
}
