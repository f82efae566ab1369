/**
 * Every branch of the data path, in-process and without root: deny, cache hit, hold,
 * commit, timeout, failed batch, upstream failure, malformed, drain. The upstream is a
 * stand-in the test answers by hand and the clock a timer wheel the test moves; the
 * dataplane is the in-process DelayedDataplane (behind the real committer and map),
 * because these tests must decide when a batch completes or that it fails. The real
 * parts (knot, unbound, dig, nftables) drive the same branches end to end in
 * test/allowmap/hold.test.ts, test/upstream/ and test/listen/.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { Metrics, type QueryMetrics } from '../../src/admin/metrics.js';
import { Learner } from '../../src/allowmap/learner.js';
import { RetainedMappings } from '../../src/allowmap/mappings.js';
import { AllowedMap } from '../../src/allowmap/map.js';
import { ResponseCache } from '../../src/cache/response-cache.js';
import { Committer } from '../../src/dataplane/committer.js';
import { Rcode } from '../../src/dns/constants.js';
import { Pipeline, type EnforcementOptions, type HeldAnswer } from '../../src/pipeline.js';
import type { Query, Responder } from '../../src/query.js';
import { UpstreamServer } from '../../src/upstream/server.js';
import type { UpstreamListener } from '../../src/upstream/pool.js';
import { TimerWheel } from '../../src/util/timer-wheel.js';
import { engineOf } from '../dataplane/compile.js';
import { DelayedDataplane } from '../helpers/delayed-dataplane.js';
import { encodeQuery } from '../helpers/wire.js';

const POD_IP = '10.0.0.1';
const POLICIES = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
    - action: Allow
      destination: {domains: [allowed.example]}
`;
const engine = await engineOf(POLICIES, [{ name: 'web', ips: [POD_IP], labels: { app: 'web' } }]);
const UPSTREAM = new UpstreamServer(0, { host: '127.0.0.1', port: 53, family: 4 });
const MAX_HOLD_MS = 1000;

/** Records what goes back to the client. */
class ClientSide implements Responder {
  readonly answers: Buffer[] = [];
  discarded = 0;
  deliver(_query: Query, answer: Buffer): void {
    this.answers.push(Buffer.from(answer));
  }
  discard(): void {
    this.discarded++;
  }
}

interface Harness {
  pipeline: Pipeline;
  client: ClientSide;
  forwarded: Query[];
  upstream: UpstreamListener;
  dataplane: DelayedDataplane;
  metrics: QueryMetrics;
  /** Moves the clock on and fires the deadlines due. */
  advance(ms: number): void;
  ask(name: string, from?: string, id?: number): void;
}

function harness(options: Partial<EnforcementOptions> & { cache?: boolean; dataplaneDelayMs?: number } = {}): Harness {
  let now = 1000;
  const wheel = new TimerWheel(10, 512, () => now);
  const metrics = new Metrics().query;
  const map = new AllowedMap({ extraTtlMs: 0, minTtlMs: 0, maxTtlMs: 604_800_000, maxIpsPerName: 100, maxEntries: 1000, maxDomainsPerEntry: 64 }, { onAdded: () => undefined, onEvicted: () => undefined, onDomainDropped: () => undefined });
  const dataplane = new DelayedDataplane(options.dataplaneDelayMs ?? 0);
  const forwarded: Query[] = [];
  let upstream: UpstreamListener | undefined;
  const pipeline = new Pipeline(
    {
      identity: { current: engine.identities },
      cache: options.cache ? new ResponseCache(100, () => now) : undefined,
      log: undefined,
      metrics,
      clock: wheel,
      upstream: (listener) => {
        upstream = listener;
        return { forward: (query) => forwarded.push(query) };
      },
      committer: (listener) => new Committer<HeldAnswer>(map, dataplane, listener),
    },
    {
      policy: { forClient: (pod) => engine.forClient(pod), learningFor: (pod) => engine.learningFor(pod) },
      map,
      learner: new Learner(map, new RetainedMappings({ namesPerClient: 1000, totalNames: 1000, addressesPerName: 100, linksPerName: 32 }, () => undefined), 'pod', () => []),
      holdAnswers: true,
      maxHoldMs: MAX_HOLD_MS,
      holdTimeoutAction: 'release',
      denyRcode: undefined,
      clusterDomains: ['cluster.local'],
      ...options,
    },
  );
  const client = new ClientSide();
  return {
    pipeline,
    client,
    forwarded,
    upstream: upstream as UpstreamListener,
    dataplane,
    metrics,
    advance: (ms) => {
      now += ms;
      wheel.tick();
    },
    ask: (name, from = POD_IP, id = 7) => pipeline.onMessage(encodeQuery(name, 'A', id), 'udp', from, 40000, client),
  };
}

