/**
 * The throughput ratios, and the issues' performance targets judged against this
 * run's figures: met, missed (and by how much), or not measured (and why).
 */
import { ALLOWED_MAP_RSS } from './micro/allowed-map.js';
import type { Figure } from './micro/measure.js';
import { NFTABLES_RESYNC } from './micro/nftables-resync.js';
import { PLAN } from './plan.js';
import type { TargetSummary } from './summary.js';
import { BARE_RELAY } from './targets/bare-relay.js';
import { DNSGATE_FULL, DNSGATE_FULL_NFTABLES, DNSGATE_MINIMAL } from './targets/dnsgate.js';
import { DNSMASQ } from './targets/dnsmasq.js';

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

export function judgeGoals(targets: ReadonlyMap<string, TargetSummary>, micro: readonly Figure[]): Goal[] {
  const full = targets.get(DNSGATE_FULL);
  const relay = targets.get(BARE_RELAY);
  const fullCaveat = caveat(full, DNSGATE_FULL);
  // The median: on a shared machine a few scheduling stalls swing the average by more than the target.
  const addedOverRelay = full?.latency && relay?.latency ? full.latency.p50Us - relay.latency.p50Us : undefined;
  const mapRss = micro.find((figure) => figure.name === ALLOWED_MAP_RSS)?.value;
  const resync = micro.find((figure) => figure.name === NFTABLES_RESYNC)?.value;
  return [
    judge({ goal: `${DNSGATE_FULL} ≥ 0.85× ${BARE_RELAY} throughput`, limit: 0.85, unit: '×', kind: 'min' }, qpsRatio(targets, DNSGATE_FULL, BARE_RELAY), fullCaveat),
    judge({ goal: `${DNSGATE_FULL} ≥ 1.1× ${DNSMASQ} throughput`, limit: 1.1, unit: '×', kind: 'min' }, qpsRatio(targets, DNSGATE_FULL, DNSMASQ), fullCaveat),
    judge({ goal: `${DNSGATE_FULL} adds ≤ 100 µs median latency over ${BARE_RELAY} at ${PLAN.latencyQps} QPS`, limit: 100, unit: 'µs', kind: 'max' }, addedOverRelay, fullCaveat),
    holdGoal(full, DNSGATE_FULL, 'none'),
    holdGoal(targets.get(DNSGATE_FULL_NFTABLES), DNSGATE_FULL_NFTABLES, 'nftables'),
    judge({ goal: 'allowed map: 100k entries ≤ 100 MB RSS', limit: 100, unit: 'MB', kind: 'max' }, mapRss, undefined),
    judge(
      { goal: 'nftables: full resync of 10k policies and 100k elements ≤ 2 s', limit: 2, unit: 's', kind: 'max' },
      resync,
      resync === undefined ? 'needs root, nft and ip' : undefined,
    ),
  ];
}
