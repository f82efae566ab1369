// 10,000 upstream replies, most of them mutated, through a pod with policies. Each reply
// starts as a chain (q<i>.example.com CNAME c<i>.example.com, A 192.0.x.y, and CNAME
// edge.cdn.net, a name every reply's chain goes through, A 198.51.x.y) surrounded by
// poison: records of other allowed names with 6.6.x.y addresses, in Answer and
// Additional. Then bytes after the question are overwritten, flipped, cut or appended,
// and the header's counts and rcode changed. dnsgate must not crash, must answer every
// query (clean replies exactly), and may learn for a name only addresses that a reply,
// read as an independent decoder reads it, links to that name on its question's chain,
// or, past a CNAME left pending, a reply to a question for the pending name links to it.
// Which reply taught what is kept per question: one set of every reply's addresses would
// not see an address moved from one question's chain to another's.
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

/** One reply as the reference reads it: for each name on its question's chain, its addresses and CNAME targets there. */
interface ReferenceChain {
  question: string;
  links: Map<string, { addresses: string[]; targets: string[] }>;
}

/** Every reply's chain, under each name on it (the question included). */
const chainsThrough = new Map<string, ReferenceChain[]>();

const legitIp = (i: number) => `192.0.${(i >> 8) & 255}.${i & 255}`;

function cleanReply(query: Buffer, i: number): Buffer {
  const poison = (k: number) => `6.6.${k & 255}.${int(256)}`;
  return hostileReply(query, {
    answers: [
      { type: 'A', name: 'api.alice.com', ttl: 60, data: poison(1) },
      { type: 'CNAME', name: `q${i}.example.com`, ttl: 60, data: `c${i}.example.com` },
      { type: 'A', name: `c${i}.example.com`, ttl: 60, data: legitIp(i) },
      { type: 'CNAME', name: `q${i}.example.com`, ttl: 60, data: 'edge.cdn.net' },
      { type: 'A', name: 'edge.cdn.net', ttl: 60, data: `198.51.${(i >> 8) & 255}.${i & 255}` },
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
 * A name in the presentation form dnsgate's API shows: lowercase ASCII, a dot or
 * backslash in a label escaped with a backslash, other bytes outside 0x21–0x7e as \DDD;
 * the root is ''. Written apart from dnsgate's reader; it follows any pointer, so it
 * reads at least every name dnsgate reads.
 */
function presentName(buf: Buffer, offset: number): string | undefined {
  const labels: string[] = [];
  for (let hops = 0; hops < 128; hops++) {
    if (offset >= buf.length) return undefined;
    const length = buf[offset];
    if (length === 0) return labels.join('.');
    if ((length & 0xc0) === 0xc0) {
      if (offset + 1 >= buf.length) return undefined;
      offset = ((length & 0x3f) << 8) | buf[offset + 1];
      continue;
    }
    if (length > 63 || offset + 1 + length > buf.length) return undefined;
    let label = '';
    for (const byte of buf.subarray(offset + 1, offset + 1 + length)) {
      if (byte === 0x2e || byte === 0x5c) label += `\\${String.fromCharCode(byte)}`;
      else if (byte > 0x20 && byte < 0x7f) label += String.fromCharCode(byte).toLowerCase();
      else label += `\\${String(byte).padStart(3, '0')}`;
    }
    labels.push(label);
    offset += 1 + length;
  }
  return undefined;
}

/**
 * The reference reading, independent of dnsgate's: dns-packet decodes each record on its
 * own (one bad record does not hide the others, so this errs on the side of more), and
 * the records on the question's CNAME chain (Answer and Additional, class IN; addresses
 * only with NOERROR and no extended rcode, CNAMEs with NXDOMAIN too) are its chain.
 */
function referenceChain(reply: Buffer): ReferenceChain | undefined {
  const rcode = reply.length < 12 ? -1 : reply[3] & 0xf;
  if (rcode !== 0 && rcode !== 3) return undefined;
  const records: { name: string; type: string; class: string; data: unknown }[] = [];
  const question = presentName(reply, 12);
  let offset: number;
  try {
    codec.name.decode(reply, 12);
    offset = 12 + codec.name.decode.bytes + 4;
  } catch {
    return undefined;
  }
  if (question === undefined) return undefined;
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
      if (record.type === 'OPT' && reply[nameEnd + 4] !== 0) return undefined;
      const name = presentName(reply, offset);
      const data = record.type === 'CNAME' ? presentName(reply, nameEnd + 10) : record.data;
      if (!authority && record.class === 'IN' && name !== undefined && data !== undefined) records.push({ ...record, name, data });
    } catch {
      // Not decodable alone: not on any chain the reference sees.
    }
    offset = next;
  }
  const links: ReferenceChain['links'] = new Map();
  let names = new Set([question]);
  for (let depth = 0; depth <= 16 && names.size > 0; depth++) {
    const next = new Set<string>();
    for (const name of names) if (!links.has(name)) links.set(name, { addresses: [], targets: [] });
    for (const record of records) {
      const link = names.has(record.name) ? links.get(record.name)! : undefined;
      if (link === undefined) continue;
      if ((record.type === 'A' || record.type === 'AAAA') && rcode === 0) {
        link.addresses.push(String(record.data).toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1'));
      }
      if (record.type === 'CNAME') {
        link.targets.push(String(record.data));
        if (!links.has(String(record.data))) next.add(String(record.data));
      }
    }
    names = next;
  }
  return { question, links };
}

/**
 * The addresses `name` may be learnt with: those a reply's chain reaches from `name`, and
 * from every name reached so, those the replies to a question for that name reach.
 */
function reachableFrom(name: string): Set<string> {
  const found = new Set<string>();
  const continued = new Set<string>();
  const walk = (chain: ReferenceChain, start: string) => {
    const reached = new Set([start]);
    for (let level = [start]; level.length > 0; ) {
      const next: string[] = [];
      for (const at of level) {
        const link = chain.links.get(at);
        for (const ip of link?.addresses ?? []) found.add(ip);
        for (const target of link?.targets ?? []) {
          if (reached.has(target)) continue;
          reached.add(target);
          next.push(target);
        }
      }
      level = next;
    }
    for (const at of reached) {
      if (continued.has(at)) continue;
      continued.add(at);
      for (const answer of chainsThrough.get(at) ?? []) if (answer.question === at) walk(answer, at);
    }
  };
  for (const chain of chainsThrough.get(name) ?? []) walk(chain, name);
  return found;
}

before(async () => {
  if (skip) return;
  upstream = await startHostileUpstream(net.address(2), (query, name) => {
    const i = Number(/^q(\d+)\.example\.com$/.exec(name)?.[1] ?? -1);
    if (i < 0) return undefined;
    const clean = cleanReply(query, i);
    const reply = i % CLEAN_EVERY === 0 ? clean : mutate(clean, questionEnd(query));
    const chain = referenceChain(reply);
    for (const name of chain?.links.keys() ?? []) {
      const through = chainsThrough.get(name);
      if (through === undefined) chainsThrough.set(name, [chain!]);
      else through.push(chain!);
    }
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
  const outside = entries.flatMap((e) => e.domains.filter((domain) => !reachableFrom(domain).has(e.ip)).map((domain) => `${domain} → ${e.ip}`));
  assert.deepEqual(outside, [], 'learnt for each name only what a reply linked to it from a question');
  assert.ok(entries.length >= REPLIES / CLEAN_EVERY, `at least the clean chains are learnt: ${entries.length}`);
  const health = await fetch(`http://127.0.0.1:${dnsgate.adminPort}/healthz`);
  assert.equal(health.status, 200, 'still healthy');
});
