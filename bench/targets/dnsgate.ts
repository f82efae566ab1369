/**
 * dnsgate, the real CLI, under the node flags it ships with: forwarding only; with policies, pods, learning and a log
 * file; and the same with the nftables dataplane, in a network namespace of its own
 * so that its firewall table cannot touch the host.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startKnot, type DnsServer } from '../../test/helpers/dns-servers.js';
import { DnsgateStartError, spawnReadyDnsgate, type DnsgateProcess } from '../../test/helpers/dnsgate.js';
import { HOST, NetworkNamespace, type Place } from '../../test/helpers/netns.js';
import { metricSum, parseMetrics } from '../../test/helpers/wire.js';
import { shippedNodeFlags } from '../node-flags.js';
import type { Scope } from '../scope.js';
import { TargetUnavailable, type BenchSetup, type RunningTarget, type Target } from './target.js';

/** dnsgate's exit code for a flag or configuration it does not accept. */
const USAGE_EXIT = 2;
const NFT_TABLE = 'dnsgate';
/** SIGTERM drains for up to 5 s; past this the process is killed. */
const STOP_TIMEOUT_MS = 10_000;

export const DNSGATE_MINIMAL = 'dnsgate minimal';
export const DNSGATE_FULL = 'dnsgate full';
export const DNSGATE_FULL_NFTABLES = 'dnsgate full + nftables';

interface Variant {
  name: string;
  /** With policies, pods, allowed-map learning and a DNS log file, enforced by this dataplane. */
  dataplane?: 'none' | 'nftables';
}

async function stopDnsgate(proc: DnsgateProcess): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const kill = setTimeout(() => proc.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  proc.child.kill('SIGTERM');
  await proc.exited;
  clearTimeout(kill);
}

/** The nftables variant runs in a namespace with its own knot, since it cannot reach the host's loopback. */
async function placeFor(variant: Variant, setup: BenchSetup, scope: Scope): Promise<{ place: Place; upstream: DnsServer }> {
  if (variant.dataplane !== 'nftables') return { place: HOST, upstream: setup.knot };
  const namespace = await NetworkNamespace.create('dnsgate-bench');
  scope.defer(() => namespace.delete());
  const upstream = await startKnot(setup.knot.address, setup.workload.zones, { place: namespace });
  scope.defer(() => upstream.stop());
  return { place: namespace, upstream };
}

async function hasNftTable(place: Place): Promise<boolean> {
  const [file, args] = place.command('nft', ['list', 'table', 'inet', NFT_TABLE]);
  return promisify(execFile)(file, args).then(
    () => true,
    () => false,
  );
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Flags of the enforcing variants; the log directory lives as long as `scope`. */
function enforcingArgs(setup: BenchSetup, dataplane: 'none' | 'nftables', scope: Scope): { args: string[]; logDir: string } {
  const logDir = mkdtempSync(join(tmpdir(), 'dnsgate-bench-logs-'));
  scope.defer(() => rmSync(logDir, { recursive: true, force: true }));
  const { policyFile, podsFile } = setup.workload;
  // A flush interval short enough that every phase of a run writes logs, yet not so
  // short that rendering the whole working set (4,000+ distinct answers) each second,
  // as a 1 s window would, stands for a deployment: Calico's default window is 300 s.
  const args = ['--policies', policyFile, '--pods', podsFile, '--log-dir', logDir, '--log-flush-interval', '5s', '--dataplane', dataplane];
  return { args, logDir };
}

/** What an enforcing run should have shown, and did not: learnt entries and log records. */
async function unexercisedFeatures(place: Place, adminPort: number, logDir: string): Promise<string[]> {
  const missing: string[] = [];
  const metrics = await place.get(`http://127.0.0.1:${adminPort}/metrics`);
  if (metricSum(parseMetrics(metrics?.body ?? ''), 'dnsgate_allowed_learnt_total') === 0) {
    missing.push('no allowed-IP entry was learnt, so policy matching and the allowed map were not exercised');
  }
  if (fileSize(join(logDir, 'dns.log')) === 0) missing.push('nothing was written to --log-dir, so DNS logging was not exercised');
  return missing;
}

function dnsgateTarget(variant: Variant): Target {
  return {
    name: variant.name,
    measuresHold: variant.dataplane !== undefined,
    async start(setup, scope): Promise<RunningTarget> {
      const { place, upstream } = await placeFor(variant, setup, scope);
      const enforcing = variant.dataplane === undefined ? undefined : enforcingArgs(setup, variant.dataplane, scope);
      const args = ['--upstream', `${upstream.address}:${upstream.port}`, ...(enforcing?.args ?? ['--log-stdout', 'false'])];
      let proc: Awaited<ReturnType<typeof spawnReadyDnsgate>>;
      try {
        proc = await spawnReadyDnsgate(setup.targetAddress, args, place, shippedNodeFlags());
      } catch (error) {
        if (error instanceof DnsgateStartError && error.exitCode === USAGE_EXIT) {
          throw new TargetUnavailable(`dnsgate serve refused its flags: ${error.stderr.trim().split('\n')[0]}`);
        }
        throw error;
      }
      scope.defer(() => stopDnsgate(proc));
      if (variant.dataplane === 'nftables' && !(await hasNftTable(place))) {
        throw new TargetUnavailable(`dnsgate serve accepted --dataplane nftables but created no table inet ${NFT_TABLE}: the nftables dataplane is not in this build`);
      }
      return {
        place,
        address: setup.targetAddress,
        port: proc.port,
        pid: proc.child.pid as number,
        adminPort: proc.adminPort,
        unexercised: enforcing && (() => unexercisedFeatures(place, proc.adminPort, enforcing.logDir)),
      };
    },
  };
}

export const dnsgateMinimal = dnsgateTarget({ name: DNSGATE_MINIMAL });
export const dnsgateFull = dnsgateTarget({ name: DNSGATE_FULL, dataplane: 'none' });
export const dnsgateFullNftables = dnsgateTarget({ name: DNSGATE_FULL_NFTABLES, dataplane: 'nftables' });
