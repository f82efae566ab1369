/**
 * The CPU and throughput ratios, and the issues' performance targets judged against this
 * run's figures: met, missed (and by how much), or not measured (and why).
 */
import type { ChurnResult } from './churn.js';
import { ALLOWED_MAP_RSS } from './micro/allowed-map.js';
import type { Figure } from './micro/measure.js';
import { NFTABLES_RESYNC } from './micro/nftables-resync.js';
import { POLICY_LOAD_FILE_MS, POLICY_LOAD_FILE_PEAK, POLICY_LOAD_SETS_MS, POLICY_LOAD_SETS_PEAK } from './micro/policy-load.js';
import { PLAN } from './plan.js';
import type { TargetSummary } from './summary.js';
import { BARE_RELAY } from './targets/bare-relay.js';
import { DNSGATE_FULL, DNSGATE_FULL_NFTABLES, DNSGATE_MINIMAL } from './targets/dnsgate.js';
import { DNSMASQ } from './targets/dnsmasq.js';
import { KNOT_DIRECT } from './targets/knot-direct.js';

export interface Ratio {
  name: string;
  /** Saturating throughput of the first over the second; absent when either was not measured. */
  value?: number;
}

export interface Goal {
  goal: string;
  limit: number;
  unit: string;
  /** `min`: the measured figure must reach the limit; `max`: stay within it. */
  kind: 'min' | 'max';
  measured?: number;
  status: 'met' | 'missed' | 'not measured';
  note?: string;
}

const RATIOS: readonly [string, string][] = [
  [DNSGATE_FULL, BARE_RELAY],
  [DNSGATE_FULL, DNSMASQ],
  [DNSGATE_MINIMAL, BARE_RELAY],
  [DNSGATE_MINIMAL, DNSMASQ],
];

function qpsRatio(targets: ReadonlyMap<string, TargetSummary>, numerator: string, denominator: string): number | undefined {
  const top = targets.get(numerator)?.qps;
  const bottom = targets.get(denominator)?.qps;
  return top === undefined || bottom === undefined ? undefined : top / bottom;
}

/** CPU time per answered query at the fixed rate, over the bare relay's. */
export function cpuRatio(targets: ReadonlyMap<string, TargetSummary>, name: string): number | undefined {
  const own = targets.get(name)?.cpuUsPerQuery;
  const relay = targets.get(BARE_RELAY)?.cpuUsPerQuery;
  return own === undefined || relay === undefined ? undefined : own / relay;
}

/** Learnt entries the memory goal asks for while its RSS is read. */
const MEMORY_GOAL_ENTRIES = 10_000;
/** How much the churn run's RSS may rise from its first half to its second and still count as a plateau. */
export const CHURN_PLATEAU_MB = 2;

function memoryGoal(full: TargetSummary | undefined, fullCaveat: string | undefined): Goal {
  const fewEntries = full?.allowedEntries !== undefined && full.allowedEntries < MEMORY_GOAL_ENTRIES ? `only ${full.allowedEntries} learnt entries` : undefined;
  const note = [fewEntries ?? (full?.allowedEntries !== undefined ? `${full.allowedEntries} learnt entries` : undefined), fullCaveat].filter(Boolean).join('; ') || undefined;
  return judge({ goal: `${DNSGATE_FULL} RSS ≤ 80 MB at ${PLAN.memoryQps} QPS with ≥ ${MEMORY_GOAL_ENTRIES} learnt entries`, limit: 80, unit: 'MB', kind: 'max' }, fewEntries ? undefined : full?.rssMb, note);
}

function churnGoal(churn: ChurnResult | undefined): Goal {
  const goal = { goal: `churn: RSS plateau, ${PLAN.churnQps} never-seen names/s under an allowed wildcard (second-half peak − first-half peak ≤ ${CHURN_PLATEAU_MB} MB)`, limit: CHURN_PLATEAU_MB, unit: 'MB', kind: 'max' } as const;
  if (churn === undefined) return judge(goal, undefined, 'the churn run did not run');
  const note = `${Math.round(churn.seconds)} s, ${churn.answered} of ${churn.names} names answered, RSS ${churn.startRssMb.toFixed(1)} → ${churn.rssMb.at(-1)?.toFixed(1)} MB`;
  return judge(goal, churn.secondHalfPeakMb - churn.firstHalfPeakMb, note);
}

/** The policy-load figures, when the micro-benchmarks measured them. */
function policyLoadGoals(micro: readonly Figure[]): Goal[] {
  const figure = (name: string) => micro.find((candidate) => candidate.name === name)?.value;
  const seconds = (name: string) => {
    const ms = figure(name);
    return ms === undefined ? undefined : ms / 1000;
  };
  const note = figure(POLICY_LOAD_SETS_MS) === undefined ? 'no policy-load micro-benchmark in this build' : undefined;
  return [
    judge({ goal: 'policy load: 100,000 NetworkSets in ≤ 10 s', limit: 10, unit: 's', kind: 'max' }, seconds(POLICY_LOAD_SETS_MS), note),
    judge({ goal: 'policy load: 100,000 NetworkSets in ≤ 500 MB peak RSS', limit: 500, unit: 'MB', kind: 'max' }, figure(POLICY_LOAD_SETS_PEAK), note),
    judge({ goal: 'policy load: a 50 MB policy file in ≤ 10 s', limit: 10, unit: 's', kind: 'max' }, seconds(POLICY_LOAD_FILE_MS), note),
    judge({ goal: 'policy load: a 50 MB policy file in ≤ 500 MB peak RSS', limit: 500, unit: 'MB', kind: 'max' }, figure(POLICY_LOAD_FILE_PEAK), note),
  ];
}

