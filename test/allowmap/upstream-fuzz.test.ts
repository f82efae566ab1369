// 10,000 upstream replies, most of them mutated, through a pod with policies. Each reply
// starts as a chain (q<i>.example.com CNAME c<i>.example.com, A 192.0.x.y) surrounded by
// poison: records of other allowed names with 6.6.x.y addresses, in Answer and
// Additional. Then bytes after the question are overwritten, flipped, cut or appended,
// and the header's counts and rcode changed. dnsgate must not crash, must answer every
// query (clean replies exactly), and may learn only addresses that some reply, read as
// an independent decoder reads it, links to the question's chain.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { allowed, podsYaml, standardPods, webEgressPolicy, writeFixture } from '../helpers/cluster.js';
import { startDnsgate, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { hostileReply, questionEnd, startHostileUpstream, type HostileUpstream } from '../helpers/hostile-upstream.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { seededRandom } from '../helpers/random.js';
import { udpAskMany } from '../helpers/wire.js';

const skip = missing();
const REPLIES = 10_000;
/** One reply in this many is sent clean, and its answer checked. */
const CLEAN_EVERY = 10;
const WINDOW = 64;
const SEED = 0x5eed14;

const net = new LoopbackSubnet();
const pods = standardPods(net);
const POLICY = webEgressPolicy(['api.alice.com', '*.example.com']);
const fixture = writeFixture({ 'pods.yaml': podsYaml([pods.web1]), 'policies.yaml': POLICY });
const random = seededRandom(SEED);
const int = (n: number) => Math.floor(random() * n);

let upstream: HostileUpstream;
let dnsgate: RunningDnsgate;
/** Addresses some reply linked to its question's chain, read by dns-packet. */
const reachable = new Set<string>();

const legitIp = (i: number) => `192.0.${(i >> 8) & 255}.${i & 255}`;

function cleanReply(query: Buffer, i: number): Buffer {
  const poison = (k: number) => `6.6.${k & 255}.${int(256)}`;
  return hostileReply(query, {
    answers: [
      { type: 'A', name: 'api.alice.com', ttl: 60, data: poison(1) },
      { type: 'CNAME', name: `q${i}.example.com`, ttl: 60, data: `c${i}.example.com` },
      { type: 'A', name: `c${i}.example.com`, ttl: 60, data: legitIp(i) },
      { type: 'A', name: `q${i + 1}.example.com`, ttl: 60, data: poison(2) },
      { type: 'AAAA', name: `c${i + 1}.example.com`, ttl: 60, data: `2001:db8::${i.toString(16)}` },
    ],
    additionals: [
      { type: 'A', name: `c${i - 1}.example.com`, ttl: 60, data: poison(3) },
      { type: 'A', name: 'www.example.com', ttl: 60, data: poison(4) },
    ],
  });
}

function mutate(reply: Buffer, start: number): Buffer {
  let bytes = Buffer.from(reply);
  for (let n = 1 + int(4); n > 0; n--) {
    const kind = int(6);
    if (kind === 0) bytes[start + int(bytes.length - start)] = int(256);
    else if (kind === 1) bytes[start + int(bytes.length - start)] ^= 1 << int(8);
    else if (kind === 2) bytes[6 + int(6)] = int(8);
    else if (kind === 3) bytes[3] = int(256);
    else if (kind === 4) bytes = bytes.subarray(0, start + int(bytes.length - start));
    else bytes = Buffer.concat([bytes, Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)))]);
  }
  return bytes;
}

/** dns-packet's decoders of one name and one record, which its types do not declare. */
const codec = dnsPacket as unknown as {
  name: { decode(buf: Buffer, offset: number): string & { bytes?: number } } & { decode: { bytes: number } };
  answer: { decode(buf: Buffer, offset: number): { name: string; type: string; class: string; data: unknown } };
};

/**
 * The reference reading, independent of dnsgate's: dns-packet decodes each record on its
 * own (one bad record does not hide the others, so this errs on the side of more), and
 * the addresses on the question's CNAME chain (Answer and Additional, class IN, NOERROR
 * with no extended rcode) count.
 */
