/**
 * One measured run of one target: start it and read its idle RSS, warm it up, saturate
 * it, pace it at fixed rates for CPU per query, latency and RSS under load, burst new
 * names for dnsgate's hold time, stop.
 */
import { metricSum, parseMetrics } from '../test/helpers/wire.js';
import { runDnsperf, type DnsperfLoad, type DnsperfReport } from './dnsperf.js';
import { parseHistogram, subtractHistogram, type Bucket } from './histogram.js';
import { PLAN } from './plan.js';
import { cpuSeconds, resident, type Resident } from './proc.js';
import type { Scope } from './scope.js';
import { TargetUnavailable, type BenchSetup, type RunningTarget, type Target } from './targets/target.js';

const HOLD_METRIC = 'dnsgate_hold_duration_seconds';
/** The dataplane's round trip per batch: the part of a hold spent outside dnsgate's event loop. */
const BATCH_METRIC = 'dnsgate_dataplane_batch_duration_seconds';
const ENTRIES_METRIC = 'dnsgate_allowed_entries';
const RSS_SAMPLE_MS = 200;

export interface MeasuredRun {
  available: true;
  qps: number;
  /** Lost share of the saturating run's queries, in percent. */
  lostPercent: number;
  /** CPU seconds of the target (and its children) over the PLAN.cpuQps window, and the queries answered in it. */
  cpu: { seconds: number; answered: number };
  /** Answered queries' latencies at PLAN.latencyQps, in µs. */
  latenciesUs: number[];
  /** Queries lost at the fixed rates. */
  pacedLost: number;
  /** Memory once started, before any query. */
  idle: Resident;
  /** The largest memory sampled at PLAN.memoryQps and after it (RSS and its anonymous part each). */
  load: Resident;
  /** Allowed-map entries when the load RSS was read (dnsgate with policies only). */
  allowedEntries: number | undefined;
  /** Hold times during the burst, when the target measures them and exports the metric. */
  hold: Bucket[] | undefined;
  /** Dataplane batch durations during the burst. */
  batches: Bucket[] | undefined;
  notes: string[];
}

export type TargetRun = MeasuredRun | { available: false; reason: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function scrapeMetrics(running: RunningTarget): Promise<string | undefined> {
  if (running.adminPort === undefined) return undefined;
  return (await running.place.get(`http://127.0.0.1:${running.adminPort}/metrics`))?.body;
}

/** Hold-time and batch-duration histograms of what a burst of names new to the target caused. */
async function holdUnderBurst(
  running: RunningTarget,
  setup: BenchSetup,
  load: (overrides: Partial<DnsperfLoad>) => Promise<unknown>,
): Promise<{ hold: Bucket[] | undefined; batches: Bucket[] | undefined }> {
  const scrape = async (name: string): Promise<Bucket[] | undefined> => {
    const body = await scrapeMetrics(running);
    return body === undefined ? undefined : parseHistogram(body, name);
  };
  const [holdBefore, batchesBefore] = [await scrape(HOLD_METRIC), await scrape(BATCH_METRIC)];
  if (holdBefore === undefined) return { hold: undefined, batches: undefined };
  await load({ queryFile: setup.workload.burstQueriesFile, passes: 1, maxQps: PLAN.burstQps, clients: 1 });
  const [holdAfter, batchesAfter] = [await scrape(HOLD_METRIC), await scrape(BATCH_METRIC)];
  return {
    hold: holdAfter && subtractHistogram(holdAfter, holdBefore),
    batches: batchesAfter && batchesBefore && subtractHistogram(batchesAfter, batchesBefore),
  };
}

/** Runs `work` while sampling the memory of `pid`; returns its result and the largest samples, after the work included. */
async function withPeakResident<T>(pid: number, work: Promise<T>): Promise<{ result: T; peak: Resident }> {
  const peak = resident(pid);
  const sample = (): void => {
    const now = resident(pid);
    peak.rssBytes = Math.max(peak.rssBytes, now.rssBytes);
    peak.anonBytes = Math.max(peak.anonBytes, now.anonBytes);
  };
  const sampler = setInterval(sample, RSS_SAMPLE_MS);
  try {
    const result = await work;
    sample();
    return { result, peak };
  } finally {
    clearInterval(sampler);
  }
}

/** CPU seconds of `pid` over `work`. */
async function cpuOver(pid: number, work: Promise<DnsperfReport>): Promise<{ seconds: number; answered: number; lost: number }> {
  const before = cpuSeconds(pid);
  const report = await work;
  return { seconds: cpuSeconds(pid) - before, answered: report.completed, lost: report.lost };
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
  await sleep(PLAN.idleSeconds * 1000);
  const idle = resident(running.pid);
  await load({ seconds: PLAN.warmupSeconds });
  const saturated = await load({ seconds: PLAN.saturateSeconds });
  const cpu = await cpuOver(running.pid, load({ seconds: PLAN.cpuSeconds, maxQps: PLAN.cpuQps }));
  const paced = await load({ seconds: PLAN.latencySeconds, maxQps: PLAN.latencyQps, perQuery: true });
  const memory = await withPeakResident(running.pid, load({ seconds: PLAN.memorySeconds, maxQps: PLAN.memoryQps }));
  const metrics = await scrapeMetrics(running);
  const allowedEntries = metrics === undefined ? undefined : metricSum(parseMetrics(metrics), ENTRIES_METRIC);
  const { hold, batches } = target.measuresHold ? await holdUnderBurst(running, setup, load) : { hold: undefined, batches: undefined };
  const notes = (await running.unexercised?.()) ?? [];
  if (target.measuresHold && hold === undefined) notes.push(`no ${HOLD_METRIC} metric, so hold time was not measured`);
  return {
    available: true,
    qps: saturated.qps,
    lostPercent: (100 * saturated.lost) / Math.max(1, saturated.sent),
    cpu: { seconds: cpu.seconds, answered: cpu.answered },
    latenciesUs: paced.latenciesUs,
    pacedLost: paced.lost + cpu.lost + memory.result.lost,
    idle,
    load: memory.peak,
    allowedEntries,
    hold,
    batches,
    notes,
  };
}
