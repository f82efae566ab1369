import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { MAX_CHAIN, readChain } from '../../src/allowmap/answer-addresses.js';
import { type ClientRules, Learner } from '../../src/allowmap/learner.js';
import { AllowedMap } from '../../src/allowmap/map.js';
import { RetainedMappings } from '../../src/allowmap/mappings.js';
import { QueryView, parseQuery } from '../../src/dns/message.js';
import { RecordTable, walkRecords } from '../../src/dns/records.js';
import type { Pod } from '../../src/identity/pod.js';
import { DomainIndex } from '../../src/policy/domain-index.js';
import { parseCidr, type Cidr } from '../../src/net/cidr.js';
import type { Query } from '../../src/query.js';

const POD_A = { key: 'ns/a', namespace: 'ns', name: 'a', ips: ['10.0.0.1'] } as unknown as Pod;
const POD_B = { key: 'ns/b', namespace: 'ns', name: 'b', ips: ['10.0.0.2'] } as unknown as Pod;
const NOW = 1_700_000_000_000;

interface Reply {
  question?: string;
  answers?: dnsPacket.Answer[];
  additionals?: dnsPacket.Answer[];
  authorities?: dnsPacket.Answer[];
  rcode?: number;
}

function encode({ question = 'q.example', answers = [], additionals = [], authorities = [], rcode = 0 }: Reply): Buffer {
  return dnsPacket.encode({ type: 'response', id: 1, flags: rcode, questions: [{ type: 'A', name: question, class: 'IN' }], answers, additionals, authorities });
}

function walk(message: Buffer): RecordTable {
  const view = new QueryView();
  const query = Buffer.from(message);
  query[2] &= ~0x80;
  parseQuery(query, view);
  const table = new RecordTable();
  assert.ok(walkRecords(message, view.questionEnd, table));
  return table;
}

function rulesOf(allowed: Record<string, string[]>, nets: string[] = []): ClientRules {
  const cidrs = nets.map((net) => parseCidr(net) as Cidr);
  return { enforced: true, allowingRuleRefs: (name) => allowed[name] ?? [], egressRules: [{ rule: { action: 'Allow', destination: { nets: cidrs } } }] };
}

/** A learner over a real map and real retained mappings, at a fixed clock. */
function harness(options: { maxTtlMs?: number; namesPerClient?: number } = {}) {
  let now = NOW;
  const map = new AllowedMap(
    { extraTtlMs: 0, minTtlMs: 2000, maxTtlMs: options.maxTtlMs ?? 604_800_000, maxIpsPerName: 1000, maxEntries: 100_000, maxDomainsPerEntry: 64, now: () => now },
    { onAdded: () => undefined, onEvicted: () => undefined, onDomainDropped: () => undefined },
  );
  const mappings = new RetainedMappings({ namesPerClient: options.namesPerClient ?? 1000, totalNames: 10_000, addressesPerName: 1000, linksPerName: 32 }, () => undefined);
  let egressRules: ClientRules['egressRules'] = [];
  const learner = new Learner(map, mappings, 'pod', () => egressRules, () => now);
  return {
    map,
    mappings,
    learner,
    advance: (ms: number) => (now += ms),
    learn(reply: Reply, allowed: Record<string, string[]>, pod = POD_A, nets: string[] = []) {
      const message = encode(reply);
      egressRules = rulesOf(allowed, nets).egressRules;
      learner.learn({ clientIp: pod.ips[0] } as Query, pod, message, walk(message), rulesOf(allowed, nets));
      return learnt(map);
    },
    /** Learns what POD_A's retained mappings allow under `allowed`, as after a policy change. */
    reapply(allowed: Record<string, string[]>) {
      learner.reapply((key) => (key === POD_A.key ? { pod: POD_A, learns: true, rules: rulesOf(allowed) } : undefined));
      return learnt(map);
    },
  };
}

