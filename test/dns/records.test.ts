import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { RecordTable, Section, readName, walkRecords } from '../../src/dns/records.js';

function reply(answers: dnsPacket.Answer[], authorities: dnsPacket.Answer[] = [], additionals: dnsPacket.Answer[] = []): Buffer {
  return dnsPacket.encode({ type: 'response', id: 7, questions: [{ type: 'A', name: 'a.example.com', class: 'IN' }], answers, authorities, additionals });
}

const QUESTION_END = 12 + 15 + 4;

test('walkRecords finds every record with its section, type, TTL and data', () => {
  const message = reply(
    [
      { type: 'CNAME', name: 'a.example.com', ttl: 60, data: 'b.example.net' },
      { type: 'A', name: 'b.example.net', ttl: 30, data: '192.0.2.1' },
    ],
    [{ type: 'NS', name: 'example.net', ttl: 100, data: 'ns.example.net' }],
    [{ type: 'AAAA', name: 'ns.example.net', ttl: 5, data: '2001:db8::1' }],
  );
  const table = new RecordTable();
  assert.equal(walkRecords(message, QUESTION_END, table), true);
  assert.equal(table.count, 4);
  assert.deepEqual([...table.section.subarray(0, 4)], [Section.Answer, Section.Answer, Section.Authority, Section.Additional]);
  assert.deepEqual([...table.type.subarray(0, 4)], [5, 1, 2, 28]);
  assert.deepEqual([...table.ttl.subarray(0, 4)], [60, 30, 100, 5]);
  assert.equal(readName(message, table.nameOffset[1]), 'b.example.net');
  assert.equal(readName(message, table.dataOffset[0]), 'b.example.net');
  assert.deepEqual([...message.subarray(table.dataOffset[1], table.dataOffset[1] + table.dataLength[1])], [192, 0, 2, 1]);
});

test('the record hash ignores TTLs and nothing else', () => {
  const table = new RecordTable();
  const hashOf = (ttl: number, ip: string): number => {
    walkRecords(reply([{ type: 'A', name: 'a.example.com', ttl, data: ip }]), QUESTION_END, table);
    return table.hash;
  };
  assert.equal(hashOf(10, '192.0.2.1'), hashOf(300, '192.0.2.1'));
  assert.notEqual(hashOf(10, '192.0.2.1'), hashOf(10, '192.0.2.2'));
  assert.ok(Number.isSafeInteger(hashOf(10, '192.0.2.1')));
});

test('the record hash ignores the order of records, not their section', () => {
  const table = new RecordTable();
  const a = { type: 'A', name: 'a.example.com', ttl: 10, data: '192.0.2.1' } as const;
  const b = { type: 'A', name: 'a.example.com', ttl: 10, data: '192.0.2.2' } as const;
  walkRecords(reply([a, b]), QUESTION_END, table);
  const forward = table.hash;
  walkRecords(reply([b, a]), QUESTION_END, table);
  assert.equal(table.hash, forward);
  walkRecords(reply([a], [], [b]), QUESTION_END, table);
  assert.notEqual(table.hash, forward);
});

test('walkRecords rejects records running past the end and bad pointers', () => {
  const message = reply([{ type: 'A', name: 'a.example.com', ttl: 10, data: '192.0.2.1' }]);
  const table = new RecordTable();
  assert.equal(walkRecords(message.subarray(0, message.length - 1), QUESTION_END, table), false);
  const badPointer = Buffer.from(message);
  badPointer[QUESTION_END] = 0xff;
  badPointer[QUESTION_END + 1] = 0xff;
  assert.equal(walkRecords(badPointer, QUESTION_END, table), false);
});

test('readName stops compression loops and forward pointers', () => {
  // Header, then at 12 a pointer to itself.
  const selfLoop = Buffer.alloc(14);
  selfLoop[12] = 0xc0;
  selfLoop[13] = 12;
  assert.equal(readName(selfLoop, 12), undefined);
  // Label "a" at 12, then a pointer back to 12: a loop through a label.
  const labelLoop = Buffer.from([...Buffer.alloc(12), 1, 0x61, 0xc0, 12]);
  assert.equal(readName(labelLoop, 12), undefined);
  const forward = Buffer.from([...Buffer.alloc(12), 0xc0, 20, ...Buffer.alloc(8)]);
  assert.equal(readName(forward, 12), undefined);
});

test('readName lowercases and escapes odd bytes', () => {
  const name = Buffer.from([...Buffer.alloc(12), 3, 0x57, 0x2e, 0x01, 3, 0x63, 0x4f, 0x6d, 0]);
  assert.equal(readName(name, 12), 'w\\.\\001.com');
  assert.equal(readName(Buffer.from([...Buffer.alloc(12), 0]), 12), '');
});
