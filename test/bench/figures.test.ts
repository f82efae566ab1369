/** The bench's own pure pieces: reading dnsperf and /metrics, and judging the targets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDnsperf } from '../../bench/dnsperf.js';
import { judgeGoals, throughputRatios } from '../../bench/goals.js';
import { histogramQuantile, parseHistogram, subtractHistogram } from '../../bench/histogram.js';
import { ALLOWED_MAP_RSS } from '../../bench/micro/allowed-map.js';
import { NFTABLES_RESYNC } from '../../bench/micro/nftables-resync.js';
import { POLICY_LOAD_FILE_MS, POLICY_LOAD_FILE_PEAK, POLICY_LOAD_SETS_MS, POLICY_LOAD_SETS_PEAK } from '../../bench/micro/policy-load.js';
import { parseProcStat, parseResident } from '../../bench/proc.js';
import { summarizeLatencies } from '../../bench/stats.js';
import type { TargetSummary } from '../../bench/summary.js';

const DNSPERF_OUTPUT = `DNS Performance Testing Tool
Version 2.10.0

[Status] Sending queries (to 127.9.9.2:5399)
> NOERROR a0.allowed.bench.test A 0.000283
> NXDOMAIN n0.missing.bench.test A 0.000081
> T d0.denied.bench.test A
> NOERROR a1.allowed.bench.test AAAA 0.000100
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         4
  Queries completed:    3 (75.00%)
  Queries lost:         1 (25.00%)

  Response codes:       NOERROR 2 (66.67%), NXDOMAIN 1 (33.33%)
  Average packet size:  request 33, response 67
  Run time (s):         2.000101
  Queries per second:   1999.899005

  Average Latency (s):  0.000155 (min 0.000081, max 0.000283)
  Latency StdDev (s):   0.000375
`;

test('dnsperf: the summary and each answered query latency, lost queries skipped', () => {
  const report = parseDnsperf(DNSPERF_OUTPUT);
  assert.deepEqual({ ...report, latenciesUs: report.latenciesUs.map(Math.round) }, {
    sent: 4,
    completed: 3,
    lost: 1,
    qps: 1999.899005,
    averageLatencyUs: 155,
    latenciesUs: [283, 81, 100],
  });
  assert.throws(() => parseDnsperf('Error: could not open file'), /no "Queries sent"/);
});

test('latency summary: nearest-rank quantiles', () => {
  const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.deepEqual(summarizeLatencies(samples), { count: 100, averageUs: 50.5, p50Us: 50, p99Us: 99 });
});

test('hold time: the histogram of a burst is the difference of two scrapes, p99 interpolated', () => {
  const scrape = (counts: number[]): string =>
    ['# TYPE dnsgate_hold_duration_seconds histogram', ...['0.001', '0.002', '0.005', '+Inf'].map((le, i) => `dnsgate_hold_duration_seconds_bucket{le="${le}"} ${counts[i]}`), 'dnsgate_hold_duration_seconds_count 0'].join('\n');
  const before = parseHistogram(scrape([10, 10, 10, 10]), 'dnsgate_hold_duration_seconds')!;
  const after = parseHistogram(scrape([60, 109, 110, 110]), 'dnsgate_hold_duration_seconds')!;
  const burst = subtractHistogram(after, before);
  assert.deepEqual(burst.map((bucket) => bucket.count), [50, 99, 100, 100]);
  assert.equal(histogramQuantile(burst, 0.99), 0.002);
  assert.equal(histogramQuantile(burst, 0.25), 0.0005);
  assert.equal(histogramQuantile(subtractHistogram(before, before), 0.99), undefined);
  assert.equal(parseHistogram('dnsgate_other_bucket{le="1"} 3', 'dnsgate_hold_duration_seconds'), undefined);
});

test('RSS and its anonymous part from /proc/PID/status', () => {
  assert.deepEqual(parseResident('Name:\tnode\nVmRSS:\t  151552 kB\nRssAnon:\t   51200 kB\nRssFile:\t  100352 kB\n'), { rssBytes: 151552 * 1024, anonBytes: 51200 * 1024 });
  assert.throws(() => parseResident('VmRSS:\t 1 kB\n'), /RssAnon/);
});

test('CPU ticks and parent from /proc/PID/stat, a command name with spaces and parentheses included', () => {
  const stat = '4242 (nft (helper) x) S 4200 4242 4200 0 -1 4194560 500 0 0 0 731 169 3 4 20 0 1 0 100 1000 200 18446744073709551615';
  assert.deepEqual(parseProcStat(stat), { ppid: 4200, ticks: 900 });
});

function measured(name: string, qps: number, p50Us = 100, extra: Partial<TargetSummary> = {}): TargetSummary {
  return { name, qps, qpsByRound: [qps], latency: { count: 1, averageUs: p50Us, p50Us, p99Us: p50Us }, notes: [], ...extra };
}

test('ratios and targets: met, missed, and not measured with the reason', () => {
  const targets = new Map(
    [
      measured('bare relay', 20_000, 100, { cpuUsPerQuery: 20 }),
      measured('dnsgate full', 18_000, 150, { heldAnswers: 500, holdP99Ms: 3, cpuUsPerQuery: 21, rssMb: 75, allowedEntries: 9000, idleRssMb: 61 }),
      measured('dnsgate minimal', 19_000, 100, { cpuUsPerQuery: 20.4 }),
      measured('dnsmasq', 20_000),
      { name: 'dnsgate full + nftables', unavailable: 'no nftables dataplane', notes: [] },
    ].map((summary) => [summary.name, summary]),
  );
  const ratios = throughputRatios(targets);
  assert.deepEqual(ratios.map((ratio) => [ratio.name, ratio.value]), [
    ['dnsgate full / bare relay', 0.9],
    ['dnsgate full / dnsmasq', 0.9],
    ['dnsgate minimal / bare relay', 0.95],
    ['dnsgate minimal / dnsmasq', 0.95],
  ]);
  const goals = judgeGoals(targets, [{ name: ALLOWED_MAP_RSS, value: 80, unit: 'MB' }, { name: NFTABLES_RESYNC, value: 1.5, unit: 's' }], {
    seconds: 30,
    names: 15_000,
    answered: 15_000,
    startRssMb: 50,
    rssMb: [50, 60, 59, 63],
    firstHalfPeakMb: 60,
    secondHalfPeakMb: 63,
    boundMetrics: {},
  });
  assert.deepEqual(goals.map((goal) => [goal.measured, goal.status]), [
    [1.05, 'met'],
    [1.02, 'met'],
    // RSS under load does not count with fewer learnt entries than the goal asks for.
    [undefined, 'not measured'],
    [61, 'missed'],
    [3, 'missed'],
    [0.9, 'met'],
    [0.9, 'missed'],
    [50, 'met'],
    [3, 'missed'],
    [undefined, 'not measured'],
    [undefined, 'not measured'],
    [80, 'met'],
    [1.5, 'met'],
    [undefined, 'not measured'],
    [undefined, 'not measured'],
    [undefined, 'not measured'],
    [undefined, 'not measured'],
  ]);
  assert.match(goals[2].note ?? '', /only 9000 learnt entries/);
  assert.match(goals[9].note ?? '', /not available: no nftables dataplane/);
  assert.match(goals[13].note ?? '', /no policy-load micro-benchmark/);
  const loaded = judgeGoals(targets, [
    { name: POLICY_LOAD_SETS_MS, value: 4_200, unit: 'ms' },
    { name: POLICY_LOAD_SETS_PEAK, value: 610, unit: 'MB' },
    { name: POLICY_LOAD_FILE_MS, value: 9_000, unit: 'ms' },
    { name: POLICY_LOAD_FILE_PEAK, value: 300, unit: 'MB' },
  ]).slice(-4);
  assert.deepEqual(loaded.map((goal) => [goal.measured, goal.status]), [
    [4.2, 'met'],
    [610, 'missed'],
    [9, 'met'],
    [300, 'met'],
  ]);
});
