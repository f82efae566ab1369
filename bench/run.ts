/**
 * `npm run bench`: dnsgate against a bare Node relay, dnsmasq, dnsdist and knot
 * itself, driven by dnsperf on loopback; then the churn run and the micro-benchmarks.
 * Prints the results as tables and writes them to bench/results.json.
 *
 *   npm run bench [-- --churn-seconds N]   (the churn run lasts PLAN.churnSeconds unless told; 1800 for the long one)
 *
 * Targets are measured in turn, and the whole sequence twice, so that drift of the
 * machine over the run falls on every target alike.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installMissing } from '../test/helpers/debian.js';
import { startKnot } from '../test/helpers/dns-servers.js';
import { LoopbackSubnet } from '../test/helpers/net.js';
import { measureChurn } from './churn.js';
import { cpuRatio, judgeGoals, throughputRatios } from './goals.js';
import { measureTarget, type TargetRun } from './measure-target.js';
import { benchAllowedMap } from './micro/allowed-map.js';
import { benchCodec } from './micro/codec.js';
import { benchDomainIndex } from './micro/domain-index.js';
import { benchNftablesResync } from './micro/nftables-resync.js';
import { benchPolicyLoad } from './micro/policy-load.js';
import { benchSelector } from './micro/selector.js';
import { benchUpstreamCase } from './micro/upstream-case.js';
import { benchStartup } from './micro/startup.js';
import type { Figure } from './micro/measure.js';
import { PLAN } from './plan.js';
import { formatReport, machine, type BenchResults } from './report.js';
import { Scope } from './scope.js';
import { addLatencyOver, summarizeTarget } from './summary.js';
import { bareRelay } from './targets/bare-relay.js';
import { dnsdist } from './targets/dnsdist.js';
import { dnsgateFull, dnsgateFullNftables, dnsgateMinimal } from './targets/dnsgate.js';
import { dnsmasq } from './targets/dnsmasq.js';
import { KNOT_DIRECT, knotDirect } from './targets/knot-direct.js';
import type { BenchSetup, Target } from './targets/target.js';
import { writeWorkload } from './workload/workload.js';

/** Debian packages of the commands the bench drives (dnsmasq-base: the binary without a system service). */
const TOOLS = { dnsperf: 'dnsperf', knotd: 'knot', dig: 'dnsutils', dnsmasq: 'dnsmasq-base', dnsdist: 'dnsdist', ip: 'iproute2', nft: 'nftables' };
/** Without these nothing can be measured; without the others, their targets are reported as not available. */
const REQUIRED = ['dnsperf', 'knotd', 'dig'];

const TARGETS: readonly Target[] = [bareRelay, dnsgateMinimal, dnsgateFull, dnsgateFullNftables, dnsmasq, dnsdist, knotDirect];

/** Each suite returns its figures; a suite's module only has to be imported and listed here. */
const MICRO_SUITES: readonly (() => Figure[] | Promise<Figure[]>)[] = [benchAllowedMap, benchCodec, benchDomainIndex, benchSelector, benchUpstreamCase, benchNftablesResync, benchPolicyLoad, benchStartup];

const RESULTS_FILE = fileURLToPath(new URL('../../bench/results.json', import.meta.url));

async function measureAll(setup: BenchSetup, scope: Scope): Promise<Map<Target, TargetRun[]>> {
  const runs = new Map<Target, TargetRun[]>(TARGETS.map((target) => [target, []]));
  for (let round = 1; round <= PLAN.rounds; round++) {
    for (const target of TARGETS) {
      const earlier = runs.get(target)!;
      // What could not start once will not start on the next round either.
      if (earlier.some((run) => !run.available)) continue;
      const runScope = scope.child();
      const run = await measureTarget(target, setup, runScope).finally(() => runScope.close());
      earlier.push(run);
      console.error(`round ${round}/${PLAN.rounds} ${target.name}: ${run.available ? `${Math.round(run.qps)} QPS` : `not available (${run.reason})`}`);
    }
  }
  return runs;
}

/** `--churn-seconds N` from the command line, else the plan's. */
function churnSeconds(argv: readonly string[]): number {
  const at = argv.indexOf('--churn-seconds');
  if (at < 0) return PLAN.churnSeconds;
  const seconds = Number(argv[at + 1]);
  if (!(seconds > 0)) throw new Error(`--churn-seconds needs a positive number of seconds, not ${argv[at + 1]}`);
  return seconds;
}

async function bench(scope: Scope, churnFor: number): Promise<BenchResults> {
  const started = performance.now();
  const host = machine();
  const missing = installMissing(TOOLS, 'the benchmark');
  const absent = REQUIRED.filter((command) => missing.includes(command));
  if (absent.length > 0) throw new Error(`the benchmark needs ${absent.join(', ')}`);

  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-bench-'));
  scope.defer(() => rmSync(dir, { recursive: true, force: true }));
  const net = new LoopbackSubnet();
  const knotAddress = net.address(2);
  const clientAddress = net.address(10);
  const workload = writeWorkload(dir, knotAddress, clientAddress);
  const knot = await startKnot(knotAddress, workload.zones);
  scope.defer(() => knot.stop());

  const setup: BenchSetup = { knot, workload, targetAddress: net.address(3), clientAddress };
  const runs = await measureAll(setup, scope);
  console.error(`churn run: ${churnFor} s`);
  const churnScope = scope.child();
  const churn = await measureChurn(setup, dir, churnFor, churnScope).finally(() => churnScope.close());
  console.error('micro-benchmarks');
  const micro: Figure[] = [];
  for (const suite of MICRO_SUITES) micro.push(...(await suite()));

  const summaries = TARGETS.map((target) => summarizeTarget(target.name, runs.get(target)!));
  const baseline = summaries.find((summary) => summary.name === KNOT_DIRECT)!;
  const targets = addLatencyOver(summaries, baseline);
  const byName = new Map(targets.map((summary) => [summary.name, summary]));
  return {
    date: new Date().toISOString(),
    machine: host,
    node: process.version,
    plan: PLAN,
    durationSeconds: (performance.now() - started) / 1000,
    targets,
    baselineLatency: baseline.latency,
    cpuRatios: TARGETS.map((target) => ({ name: target.name, value: cpuRatio(byName, target.name) })),
    ratios: throughputRatios(byName),
    churn,
    goals: judgeGoals(byName, micro, churn),
    micro,
  };
}

const scope = new Scope();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping everything the bench started`);
    void scope.close().finally(() => process.exit(130));
  });
}
try {
  const results = await bench(scope, churnSeconds(process.argv.slice(2)));
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(formatReport(results));
  console.error(`results written to ${RESULTS_FILE}`);
} catch (error) {
  console.error(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  await scope.close();
}
