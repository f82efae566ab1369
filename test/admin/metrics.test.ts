/** The process metrics, and what loading the metrics module costs an idle agent. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Metrics } from '../../src/admin/metrics.js';

const METRICS_MODULE = fileURLToPath(new URL('../../src/admin/metrics.js', import.meta.url));

function sample(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  assert.ok(line, `no ${series} in\n${text}`);
  return Number(line.slice(series.length + 1));
}

test('process CPU, memory and start time are read at scrape time', async () => {
  const metrics = new Metrics();
  const first = await metrics.registry.metrics();
  const resident = sample(first, 'dnsgate_process_memory_bytes{kind="resident"}');
  assert.ok(resident > 10 * 1024 * 1024 && resident < 4 * 1024 * 1024 * 1024, `resident ${resident}`);
  assert.ok(sample(first, 'dnsgate_process_memory_bytes{kind="heap_used"}') > 0);
  const started = sample(first, 'dnsgate_process_start_time_seconds');
  assert.ok(Math.abs(started - (Date.now() / 1000 - process.uptime())) < 5, `start time ${started}`);
  const userBefore = sample(first, 'dnsgate_process_cpu_seconds_total{mode="user"}');
  const until = performance.now() + 50;
  while (performance.now() < until);
  const userAfter = sample(await metrics.registry.metrics(), 'dnsgate_process_cpu_seconds_total{mode="user"}');
  assert.ok(userAfter > userBefore, `user CPU ${userBefore} → ${userAfter}`);
});

test('loading the metrics leaves out what dnsgate never uses: the Pushgateway, TLS, gzip, GC observers', () => {
  const script = `await import(${JSON.stringify(METRICS_MODULE)}).then((m) => new m.Metrics().registry.metrics());
    console.log(JSON.stringify(process.moduleLoadList.filter((name) => name.startsWith('NativeModule '))));`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
  for (const unused of ['https', 'tls', 'zlib', 'v8']) assert.ok(!loaded.includes(`NativeModule ${unused}`), `${unused} was loaded`);
  assert.ok(loaded.includes('NativeModule events'), 'the module list was read');
});
