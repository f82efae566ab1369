/** The run's results: what bench/results.json holds, and the tables printed from it. */
import { cpus, loadavg, release, totalmem } from 'node:os';
import type { ChurnResult } from './churn.js';
import type { Goal, Ratio } from './goals.js';
import type { Figure } from './micro/measure.js';
import { PLAN } from './plan.js';
import type { TargetSummary } from './summary.js';

export interface BenchResults {
  date: string;
  machine: {
    cpu: string;
    cores: number;
    memoryGb: number;
    kernel: string;
    /** 1-minute load average when the run started: other work on the machine adds noise. */
    loadAverageAtStart: number;
  };
  node: string;
  plan: typeof PLAN;
  durationSeconds: number;
  targets: TargetSummary[];
  /** Latency of knot direct at the fixed rate: what the added latencies are relative to. */
  baselineLatency: TargetSummary['latency'];
  /** CPU per query of each target over the bare relay's. */
  cpuRatios: Ratio[];
  ratios: Ratio[];
  churn: ChurnResult | undefined;
  goals: Goal[];
  micro: Figure[];
}

export function machine(): BenchResults['machine'] {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), kernel: release(), loadAverageAtStart: loadavg()[0] };
}

const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
const fixed = (value: number, digits: number): string => value.toFixed(digits);
const dash = '–';

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: readonly boolean[]): string {
  const lines = [header, header.map((_, i) => (rightAligned[i] ? '---:' : '---')), ...rows];
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

function targetRow(target: TargetSummary, cpuRatio: number | undefined): string[] {
  if (target.qps === undefined) return [target.name, 'not available', dash, dash, dash, dash, dash, dash, dash, dash];
  const added = target.addedLatency;
  return [
    target.name,
    target.cpuUsPerQuery === undefined ? dash : fixed(target.cpuUsPerQuery, 1),
    cpuRatio === undefined ? dash : `${fixed(cpuRatio, 2)}×`,
    (target.qpsByRound ?? []).map(integer).join(' / '),
    integer(target.qps),
    `${fixed(target.lostPercent ?? 0, 2)}%`,
    added ? [added.averageUs, added.p50Us, added.p99Us].map(integer).join(' / ') : dash,
    `${fixed(target.idleRssMb ?? 0, 1)} (${fixed(target.idleAnonMb ?? 0, 1)})`,
    `${fixed(target.rssMb ?? 0, 1)} (${fixed(target.anonMb ?? 0, 1)})`,
    target.holdP99Ms === undefined ? dash : fixed(target.holdP99Ms, 2),
  ];
}

function goalMeasured(goal: Goal): string {
  if (goal.measured === undefined) return dash;
  return goal.unit === '×' ? `${fixed(goal.measured, 2)}×` : `${fixed(goal.measured, goal.unit === 'ms' ? 2 : 1)} ${goal.unit}`;
}

/** How far a missed goal is from its limit, as a ratio of the two. */
function shortfall(goal: Goal): string {
  if (goal.status !== 'missed' || goal.measured === undefined) return goal.status;
  const factor = goal.kind === 'min' ? goal.limit / goal.measured : goal.measured / goal.limit;
  return `missed (${fixed(factor, 1)}× off)`;
}

function churnLine(churn: ChurnResult): string {
  const bounds = Object.entries(churn.boundMetrics).map(([name, value]) => `${name} ${integer(value)}`);
  return [
    `Churn: ${integer(churn.names)} never-seen names at ${PLAN.churnQps}/s for ${integer(churn.seconds)} s (${integer(churn.answered)} answered);`,
    `RSS ${fixed(churn.startRssMb, 1)} MB before, peak ${fixed(churn.firstHalfPeakMb, 1)} MB in the first half and ${fixed(churn.secondHalfPeakMb, 1)} MB in the second${bounds.length > 0 ? `; bounds: ${bounds.join(', ')}` : ''}.`,
  ].join(' ');
}

export function formatReport(results: BenchResults): string {
  const base = results.baselineLatency;
  const sections = [
    `dnsgate benchmark, ${results.date}: ${results.machine.cores} × ${results.machine.cpu}, Linux ${results.machine.kernel}, Node ${results.node}, load average ${fixed(results.machine.loadAverageAtStart, 2)} at start, ${Math.round(results.durationSeconds)} s`,
    markdownTable(
      [
        'target',
        `CPU per query at ${PLAN.cpuQps} QPS (µs)`,
        'CPU × bare relay',
        'QPS by round',
        'QPS',
        'lost',
        `added latency at ${PLAN.latencyQps} QPS, avg / p50 / p99 (µs)`,
        'RSS idle (anon) MB',
        `RSS at ${PLAN.memoryQps} QPS (anon) MB`,
        'hold p99 (ms)',
      ],
      results.targets.map((target) => targetRow(target, results.cpuRatios.find((ratio) => ratio.name === target.name)?.value)),
      [false, true, true, true, true, true, true, true, true, true],
    ),
  ];
  if (base !== undefined) sections.push(`Added latency is over knot direct, whose own latency was avg ${integer(base.averageUs)} / p50 ${integer(base.p50Us)} / p99 ${integer(base.p99Us)} µs.`);
  const notes = results.targets.flatMap((target) => (target.unavailable !== undefined ? [`${target.name}: not available: ${target.unavailable}`] : target.notes.map((note) => `${target.name}: ${note}`)));
  if (notes.length > 0) sections.push(notes.map((note) => `- ${note}`).join('\n'));
  const batchLines = results.targets.flatMap((target) => {
    const batches = target.batches;
    if (batches === undefined || batches.count === 0) return [];
    const p = (value: number | undefined) => (value === undefined ? dash : fixed(value, 2));
    return [`- ${target.name}: ${integer(target.heldAnswers ?? 0)} held answers in ${integer(batches.count)} dataplane batches, batch round trip p50 ${p(batches.p50Ms)} / p99 ${p(batches.p99Ms)} ms, hold p99 ${p(target.holdP99Ms)} ms`];
  });
  if (batchLines.length > 0) sections.push(`Hold-time burst (${PLAN.burstQps} new names/s):\n${batchLines.join('\n')}`);
  if (results.churn !== undefined) sections.push(churnLine(results.churn));
  sections.push(markdownTable(['throughput ratio', 'value'], results.ratios.map((ratio) => [ratio.name, ratio.value === undefined ? dash : `${fixed(ratio.value, 2)}×`]), [false, true]));
  sections.push(markdownTable(['target', 'measured', 'status', 'note'], results.goals.map((goal) => [goal.goal, goalMeasured(goal), shortfall(goal), goal.note ?? '']), [false, true, false, false]));
  sections.push(markdownTable(['micro-benchmark', 'value'], results.micro.map((figure) => [figure.name, `${Number.isInteger(figure.value) ? integer(figure.value) : fixed(figure.value, 1)} ${figure.unit}`]), [false, true]));
  return `${sections.join('\n\n')}\n`;
}
