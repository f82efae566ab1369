/**
 * An in-process dataplane for tests: acknowledges each batch after a configurable
 * delay, or fails it, and records what it was given. It stands in where a test must
 * control the dataplane's timing, which a real firewall cannot offer.
 */
import type { DataplaneBatch, EntrySnapshot } from '../../src/allowmap/entry.js';
import { NoDataplane } from '../../src/dataplane/none.js';

/** Everything but the timing of batches and resyncs is `none`'s. */
export class DelayedDataplane extends NoDataplane {
  override readonly name = 'delayed-test';
  delayMs: number;
  failNext = 0;
  /** Whether batches may overlap, as over netlink (`Dataplane.pipelines`). */
  pipelining = false;
  readonly batches: DataplaneBatch[] = [];
  readonly resyncs: EntrySnapshot[][] = [];
  /** What is in effect: `clientKey|ip` → snapshot. */
  readonly programmed = new Map<string, EntrySnapshot>();

  constructor(delayMs = 0) {
    super();
    this.delayMs = delayMs;
  }

  pipelines(): boolean {
    return this.pipelining;
  }

  override async apply(batch: DataplaneBatch): Promise<void> {
    this.batches.push(batch);
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected dataplane failure');
    }
    for (const removal of batch.removals) this.programmed.delete(`${removal.clientKey ?? ''}|${removal.ip}`);
    for (const upsert of batch.upserts) this.programmed.set(`${upsert.clientKey ?? ''}|${upsert.ip}`, upsert);
  }

  /** Called at the start of every resync, to observe what else has happened by then. */
  onResync: (() => Promise<void>) | undefined;

  override async resync(entries: readonly EntrySnapshot[]): Promise<void> {
    this.resyncs.push([...entries]);
    await this.onResync?.();
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected dataplane failure');
    }
    this.programmed.clear();
    for (const entry of entries) this.programmed.set(`${entry.clientKey ?? ''}|${entry.ip}`, entry);
  }
}
