// The identities here are an in-process fake whose lookups fail once: no real source
// can be made to throw in the middle of rendering a window.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { Metrics } from '../../src/admin/metrics.js';
import { RecordTable, walkRecords } from '../../src/dns/records.js';
import type { IdentityStore } from '../../src/identity/store.js';
import { IdentitySnapshot } from '../../src/identity/snapshot.js';
import { DnsLog, flushDelay } from '../../src/logs/dns-log.js';
import { AggregationKind } from '../../src/logs/identity-fields.js';
import { LineQueue } from '../../src/logs/line-queue.js';
import { UpstreamServer } from '../../src/upstream/server.js';
import { MemoryLogger, waitFor } from '../helpers/dnsgate.js';
import { udpQuery } from './fixture.js';

test('a window that fails to render is reported and lost alone: later windows still reach the sinks', async () => {
  let failures = 1;
  const snapshot = IdentitySnapshot.empty();
  const identity = {
    get current() {
      return {
        podByIp: (ip: string) => {
          if (failures-- > 0) throw new Error('lookup failed');
          return snapshot.podByIp(ip);
        },
      };
    },
  } as unknown as IdentityStore;
  const written: string[] = [];
  const target = { write: async (chunk: Buffer) => void written.push(chunk.toString()), close: async () => undefined };
  const logger = new MemoryLogger();
  const sink = new LineQueue('stdout', target, new Metrics().log, logger);
  const log = new DnsLog({ kind: AggregationKind.ClientPrefix, perNodeLimit: 0, includeLabels: false, flushIntervalMs: 50, host: 'node-1' }, identity, [sink], logger);

  const upstream = new UpstreamServer(0, { host: '10.96.0.10', port: 53, family: 4 });
  const records = new RecordTable();
  const answerOnce = (name: string): void => {
    const query = udpQuery(name, '10.0.0.1', performance.now());
    const answer = dnsPacket.encode({ type: 'response', id: 7, questions: [{ type: 'A', name }], answers: [{ type: 'A', name, ttl: 60, data: '192.0.2.1' }] });
    assert.ok(walkRecords(answer, query.questionEnd, records));
    log.record(query, answer, records, upstream, performance.now());
  };

  answerOnce('lost.example.com');
  await waitFor(() => logger.lines.some((line) => line.includes('was lost')), 5000, 'the failed window reported');
  answerOnce('kept.example.com');
  await log.close();
  assert.equal(logger.lines.filter((line) => line.startsWith('DNS log: the window ending')).length, 1);
  assert.match(logger.lines.find((line) => line.includes('was lost')) ?? '', /lookup failed$/);
  const names = written.join('').trimEnd().split('\n').map((line) => (JSON.parse(line) as { qname: string }).qname);
  assert.deepEqual(names, ['kept.example.com']);
});

test("the flush waits between the interval and 10 % more, as Felix's jittered ticker", () => {
  assert.equal(flushDelay(300_000, 0), 300_000);
  assert.equal(flushDelay(300_000, 0.5), 315_000);
  assert.ok(flushDelay(300_000, 0.999_999) < 330_000);
});
