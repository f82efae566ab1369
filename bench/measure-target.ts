/**
 * One measured run of one target: start it, warm it up, saturate it, pace it at a
 * fixed rate for latency, burst new names for dnsgate's hold time, read its RSS, stop.
 */
import { runDnsperf, type DnsperfLoad } from './dnsperf.js';
import { parseHistogram, subtractHistogram, type Bucket } from './histogram.js';
import { PLAN } from './plan.js';
import { rssBytes } from './rss.js';
import type { Scope } from './scope.js';
import { TargetUnavailable, type BenchSetup, type RunningTarget, type Target } from './targets/target.js';

const HOLD_METRIC = 'dnsgate_hold_duration_seconds';

export interface MeasuredRun {
  available: true;
  qps: number;
  /** Lost share of the saturating run's queries, in percent. */
  lostPercent: number;
  /** Answered queries' latencies at PLAN.latencyQps, in µs. */
  latenciesUs: number[];
  /** Queries lost at the fixed rate. */
  pacedLost: number;
  rssBytes: number;
  /** Hold times during the burst, when the target measures them and exports the metric. */
  hold: Bucket[] | undefined;
  notes: string[];
}

export type TargetRun = MeasuredRun | { available: false; reason: string };

/** Hold-time histogram of what a burst of names new to the target caused. */
async function holdUnderBurst(running: RunningTarget, setup: BenchSetup, load: (overrides: Partial<DnsperfLoad>) => Promise<unknown>): Promise<Bucket[] | undefined> {
  const scrape = async (): Promise<Bucket[] | undefined> => {
    const reply = await running.place.get(`http://127.0.0.1:${running.adminPort}/metrics`);
    return reply && parseHistogram(reply.body, HOLD_METRIC);
  };
  const before = await scrape();
  if (before === undefined) return undefined;
  await load({ queryFile: setup.workload.burstQueriesFile, passes: 1, maxQps: PLAN.burstQps, clients: 1 });
  const after = await scrape();
  return after && subtractHistogram(after, before);
}

export async function measureTarget(target: Target, setup: BenchSetup, scope: Scope): Promise<TargetRun> {
  let running: RunningTarget;
  try {
    running = await target.start(setup, scope);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    return { available: false, reason: error instanceof TargetUnavailable ? message : `failed to start: ${message}` };
  }
  const load = (overrides: Partial<DnsperfLoad>) =>
    runDnsperf({ server: running.address, port: running.port, source: setup.clientAddress, queryFile: setup.workload.mixedQueriesFile, clients: PLAN.clients, place: running.place, ...overrides }, scope);
  await load({ seconds: PLAN.warmupSeconds });
  const saturated = await load({ seconds: PLAN.saturateSeconds });
  const paced = await load({ seconds: PLAN.latencySeconds, maxQps: PLAN.latencyQps, perQuery: true });
  const hold = target.measuresHold ? await holdUnderBurst(running, setup, load) : undefined;
  const notes = (await running.unexercised?.()) ?? [];
  if (target.measuresHold && hold === undefined) notes.push(`no ${HOLD_METRIC} metric, so hold time was not measured`);
  return {
    available: true,
    qps: saturated.qps,
    lostPercent: (100 * saturated.lost) / Math.max(1, saturated.sent),
    latenciesUs: paced.latenciesUs,
    pacedLost: paced.lost,
    rssBytes: rssBytes(running.pid),
    hold,
    notes,
  };
}
