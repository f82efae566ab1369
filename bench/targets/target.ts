/** A DNS server the load is pointed at, and what the bench needs to measure it. */
import type { DnsServer } from '../../test/helpers/dns-servers.js';
import type { Place } from '../../test/helpers/netns.js';
import type { Scope } from '../scope.js';
import type { Workload } from '../workload/workload.js';

/** Shared by every target. */
export interface BenchSetup {
  /** The upstream, on the host's loopback. */
  knot: DnsServer;
  workload: Workload;
  /** Where targets listen (one at a time). */
  targetAddress: string;
  /** dnsperf's source address: the pod the policy selects. */
  clientAddress: string;
}

export interface RunningTarget {
  /** Where it runs; the load runs there too. */
  place: Place;
  address: string;
  port: number;
  /** The process whose RSS is reported. */
  pid: number;
  /** dnsgate's admin port, for `/metrics`. */
  adminPort?: number;
  /** Configured features the run did not exercise, checked while the target still serves. */
  unexercised?(): Promise<string[]>;
}

export interface Target {
  name: string;
  /** Measure dnsgate's hold time under a burst of new names. */
  measuresHold?: boolean;
  /**
   * Starts the target, registering everything it starts in `scope`. Throws
   * TargetUnavailable when this build or machine cannot run it.
   */
  start(setup: BenchSetup, scope: Scope): Promise<RunningTarget>;
}

/** The target cannot run here; the message says why, in the report. */
export class TargetUnavailable extends Error {}
