/** stdout as a sink: lines pass through in order, and a closed stream costs records, not the process. */
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { Metrics } from '../../src/admin/metrics.js';
import { LineQueue } from '../../src/logs/line-queue.js';
import { StreamTarget } from '../../src/logs/stream-sink.js';
import { chunkedLines } from './fixture.js';
import { MemoryLogger } from '../helpers/dnsgate.js';

test('lines reach the stream in order', async () => {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const queue = new LineQueue('stdout', new StreamTarget(stream), new Metrics().log, new MemoryLogger());
  queue.push(chunkedLines(['{"n":1}\n', '{"n":2}\n']));
  queue.push(chunkedLines(['{"n":3}\n']));
  await queue.close(5000);
  assert.equal(text, '{"n":1}\n{"n":2}\n{"n":3}\n');
  assert.equal(stream.writable, true, 'the stream is not ended: it belongs to the process');
});

test('a stream that fails (EPIPE) drops the records, counted, and the process goes on', async () => {
  const broken = new Writable({
    write(_chunk, _encoding, callback) {
      callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const metrics = new Metrics().log;
  const logger = new MemoryLogger();
  const queue = new LineQueue('stdout', new StreamTarget(broken), metrics, logger);
  queue.push(chunkedLines(['{"n":1}\n', '{"n":2}\n']));
  await queue.close(5000);
  const { values } = await metrics.recordsDropped.get();
  assert.equal(values.find((value) => value.labels.reason === 'write_error')?.value, 2);
  assert.deepEqual(logger.lines, ['DNS log stdout: cannot write (EPIPE); dropping records until it can']);
});