/** `client:domain>ip@seconds:rules`, sorted. */
function learnt(map: AllowedMap): string[] {
  return [...map.all()].map((e) => `${e.client?.name}:${[...e.domains].join(',')}>${e.ip}@${(e.expiresAt - NOW) / 1000}:${e.rules.join('+')}`).sort();
}

test('A and AAAA of the question when a rule allows it; nothing when none does', () => {
  const h = harness();
  const answers: dnsPacket.Answer[] = [
    { type: 'A', name: 'a.com', ttl: 30, data: '192.0.2.1' },
    { type: 'AAAA', name: 'a.com', ttl: 40, data: '2001:db8::1' },
  ];
  assert.deepEqual(h.learn({ question: 'a.com', answers }, {}), []);
  assert.deepEqual(h.learn({ question: 'a.com', answers }, { 'a.com': ['r1'] }), ['a:a.com>192.0.2.1@30:r1', 'a:a.com>2001:db8::1@40:r1']);
});

test('poisoning: records of other names in an answer teach nothing, whatever the section', () => {
  const h = harness();
  const allowed = { 'api.alice.com': ['r1'], 'www.example.com': ['r2'], 'a.com': ['r3'] };
  // The answer to a name no rule allows, carrying records of allowed names.
  h.learn(
    {
      question: 'poison.evil.net',
      answers: [
        { type: 'A', name: 'poison.evil.net', ttl: 60, data: '6.6.6.1' },
        { type: 'A', name: 'api.alice.com', ttl: 60, data: '6.6.6.6' },
      ],
      additionals: [{ type: 'A', name: 'www.example.com', ttl: 60, data: '6.6.6.7' }],
    },
    allowed,
  );
  // The answer to an allowed name, carrying records of another allowed name.
  assert.deepEqual(
    h.learn({ question: 'a.com', answers: [{ type: 'A', name: 'a.com', ttl: 60, data: '192.0.2.1' }, { type: 'A', name: 'api.alice.com', ttl: 60, data: '6.6.6.8' }] }, allowed),
    ['a:a.com>192.0.2.1@60:r3'],
  );
});

test('a CNAME chain from the question leads to the addresses; Additional only where it continues the chain; Authority never', () => {
  const h = harness();
  const chain = h.learn(
    {
      question: 'a.com',
      answers: [
        { type: 'CNAME', name: 'a.com', ttl: 300, data: 'b.cdn.net' },
        { type: 'CNAME', name: 'b.cdn.net', ttl: 300, data: 'c.edge.org' },
      ],
      additionals: [
        { type: 'A', name: 'c.edge.org', ttl: 20, data: '192.0.2.3' },
        { type: 'A', name: 'unrelated.edge.org', ttl: 20, data: '192.0.2.4' },
      ],
      authorities: [{ type: 'A', name: 'a.com', ttl: 20, data: '192.0.2.5' }],
    },
    { 'a.com': ['r1'], 'unrelated.edge.org': ['r2'] },
  );
  assert.deepEqual(chain, ['a:a.com>192.0.2.3@20:r1']);
});

test('0.0.0.0 and :: are sinkholes, never names: no fall-through to the root, in one answer or across answers', () => {
  const h = harness();
  const allowed = { 'zeroroot.example.com': ['r1'], 'sink.example.com': ['r1'] };
  assert.deepEqual(
    h.learn({ question: 'zeroroot.example.com', answers: [{ type: 'A', name: 'zeroroot.example.com', ttl: 60, data: '0.0.0.0' }, { type: 'A', name: '.', ttl: 60, data: '6.6.7.1' }] }, allowed),
    [],
  );
  h.learn({ question: 'sink.example.com', answers: [{ type: 'AAAA', name: 'sink.example.com', ttl: 60, data: '::' }] }, allowed);
  assert.deepEqual(h.learn({ question: '.', answers: [{ type: 'A', name: '.', ttl: 60, data: '6.6.7.2' }] }, allowed), [], 'a later answer for the root');
});

