import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllowedMap } from '../../src/allowmap/map.js';
import { Committer } from '../../src/dataplane/committer.js';
import { DelayedDataplane } from '../helpers/delayed-dataplane.js';

function setup(delayMs: number) {
  const map = new AllowedMap({ extraTtlMs: 0, minTtlMs: 2000, maxTtlMs: 604_800_000, maxDomainsPerEntry: 64, maxIpsPerName: 1000, maxEntries: 1000 }, { onAdded: () => undefined, onEvicted: () => undefined, onDomainDropped: () => undefined });
  const dataplane = new DelayedDataplane(delayMs);
  const done: string[] = [];
  const failed: string[] = [];
  const committer = new Committer<string>(map, dataplane, {
    onCommitted: (waiters) => done.push(...waiters),
    onFailed: (waiters) => failed.push(...waiters),
    onBatch: () => undefined,
  });
  const learn = (ip: string) => map.learn(null, { ip, family: 4, lifetimeMs: 60 * 1000, domain: 'a.com', rules: ['r'] });
  return { map, dataplane, committer, done, failed, learn };
}

const until = async (predicate: () => boolean, limitMs = 10_000) => {
  const deadline = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`not within ${limitMs} ms: ${predicate.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
};

test('a burst of answers shares batches: one in flight, the rest together in the next', async () => {
  const { dataplane, committer, done, learn } = setup(20);
  learn('192.0.2.1');
  committer.wait('first');
  await until(() => dataplane.batches.length === 1);
  for (let i = 2; i <= 50; i++) {
    learn(`192.0.2.${i}`);
    committer.wait(`answer${i}`);
  }
  await until(() => done.length === 50);
  assert.equal(dataplane.batches.length, 2, 'two round trips for fifty answers');
  assert.equal(dataplane.batches[1].upserts.length, 49);
  assert.equal(done[0], 'first');
});

test('waiters are released only after the batch is acknowledged', async () => {
  const { dataplane, committer, done, learn } = setup(50);
  learn('192.0.2.1');
  committer.wait('held');
  await new Promise((resolve) => setTimeout(resolve, 25));
  assert.deepEqual(done, [], 'still waiting for the dataplane');
  await until(() => done.length === 1);
  assert.ok(dataplane.programmed.has('|192.0.2.1'));
});

test('a failed batch fails its waiters, and the next commit resyncs everything', async () => {
  const { dataplane, committer, done, failed, learn } = setup(1);
  dataplane.failNext = 1;
  learn('192.0.2.1');
  committer.wait('unlucky');
  await until(() => failed.length === 1);
  assert.deepEqual(failed, ['unlucky']);
  learn('192.0.2.2');
  committer.wait('next');
  await until(() => done.length === 1);
  assert.equal(dataplane.resyncs.length, 1);
  assert.deepEqual(dataplane.resyncs[0].map((e) => e.ip).sort(), ['192.0.2.1', '192.0.2.2']);
});

test('resync() resolves once the whole map is in effect', async () => {
  const { dataplane, committer, learn } = setup(5);
  learn('192.0.2.1');
  learn('192.0.2.2');
  await committer.resync();
  assert.deepEqual([...dataplane.programmed.keys()].sort(), ['|192.0.2.1', '|192.0.2.2']);
});

test('a pipelining dataplane gets the next batch before the last is answered; its waiters go only after both', async () => {
  const { dataplane, committer, done, learn } = setup(300);
  dataplane.pipelining = true;
  learn('192.0.2.1');
  committer.wait('first');
  await until(() => dataplane.batches.length === 1);
  // The second batch is answered long before the first.
  dataplane.delayMs = 10;
  learn('192.0.2.2');
  committer.wait('second');
  // This answer's IP travelled in the first batch; the second, which it waits on, is answered first.
  learn('192.0.2.1');
  committer.wait('repeat');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(dataplane.batches.length, 2, 'the second batch went while the first was unanswered');
  assert.deepEqual(done, [], 'nothing is released before the first batch is answered');
  await until(() => done.length === 3);
  assert.deepEqual(done, ['first', 'second', 'repeat']);
});

test('pipelining keeps at most two batches in flight; what comes meanwhile goes together in the next', async () => {
  const { dataplane, committer, done, learn } = setup(200);
  dataplane.pipelining = true;
  learn('192.0.2.1');
  committer.wait('a');
  await until(() => dataplane.batches.length === 1);
  learn('192.0.2.2');
  committer.wait('b');
  await until(() => dataplane.batches.length === 2);
  for (let i = 3; i <= 20; i++) {
    learn(`192.0.2.${i}`);
    committer.wait(`c${i}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(dataplane.batches.length, 2, 'no third batch while two are unanswered');
  await until(() => done.length === 20);
  assert.equal(dataplane.batches.length, 3);
  assert.equal(dataplane.batches[2].upserts.length, 18);
});

test('a pipelined batch behind a failed one fails its waiters too, and the next commit resyncs', async () => {
  const { dataplane, committer, done, failed, learn } = setup(100);
  dataplane.pipelining = true;
  dataplane.failNext = 1;
  learn('192.0.2.1');
  committer.wait('unlucky');
  await until(() => dataplane.batches.length === 1);
  // This answer's IP travelled in the failing batch: the batch it waits on succeeds, yet must not release it.
  learn('192.0.2.1');
  learn('192.0.2.2');
  committer.wait('behind');
  await until(() => failed.length === 2);
  assert.deepEqual(failed, ['unlucky', 'behind']);
  assert.equal(dataplane.batches.length, 2);
  committer.wait('after');
  await until(() => done.length === 1);
  assert.deepEqual(done, ['after']);
  assert.equal(dataplane.resyncs.length, 1);
});

test('a resync waits for the pipelined batches in flight, and no batch goes beside it', async () => {
  const { dataplane, committer, done, learn } = setup(150);
  dataplane.pipelining = true;
  let atResync: string[] = [];
  dataplane.onResync = async () => {
    atResync = [...dataplane.programmed.keys()];
  };
  learn('192.0.2.1');
  committer.wait('before');
  await until(() => dataplane.batches.length === 1);
  const resynced = committer.resync();
  learn('192.0.2.2');
  committer.wait('during');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(dataplane.resyncs.length, 0, 'the resync waits for the batch in flight');
  assert.equal(dataplane.batches.length, 1, 'and nothing else goes meanwhile');
  await resynced;
  assert.deepEqual(atResync, ['|192.0.2.1'], 'the batch was in effect when the resync began');
  await until(() => done.length === 2);
  assert.deepEqual(done, ['before', 'during']);
});