/** The upstream's answer to `query`: `ip` for its name. */
function replyTo(query: Query, ip = '192.0.2.10'): Buffer {
  const question = dnsPacket.decode(query.message).questions?.[0] as dnsPacket.Question;
  return dnsPacket.encode({
    type: 'response',
    id: dnsPacket.decode(query.message).id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: [question],
    answers: [{ type: 'A', name: question.name, class: 'IN', ttl: 300, data: ip }],
  });
}

function rcodeOf(answer: Buffer): string | undefined {
  return (dnsPacket.decode(answer) as { rcode?: string }).rcode;
}

const settle = (ms = 20): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Lets the committer and the in-process dataplane run until `predicate` holds. */
async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !predicate(); waited += 5) {
    if (waited > 5000) throw new Error(`no ${what}`);
    await settle(5);
  }
}

test('deny: an enforced pod asking for a name no rule allows gets the deny rcode, and nothing goes upstream', () => {
  const h = harness({ denyRcode: Rcode.NXDomain });
  h.ask('denied.example', POD_IP, 41);
  assert.equal(h.forwarded.length, 0);
  assert.deepEqual(h.client.answers.map((answer) => [dnsPacket.decode(answer).id, rcodeOf(answer)]), [[41, 'NXDOMAIN']]);
  // An allowed name and an unknown client go upstream.
  h.ask('allowed.example');
  h.ask('denied.example', '192.0.2.99');
  assert.equal(h.forwarded.length, 2);
});

test('deny: names under the cluster domain always go upstream (search-list expansions, Services)', () => {
  const h = harness({ denyRcode: Rcode.Refused });
  h.ask('denied.example.shop.svc.cluster.local', POD_IP, 42);
  h.ask('cluster.local', POD_IP, 43);
  h.ask('notcluster.local', POD_IP, 44);
  assert.equal(h.forwarded.length, 2);
  assert.deepEqual(h.client.answers.map((answer) => [dnsPacket.decode(answer).id, rcodeOf(answer)]), [[44, 'REFUSED']]);
});

test('deny: a dotted label is one label, so evil\\.cluster.local is not under cluster.local and is denied', () => {
  const h = harness({ denyRcode: Rcode.Refused });
  // dns-packet cannot write a dot inside a label: write an X and make it a dot on the wire.
  const query = encodeQuery('evilXcluster.local', 'A', 45);
  query[query.indexOf('evilXcluster') + 4] = 0x2e;
  h.pipeline.onMessage(query, 'udp', POD_IP, 40000, h.client);
  assert.equal(h.forwarded.length, 0, 'the label evil.cluster under local');
  assert.deepEqual(h.client.answers.map((answer) => [answer.readUInt16BE(0), answer[3] & 0xf]), [[45, Rcode.Refused]]);
});

test('hold and commit: an answer that teaches an IP waits for the dataplane batch that holds it', async () => {
  const h = harness({ dataplaneDelayMs: 30 });
  h.ask('allowed.example');
  const [query] = h.forwarded;
  h.upstream.onUpstreamReply(query, replyTo(query), UPSTREAM);
  assert.equal(h.client.answers.length, 0, 'held until the dataplane has the IP');
  assert.equal(h.dataplane.programmed.size, 0);
  await until(() => h.client.answers.length > 0, 'answer');
  assert.deepEqual([...h.dataplane.programmed.keys()], ['shop/web|192.0.2.10']);
  assert.equal(h.client.answers.length, 1);
  assert.equal(dnsPacket.decode(h.client.answers[0]).id, 7, "the client's ID back");
  // The same answer again teaches nothing new: it goes out at once.
  h.ask('allowed.example');
  h.upstream.onUpstreamReply(h.forwarded[1], replyTo(h.forwarded[1]), UPSTREAM);
  assert.equal(h.client.answers.length, 2);
  assert.equal(h.metrics.releasedWithoutWait.value, 1);
});

test('no hold for a name no rule allows, nor for a client that is no pod', () => {
  const h = harness({ dataplaneDelayMs: 30 });
  h.ask('other.example');
  h.ask('allowed.example', '192.0.2.99');
  for (const query of h.forwarded) h.upstream.onUpstreamReply(query, replyTo(query), UPSTREAM);
  assert.equal(h.client.answers.length, 2);
});

