/**
 * The `rrsets` of a record: every record of the Answer, Authority and Additional
 * sections (so an NXDOMAIN carries its SOA) except the EDNS OPT pseudo-record,
 * grouped by (name, class, type) in order of first appearance, `rdata` sorted so
 * that answers whose records were rotated render the same. TTLs are left out.
 */
import { RRType, className, typeName } from '../dns/constants.js';
import { rdataText } from '../dns/rdata.js';
import { RecordTable, readName, walkRecords } from '../dns/records.js';
import type { LogRrset } from './record.js';

/** Reused by every call: rendering runs at flush, one answer at a time. */
const table = new RecordTable();

/**
 * Renders the records after the question (which ends at `questionEnd`). A record
 * whose owner name cannot be read is left out; when the reply is malformed past some
 * record, the records before it are rendered.
 */
export function renderRrsets(answer: Buffer, questionEnd: number): LogRrset[] {
  walkRecords(answer, questionEnd, table);
  const groups = new Map<string, LogRrset>();
  for (let i = 0; i < table.count; i++) {
    const type = table.type[i];
    if (type === RRType.OPT) continue;
    const name = readName(answer, table.nameOffset[i]);
    if (name === undefined) continue;
    const klass = table.klass[i];
    const rdata = rdataText(answer, type, table.dataOffset[i], table.dataLength[i]);
    // Escaped names never contain NUL, so the joined key is unambiguous.
    const key = `${name}\0${klass}\0${type}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { name, class: className(klass), type: typeName(type), rdata: [rdata] });
    else group.rdata.push(rdata);
  }
  const rrsets = [...groups.values()];
  for (const rrset of rrsets) rrset.rdata.sort();
  return rrsets;
}