export function throughputRatios(targets: ReadonlyMap<string, TargetSummary>): Ratio[] {
  return RATIOS.map(([numerator, denominator]) => ({ name: `${numerator} / ${denominator}`, value: qpsRatio(targets, numerator, denominator) }));
}

/** `note` says why the figure is absent, or what qualifies it. */
function judge(goal: Omit<Goal, 'status' | 'measured' | 'note'>, measured: number | undefined, note: string | undefined): Goal {
  if (measured === undefined || Number.isNaN(measured)) return { ...goal, status: 'not measured', note };
  const met = goal.kind === 'min' ? measured >= goal.limit : measured <= goal.limit;
  return { ...goal, measured, status: met ? 'met' : 'missed', note };
}

/** Why figures of `target` are missing or qualified. */
function caveat(target: TargetSummary | undefined, name: string): string | undefined {
  if (target === undefined) return `${name} was not run`;
  if (target.unavailable !== undefined) return `${name} not available: ${target.unavailable}`;
  return target.notes.length > 0 ? `${name}: ${target.notes.join('; ')}` : undefined;
}

function holdGoal(target: TargetSummary | undefined, name: string, dataplane: string): Goal {
  const note = target?.heldAnswers === 0 ? `${name} held no answer during the burst` : caveat(target, name);
  return judge({ goal: `hold p99 ≤ 2 ms, dataplane ${dataplane}, ${PLAN.burstQps} new names/s`, limit: 2, unit: 'ms', kind: 'max' }, target?.holdP99Ms, note);
}

export function judgeGoals(targets: ReadonlyMap<string, TargetSummary>, micro: readonly Figure[], churn?: ChurnResult): Goal[] {
  const full = targets.get(DNSGATE_FULL);
  const minimal = targets.get(DNSGATE_MINIMAL);
  const relay = targets.get(BARE_RELAY);
  const nftables = targets.get(DNSGATE_FULL_NFTABLES);
  const knot = targets.get(KNOT_DIRECT);
  const nftablesAddedP99 = nftables?.latency && knot?.latency ? (nftables.latency.p99Us - knot.latency.p99Us) / 1000 : undefined;
  const fullCaveat = caveat(full, DNSGATE_FULL);
  // The median: on a shared machine a few scheduling stalls swing the average by more than the target.
  const addedOverRelay = full?.latency && relay?.latency ? full.latency.p50Us - relay.latency.p50Us : undefined;
  const mapRss = micro.find((figure) => figure.name === ALLOWED_MAP_RSS)?.value;
  const resync = micro.find((figure) => figure.name === NFTABLES_RESYNC)?.value;
  return [
    judge({ goal: `${DNSGATE_FULL} CPU per query ≤ 1.10× ${BARE_RELAY} at ${PLAN.cpuQps} QPS`, limit: 1.1, unit: '×', kind: 'max' }, cpuRatio(targets, DNSGATE_FULL), fullCaveat),
    judge({ goal: `${DNSGATE_MINIMAL} CPU per query ≤ 1.03× ${BARE_RELAY} at ${PLAN.cpuQps} QPS`, limit: 1.03, unit: '×', kind: 'max' }, cpuRatio(targets, DNSGATE_MINIMAL), caveat(minimal, DNSGATE_MINIMAL)),
    memoryGoal(full, fullCaveat),
    judge({ goal: `${DNSGATE_FULL} RSS ≤ 60 MB idle`, limit: 60, unit: 'MB', kind: 'max' }, full?.idleRssMb, fullCaveat),
    churnGoal(churn),
    judge({ goal: `${DNSGATE_FULL} ≥ 0.85× ${BARE_RELAY} throughput`, limit: 0.85, unit: '×', kind: 'min' }, qpsRatio(targets, DNSGATE_FULL, BARE_RELAY), fullCaveat),
    judge({ goal: `${DNSGATE_FULL} ≥ 1.1× ${DNSMASQ} throughput`, limit: 1.1, unit: '×', kind: 'min' }, qpsRatio(targets, DNSGATE_FULL, DNSMASQ), fullCaveat),
    judge({ goal: `${DNSGATE_FULL} adds ≤ 100 µs median latency over ${BARE_RELAY} at ${PLAN.latencyQps} QPS`, limit: 100, unit: 'µs', kind: 'max' }, addedOverRelay, fullCaveat),
    holdGoal(full, DNSGATE_FULL, 'none'),
    holdGoal(nftables, DNSGATE_FULL_NFTABLES, 'nftables'),
    judge(
      { goal: `${DNSGATE_FULL_NFTABLES} adds ≤ 2 ms p99 latency over ${KNOT_DIRECT} at ${PLAN.latencyQps} QPS`, limit: 2, unit: 'ms', kind: 'max' },
      nftablesAddedP99,
      caveat(nftables, DNSGATE_FULL_NFTABLES),
    ),
    judge({ goal: 'allowed map: 100k entries ≤ 100 MB RSS', limit: 100, unit: 'MB', kind: 'max' }, mapRss, undefined),
    judge(
      { goal: 'nftables: full resync of 10k policies and 100k elements ≤ 2 s', limit: 2, unit: 's', kind: 'max' },
      resync,
      resync === undefined ? 'needs root, nft and ip' : undefined,
    ),
    ...policyLoadGoals(micro),
  ];
}