test('timeout: a hold longer than --max-hold releases the answer (release) or answers SERVFAIL (servfail)', async () => {
  for (const action of ['release', 'servfail'] as const) {
    const h = harness({ dataplaneDelayMs: 200, holdTimeoutAction: action });
    h.ask('allowed.example');
    h.upstream.onUpstreamReply(h.forwarded[0], replyTo(h.forwarded[0]), UPSTREAM);
    h.advance(MAX_HOLD_MS / 2);
    assert.equal(h.client.answers.length, 0, action);
    h.advance(MAX_HOLD_MS);
    assert.equal(h.client.answers.length, 1, action);
    assert.equal(rcodeOf(h.client.answers[0]), action === 'release' ? 'NOERROR' : 'SERVFAIL');
    assert.equal(dnsPacket.decode(h.client.answers[0]).answers?.length ?? 0, action === 'release' ? 1 : 0);
    // The batch completing later answers nothing twice.
    await settle(300);
    assert.equal(h.client.answers.length, 1, action);
  }
});

test('failed batch: the held answer is released or SERVFAIL as --hold-timeout-action says', async () => {
  for (const action of ['release', 'servfail'] as const) {
    const h = harness({ holdTimeoutAction: action });
    h.dataplane.failNext = 1;
    h.ask('allowed.example');
    h.upstream.onUpstreamReply(h.forwarded[0], replyTo(h.forwarded[0]), UPSTREAM);
    await until(() => h.client.answers.length > 0, 'answer');
    assert.equal(h.client.answers.length, 1, action);
    assert.equal(rcodeOf(h.client.answers[0]), action === 'release' ? 'NOERROR' : 'SERVFAIL');
    const failures = await h.metrics.holdFailures.get();
    assert.deepEqual(failures.values.map((value) => [value.labels.action, value.value]), [[action, 1]]);
  }
});

test('cache hit: a second asker is answered from the cache, and an answer from the cache still teaches and holds', async () => {
  const h = harness({ cache: true, dataplaneDelayMs: 30 });
  h.ask('allowed.example', '192.0.2.99', 1);
  h.upstream.onUpstreamReply(h.forwarded[0], replyTo(h.forwarded[0]), UPSTREAM);
  assert.equal(h.client.answers.length, 1);
  h.ask('allowed.example', POD_IP, 2);
  assert.equal(h.forwarded.length, 1, 'not forwarded again');
  assert.equal(h.metrics.cacheHits.value, 1);
  assert.equal(h.client.answers.length, 1, 'held: the pod learns the IP from the cached answer');
  await until(() => h.client.answers.length > 1, 'answer');
  assert.equal(h.client.answers.length, 2);
  assert.equal(dnsPacket.decode(h.client.answers[1]).id, 2);
  assert.deepEqual([...h.dataplane.programmed.keys()], ['shop/web|192.0.2.10']);
});

test('upstream failure: SERVFAIL', () => {
  const h = harness();
  h.ask('allowed.example');
  h.upstream.onUpstreamFailure(h.forwarded[0]);
  assert.deepEqual(h.client.answers.map(rcodeOf), ['SERVFAIL']);
});

test('malformed: too short and responses are dropped, other opcodes NOTIMP, a bad question FORMERR', () => {
  const h = harness();
  h.pipeline.onMessage(Buffer.from([1, 2, 3]), 'udp', POD_IP, 40000, h.client);
  const response = encodeQuery('allowed.example');
  response[2] |= 0x80;
  h.pipeline.onMessage(response, 'udp', POD_IP, 40000, h.client);
  assert.equal(h.client.discarded, 2);
  const notify = encodeQuery('allowed.example');
  notify[2] |= 4 << 3;
  h.pipeline.onMessage(notify, 'udp', POD_IP, 40000, h.client);
  const twoQuestions = encodeQuery('allowed.example');
  twoQuestions[5] = 2;
  h.pipeline.onMessage(twoQuestions, 'udp', POD_IP, 40000, h.client);
  assert.deepEqual(h.client.answers.map(rcodeOf), ['NOTIMP', 'FORMERR']);
  assert.equal(h.forwarded.length, 0);
});

test('drain: resolves once the queries in flight are answered, or at its timeout', async () => {
  const h = harness();
  await h.pipeline.drain(10_000);
  h.ask('allowed.example', '192.0.2.99');
  let drained = false;
  const draining = h.pipeline.drain(10_000).then(() => (drained = true));
  await settle();
  assert.equal(drained, false);
  h.upstream.onUpstreamReply(h.forwarded[0], replyTo(h.forwarded[0]), UPSTREAM);
  await draining;
  h.ask('allowed.example', '192.0.2.99');
  await h.pipeline.drain(10);
  // After stop, what is still in flight is abandoned: nothing more goes out.
  h.pipeline.stop();
  h.upstream.onUpstreamReply(h.forwarded[1], replyTo(h.forwarded[1]), UPSTREAM);
  assert.equal(h.client.answers.length, 1);
});
