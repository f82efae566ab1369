/**
 * The churn run: one pod resolves names never seen before, under an allowed wildcard,
 * at PLAN.churnQps, each answered with the same address. Every per-name structure of
 * dnsgate full meets a new key per query; bounded ones make its RSS level off. The RSS
 * is sampled every second.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricSum, parseMetrics } from '../test/helpers/wire.js';
import { runDnsperf } from './dnsperf.js';
import { PLAN } from './plan.js';
import { rssBytes } from './proc.js';
import type { Scope } from './scope.js';
import { dnsgateFull } from './targets/dnsgate.js';
import type { BenchSetup } from './targets/target.js';
import { churnQueries } from './workload/queries.js';

const SAMPLE_MS = 1000;

export interface ChurnResult {
  seconds: number;
  names: number;
  answered: number;
  /** RSS before the first churn query. */
  startRssMb: number;
  /** One sample a second. */
  rssMb: number[];
  /** Largest RSS of the run's first half and of its second half: a plateau keeps the second near the first. */
  firstHalfPeakMb: number;
  secondHalfPeakMb: number;
  /** The dnsgate metrics of what the bounds dropped or evicted, at the end. */
  boundMetrics: Record<string, number>;
}

/** Metrics that count what a bound of the allowed map, learning or the DNS log dropped, evicted or capped. */
const BOUND_METRIC = /^dnsgate_(?:allowed|learn|log)[a-z_]*(?:dropped|evicted|capped|overflow)[a-z_]*$/;

export async function measureChurn(setup: BenchSetup, dir: string, seconds: number, scope: Scope): Promise<ChurnResult> {
  const names = Math.round(seconds * PLAN.churnQps);
  const queryFile = join(dir, 'churn.queries');
  writeFileSync(queryFile, `${churnQueries(names).join('\n')}\n`);
  const running = await dnsgateFull.start(setup, scope);
  await new Promise((resolve) => setTimeout(resolve, PLAN.idleSeconds * 1000));
  const startRssMb = rssBytes(running.pid) / 2 ** 20;
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(rssBytes(running.pid) / 2 ** 20), SAMPLE_MS);
  const report = await runDnsperf(
    { server: running.address, port: running.port, source: setup.clientAddress, queryFile, clients: 1, passes: 1, maxQps: PLAN.churnQps, place: running.place },
    scope,
  ).finally(() => clearInterval(sampler));
  samples.push(rssBytes(running.pid) / 2 ** 20);
  const half = Math.floor(samples.length / 2);
  const metrics = (await running.place.get(`http://127.0.0.1:${running.adminPort}/metrics`))?.body ?? '';
  const values = parseMetrics(metrics);
  const boundNames = new Set([...values.keys()].map((series) => series.split('{')[0]).filter((name) => BOUND_METRIC.test(name)));
  const boundMetrics = Object.fromEntries([...boundNames].map((name) => [name, metricSum(values, name)]));
  return {
    seconds,
    names,
    answered: report.completed,
    startRssMb,
    rssMb: samples,
    firstHalfPeakMb: Math.max(...samples.slice(0, Math.max(1, half))),
    secondHalfPeakMb: Math.max(...samples.slice(half)),
    boundMetrics,
  };
}
