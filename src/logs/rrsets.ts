/**
 * The `rrsets` of a record, as linseed builds them from gopacket's decode: every
 * record of the Answer, Authority and Additional sections, the EDNS OPT record
 * included (name "", class = its UDP size), grouped by (lowercased name, class, type),
 * each group's rdata sorted by its wire bytes (`DNSRRSets.Add`). TTLs are left out.
 * Groups come in the order their first record appears: Felix's order is a Go map's,
 * which no one can reproduce. No records at all is `null`, as Go writes an empty map.
 */
import { RecordTable, walkRecords } from '../dns/records.js';
import { canonicalName, unicodeName, wireName } from './names.js';
import { rdataText, rrsetClass, rrsetType } from './rdata.js';
import type { LogRrset } from './record.js';

/** Reused by every call: rendering runs at flush, one answer at a time. */
const table = new RecordTable();

/** One record's rdata: where its wire bytes are in the answer, and its text. */
interface Rdata {
  offset: number;
  length: number;
  text: string;
}

/** The records of one (name, class, type). An answer has few, so they are found by a scan. */
interface Group {
  name: string;
  klass: number;
  type: number;
  rrset: LogRrset;
  rdata: Rdata[];
}

/**
 * Renders the records after the question (which ends at `questionEnd`), names in
 * Unicode when `unicode` (as written) or as sent (as linseed keys its aggregation).
 * A record whose owner name cannot be read is left out; when the reply is malformed
 * past some record, the records before it are rendered.
 */
export function renderRrsets(answer: Buffer, questionEnd: number, unicode: boolean): LogRrset[] | null {
  walkRecords(answer, questionEnd, table);
  const rdataName = unicode ? unicodeName : (name: string): string => name;
  const groups: Group[] = [];
  for (let i = 0; i < table.count; i++) {
    const owner = wireName(answer, table.nameOffset[i], answer.length);
    if (owner === undefined) continue;
    const name = canonicalName(owner.text);
    const type = table.type[i];
    const klass = table.klass[i];
    const offset = table.dataOffset[i];
    const length = table.dataLength[i];
    const rdata = { offset, length, text: rdataText(answer, type, offset, length, rdataName) };
    const group = groups.find((candidate) => candidate.type === type && candidate.klass === klass && candidate.name === name);
    if (group === undefined) {
      groups.push({ name, klass, type, rrset: { name: unicode ? unicodeName(name) : name, class: rrsetClass(klass), type: rrsetType(type), rdata: [] }, rdata: [rdata] });
    } else {
      group.rdata.push(rdata);
    }
  }
  if (groups.length === 0) return null;
  const inWireOrder = (a: Rdata, b: Rdata): number => answer.compare(answer, b.offset, b.offset + b.length, a.offset, a.offset + a.length);
  return groups.map(({ rrset, rdata }) => {
    // Most rrsets hold one record or come in order; sorting anyway costs V8 a sort state each.
    if (!isSorted(rdata, inWireOrder)) rdata.sort(inWireOrder);
    rrset.rdata = rdata.map((item) => item.text);
    return rrset;
  });
}

function isSorted<T>(items: readonly T[], compare: (a: T, b: T) => number): boolean {
  for (let i = 1; i < items.length; i++) if (compare(items[i - 1], items[i]) > 0) return false;
  return true;
}