test('special-purpose addresses are not learnt, in any form, unless an Allow rule lists them in nets', () => {
  const h = harness();
  const special = ['0.1.2.3', '127.0.0.1', '169.254.169.254', '224.0.0.251', '239.1.2.3', '255.255.255.255'];
  const special6 = ['::1', 'fe80::1', 'febf::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254'];
  const answers: dnsPacket.Answer[] = [
    ...special.map((ip): dnsPacket.Answer => ({ type: 'A', name: 'meta.example.com', ttl: 60, data: ip })),
    ...special6.map((ip): dnsPacket.Answer => ({ type: 'AAAA', name: 'meta.example.com', ttl: 60, data: ip })),
    { type: 'A', name: 'meta.example.com', ttl: 60, data: '169.255.0.1' },
    { type: 'AAAA', name: 'meta.example.com', ttl: 60, data: 'fec0::1' },
  ];
  assert.deepEqual(h.learn({ question: 'meta.example.com', answers }, { 'meta.example.com': ['r1'] }), [
    'a:meta.example.com>169.255.0.1@60:r1',
    'a:meta.example.com>fec0::1@60:r1',
  ]);
  const listed = h.learn({ question: 'meta.example.com', answers }, { 'meta.example.com': ['r1'] }, POD_B, ['169.254.169.254/32']);
  assert.ok(listed.includes('b:meta.example.com>169.254.169.254@60:r1'), 'listed in nets: learnt');
  assert.equal(listed.filter((line) => line.startsWith('b:')).length, 3);
});

test('IPv4-mapped AAAA is learnt as its IPv4 address', () => {
  const h = harness();
  assert.deepEqual(h.learn({ question: 'm.example.com', answers: [{ type: 'AAAA', name: 'm.example.com', ttl: 60, data: '::ffff:192.0.2.1' }] }, { 'm.example.com': ['r1'] }), [
    'a:m.example.com>192.0.2.1@60:r1',
  ]);
  assert.equal([...h.map.all()][0].family, 4);
});

test('only NOERROR answers teach: NXDOMAIN, SERVFAIL and an extended rcode with records teach nothing', () => {
  const h = harness();
  const answers: dnsPacket.Answer[] = [{ type: 'A', name: 'a.com', ttl: 60, data: '192.0.2.1' }];
  assert.deepEqual(h.learn({ question: 'a.com', answers, rcode: 3 }, { 'a.com': ['r1'] }), []);
  assert.deepEqual(h.learn({ question: 'a.com', answers, rcode: 2 }, { 'a.com': ['r1'] }), []);
  const badvers = encode({ question: 'a.com', answers, additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 1, flags: 0 } as dnsPacket.Answer] });
  h.learner.learn({ clientIp: '10.0.0.1' } as Query, POD_A, badvers, walk(badvers), rulesOf({ 'a.com': ['r1'] }));
  assert.deepEqual(learnt(h.map), []);
  // An NXDOMAIN answer's CNAME holds (RFC 6604: the rcode is the last name's): a later answer for its target completes it.
  h.learn({ question: 'x.com', answers: [{ type: 'CNAME', name: 'x.com', ttl: 60, data: 'y.net' }, { type: 'A', name: 'x.com', ttl: 60, data: '6.6.6.6' }], rcode: 3 }, { 'x.com': ['r2'] });
  assert.deepEqual(learnt(h.map), [], 'no address from an NXDOMAIN answer');
  assert.deepEqual(h.learn({ question: 'y.net', answers: [{ type: 'A', name: 'y.net', ttl: 60, data: '192.0.2.2' }] }, { 'x.com': ['r2'] }), ['a:x.com>192.0.2.2@60:r2']);
});

