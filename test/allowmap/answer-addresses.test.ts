import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { CnameMemory, MAX_CHAIN, addressesToLearn } from '../../src/allowmap/answer-addresses.js';
import { QueryView, parseQuery } from '../../src/dns/message.js';
import { RecordTable, walkRecords } from '../../src/dns/records.js';

function learnFrom(answers: dnsPacket.Answer[], allowed: Record<string, string[]>, memory = new CnameMemory(), clientKey = 'ns/a', extra: { additionals?: dnsPacket.Answer[]; authorities?: dnsPacket.Answer[] } = {}) {
  const message = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'q.example', class: 'IN' }], answers, ...extra });
  const view = new QueryView();
  const query = Buffer.from(message);
  query[2] &= ~0x80;
  parseQuery(query, view);
  const table = new RecordTable();
  assert.ok(walkRecords(message, view.questionEnd, table));
  return addressesToLearn(message, table, clientKey, { allowingRuleRefs: (name) => allowed[name] ?? [] }, memory, { lifetimeMs: (ttl) => ttl * 1000 });
}

const simplify = (learnt: ReturnType<typeof learnFrom>) => learnt.map((a) => `${a.domain}>${a.ip}@${a.ttlSeconds}:${a.rules.join('+')}`).sort();

test('A and AAAA of an allowed name; 0.0.0.0 and unallowed names ignored', () => {
  const learnt = learnFrom(
    [
      { type: 'A', name: 'a.com', ttl: 30, data: '192.0.2.1' },
      { type: 'AAAA', name: 'a.com', ttl: 40, data: '2001:db8::1' },
      { type: 'A', name: 'a.com', ttl: 30, data: '0.0.0.0' },
      { type: 'A', name: 'b.com', ttl: 30, data: '192.0.2.2' },
    ],
    { 'a.com': ['r1'] },
  );
  assert.deepEqual(simplify(learnt), ['a.com>192.0.2.1@30:r1', 'a.com>2001:db8::1@40:r1']);
});

test('a CNAME chain inside one answer leads the allowed name to the target addresses', () => {
  const learnt = learnFrom(
    [
      { type: 'CNAME', name: 'a.com', ttl: 300, data: 'b.cdn.net' },
      { type: 'CNAME', name: 'b.cdn.net', ttl: 300, data: 'c.edge.org' },
      { type: 'A', name: 'c.edge.org', ttl: 20, data: '192.0.2.3' },
    ],
    { 'a.com': ['r1'] },
  );
  assert.deepEqual(simplify(learnt), ['a.com>192.0.2.3@20:r1']);
});

test('the Additional section teaches, the Authority section does not', () => {
  const learnt = learnFrom([], { 'a.com': ['r1'] }, new CnameMemory(), 'ns/a', {
    additionals: [{ type: 'A', name: 'a.com', ttl: 30, data: '192.0.2.4' }],
    authorities: [{ type: 'A', name: 'a.com', ttl: 30, data: '192.0.2.5' }],
  });
  assert.deepEqual(simplify(learnt), ['a.com>192.0.2.4@30:r1']);
});

test('a CNAME whose target comes in a later answer is stitched per client', () => {
  const memory = new CnameMemory();
  assert.deepEqual(learnFrom([{ type: 'CNAME', name: 'a.com', ttl: 300, data: 'b.cdn.net' }], { 'a.com': ['r1'] }, memory), []);
  const later = learnFrom([{ type: 'A', name: 'b.cdn.net', ttl: 60, data: '192.0.2.6' }], {}, memory);
  assert.deepEqual(simplify(later), ['a.com>192.0.2.6@60:r1']);
  const otherClient = learnFrom([{ type: 'A', name: 'b.cdn.net', ttl: 60, data: '192.0.2.6' }], {}, memory, 'ns/b');
  assert.deepEqual(otherClient, [], 'another client did not ask for a.com');
});

test('CNAME loops and over-long chains end', () => {
  const loop = learnFrom(
    [
      { type: 'CNAME', name: 'a.com', ttl: 60, data: 'b.com' },
      { type: 'CNAME', name: 'b.com', ttl: 60, data: 'a.com' },
    ],
    { 'a.com': ['r1'] },
  );
  assert.deepEqual(loop, []);
  const chain: dnsPacket.Answer[] = [];
  for (let i = 0; i <= MAX_CHAIN + 2; i++) chain.push({ type: 'CNAME', name: `n${i}.com`, ttl: 60, data: `n${i + 1}.com` });
  chain.push({ type: 'A', name: `n${MAX_CHAIN + 3}.com`, ttl: 60, data: '192.0.2.7' });
  assert.deepEqual(learnFrom(chain, { 'n0.com': ['r1'] }), [], 'beyond the chain bound nothing is learnt');
});

test('the suffix trick: a.com.evil.org is not a.com', () => {
  const learnt = learnFrom([{ type: 'A', name: 'a.com.evil.org', ttl: 60, data: '192.0.2.8' }], { 'a.com': ['r1'] });
  assert.deepEqual(learnt, []);
});