function chainAddresses(reply: Buffer): string[] {
  if ((reply[3] & 0xf) !== 0 || reply.length < 12) return [];
  const records: { name: string; type: string; class: string; data: unknown }[] = [];
  let question: string;
  let offset: number;
  try {
    question = codec.name.decode(reply, 12).toLowerCase();
    offset = 12 + codec.name.decode.bytes + 4;
  } catch {
    return [];
  }
  const answers = reply.readUInt16BE(6);
  const total = answers + reply.readUInt16BE(8) + reply.readUInt16BE(10);
  for (let n = 0; n < total && offset < reply.length; n++) {
    let next: number;
    let nameEnd: number;
    try {
      codec.name.decode(reply, offset);
      nameEnd = offset + codec.name.decode.bytes;
      next = nameEnd + 10 + reply.readUInt16BE(nameEnd + 8);
    } catch {
      break;
    }
    const authority = n >= answers && n < answers + reply.readUInt16BE(8);
    try {
      const record = codec.answer.decode(reply, offset);
      if (record.type === 'OPT' && reply[nameEnd + 4] !== 0) return [];
      if (!authority && record.class === 'IN') records.push(record);
    } catch {
      // Not decodable alone: not on any chain the reference sees.
    }
    offset = next;
  }
  const found: string[] = [];
  let names = new Set([question]);
  for (let depth = 0; depth <= 16 && names.size > 0; depth++) {
    const next = new Set<string>();
    for (const record of records) {
      if (!names.has(record.name.toLowerCase())) continue;
      if (record.type === 'A' || record.type === 'AAAA') found.push(String(record.data).toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1'));
      if (record.type === 'CNAME') next.add(String(record.data).toLowerCase());
    }
    names = next;
  }
  return found;
}

before(async () => {
  if (skip) return;
  upstream = await startHostileUpstream(net.address(2), (query, name) => {
    const i = Number(/^q(\d+)\.example\.com$/.exec(name)?.[1] ?? -1);
    if (i < 0) return undefined;
    const clean = cleanReply(query, i);
    const reply = i % CLEAN_EVERY === 0 ? clean : mutate(clean, questionEnd(query));
    for (const ip of chainAddresses(reply)) reachable.add(ip);
    return reply;
  });
  dnsgate = await startDnsgate(net.address(1), [
    '--upstream', `${upstream.address}:${upstream.port}`,
    '--pods', join(fixture, 'pods.yaml'),
    '--policies', join(fixture, 'policies.yaml'),
    // Every reply keeps the question, so none is dropped: long timeouts cost nothing, and
    // a machine busy with other tests does not turn a slow reply into SERVFAIL.
    '--upstream-timeout', '5s',
    '--query-timeout', '10s',
  ]);
});

after(async () => {
  await dnsgate?.stop();
  await upstream?.stop();
});

test('10,000 mutated upstream replies: no crash, every query answered, clean ones right, only chain addresses learnt', { skip }, async () => {
  const replies = await udpAskMany(Array.from({ length: REPLIES }, (_, i) => `q${i}.example.com`), dnsgate.address, dnsgate.port, pods.web1.ip, WINDOW);
  const missingReplies = Array.from({ length: REPLIES }, (_, i) => i).filter((i) => !replies.has(i));
  assert.deepEqual(missingReplies, [], 'every query got an answer');
  for (let i = 0; i < REPLIES; i += CLEAN_EVERY) {
    const answer = dnsPacket.decode(replies.get(i)!);
    const addresses = (answer.answers ?? []).filter((r) => r.type === 'A' && r.name === `c${i}.example.com`).map((r) => (r as { data: string }).data);
    assert.deepEqual(addresses, [legitIp(i)], `clean answer ${i}`);
  }
  const entries = (await allowed(dnsgate.adminPort, pods.web1.ip)).entries;
  const outside = entries.filter((e) => !reachable.has(e.ip)).map((e) => `${e.ip} (${e.domains.join(', ')})`);
  assert.deepEqual(outside, [], 'learnt only what a reply linked to its question');
  assert.ok(entries.length >= REPLIES / CLEAN_EVERY, `at least the clean chains are learnt: ${entries.length}`);
  assert.ok(!entries.some((e) => e.ip.startsWith('6.6.') && !reachable.has(e.ip)));
  const health = await fetch(`http://127.0.0.1:${dnsgate.adminPort}/healthz`);
  assert.equal(health.status, 200, 'still healthy');
});