test('TTLs: the top bit set reads as 0; lifetimes are capped by --max-ttl (7 days by default)', () => {
  const h = harness();
  h.learn({ question: 'a.com', answers: [{ type: 'A', name: 'a.com', ttl: 0x80000000, data: '192.0.2.1' }] }, { 'a.com': ['r1'] });
  h.learn({ question: 'b.com', answers: [{ type: 'A', name: 'b.com', ttl: 0xffffffff, data: '192.0.2.2' }] }, { 'b.com': ['r1'] });
  h.learn({ question: 'c.com', answers: [{ type: 'A', name: 'c.com', ttl: 0x7fffffff, data: '192.0.2.3' }] }, { 'c.com': ['r1'] });
  assert.deepEqual(learnt(h.map), ['a:a.com>192.0.2.1@2:r1', 'a:b.com>192.0.2.2@2:r1', 'a:c.com>192.0.2.3@604800:r1'], 'TTL 0: the 2 s floor');
});

test('a dotted label is one label: evil\\.example.com is not under example.com', () => {
  const h = harness();
  const index = new DomainIndex<string>();
  index.add('*.example.com', 'r1');
  const rules: ClientRules = { enforced: true, allowingRuleRefs: (name) => index.lookup(name), egressRules: [] };
  // dns-packet cannot write a dot inside a label: write an X and make it a dot on the wire.
  const message = encode({ question: 'evilXexample.com', answers: [{ type: 'A', name: 'evilXexample.com', ttl: 60, data: '6.6.6.6' }] });
  for (let at = message.indexOf('evilXexample'); at >= 0; at = message.indexOf('evilXexample', at)) message[at + 4] = 0x2e;
  const chain = readChain(message, walk(message));
  assert.equal(chain?.question, 'evil\\.example.com', 'the name keeps its escaped dot');
  h.learner.learn({ clientIp: '10.0.0.1' } as Query, POD_A, message, walk(message), rules);
  assert.deepEqual(learnt(h.map), []);
  const child = encode({ question: 'a.evilXexample.com', answers: [{ type: 'A', name: 'a.evilXexample.com', ttl: 60, data: '192.0.2.1' }] });
  for (let at = child.indexOf('evilXexample'); at >= 0; at = child.indexOf('evilXexample', at)) child[at + 4] = 0x2e;
  h.learner.learn({ clientIp: '10.0.0.1' } as Query, POD_A, child, walk(child), rules);
  assert.deepEqual(learnt(h.map), [], 'a.evil\\.example.com is two labels under com, not under example.com either');
});

test('a chain across answers, CNAME first: completed only by the answer whose question is the target', () => {
  const h = harness();
  const allowed = { 'a.com': ['r1'] };
  assert.deepEqual(h.learn({ question: 'a.com', answers: [{ type: 'CNAME', name: 'a.com', ttl: 300, data: 'b.cdn.net' }] }, allowed), []);
  // Another question carrying the pending target's address does not complete it.
  assert.deepEqual(
    h.learn({ question: 'x.evil.net', answers: [{ type: 'A', name: 'x.evil.net', ttl: 60, data: '6.6.6.1' }, { type: 'A', name: 'b.cdn.net', ttl: 60, data: '6.6.6.6' }] }, allowed),
    [],
  );
  assert.deepEqual(h.learn({ question: 'b.cdn.net', answers: [{ type: 'A', name: 'b.cdn.net', ttl: 60, data: '192.0.2.6' }] }, allowed), ['a:a.com>192.0.2.6@60:r1']);
  assert.deepEqual(h.learn({ question: 'b.cdn.net', answers: [{ type: 'A', name: 'b.cdn.net', ttl: 60, data: '192.0.2.7' }] }, allowed, POD_B).filter((l) => l.startsWith('b:')), [], 'another client did not ask for a.com');
});

test('a chain across answers, address first: the later CNAME leads to the address already answered', () => {
  const h = harness();
  const allowed = { 'a.com': ['r1'] };
  assert.deepEqual(h.learn({ question: 'b.cdn.net', answers: [{ type: 'A', name: 'b.cdn.net', ttl: 60, data: '192.0.2.6' }] }, allowed), []);
  h.advance(10_000);
  assert.deepEqual(h.learn({ question: 'a.com', answers: [{ type: 'CNAME', name: 'a.com', ttl: 300, data: 'b.cdn.net' }] }, allowed), ['a:a.com>192.0.2.6@60:r1'], 'with what is left of the address TTL');
});

