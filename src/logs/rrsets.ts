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

interface Rdata {
  wire: Buffer;
  text: string;
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
  const groups = new Map<string, { rrset: LogRrset; rdata: Rdata[] }>();
  for (let i = 0; i < table.count; i++) {
    const owner = wireName(answer, table.nameOffset[i], answer.length);
    if (owner === undefined) continue;
    const name = canonicalName(owner.text);
    const type = table.type[i];
    const klass = table.klass[i];
    const offset = table.dataOffset[i];
    const length = table.dataLength[i];
    const rdata = { wire: answer.subarray(offset, offset + length), text: rdataText(answer, type, offset, length, rdataName) };
    // The numbers first: a name may contain any character, the numbers no space.
    const key = `${klass} ${type} ${name}`;
    const group = groups.get(key);
    if (group === undefined) {
      groups.set(key, { rrset: { name: unicode ? unicodeName(name) : name, class: rrsetClass(klass), type: rrsetType(type), rdata: [] }, rdata: [rdata] });
    } else {
      group.rdata.push(rdata);
    }
  }
  if (groups.size === 0) return null;
  const rrsets: LogRrset[] = [];
  for (const { rrset, rdata } of groups.values()) {
    rrset.rdata = rdata.sort((a, b) => Buffer.compare(a.wire, b.wire)).map((item) => item.text);
    rrsets.push(rrset);
  }
  return rrsets;
}
