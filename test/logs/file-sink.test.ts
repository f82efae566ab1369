/** dns.log on disk: appending, rotation by size with numbered backups, and the number kept. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Metrics } from '../../src/admin/metrics.js';
import { RotatingFile } from '../../src/logs/file-sink.js';
import { LineQueue } from '../../src/logs/line-queue.js';
import { chunkedLines } from './fixture.js';
import { MemoryLogger } from '../helpers/dnsgate.js';

const root = mkdtempSync(join(tmpdir(), 'dnsgate-rotation-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** 100-byte lines numbered from `from`. */
const lines = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `{"n":${String(from + i).padStart(5, '0')},"pad":"${'x'.repeat(79)}"}\n`);

async function writeThrough(dir: string, maxBytes: number, maxFiles: number, batches: string[][], chunkBytes = 250): Promise<void> {
  const queue = new LineQueue('file', new RotatingFile(dir, maxBytes, maxFiles), new Metrics().log, new MemoryLogger(), { maxQueuedBytes: 1 << 20 });
  for (const batch of batches) queue.push(chunkedLines(batch, chunkBytes));
  await queue.close(5000);
}

test('lines are appended to DIR/dns.log, creating DIR, and to what is already there', async () => {
  const dir = join(root, 'append', 'nested');
  await writeThrough(dir, 1 << 20, 5, [lines(3)]);
  await writeThrough(dir, 1 << 20, 5, [lines(2, 3)]);
  assert.deepEqual(readdirSync(dir), ['dns.log']);
  assert.equal(readFileSync(join(dir, 'dns.log'), 'utf8'), lines(5).join(''));
});

test('rotation: dns.log.1 is the newest backup, N are kept, no file passes the limit, no line is split', async () => {
  assert.equal(lines(1)[0].length, 100);
  const dir = join(root, 'rotate');
  // 1000-byte files: ten lines each; 95 lines fill dns.log and nine backups, of which three are kept.
  await writeThrough(dir, 1000, 3, [lines(40), lines(55, 40)]);
  assert.deepEqual(readdirSync(dir).sort(), ['dns.log', 'dns.log.1', 'dns.log.2', 'dns.log.3']);
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  for (const name of readdirSync(dir)) {
    assert.ok(statSync(join(dir, name)).size <= 1000, `${name} within the limit`);
    assert.ok(read(name).split('\n').slice(0, -1).every((line) => line.length === 99), `${name} holds whole lines`);
  }
  // Batches of two lines (250 bytes): files hold ten lines each, newest in dns.log.
  assert.equal(read('dns.log'), lines(5, 90).join(''));
  assert.equal(read('dns.log.1'), lines(10, 80).join(''));
  assert.equal(read('dns.log.2'), lines(10, 70).join(''));
  assert.equal(read('dns.log.3'), lines(10, 60).join(''));
});

test('a dns.log already at the limit at start-up is rotated before the first write', async () => {
  const dir = join(root, 'existing');
  await writeThrough(dir, 1000, 2, [lines(1)]);
  writeFileSync(join(dir, 'dns.log'), lines(10).join(''));
  await writeThrough(dir, 1000, 2, [lines(1, 500)]);
  assert.equal(readFileSync(join(dir, 'dns.log'), 'utf8'), lines(1, 500).join(''));
  assert.equal(readFileSync(join(dir, 'dns.log.1'), 'utf8'), lines(10).join(''));
});