const A = (name: string, data: string, ttl = 60): dnsPacket.Answer => ({ type: 'A', name, ttl, data });
const CNAME = (name: string, data: string, ttl = 300): dnsPacket.Answer => ({ type: 'CNAME', name, ttl, data });

// Another question's answer (c.evil.net, which the attacker serves) gives a CDN name that
// an allowed name's chain goes through an address of its own choosing.
const EVIL_CDN: Reply = { question: 'c.evil.net', answers: [CNAME('c.evil.net', 'b.cdn.net'), A('b.cdn.net', '6.6.6.6')] };

test('an address another question was answered for a shared CNAME target is not learnt, whichever answer comes first', () => {
  const allowed = { 'a.com': ['r1'] };
  const legit: Reply = { question: 'a.com', answers: [CNAME('a.com', 'b.cdn.net'), A('b.cdn.net', '192.0.2.1')] };
  const evilFirst = harness();
  assert.deepEqual(evilFirst.learn(EVIL_CDN, allowed), []);
  assert.deepEqual(evilFirst.learn(legit, allowed), ['a:a.com>192.0.2.1@60:r1'], 'the answer to a.com teaches only its own chain');
  assert.deepEqual(evilFirst.reapply(allowed), ['a:a.com>192.0.2.1@60:r1'], 'and so do the mappings kept');

  const legitFirst = harness();
  assert.deepEqual(legitFirst.learn(legit, allowed), ['a:a.com>192.0.2.1@60:r1']);
  assert.deepEqual(legitFirst.learn(EVIL_CDN, allowed), ['a:a.com>192.0.2.1@60:r1']);
  assert.deepEqual(legitFirst.reapply(allowed), ['a:a.com>192.0.2.1@60:r1'], 'a policy change does not mix the two answers');
});

test('a pending CNAME is completed by the answer to its target, never by a record another question was answered', () => {
  const allowed = { 'a.com': ['r1'] };
  for (const evilFirst of [true, false]) {
    const h = harness();
    if (evilFirst) h.learn(EVIL_CDN, allowed);
    assert.deepEqual(h.learn({ question: 'a.com', answers: [CNAME('a.com', 'b.cdn.net')] }, allowed), [], `evil first: ${evilFirst}`);
    if (!evilFirst) assert.deepEqual(h.learn(EVIL_CDN, allowed), []);
    assert.deepEqual(h.reapply(allowed), [], `reapplied, evil first: ${evilFirst}`);
    assert.deepEqual(h.learn({ question: 'b.cdn.net', answers: [A('b.cdn.net', '192.0.2.2')] }, allowed), ['a:a.com>192.0.2.2@60:r1'], `evil first: ${evilFirst}`);
    assert.deepEqual(h.reapply(allowed), ['a:a.com>192.0.2.2@60:r1']);
  }
  // Nor by a link another question was answered: b.cdn.net → x.evil.net came from c.evil.net's answer.
  const h = harness();
  h.learn({ question: 'a.com', answers: [CNAME('a.com', 'b.cdn.net')] }, allowed);
  h.learn({ question: 'c.evil.net', answers: [CNAME('c.evil.net', 'b.cdn.net'), CNAME('b.cdn.net', 'x.evil.net')] }, allowed);
  assert.deepEqual(h.learn({ question: 'x.evil.net', answers: [A('x.evil.net', '6.6.6.7')] }, allowed), []);
  assert.deepEqual(h.reapply(allowed), []);
});

