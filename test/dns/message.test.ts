import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { QueryStatus, QueryView, parseQuery, replyMatchesQuery } from '../../src/dns/message.js';
import { synthesizeReply } from '../../src/dns/responses.js';

function encodeQuery(name: string, type: dnsPacket.RecordType = 'A', id = 0x1234): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
}

test('parseQuery reads the ID, question bounds, type and class', () => {
  const query = encodeQuery('www.example.com', 'AAAA', 0xbeef);
  const view = new QueryView();
  assert.equal(parseQuery(query, view), QueryStatus.Ok);
  assert.equal(view.id, 0xbeef);
  assert.equal(view.qtype, 28);
  assert.equal(view.qclass, 1);
  assert.equal(view.questionEnd, 12 + 17 + 4);
});

test('the question hash ignores case but not the name or type', () => {
  const view = new QueryView();
  parseQuery(encodeQuery('WwW.ExAmple.COM'), view);
  const mixed = view.questionHash;
  parseQuery(encodeQuery('www.example.com'), view);
  assert.equal(view.questionHash, mixed);
  parseQuery(encodeQuery('www.example.org'), view);
  assert.notEqual(view.questionHash, mixed);
  parseQuery(encodeQuery('www.example.com', 'AAAA'), view);
  assert.notEqual(view.questionHash, mixed);
});

test('parseQuery classifies malformed input', () => {
  const view = new QueryView();
  const good = encodeQuery('a.example');
  assert.equal(parseQuery(good.subarray(0, 11), view), QueryStatus.TooShort);

  const response = Buffer.from(good);
  response[2] |= 0x80;
  assert.equal(parseQuery(response, view), QueryStatus.IsResponse);

  const noQuestion = Buffer.from(good.subarray(0, 12));
  noQuestion[5] = 0;
  assert.equal(parseQuery(noQuestion, view), QueryStatus.BadQuestion);

  const twoQuestions = Buffer.from(good);
  twoQuestions[5] = 2;
  assert.equal(parseQuery(twoQuestions, view), QueryStatus.BadQuestion);

  assert.equal(parseQuery(good.subarray(0, good.length - 2), view), QueryStatus.BadQuestion, 'truncated qtype/qclass');

  const pointer = Buffer.from(good);
  pointer[12] = 0xc0;
  pointer[13] = 12;
  assert.equal(parseQuery(pointer, view), QueryStatus.BadQuestion, 'a compression pointer (here a loop onto itself)');

  const outOfRange = Buffer.from(good);
  outOfRange[12] = 60;
  assert.equal(parseQuery(outOfRange, view), QueryStatus.BadQuestion, 'a label running past the end');

  const notify = Buffer.from(good);
  notify[2] = (notify[2] & ~0x78) | (4 << 3);
  assert.equal(parseQuery(notify, view), QueryStatus.NotQuery);

  const longName = Buffer.concat([good.subarray(0, 12), Buffer.alloc(0)]);
  const labels: Buffer[] = [];
  for (let i = 0; i < 5; i++) labels.push(Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)]));
  const tooLong = Buffer.concat([longName, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  assert.equal(parseQuery(tooLong, view), QueryStatus.BadQuestion, 'a name over 255 bytes');
});

test('replyMatchesQuery accepts the same question in another case only', () => {
  const query = encodeQuery('www.example.com');
  const view = new QueryView();
  parseQuery(query, view);
  const reply = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'WWW.example.COM', class: 'IN' }], answers: [] });
  assert.equal(replyMatchesQuery(reply, query, view.questionEnd), true);
  const other = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'www.example.net', class: 'IN' }], answers: [] });
  assert.equal(replyMatchesQuery(other, query, view.questionEnd), false);
  const otherType = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'AAAA', name: 'www.example.com', class: 'IN' }], answers: [] });
  assert.equal(replyMatchesQuery(otherType, query, view.questionEnd), false);
  const notResponse = Buffer.from(reply);
  notResponse[2] &= ~0x80;
  assert.equal(replyMatchesQuery(notResponse, query, view.questionEnd), false);
  // Only letters fold: '-' (0x2d) and 0x0d differ by the case bit but are not letters.
  const hyphen = encodeQuery('a-b');
  const notHyphen = Buffer.from(hyphen);
  notHyphen[2] |= 0x80;
  notHyphen[14] = 0x0d;
  parseQuery(hyphen, view);
  assert.equal(replyMatchesQuery(notHyphen, hyphen, view.questionEnd), false);
});

test('synthesizeReply keeps ID, opcode, RD and the question and sets the rcode', () => {
  const query = encodeQuery('www.example.com', 'A', 0x4242);
  const view = new QueryView();
  parseQuery(query, view);
  const reply = dnsPacket.decode(synthesizeReply(query, view.questionEnd, 2)) as dnsPacket.DecodedPacket & { rcode: string };
  assert.equal(reply.id, 0x4242);
  assert.equal(reply.type, 'response');
  assert.equal(reply.rcode, 'SERVFAIL');
  assert.equal(reply.flag_rd, true);
  assert.deepEqual(reply.questions, [{ name: 'www.example.com', type: 'A', class: 'IN' }]);
  const headerOnly = dnsPacket.decode(synthesizeReply(query, 12, 1)) as dnsPacket.DecodedPacket & { rcode: string };
  assert.equal(headerOnly.rcode, 'FORMERR');
  assert.equal(headerOnly.questions?.length, 0);
});
