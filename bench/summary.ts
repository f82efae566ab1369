/** One target's figures with its rounds combined. */
import { addHistograms, histogramCount, histogramQuantile } from './histogram.js';
import type { MeasuredRun, TargetRun } from './measure-target.js';
import { mean, sum, summarizeLatencies, type LatencySummary } from './stats.js';

export interface AddedLatency {
  averageUs: number;
  p50Us: number;
  p99Us: number;
}

export interface TargetSummary {
  name: string;
  /** Why it was not measured; the figures below are then absent. */
  unavailable?: string;
  qpsByRound?: number[];
  /** Mean saturating throughput of the rounds. */
  qps?: number;
  lostPercent?: number;
  /** At the fixed rate, both rounds' queries together. */
  latency?: LatencySummary;
  /** `latency` minus knot direct's, statistic by statistic. */
  addedLatency?: AddedLatency;
  /** CPU time per answered query at PLAN.cpuQps, both rounds together, in µs. */
  cpuUsPerQuery?: number;
  /** The larger of the rounds' RSS once started, before any query. */
  idleRssMb?: number;
  /** The larger of the rounds' peak RSS at PLAN.memoryQps. */
  rssMb?: number;
  /** The anonymous part of idleRssMb and rssMb: what is the process's own, without the mapped node binary. */
  idleAnonMb?: number;
  anonMb?: number;
  /** The fewest allowed-map entries any round held when its RSS under load was read. */
  allowedEntries?: number;
  heldAnswers?: number;
  holdP99Ms?: number;
  /** Dataplane batches during the burst, and their p50 and p99 duration. */
  batches?: { count: number; p50Ms: number | undefined; p99Ms: number | undefined };
  notes: string[];
}

export function summarizeTarget(name: string, runs: readonly TargetRun[]): TargetSummary {
  const measured = runs.filter((run): run is MeasuredRun => run.available);
  const failures = runs.flatMap((run) => (run.available ? [] : [run.reason]));
  if (measured.length === 0) return { name, unavailable: failures.join('; '), notes: [] };
  const notes = [...new Set([...measured.flatMap((run) => run.notes), ...failures.map((reason) => `a round could not run: ${reason}`)])];
  const pacedLost = sum(measured.map((run) => run.pacedLost));
  if (pacedLost > 0) notes.push(`${pacedLost} queries lost at the fixed rates`);
  const holds = measured.flatMap((run) => (run.hold ? [run.hold] : []));
  const hold = holds.length > 0 ? holds.reduce(addHistograms) : undefined;
  const holdP99 = hold && histogramQuantile(hold, 0.99);
  const batchRuns = measured.flatMap((run) => (run.batches ? [run.batches] : []));
  const batches = batchRuns.length > 0 ? batchRuns.reduce(addHistograms) : undefined;
  const ms = (seconds: number | undefined) => (seconds === undefined ? undefined : seconds * 1000);
  const entries = measured.flatMap((run) => (run.allowedEntries === undefined ? [] : [run.allowedEntries]));
  return {
    name,
    qpsByRound: measured.map((run) => run.qps),
    qps: mean(measured.map((run) => run.qps)),
    lostPercent: mean(measured.map((run) => run.lostPercent)),
    latency: summarizeLatencies(measured.flatMap((run) => run.latenciesUs)),
    cpuUsPerQuery: (1e6 * sum(measured.map((run) => run.cpu.seconds))) / sum(measured.map((run) => run.cpu.answered)),
    idleRssMb: Math.max(...measured.map((run) => run.idle.rssBytes)) / 2 ** 20,
    rssMb: Math.max(...measured.map((run) => run.load.rssBytes)) / 2 ** 20,
    idleAnonMb: Math.max(...measured.map((run) => run.idle.anonBytes)) / 2 ** 20,
    anonMb: Math.max(...measured.map((run) => run.load.anonBytes)) / 2 ** 20,
    allowedEntries: entries.length > 0 ? Math.min(...entries) : undefined,
    heldAnswers: hold && histogramCount(hold),
    holdP99Ms: holdP99 === undefined ? undefined : holdP99 * 1000,
    batches: batches && { count: histogramCount(batches), p50Ms: ms(histogramQuantile(batches, 0.5)), p99Ms: ms(histogramQuantile(batches, 0.99)) },
    notes,
  };
}

/** Sets each target's latency added over `baseline` (knot direct). */
export function addLatencyOver(summaries: readonly TargetSummary[], baseline: TargetSummary): TargetSummary[] {
  const base = baseline.latency;
  return summaries.map((summary) => {
    const own = summary.latency;
    if (own === undefined || base === undefined) return summary;
    return { ...summary, addedLatency: { averageUs: own.averageUs - base.averageUs, p50Us: own.p50Us - base.p50Us, p99Us: own.p99Us - base.p99Us } };
  });
}
