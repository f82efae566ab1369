/**
 * The log disk fails: a tiny tmpfs that fills up, and a read-only one. Records are
 * dropped and counted, the file keeps only whole lines, and answers go on as before.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Metrics } from '../../src/admin/metrics.js';
import { dig } from '../helpers/dig.js';
import { startUpstreams } from '../helpers/dns-servers.js';
import { startDnsgate, waitFor, type RunningDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { parseRecords, writePodsFile } from './fixture.js';

const subnet = new LoopbackSubnet();
const KNOT = subnet.address(1);
const UNBOUND = subnet.address(2);
const DNSGATE = subnet.address(3);
const CLIENT = subnet.address(10);
const NAMES = Array.from({ length: 12 }, (_, i) => `d${i}.disk.example.com`);
const EXTRA_RECORDS = NAMES.map((name, i) => `${name}. IN A 192.0.2.${i + 1}`).join('\n');
/** Far above the time dig takes to get an answer relayed on loopback. */
const PROMPT_MS = 1000;

const skip = missing('knotd', 'unbound', 'dig', 'mount', 'umount');

async function dropped(metrics: Metrics, reason: string): Promise<number> {
  const { values } = await metrics.log.recordsDropped.get();
  return values.find((value) => value.labels.sink === 'file' && value.labels.reason === reason)?.value ?? 0;
}

async function written(metrics: Metrics): Promise<number> {
  const { values } = await metrics.log.recordsWritten.get();
  return values.find((value) => value.labels.sink === 'file')?.value ?? 0;
}

describe('a failing log disk', { skip }, () => {
  let upstreams: Awaited<ReturnType<typeof startUpstreams>>;
  let root: string;
  let podsFile: string;
  const mounts: string[] = [];

  before(async () => {
    upstreams = await startUpstreams(KNOT, UNBOUND, {}, EXTRA_RECORDS);
    root = mkdtempSync(join(tmpdir(), 'dnsgate-disk-'));
    podsFile = writePodsFile(root, [{ name: 'web-7d9c8b7f4-aaaaa', namespace: 'shop', generateName: 'web-7d9c8b7f4-', ip: CLIENT, labels: { app: 'web' } }]);
  });

  after(async () => {
    for (const mount of mounts) execFileSync('umount', [mount]);
    await upstreams?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function mountTmpfs(name: string, options: string): string {
    const dir = join(root, name);
    mkdirSync(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
    mounts.push(dir);
    return dir;
  }

  async function start(logDir: string): Promise<RunningDnsgate> {
    return startDnsgate(DNSGATE, ['--upstream', `${UNBOUND}:${upstreams.unbound.port}`, '--pods', podsFile, '--log-dir', logDir, '--log-flush-interval', '200ms']);
  }

  /** Asks `name` and checks the answer came, and promptly. */
  async function askPromptly(dnsgate: RunningDnsgate, name: string): Promise<void> {
    const result = await dig(name, { server: DNSGATE, port: dnsgate.port, source: CLIENT });
    assert.equal(result.status, 'NOERROR', name);
    assert.ok(result.elapsedMs < PROMPT_MS, `${name} answered in ${result.elapsedMs} ms`);
  }

  test('a disk that fills up: records dropped and counted, whole lines kept, answers not delayed', async () => {
    // 16 KiB, of which 12 KiB taken: room for about five records.
    const dir = mountTmpfs('full', 'size=16k');
    writeFileSync(join(dir, 'filler'), Buffer.alloc(12 * 1024));
    const dnsgate = await start(dir);
    const logFile = join(dir, 'dns.log');
    try {
      await askPromptly(dnsgate, NAMES[0]);
      await askPromptly(dnsgate, NAMES[1]);
      await waitFor(async () => (await written(dnsgate.app.metrics)) === 2, 5000, 'the first records on disk');
      for (const name of NAMES.slice(2)) await askPromptly(dnsgate, name);
      await waitFor(async () => (await dropped(dnsgate.app.metrics, 'write_error')) > 0, 5000, 'dropped records');
      // The disk is still full: later windows fail too, and answers still come.
      for (const name of NAMES.slice(0, 4)) await askPromptly(dnsgate, name);
    } finally {
      await dnsgate.stop();
    }
    const metrics = dnsgate.app.metrics;
    const records = parseRecords(readFileSync(logFile, 'utf8'));
    assert.ok(readFileSync(logFile, 'utf8').endsWith('\n'), 'no half line at the end');
    assert.equal(records.length, await written(metrics), 'every record counted as written is in the file');
    const total = records.reduce((sum, record) => sum + (record.count as number), 0);
    assert.ok(total < 16, `some of the 16 answers were not written (${total} were)`);
    assert.ok((await dropped(metrics, 'write_error')) >= 2, 'dropped records counted');
    // Logged once per failing streak: a small window may still fit and end a streak.
    const states = dnsgate.logger.lines.filter((line) => line.startsWith('DNS log file'));
    assert.equal(states[0], 'DNS log file: cannot write (ENOSPC); dropping records until it can');
    states.forEach((line, i) => assert.equal(line.includes('writing again'), i % 2 === 1, states.join('\n')));
  });

  test('a read-only disk: every record dropped and counted, the failure logged once, answers not delayed', async () => {
    const dir = mountTmpfs('read-only', 'ro,size=16k');
    const dnsgate = await start(dir);
    try {
      await askPromptly(dnsgate, NAMES[0]);
      await waitFor(async () => (await dropped(dnsgate.app.metrics, 'write_error')) === 1, 5000, 'the first drop');
      await askPromptly(dnsgate, NAMES[1]);
      await waitFor(async () => (await dropped(dnsgate.app.metrics, 'write_error')) === 2, 5000, 'the second drop');
    } finally {
      await dnsgate.stop();
    }
    assert.equal(existsSync(join(dir, 'dns.log')), false);
    assert.equal(await written(dnsgate.app.metrics), 0);
    assert.deepEqual(dnsgate.logger.lines.filter((line) => line.startsWith('DNS log')), ['DNS log file: cannot write (EROFS); dropping records until it can']);
  });
});
