/**
 * The dataplane contract: whoever enforces the allowed-IP map. `apply` resolves only
 * once its changes are in effect, which is what a held answer waits for.
 */
import type { DataplaneBatch, EntrySnapshot } from '../allowmap/entry.js';

/** Packets per rule reference since dnsgate started, from a dataplane that evaluates without dropping. */
export interface RuleCounts {
  /** Shadow evaluation of the staged view: what staged rules (and tier defaults) would have decided. */
  staged: ReadonlyMap<string, number>;
  /** `--audit`: would-be drops by the deciding Deny rule or tier default. */
  audit: ReadonlyMap<string, number>;
}

export interface Dataplane {
  readonly name: string;
  /**
   * Puts in place what enforcement needs (the firewall table) before the first resync.
   * Throws ConfigError when the dataplane cannot work on this machine at all.
   */
  start(): Promise<void>;
  /** Resolves when the batch is in effect; rejects when it is not (the caller decides what that means for held answers). */
  apply(batch: DataplaneBatch): Promise<void>;
  /**
   * True when a batch applied now takes effect after every batch applied before it,
   * answered or not (the kernel applies a netlink batch as it is sent): the next batch
   * may then go before the last one is acknowledged.
   */
  pipelines?(): boolean;
  /**
   * Replaces everything the dataplane holds with `entries` (start-up, after a failure).
   * Until `mapComplete`, what it holds beyond them stays (an earlier run's, a predecessor's).
   */
  resync(entries: readonly EntrySnapshot[]): Promise<void>;
  /**
   * The map now holds every entry in force on the node (start-up is over, and a
   * predecessor's final save merged): later resyncs may drop what it does not hold.
   */
  mapComplete?(): void;
  /**
   * The policies or pods changed: brings what depends on them up to date. Never rejects;
   * a failure shows in `unhealthyReason` and asks for a resync.
   */
  syncPolicy(): Promise<void>;
  /** `listener` is called when the dataplane lost what it held and needs a resync (say, its helper process died). */
  onResyncNeeded(listener: () => void): void;
  /** The packet counts of staged rules and audit drops; absent for a dataplane that counts no packets. */
  ruleCounts?(): Promise<RuleCounts>;
  /** undefined while healthy, else why not (shown by /readyz). */
  unhealthyReason(): string | undefined;
  stop(): Promise<void>;
}
