/** The bounded queue between a flush and a sink, against sinks that are quick, stuck or failing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics, type LogMetrics } from '../../src/admin/metrics.js';
import { LineQueue, type LineTarget } from '../../src/logs/line-queue.js';
import { chunkedLines } from './fixture.js';
import { MemoryLogger, waitFor } from '../helpers/dnsgate.js';

/** A target that records chunks; `gate` (when set) holds every write until opened. */
class TestTarget implements LineTarget {
  readonly chunks: string[] = [];
  closed = false;
  failures: NodeJS.ErrnoException[] = [];
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  async write(chunk: Buffer): Promise<void> {
    await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.chunks.push(chunk.toString());
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

async function count(metrics: LogMetrics, name: 'recordsWritten' | 'recordsDropped', labels: Record<string, string>): Promise<number> {
  const { values } = await metrics[name].get();
  return values.find((value) => Object.entries(labels).every(([key, label]) => (value.labels as Record<string, unknown>)[key] === label))?.value ?? 0;
}

const lines = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `line-${String(from + i).padStart(3, '0')}\n`);

test('lines are written in order, one chunk of whole lines a write', async () => {
  const metrics = new Metrics().log;
  const target = new TestTarget();
  const queue = new LineQueue('file', target, metrics, new MemoryLogger(), { maxQueuedBytes: 1 << 20 });
  queue.push(chunkedLines(lines(50), 35));
  queue.push(chunkedLines(lines(50, 50), 35));
  await queue.close(5000);
  assert.equal(target.chunks.join(''), lines(100).join(''));
  // 9-byte lines: three to a chunk.
  assert.ok(target.chunks.every((chunk) => Buffer.byteLength(chunk) <= 35 && chunk.endsWith('\n')), 'chunks of whole lines within the limit');
  assert.equal(target.chunks.length, 34);
  assert.equal(await count(metrics, 'recordsWritten', { sink: 'file' }), 100);
  assert.ok(target.closed, 'the target is closed once everything is written');
});

test('a sink that falls behind: push never waits, and lines past the bound are dropped and counted', async () => {
  const metrics = new Metrics().log;
  const target = new TestTarget();
  target.hold();
  const queue = new LineQueue('file', target, metrics, new MemoryLogger(), { maxQueuedBytes: 90 });
  // Chunks of two 9-byte lines: 10 lines fit in 90 bytes (including the chunk being written), 20 are dropped.
  queue.push(chunkedLines(lines(30), 18));
  assert.equal(await count(metrics, 'recordsDropped', { sink: 'file', reason: 'queue_full' }), 20);
  target.release();
  await waitFor(() => target.chunks.join('') === lines(10).join(''), 2000, 'the queued lines');
  // Room again once written.
  queue.push(chunkedLines(lines(5, 100), 18));
  await queue.close(5000);
  assert.equal(target.chunks.join(''), [...lines(10), ...lines(5, 100)].join(''));
  assert.equal(await count(metrics, 'recordsWritten', { sink: 'file' }), 15);
  assert.equal(await count(metrics, 'recordsDropped', { sink: 'file', reason: 'queue_full' }), 20);
});

test('failed writes drop their lines, counted, and are logged once per failing streak', async () => {
  const metrics = new Metrics().log;
  const target = new TestTarget();
  const logger = new MemoryLogger();
  const queue = new LineQueue('file', target, metrics, logger);
  const enospc = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  target.failures.push(enospc, enospc, enospc);
  for (let i = 0; i < 4; i++) {
    queue.push(chunkedLines(lines(2, 10 * i)));
    await waitFor(async () => (await count(metrics, 'recordsWritten', { sink: 'file' })) + (await count(metrics, 'recordsDropped', { sink: 'file', reason: 'write_error' })) === 2 * (i + 1), 2000, `batch ${i}`);
  }
  await queue.close(5000);
  assert.equal(await count(metrics, 'recordsDropped', { sink: 'file', reason: 'write_error' }), 6);
  assert.equal(target.chunks.join(''), lines(2, 30).join(''));
  assert.deepEqual(logger.lines, ['DNS log file: cannot write (ENOSPC); dropping records until it can', 'DNS log file: writing again']);
});

test('close gives a stuck sink its timeout, then drops what is queued', async () => {
  const metrics = new Metrics().log;
  const target = new TestTarget();
  target.hold();
  const queue = new LineQueue('stdout', target, metrics, new MemoryLogger());
  queue.push(chunkedLines(lines(10), 18));
  const started = performance.now();
  await queue.close(100);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 95 && elapsed < 1000, `closed after ${elapsed} ms`);
  // The first chunk (two lines) was being written; the other eight were still queued.
  assert.equal(await count(metrics, 'recordsDropped', { sink: 'stdout', reason: 'shutdown' }), 8);
  assert.equal(target.closed, false, 'a stuck target is left alone');
  target.release();
});