test('a chain across three answers, each answering the name the last one left pending, is followed', () => {
  const allowed = { 'a.com': ['r1'] };
  const h = harness();
  h.learn({ question: 'a.com', answers: [CNAME('a.com', 'b.cdn.net')] }, allowed);
  h.learn({ question: 'b.cdn.net', answers: [CNAME('b.cdn.net', 'c.edge.org')] }, allowed);
  assert.deepEqual(h.learn({ question: 'c.edge.org', answers: [A('c.edge.org', '192.0.2.3')] }, allowed), ['a:a.com>192.0.2.3@60:r1']);
  const later = harness();
  later.learn({ question: 'c.edge.org', answers: [A('c.edge.org', '192.0.2.3')] }, {});
  later.learn({ question: 'b.cdn.net', answers: [CNAME('b.cdn.net', 'c.edge.org')] }, {});
  later.learn({ question: 'a.com', answers: [CNAME('a.com', 'b.cdn.net')] }, {});
  assert.deepEqual(later.reapply(allowed), ['a:a.com>192.0.2.3@60:r1'], 'in any order, and under a policy loaded after');
});

test('two names answered through one CDN name with the same address both keep it', () => {
  const h = harness();
  h.learn({ question: 'www.a.com', answers: [CNAME('www.a.com', 'edge.cdn.net'), A('edge.cdn.net', '192.0.2.5')] }, {});
  h.learn({ question: 'www.b.com', answers: [CNAME('www.b.com', 'edge.cdn.net'), A('edge.cdn.net', '192.0.2.5')] }, {});
  h.reapply({ 'www.a.com': ['r1'], 'www.b.com': ['r2'] });
  assert.deepEqual([...h.map.all()].map((e) => [e.ip, [...e.domains].sort()]), [['192.0.2.5', ['www.a.com', 'www.b.com']]]);
});

test('a policy applied later covers what the pod was answered before, without a new answer', () => {
  const h = harness();
  h.learn({ question: 'a.com', answers: [{ type: 'CNAME', name: 'a.com', ttl: 300, data: 'b.cdn.net' }, { type: 'A', name: 'b.cdn.net', ttl: 60, data: '192.0.2.6' }] }, {});
  h.learn({ question: 'z.com', answers: [{ type: 'A', name: 'z.com', ttl: 60, data: '192.0.2.9' }] }, {}, POD_B);
  assert.deepEqual(learnt(h.map), []);
  h.advance(5000);
  h.learner.reapply((key) => (key === POD_A.key ? { pod: POD_A, learns: true, rules: rulesOf({ 'a.com': ['r1'] }) } : undefined));
  assert.deepEqual(learnt(h.map), ['a:a.com>192.0.2.6@60:r1'], 'with its remaining lifetime, not a new one');
  assert.deepEqual(h.mappings.clientKeys(), [POD_A.key], 'a pod that is gone loses its mappings');
});

test('CNAME loops and over-long chains end', () => {
  const h = harness();
  const loop = h.learn(
    {
      question: 'a.com',
      answers: [
        { type: 'CNAME', name: 'a.com', ttl: 60, data: 'b.com' },
        { type: 'CNAME', name: 'b.com', ttl: 60, data: 'a.com' },
      ],
    },
    { 'a.com': ['r1'] },
  );
  assert.deepEqual(loop, []);
  const chain: dnsPacket.Answer[] = [];
  for (let i = 0; i <= MAX_CHAIN + 2; i++) chain.push({ type: 'CNAME', name: `n${i}.com`, ttl: 60, data: `n${i + 1}.com` });
  chain.push({ type: 'A', name: `n${MAX_CHAIN + 3}.com`, ttl: 60, data: '192.0.2.7' });
  assert.deepEqual(h.learn({ question: 'n0.com', answers: chain }, { 'n0.com': ['r1'] }), [], 'beyond the chain bound nothing is learnt');
});

test('the suffix trick: a.com.evil.org is not a.com', () => {
  const h = harness();
  assert.deepEqual(h.learn({ question: 'a.com.evil.org', answers: [{ type: 'A', name: 'a.com.evil.org', ttl: 60, data: '192.0.2.8' }] }, { 'a.com': ['r1'] }), []);
});

