/**
 * One walk over the resource records of an upstream reply. It records where each
 * record sits so that the allowed-map learner and the log aggregator read the same
 * walk, and hashes the records with their TTLs masked, so that two answers that
 * differ only in remaining TTL or record order aggregate together.
 */
export const enum Section {
  Answer = 1,
  Authority = 2,
  Additional = 3,
}

/** Records beyond this are not walked; the reply itself still passes intact. */
const MAX_WALKED_RECORDS = 512;

export class RecordTable {
  count = 0;
  /** Hash of the walked records without their TTLs, whatever their order (53 bits). */
  hash = 0;
  readonly section = new Uint8Array(MAX_WALKED_RECORDS);
  readonly nameOffset = new Int32Array(MAX_WALKED_RECORDS);
  readonly type = new Uint16Array(MAX_WALKED_RECORDS);
  readonly klass = new Uint16Array(MAX_WALKED_RECORDS);
  readonly ttl = new Uint32Array(MAX_WALKED_RECORDS);
  readonly dataOffset = new Int32Array(MAX_WALKED_RECORDS);
  readonly dataLength = new Uint16Array(MAX_WALKED_RECORDS);
}

/** Offset just past the (possibly compressed) name at `offset`, or -1 when malformed. */
export function skipName(msg: Uint8Array, offset: number): number {
  const length = msg.length;
  for (;;) {
    if (offset >= length) return -1;
    const b = msg[offset];
    if (b === 0) return offset + 1;
    if ((b & 0xc0) === 0xc0) {
      if (offset + 2 > length) return -1;
      return (((b & 0x3f) << 8) | msg[offset + 1]) < length ? offset + 2 : -1;
    }
    if (b > 63) return -1;
    offset += 1 + b;
  }
}

const H1_PRIME = 0x01000193;
const H2_PRIME = 0x5bd1e995;

/**
 * Walks every record after the question (which ends at `start`). Returns false when
 * the reply is malformed; the table then holds what was read before the fault.
 */
export function walkRecords(msg: Uint8Array, start: number, table: RecordTable): boolean {
  const length = msg.length;
  const answerEnd = (msg[6] << 8) | msg[7];
  const authorityEnd = answerEnd + ((msg[8] << 8) | msg[9]);
  const total = Math.min(authorityEnd + ((msg[10] << 8) | msg[11]), MAX_WALKED_RECORDS);
  // Each record is hashed alone and the hashes are summed, so that resolvers rotating
  // the order of records (round robin) do not make the same answer look different.
  let sum1 = 0;
  let sum2 = 0;
  let offset = start;
  table.count = 0;
  table.hash = 0;
  for (let n = 0; n < total; n++) {
    const nameEnd = skipName(msg, offset);
    if (nameEnd < 0 || nameEnd + 10 > length) return false;
    const dataLength = (msg[nameEnd + 8] << 8) | msg[nameEnd + 9];
    const dataOffset = nameEnd + 10;
    const end = dataOffset + dataLength;
    if (end > length) return false;
    const section = n < answerEnd ? Section.Answer : n < authorityEnd ? Section.Authority : Section.Additional;
    let h1 = Math.imul(0x811c9dc5 ^ section, H1_PRIME);
    let h2 = Math.imul(0x9747b28c ^ section, H2_PRIME);
    for (let j = offset; j < end; j++) {
      // The TTL is left out: answers that differ only in remaining TTL aggregate together.
      if (j === nameEnd + 4) j += 4;
      const c = msg[j];
      h1 = Math.imul(h1 ^ c, H1_PRIME);
      h2 = Math.imul(h2 ^ c, H2_PRIME);
      h2 ^= h2 >>> 13;
    }
    sum1 = (sum1 + (h1 >>> 0)) >>> 0;
    sum2 = (sum2 + (h2 >>> 0)) >>> 0;
    table.section[n] = section;
    table.nameOffset[n] = offset;
    table.type[n] = (msg[nameEnd] << 8) | msg[nameEnd + 1];
    table.klass[n] = (msg[nameEnd + 2] << 8) | msg[nameEnd + 3];
    table.ttl[n] = ((msg[nameEnd + 4] << 24) | (msg[nameEnd + 5] << 16) | (msg[nameEnd + 6] << 8) | msg[nameEnd + 7]) >>> 0;
    table.dataOffset[n] = dataOffset;
    table.dataLength[n] = dataLength;
    table.count = n + 1;
    offset = end;
  }
  table.hash = sum1 * 0x200000 + (sum2 & 0x1fffff);
  return true;
}

/**
 * Where readName writes a name before making it a string: one flat string per name,
 * rather than a rope of one-character pieces that every later hash would flatten.
 * 255 wire bytes escape to at most 4 characters each.
 */
const nameScratch = Buffer.allocUnsafe(1024);
const BACKSLASH = 0x5c;
const DOT = 0x2e;

/**
 * The presentation form of the name at `offset`: lowercase, no trailing dot, `""`
 * for the root. Bytes outside the printable range and literal dots inside a label are
 * escaped as in zone files. Returns undefined when the name is malformed. Pointers
 * must point strictly backwards, which also rules out loops.
 */
export function readName(msg: Uint8Array, offset: number): string | undefined {
  let length = 0;
  let wireLength = 0;
  let labelStart = offset;
  for (;;) {
    if (offset >= msg.length) return undefined;
    const b = msg[offset];
    if (b === 0) return nameScratch.toString('latin1', 0, length);
    if ((b & 0xc0) === 0xc0) {
      if (offset + 1 >= msg.length) return undefined;
      const target = ((b & 0x3f) << 8) | msg[offset + 1];
      if (target >= labelStart) return undefined;
      offset = labelStart = target;
      continue;
    }
    if (b > 63) return undefined;
    wireLength += b + 1;
    if (wireLength > 255 || offset + 1 + b > msg.length) return undefined;
    if (length > 0) nameScratch[length++] = DOT;
    for (let i = offset + 1; i <= offset + b; i++) {
      const c = msg[i];
      if (c >= 0x41 && c <= 0x5a) {
        nameScratch[length++] = c | 0x20;
      } else if (c > 0x20 && c < 0x7f && c !== DOT && c !== BACKSLASH) {
        nameScratch[length++] = c;
      } else if (c === DOT || c === BACKSLASH) {
        nameScratch[length++] = BACKSLASH;
        nameScratch[length++] = c;
      } else {
        nameScratch[length++] = BACKSLASH;
        nameScratch[length++] = 0x30 + Math.floor(c / 100);
        nameScratch[length++] = 0x30 + (Math.floor(c / 10) % 10);
        nameScratch[length++] = 0x30 + (c % 10);
      }
    }
    offset += 1 + b;
  }
}

