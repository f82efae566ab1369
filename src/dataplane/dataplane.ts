/**
 * The dataplane contract: whoever enforces the allowed-IP map. `apply` resolves only
 * once its changes are in effect, which is what a held answer waits for.
 */
import type { EntrySnapshot } from '../allowmap/entry.js';

export interface DataplaneBatch {
  /** New entries, and entries whose expiry or rules changed: each is written whole. */
  upserts: EntrySnapshot[];
  /** Entries that expired or were evicted. */
  removals: EntrySnapshot[];
}

export interface Dataplane {
  readonly name: string;
  /** Resolves when the batch is in effect; rejects when it is not (the caller decides what that means for held answers). */
  apply(batch: DataplaneBatch): Promise<void>;
  /** Replaces everything the dataplane holds with `entries` (start-up, after a failure, after a policy change). */
  resync(entries: readonly EntrySnapshot[]): Promise<void>;
  /** undefined while healthy, else why not (shown by /readyz). */
  unhealthyReason(): string | undefined;
  stop(): Promise<void>;
}