interface RawRecord {
  section: 'answer' | 'authority' | 'additional';
  /** Owner as a pointer to the question's name (how servers write it), or spelled out. */
  owner: 'pointer' | string;
  type: 'A' | 'AAAA' | 'CNAME';
  klass?: number;
  data: string;
}

function wireName(name: string): number[] {
  return [...name.split('.').flatMap((label) => [label.length, ...Buffer.from(label)]), 0];
}

function ipv6Bytes(ip: string): number[] {
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const [head, tail] = ip.split('::');
  const before = groups(head);
  const after = groups(tail ?? '');
  const all = [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
  return all.flatMap((group) => [group >> 8, group & 0xff]);
}

/** An answer with owner names written as told: dns-packet spells every name out. */
function rawAnswer(question: string, records: RawRecord[], rcode = 0): Buffer {
  const count = (section: RawRecord['section']) => records.filter((record) => record.section === section).length;
  const bytes = [0, 1, 0x81, 0x80 | rcode, 0, 1, 0, count('answer'), 0, count('authority'), 0, count('additional'), ...wireName(question), 0, 1, 0, 1];
  for (const section of ['answer', 'authority', 'additional'] as const) {
    for (const record of records.filter((r) => r.section === section)) {
      const type = { A: 1, AAAA: 28, CNAME: 5 }[record.type];
      const data = record.type === 'CNAME' ? wireName(record.data) : record.type === 'A' ? record.data.split('.').map(Number) : ipv6Bytes(record.data);
      bytes.push(...(record.owner === 'pointer' ? [0xc0, 12] : wireName(record.owner)), 0, type, 0, record.klass ?? 1, 0, 0, 0, 60, 0, data.length, ...data);
    }
  }
  return Buffer.from(bytes);
}

test('an answer whose owners point to the question reads as the same chain as one that spells them out', () => {
  const Q = 'a.com';
  const cases: [string, RawRecord[], number?][] = [
    ['A and AAAA', [{ section: 'answer', owner: 'pointer', type: 'A', data: '192.0.2.1' }, { section: 'answer', owner: 'pointer', type: 'AAAA', data: '2001:db8::1' }]],
    ['an address in Additional', [{ section: 'answer', owner: 'pointer', type: 'A', data: '192.0.2.1' }, { section: 'additional', owner: 'pointer', type: 'A', data: '192.0.2.2' }]],
    ['Authority is never read', [{ section: 'authority', owner: 'pointer', type: 'A', data: '192.0.2.3' }]],
    ['class CH is not IN', [{ section: 'answer', owner: 'pointer', type: 'A', klass: 3, data: '192.0.2.4' }]],
    ['NXDOMAIN gives no address', [{ section: 'answer', owner: 'pointer', type: 'A', data: '192.0.2.5' }], 3],
    ['a CNAME beside', [{ section: 'answer', owner: 'pointer', type: 'CNAME', data: 'b.com' }, { section: 'answer', owner: 'b.com', type: 'A', data: '192.0.2.6' }, { section: 'answer', owner: 'pointer', type: 'A', data: '192.0.2.7' }]],
    ['another name', [{ section: 'answer', owner: 'pointer', type: 'A', data: '192.0.2.8' }, { section: 'answer', owner: 'evil.net', type: 'A', data: '6.6.6.6' }]],
  ];
  for (const [what, records, rcode] of cases) {
    const pointed = rawAnswer(Q, records, rcode);
    const spelled = rawAnswer(Q, records.map((record) => ({ ...record, owner: record.owner === 'pointer' ? Q : record.owner })), rcode);
    const expected = readChain(spelled, walk(spelled));
    assert.deepEqual(readChain(pointed, walk(pointed)), expected, what);
  }
  const both = rawAnswer(Q, cases[0][1]);
  assert.deepEqual(readChain(both, walk(both))?.links.map((link) => [link.name, link.addresses.map((a) => a.ip)]), [[Q, ['192.0.2.1', '2001:db8::1']]]);
});
